# mpremote act (v2). Logs off, disconnects, messages, locks or unlocks the given sessions.
# For every target it first re-checks, immediately before acting, that the session id
# still belongs to the user (and logon time) seen by the query; otherwise it reports
# 'vanished' and does nothing to that id. User names and message text arrive only as
# PSRP parameters; the message reaches msg.exe on its standard input, never its command line.
# With ConfirmMs > 0, log-offs and disconnects are then confirmed (see the end); DeadlineMs
# (from the script's start) bounds that wait so the whole call ends inside the caller's deadline.
# The answer is one JSON string: an array of rows (Write-Result).
param(
    [Parameter(Mandatory = $true)][ValidateSet('logoff', 'disconnect', 'message', 'lock', 'unlock')][string]$Action,
    [Parameter(Mandatory = $true)][ValidateSet('quser', 'wms')][string]$Backend,
    [Parameter(Mandatory = $true)][object[]]$Targets,
    [string]$Text = '',
    [int]$MessageSeconds = 60,
    [int]$ConfirmMs = 0,
    [int]$DeadlineMs = 0,
    [switch]$NoJson
)
$ErrorActionPreference = 'Continue'
$started = [DateTime]::UtcNow

# mpremote:include quser.ps1
# mpremote:include result.ps1

function Test-SessionOwner([int]$Id, [string]$User, [string]$Logon) {
    if ($Backend -eq 'wms') {
        $s = Get-WmsSession -SessionId $Id -ErrorAction SilentlyContinue
        return ($null -ne $s) -and ([string]$s.UserName -ieq $User)
    }
    if ([string]::IsNullOrEmpty($User) -or [string]::IsNullOrEmpty($Logon)) { return $false }
    # Read as the query read it (Invoke-Quser): the names compared are those it reported.
    $quser = Invoke-Quser -Arguments @([string]$Id)
    if ($quser.Exit -ne 0) { return $false }
    foreach ($line in ($quser.Out | Select-Object -Skip 1)) {
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

# The quser row of session $Id if it still shows logon time $Logon, else $null. The user
# name is not compared: read over remoting, a name with accents may arrive in another code
# page; the id with the same logon time is the same session. $User only gives the width of
# the USERNAME column (it is wider than 22 only for long names).
function Find-SessionRow([string[]]$Lines, [int]$Id, [string]$User, [string]$Logon) {
    foreach ($line in ($Lines | Select-Object -Skip 1)) {
        if ($line.Length -lt 2 -or -not $line.TrimEnd().EndsWith(' ' + $Logon)) { continue }
        $rest = $line.Substring([Math]::Min($line.Length, $(if ($User.Length -ge 22) { 1 + $User.Length } else { 23 })))
        # After the user name: SESSIONNAME (may be blank, never all digits), then ID.
        $words = @($rest.Split(' ', [StringSplitOptions]::RemoveEmptyEntries))
        $first = @($words | Where-Object { $_ -match '^\d+$' } | Select-Object -First 1)
        if ($first.Count -eq 1 -and [int]$first[0] -eq $Id) { return $line }
    }
    return $null
}

# Every row of the answer; sent at the end as one JSON string (Write-Result), also when
# something throws half-way (finally), so what was done is always reported.
$rows = New-Object System.Collections.Generic.List[object]
$acted = New-Object System.Collections.Generic.List[object]
try {
    foreach ($t in $Targets) {
        $id = [int]$t.Id
        $user = [string]$t.UserName
        $logon = [string]$t.LogonText
        if (-not (Test-SessionOwner $id $user $logon)) {
            $rows.Add([PSCustomObject]@{ Id = $id; UserName = $user; Outcome = 'vanished'; Denied = $false;
                ExitCode = $null; Detail = 'session no longer belongs to this user; left alone' })
            continue
        }
        $output = @()
        $code = 0
        try {
            if ($Action -eq 'message') {
                $output = @($Text | & msg $id "/time:$MessageSeconds" 2>&1)
                $code = $LASTEXITCODE
            } elseif ($Action -eq 'lock') {
                $output = @(Lock-WmsSession -SessionId $id -Message $Text -ErrorAction Stop 2>&1)
            } elseif ($Action -eq 'unlock') {
                $output = @(Unlock-WmsSession -SessionId $id -ErrorAction Stop 2>&1)
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
        $rows.Add([PSCustomObject]@{
            Id = $id; UserName = $user
            Outcome = $(if ($code -eq 0) { 'done' } else { 'failed' })
            Denied = ($code -ne 0 -and ($detail -match '\[5\]' -or $detail -match 'denied'))
            ExitCode = $code; Detail = $detail
        })
        if ($code -eq 0) {
            $acted.Add([PSCustomObject]@{ Id = $id; UserName = $user; LogonText = $logon
                SessionName = [string]$t.SessionName; Confirmed = $false; After = '' })
        }
    }

    # Confirmation: re-read quser until every session acted on is gone (logoff) or lists no
    # session name any more (disconnect: Windows blanks it), or ConfirmMs has passed. One
    # object per session: Check = 'confirm', Confirmed, and the header + row still listed.
    if ($ConfirmMs -gt 0 -and $acted.Count -gt 0 -and ($Action -eq 'logoff' -or $Action -eq 'disconnect')) {
        $until = [DateTime]::UtcNow.AddMilliseconds($ConfirmMs)
        if ($DeadlineMs -gt 0 -and $started.AddMilliseconds($DeadlineMs) -lt $until) { $until = $started.AddMilliseconds($DeadlineMs) }
        while ($true) {
            $q = Invoke-Quser -Arguments @()
            $qout = @($q.Out); $qerr = @($q.Err); $qexit = $q.Exit
            $open = 0
            foreach ($a in $acted) {
                $row = $null
                if ($qexit -eq 0) { $row = Find-SessionRow $qout $a.Id $a.UserName $a.LogonText }
                if ($Action -eq 'logoff') {
                    # Gone only when quser ran and no longer lists it. A failing quser proves
                    # nothing here: the client counts the session gone only when the error is
                    # quser's own "No User exists for *" in the host's language (the last
                    # session has gone); any other failure leaves it unconfirmed.
                    $a.Confirmed = ($qexit -eq 0) -and ($null -eq $row)
                } else {
                    $words = if ($null -ne $row) { @($row.Substring(1).Split(' ', [StringSplitOptions]::RemoveEmptyEntries)) } else { @() }
                    $a.Confirmed = ($null -ne $row) -and -not ($words -contains $a.SessionName)
                }
                $a.After = $(if ($null -ne $row) { $qout[0] + "`n" + $row } else { '' })
                if (-not $a.Confirmed) { $open++ }
            }
            $left = ($until - [DateTime]::UtcNow).TotalMilliseconds
            if ($open -eq 0 -or $qexit -ne 0 -or $left -le 0) { break }
            Start-Sleep -Milliseconds ([int][Math]::Min(250, $left))
        }
        foreach ($a in $acted) {
            $rows.Add([PSCustomObject]@{ Check = 'confirm'; Id = $a.Id; Confirmed = $a.Confirmed; After = $a.After
                QuserExitCode = $qexit; QuserStderr = ($qerr -join "`n") })
        }
    }
} finally {
    Write-Result -Value $rows.ToArray()
}
