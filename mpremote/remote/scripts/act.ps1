# mpremote act (v1). Logs off, disconnects or messages the given sessions.
# For every target it first re-checks, immediately before acting, that the session id
# still belongs to the user (and logon time) seen by the query; otherwise it reports
# 'vanished' and does nothing to that id. User names and message text arrive only as
# PSRP parameters; the message reaches msg.exe on its standard input, never its command line.
param(
    [Parameter(Mandatory = $true)][ValidateSet('logoff', 'disconnect', 'message')][string]$Action,
    [Parameter(Mandatory = $true)][ValidateSet('quser', 'wms')][string]$Backend,
    [Parameter(Mandatory = $true)][object[]]$Targets,
    [string]$Text = '',
    [int]$MessageSeconds = 60
)
$ErrorActionPreference = 'Continue'

function Test-SessionOwner([int]$Id, [string]$User, [string]$Logon) {
    if ($Backend -eq 'wms') {
        $s = Get-WmsSession -SessionId $Id -ErrorAction SilentlyContinue
        return ($null -ne $s) -and ([string]$s.UserName -ieq $User)
    }
    if ([string]::IsNullOrEmpty($User) -or [string]::IsNullOrEmpty($Logon)) { return $false }
    $lines = @(& quser $Id 2>$null)
    if ($LASTEXITCODE -ne 0) { return $false }
    foreach ($line in ($lines | Select-Object -Skip 1)) {
        if ($line.Length -lt 2) { continue }
        # USERNAME is columns 1-22; only a name of 22 or more characters pushes the row right.
        if ($User.Length -ge 22) {
            $nameOk = $line.Substring(1).StartsWith($User + ' ', [StringComparison]::OrdinalIgnoreCase)
        } else {
            $field = $line.Substring(1, [Math]::Min(22, $line.Length - 1)).TrimEnd()
            $nameOk = $field.Equals($User, [StringComparison]::OrdinalIgnoreCase)
        }
        if ($nameOk -and $line.TrimEnd().EndsWith(' ' + $Logon)) { return $true }
    }
    return $false
}

foreach ($t in $Targets) {
    $id = [int]$t.Id
    $user = [string]$t.UserName
    $logon = [string]$t.LogonText
    if (-not (Test-SessionOwner $id $user $logon)) {
        [PSCustomObject]@{ Id = $id; UserName = $user; Outcome = 'vanished'; Denied = $false;
            ExitCode = $null; Detail = 'session no longer belongs to this user; left alone' }
        continue
    }
    $output = @()
    $code = 0
    try {
        if ($Action -eq 'message') {
            $output = @($Text | & msg $id "/time:$MessageSeconds" 2>&1)
            $code = $LASTEXITCODE
        } elseif ($Backend -eq 'wms' -and $Action -eq 'logoff') {
            $output = @(Close-WmsSession -SessionId $id -Confirm:$false -ErrorAction Stop 2>&1)
        } elseif ($Backend -eq 'wms') {
            $output = @(Disconnect-WmsSession -SessionId $id -Confirm:$false -ErrorAction Stop 2>&1)
        } elseif ($Action -eq 'logoff') {
            $output = @(& logoff $id 2>&1)
            $code = $LASTEXITCODE
        } else {
            $output = @(& tsdiscon $id 2>&1)
            $code = $LASTEXITCODE
        }
    } catch {
        $output = @($_.ToString())
        $code = -1
    }
    $detail = (($output | ForEach-Object { $_.ToString() }) -join ' ').Trim()
    [PSCustomObject]@{
        Id = $id; UserName = $user
        Outcome = $(if ($code -eq 0) { 'done' } else { 'failed' })
        Denied = ($code -ne 0 -and ($detail -match '\[5\]' -or $detail -match 'denied'))
        ExitCode = $code; Detail = $detail
    }
}
