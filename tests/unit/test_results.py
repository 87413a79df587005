from mpremote.results import ExitCode, HostResult, HostStatus, Outcome, SessionAction, exit_code, totals


def _r(status: HostStatus) -> HostResult:
    return HostResult(host="h", address="127.0.0.1", status=status)


def test_exit_code_combines_failed_and_unreachable_bits() -> None:
    assert exit_code([_r(HostStatus.OK)]) == ExitCode.OK
    assert exit_code([_r(HostStatus.OK), _r(HostStatus.FAILED)]) == 4
    assert exit_code([_r(HostStatus.UNREACHABLE)]) == 8
    assert exit_code([_r(HostStatus.FAILED), _r(HostStatus.UNREACHABLE)]) == 12
    assert exit_code([_r(HostStatus.INTERRUPTED), _r(HostStatus.FAILED)]) == 130
    assert exit_code([], interrupted=True) == 130


def test_totals_line_counts_hosts_and_outcomes() -> None:
    ok = _r(HostStatus.OK)
    ok.actions = [SessionAction(3, "ana", "logoff", Outcome.DONE), SessionAction(4, "bo", "logoff", Outcome.VANISHED)]
    line = totals([ok, _r(HostStatus.UNREACHABLE)]).line()
    assert line.startswith("2 hosts, 1 ok, 1 unreachable")
    assert "1 done" in line and "1 vanished" in line


def test_totals_line_is_grammatical_for_one() -> None:
    assert totals([_r(HostStatus.OK)]).line() == "1 host, 1 ok, 0 sessions"
