"""Ctrl-C and SIGTERM in the middle of a run, against the real CLI process.

What a user cares about: stopping a run (or a service manager stopping it) never loses a
host's row, never claims a log-off that did not happen, and never lets an action reach a
host without the audit log saying so first; the exit code says "interrupted" (130).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mpremote.lab.faults import parse_fault_rule
from mpremote.lab.server import Lab
from tests.support.helpers import assert_no_secret, cli_env, effects, journal, mpremote_argv, read_jsonl, start_lab

#: Signals and deadlines: .ci/run runs these several times in a row (a 1-in-3 flake cannot pass).
pytestmark = [pytest.mark.lab, pytest.mark.stress]

HOSTS = 6


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("the run never reached the point where the signal was to be sent")
        time.sleep(0.02)


def journal_so_far(lab: Lab) -> list[dict[str, object]]:
    """The lab's journal while the lab is still writing it: complete lines only (polling
    ``journal()`` mid-run read a half-written last line now and then and failed)."""
    path = lab.options.journal
    if path is None or not path.exists():
        return []
    complete = path.read_text(encoding="utf-8").split("\n")[:-1]  # the tail is "" or a partial line
    return [json.loads(line) for line in complete if line.strip()]


def audit_lines(path: Path) -> list[dict[str, object]]:
    """Lines written so far (the file may not exist yet; the last line may be in flight)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.endswith("}")]


@pytest.fixture
def slow_lab(tmp_path: Path) -> Lab:
    """Six hosts answering slowly, so a run with two at a time is caught half-way."""
    lab = start_lab(tmp_path, hosts=HOSTS, sessions_per_host=3, faults=[parse_fault_rule("mp-lab-*=slow:150")])
    yield lab  # type: ignore[misc]
    lab.stop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_leaves_no_lost_or_unlogged_action(slow_lab: Lab, tmp_path: Path, signum: int) -> None:
    audit = tmp_path / "audit.jsonl"
    argv = mpremote_argv(
        "logoff", slow_lab.targets_path, "--all", "--yes", "--timeout", "30", "--concurrency", "2",
        "--format", "jsonl", "--audit-log", audit, "--no-progress",
    )  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        # Signal once the first action script is about to leave: some hosts are done,
        # some are half-way, some have not started.
        wait_for(lambda: any(line.get("outcome") == "sending" for line in audit_lines(audit)))
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err

    # Exactly one row per host, whatever state it was in.
    rows = [json.loads(line) for line in out.split("\n") if line.strip()]
    assert sorted(r["host"] for r in rows) == [h.name for h in slow_lab.hosts]
    assert {r["status"] for r in rows} <= {"ok", "interrupted"}
    interrupted = [r for r in rows if r["status"] == "interrupted"]
    assert interrupted, "the signal came mid-run, so some host cannot have finished"
    assert all(r["error"]["kind"] == "interrupted" for r in interrupted)

    # The audit log is whole: every line parses, the run has its end, exit code 130.
    lines = read_jsonl(audit)
    assert lines[-1]["event"] == "run_end" and lines[-1]["exit_code"] == 130
    assert sorted(str(line["host"]) for line in lines if line["event"] == "host") == sorted(r["host"] for r in rows)
    sending = {(line["host"], line["session_id"]) for line in lines if line.get("outcome") == "sending"}

    # No action sent without its intent logged first; none reported done that was not.
    played = {(host, sid) for host, _event, sid in effects(slow_lab)}
    assert played <= sending, "an action reached a host without an audit line first"
    reported_done = {(r["host"], a["id"]) for r in rows for a in r.get("actions") or () if a["outcome"] == "done"}
    assert reported_done <= played, "a log-off was reported done that the host never played"
    # Whatever was played but not reported done belongs to a row that says the outcome is unknown.
    unknown = {r["host"] for r in interrupted if "unknown" in r["error"]["message"]}
    assert {host for host, _ in played - reported_done} <= unknown
    # A host that never started was never contacted.
    not_started = {r["host"] for r in interrupted if "not started" in r["error"]["message"]}
    assert not {e["host"] for e in journal(slow_lab) if e["event"] == "pipeline"} & not_started
    assert_no_secret("output", out, err, audit.read_text(encoding="utf-8"))


def test_ctrl_c_during_the_grace_period_logs_nobody_off(small_lab: Lab, tmp_path: Path) -> None:
    """logoff --warn --grace: users were warned, the operator changes their mind: no log-off."""
    audit = tmp_path / "grace-audit.jsonl"
    argv = mpremote_argv(
        "logoff", small_lab.targets_path, "--all", "--yes", "--warn", "Closing soon", "--grace", "60s",
        "--timeout", "10", "--format", "json", "--no-progress", "--audit-log", audit,
    )  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        hosts = {h.name for h in small_lab.hosts}
        wait_for(lambda: {e["host"] for e in journal_so_far(small_lab) if e["event"] == "message"} == hosts)
        # Into the waiting loop: the warning phase's run_end is written just before it (a
        # fixed sleep here was a race on a loaded machine).
        wait_for(lambda: any(line.get("event") == "run_end" for line in audit_lines(audit)))
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert time.monotonic() - start < 5, "Ctrl-C must not wait for the grace period to end"
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert not [e for e in journal(small_lab) if e["event"] == "logoff"]
    rows = json.loads(out)
    assert sorted(r["host"] for r in rows) == sorted(hosts)
    assert all(r["status"] == "interrupted" for r in rows)
