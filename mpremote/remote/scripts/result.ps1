# mpremote fragment: Write-Result, included by query.ps1 and act.ps1 (remote/scripts.py).
# The answer goes out as one JSON string, which the client decodes far more cheaply than
# nested objects. ConvertTo-Json is given the value (-InputObject), not piped: piping would
# unroll a list, and one of one or no elements would lose its brackets. -Depth is explicit:
# Windows PowerShell 5.1's default, 2, silently writes anything deeper as a type-name string.
# The deepest value these scripts build is a list of objects inside the answer (an object at
# depth 2); tests/unit/test_psjson51.py checks that it fits -Depth 4. Where ConvertTo-Json is
# not available (an endpoint that does not expose it) or fails, or the caller passed -NoJson,
# the objects go out as they are, one by one; the client reads both forms.
function Write-Result($Value) {
    $json = $null
    if (-not $NoJson -and (Get-Command -Name ConvertTo-Json -ErrorAction SilentlyContinue)) {
        try { $json = ConvertTo-Json -InputObject $Value -Compress -Depth 4 -ErrorAction Stop } catch { $json = $null }
    }
    if ($null -ne $json) { $json } else { $Value }
}
