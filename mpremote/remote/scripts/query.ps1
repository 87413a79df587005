# mpremote query (v2). Lists the sessions of this host, read-only, as one JSON string.
# Sent as script text exactly as stored in the package; every value arrives as a PSRP
# parameter, nothing is ever spliced into this text.
param(
    [bool]$IncludeWms = $true,
    [bool]$IncludeApps = $false,
    [string[]]$IgnoreApps = @(),
    [switch]$NoJson
)
$ErrorActionPreference = 'Continue'

# mpremote:include quser.ps1
# mpremote:include result.ps1

$quser = Invoke-Quser -Arguments @()
$wms = $null
if ($IncludeWms -and (Get-Command -Name Get-WmsSession -ErrorAction SilentlyContinue)) {
    $wms = @(Get-WmsSession -All | ForEach-Object {
        [PSCustomObject]@{
            SessionId  = [int]$_.SessionId
            UserName   = [string]$_.UserName
            DomainName = [string]$_.DomainName
            State      = [string]$_.State
            StationId  = [int]$_.StationId
            IsAdmin    = [bool]$_.IsAdmin
        }
    })
}
$apps = $null
if ($IncludeApps) {
    # Open applications per session: Get-WmsApp where MultiPoint is (with each window's
    # process image name), else every process of a user session but those in IgnoreApps.
    $procs = @{}
    Get-Process -ErrorAction SilentlyContinue | Where-Object { $_.SessionId -gt 0 } |
        ForEach-Object { $procs[[int]$_.Id] = $_ }
    $apps = New-Object System.Collections.Generic.List[object]
    if ($null -ne $wms) {
        foreach ($w in $wms) {
            foreach ($a in @(Get-WmsApp -SessionId $w.SessionId -ErrorAction SilentlyContinue)) {
                $p = $procs[[int]$a.ProcessId]
                $image = $(if ($null -eq $p) { [string]$a.Name } elseif ($p.Path) { [IO.Path]::GetFileName($p.Path) } else { $p.ProcessName + '.exe' })
                $apps.Add([PSCustomObject]@{ SessionId = [int]$w.SessionId; Name = $image; Title = [string]$a.Name })
            }
        }
    } else {
        foreach ($p in $procs.Values) {
            if ($IgnoreApps -contains $p.ProcessName) { continue }
            $image = $(if ($p.Path) { [IO.Path]::GetFileName($p.Path) } else { $p.ProcessName + '.exe' })
            $apps.Add([PSCustomObject]@{ SessionId = [int]$p.SessionId; Name = $image; Title = '' })
        }
    }
}
# A list of none or one would be unrolled by a $(...) subexpression (to $null or the one
# object); assigned from a method call it stays an array.
$appList = $null
if ($null -ne $apps) { $appList = $apps.ToArray() }
Write-Result -Value ([PSCustomObject]@{
    ComputerName   = $env:COMPUTERNAME
    OperatorUser   = [Environment]::UserName
    OperatorDomain = [Environment]::UserDomainName
    QuserStdout    = ($quser.Out -join "`n")
    QuserStderr    = ($quser.Err -join "`n")
    QuserExitCode  = $quser.Exit
    QuserCodePage  = $quser.CodePage
    QuserReadAs    = $quser.ReadAs
    WmsAvailable   = ($null -ne $wms)
    WmsSessions    = $wms
    Apps           = $appList
})
