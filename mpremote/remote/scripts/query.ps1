# mpremote query (v1). Lists the sessions of this host, read-only.
# Sent as script text exactly as stored in the package; every value arrives as a PSRP
# parameter, nothing is ever spliced into this text.
param(
    [bool]$IncludeWms = $true,
    [bool]$IncludeApps = $false,
    [string[]]$IgnoreApps = @()
)
$ErrorActionPreference = 'Continue'

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
[PSCustomObject]@{
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
    Apps           = $apps
}
