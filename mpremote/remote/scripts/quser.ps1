# mpremote fragment: Invoke-Quser, included by query.ps1 and act.ps1 (remote/scripts.py).
# quser prints in the host's OEM code page (850 in western Europe, 437 in the US). A remoting
# session has no console, and '& quser' would decode those bytes as ANSI (1252): 'SESIÓN'
# would arrive as 'SESIàN' and 'maría' as 'mar¡a'. So quser is started here with its output
# read in the OEM code page. ReadAs is 'oem', or 'native' when that failed and '& quser' ran.
function Invoke-Quser([string[]]$Arguments) {
    $oem = 0
    try {
        $oem = [int](Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Nls\CodePage' -Name OEMCP -ErrorAction Stop).OEMCP
    } catch { }
    if ($oem -le 0) { $oem = [System.Globalization.CultureInfo]::CurrentCulture.TextInfo.OEMCodePage }
    try {
        $enc = [System.Text.Encoding]::GetEncoding($oem)
        $psi = New-Object System.Diagnostics.ProcessStartInfo
        $psi.FileName = @(Get-Command -Name quser.exe -CommandType Application -ErrorAction Stop)[0].Path
        $psi.Arguments = ($Arguments -join ' ')
        $psi.UseShellExecute = $false
        $psi.CreateNoWindow = $true
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.StandardOutputEncoding = $enc
        $psi.StandardErrorEncoding = $enc
        $p = [System.Diagnostics.Process]::Start($psi)
        $out = $p.StandardOutput.ReadToEnd()
        $err = $p.StandardError.ReadToEnd()
        $p.WaitForExit()
        return [PSCustomObject]@{ Out = @($out -split "`r?`n" | Where-Object { $_ -ne '' })
            Err = @($err -split "`r?`n" | Where-Object { $_ -ne '' }); Exit = $p.ExitCode
            CodePage = $oem; ReadAs = 'oem' }
    } catch {
        $o = New-Object System.Collections.Generic.List[string]
        $e = New-Object System.Collections.Generic.List[string]
        & quser @Arguments 2>&1 | ForEach-Object {
            if ($_ -is [System.Management.Automation.ErrorRecord]) { $e.Add($_.ToString()) }
            else { $o.Add([string]$_) }
        }
        return [PSCustomObject]@{ Out = $o.ToArray(); Err = $e.ToArray(); Exit = $LASTEXITCODE
            CodePage = $oem; ReadAs = 'native' }
    }
}
