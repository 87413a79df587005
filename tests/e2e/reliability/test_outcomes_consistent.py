"""The audit log and the outputs end consistent with what happened on the hosts.

What a user cares about: once sessions were logged off, the results are never lost (a full
disk sends them to stderr and the exit code says so), every ``sending`` line of the audit
gets an outcome line, and ``run_end`` carries the exit code the process really ended with.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mpremote.lab.server import Lab
from mpremote.results import HostResult, HostStatus, Outcome, SessionAction
from mpremote.session import Session
from tests.support.helpers import effects, fault_rules, read_jsonl, run_cli, start_lab

pytestmark = pytest.mark.lab

DEV_FULL = Path("/dev/full")  # every write fails with ENOSPC: a full disk, for real
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = start_lab(tmp_path, hosts=3, sessions_per_host=3)
    try:
        yield lab
    finally:
        lab.stop()


def check_audit(path: Path, exit_code: int) -> list[dict[str, Any]]:
    """Every sending line answered, run_end last with the process's exit code."""
    lines = read_jsonl(path)
    actions = [a for a in lines if a["event"] == "action"]
    sent = Counter((a["host"], a["session_id"]) for a in actions if a["outcome"] == "sending")
    answered = Counter((a["host"], a["session_id"]) for a in actions if a["outcome"] != "sending")
    assert sent and set(sent) <= set(answered), f"sending without outcome: {set(sent) - set(answered)}"
    ends = [line for line in lines if line["event"] == "run_end"]
    assert len(ends) == 1 and lines[-1] is ends[0]
    assert ends[0]["exit_code"] == exit_code
    return lines


@needs_dev_full
@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_results_file_on_a_full_disk_goes_to_stderr_and_exit_says_so(lab: Lab, tmp_path: Path, fmt: str) -> None:
    audit = tmp_path / "audit.jsonl"
    res = run_cli("logoff", lab.targets_path, "--all", "--yes", "-f", fmt, "-o", DEV_FULL, "--audit-log", audit)
    assert len({e for e in effects(lab) if e[1] == "logoff"}) == 9, "the log-offs happened"
    assert res.code == 1, res.stderr
    assert "-o/--output: cannot write /dev/full" in res.stderr and "went to stderr" in res.stderr
    for host in ("mp-lab-001", "mp-lab-002", "mp-lab-003"):
        assert host in res.stderr  # every host's result is still shown
    if fmt == "jsonl":
        rows = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
        assert sorted(r["host"] for r in rows) == ["mp-lab-001", "mp-lab-002", "mp-lab-003"]
    check_audit(audit, 1)


@needs_dev_full
def test_retry_file_on_a_full_disk_goes_to_stderr_and_the_device_stays(tmp_path: Path) -> None:
    lab = start_lab(tmp_path, hosts=3, sessions_per_host=4, faults=fault_rules({"mp-lab-002": "refuse"}))
    try:
        before = os.stat(DEV_FULL)
        audit = tmp_path / "audit.jsonl"
        res = run_cli("sessions", lab.targets_path, "-f", "json", "--retry-file", DEV_FULL, "--audit-log", audit)
    finally:
        lab.stop()
    assert res.code == 1, res.stderr
    assert "--retry-file: cannot write /dev/full" in res.stderr
    assert "mp-lab-002\n" in res.stderr  # the host to retry, shown instead
    assert json.loads(res.stdout)[1]["status"] == "unreachable"  # the results themselves are fine
    after = os.stat(DEV_FULL)
    assert (after.st_ino, after.st_rdev, after.st_mode) == (before.st_ino, before.st_rdev, before.st_mode)
    lines = read_jsonl(audit)
    assert lines[-1]["event"] == "run_end" and lines[-1]["exit_code"] == 1


def test_run_end_carries_the_exit_code_of_a_clean_run(lab: Lab, tmp_path: Path) -> None:
    audit, out = tmp_path / "audit.jsonl", tmp_path / "out.json"
    res = run_cli("logoff", lab.targets_path, "--all", "--yes", "-f", "json", "-o", out, "--audit-log", audit)
    assert res.code == 0, res.stderr
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 3
    check_audit(audit, 0)


def _hanging_job_factory(hang: set[str]) -> Any:
    """A host job that records its intent (the audit's sending line), then, on the hosts in
    ``hang``, never answers: the action left, the outcome is unknown."""

    def job(host: Any, spec: Any, *, before_act: Any = None, **_: Any) -> HostResult:
        session = Session(username="ana", session_name=None, id=3, state="active", idle=None, logon_text="")
        if before_act is not None:
            before_act(host, [session])
        if host.name in hang:
            threading.Event().wait(60)
        return HostResult(
            host.name, host.address, HostStatus.OK, actions=[SessionAction(3, "ana", "logoff", Outcome.DONE)]
        )

    return job


@pytest.mark.stress
@pytest.mark.parametrize("processes", [1, 2])
def test_a_host_cut_off_after_sending_gets_an_outcome_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    from mpremote import api
    from mpremote.hosts import Host
    from mpremote.selection import Selector

    monkeypatch.setattr(api, "run_host_job", _hanging_job_factory({"h2"}))
    hosts = [Host(name=f"h{i}", address=f"127.0.0.{i}") for i in range(1, 5)]
    audit = tmp_path / "audit.jsonl"
    options = api.RunOptions(
        audit_log=str(audit), per_host_timeout=0.5, processes=processes, credentials=lambda h: ("u", "p")
    )
    outcome = api.run_command(hosts, "logoff", Selector(all=True), options=options)
    assert [r.status for r in outcome.results] == [HostStatus.OK, HostStatus.UNREACHABLE, HostStatus.OK, HostStatus.OK]
    lines = check_audit(audit, int(outcome.exit_code))
    (unknown,) = [a for a in lines if a["event"] == "action" and a["host"] == "h2" and a["outcome"] != "sending"]
    assert unknown["outcome"] == "failed" and "outcome unknown" in unknown["detail"]
    assert unknown["username"] == "ana" and unknown["session_id"] == 3


def test_a_failing_data_sink_does_not_switch_the_audit_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A jsonl writer that raises on the first row must not cost the audit its host lines."""
    from mpremote import api
    from mpremote.hosts import Host
    from mpremote.selection import Selector

    monkeypatch.setattr(api, "run_host_job", _hanging_job_factory(set()))
    hosts = [Host(name=f"h{i}", address=f"127.0.0.{i}") for i in range(1, 6)]
    audit = tmp_path / "audit.jsonl"

    def broken_sink(event: Any) -> None:
        raise OSError(28, "No space left on device")

    options = api.RunOptions(
        audit_log=str(audit), per_host_timeout=5, credentials=lambda h: ("u", "p"), on_event=broken_sink
    )
    outcome = api.run_command(hosts, "logoff", Selector(all=True), options=options)
    lines = check_audit(audit, int(outcome.exit_code))
    assert sorted(line["host"] for line in lines if line["event"] == "host") == ["h1", "h2", "h3", "h4", "h5"]
