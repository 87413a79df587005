# mpremote query (v1). Lists the sessions of this host, read-only.
# Sent as script text exactly as stored in the package; every value arrives as a PSRP
# parameter, nothing is ever spliced into this text.
param(
    [bool]$IncludeWms = $true
)
$ErrorActionPreference = 'Continue'
$stdout = New-Object System.Collections.Generic.List[string]
$stderr = New-Object System.Collections.Generic.List[string]
& quser 2>&1 | ForEach-Object {
    if ($_ -is [System.Management.Automation.ErrorRecord]) { $stderr.Add($_.ToString()) }
    else { $stdout.Add([string]$_) }
}
$quserExit = $LASTEXITCODE
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
[PSCustomObject]@{
    ComputerName   = $env:COMPUTERNAME
    OperatorUser   = [Environment]::UserName
    OperatorDomain = [Environment]::UserDomainName
    QuserStdout    = ($stdout -join "`n")
    QuserStderr    = ($stderr -join "`n")
    QuserExitCode  = $quserExit
    WmsAvailable   = ($null -ne $wms)
    WmsSessions    = $wms
}
