"""Totals and details say what happened, once, and never more than happened.

What a user cares about: the one line of totals is what they read. It must not count a
console session nobody asked about as "skipped", count a warning and a log-off of the same
session as two things "done", claim "done" when Ctrl-C stopped a grace period before anyone
was logged off, or stutter ("tls: TLS: ...").
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mpremote.lab.server import Lab
from tests.support.helpers import (
    cli_env,
    effects,
    fault_rules,
    journal,
    mpremote_argv,
    read_jsonl,
    run_cli,
    start_lab,
)

pytestmark = pytest.mark.lab


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = start_lab(tmp_path, hosts=2, sessions_per_host=4)
    try:
        yield lab
    finally:
        lab.stop()


def sessions(lab: Lab) -> list[dict[str, Any]]:
    res = run_cli("sessions", lab.targets_path, "-f", "json")
    assert res.code == 0, res.stderr
    return json.loads(res.stdout)


def totals_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


def test_a_protected_session_nobody_selected_is_not_counted_skipped(lab: Lab) -> None:
    rows = sessions(lab)
    user = next(s["username"] for s in rows[0]["sessions"] if s["session_name"] != "console" and s["id"] != 1)
    res = run_cli("logoff", lab.targets_path, "--user", user, "--yes", "-f", "json")
    assert res.code == 0, res.stderr
    out = json.loads(res.stdout)
    actions = [a for r in out for a in r["actions"]]
    assert [(a["username"], a["outcome"]) for a in actions] == [(user, "done")]
    assert "skipped" not in totals_line(res.stderr)
    # With --all the console is in question, and is reported as spared.
    res = run_cli("logoff", lab.targets_path, "--all", "--yes", "-f", "json")
    spared = [a for r in json.loads(res.stdout) for a in r["actions"] if a["outcome"] == "skipped"]
    assert spared and all("console" in a["detail"] or "WMSshell" in a["detail"] for a in spared)


def test_warn_and_grace_count_each_session_once(lab: Lab) -> None:
    res = run_cli("logoff", lab.targets_path, "--all", "--yes", "--warn", "Closing", "--grace", "1s", "-f", "json")
    assert res.code == 0, res.stderr
    logged_off = {e for e in effects(lab) if e[1] == "logoff"}
    warned = {e for e in effects(lab) if e[1] == "message"}
    assert logged_off and warned
    rows = json.loads(res.stdout)
    line = totals_line(res.stderr)
    assert f"{len(logged_off)} done" in line, line
    for row in rows:  # the row keeps the warnings, marked; its log-off actions match the hosts'
        assert row["facts"]["warned"] is True
        done = {
            (row["host"], "logoff", a["id"])
            for a in row["actions"]
            if a["action"] == "logoff" and a["outcome"] == "done"
        }
        assert done == {e for e in logged_off if e[0] == row["host"]}


def test_warn_and_grace_table_says_warned_and_logged_off(tmp_path: Path) -> None:
    lab = start_lab(tmp_path, hosts=1, sessions_per_host=4)
    try:
        res = run_cli("logoff", lab.targets_path, "--all", "--yes", "--warn", "Closing", "--grace", "1s")
        n = len({e for e in effects(lab) if e[1] == "logoff"})
        m = len({e for e in effects(lab) if e[1] == "message"})
    finally:
        lab.stop()
    assert res.code == 0, res.stderr
    row = next(line for line in res.stdout.splitlines() if "mp-lab-001" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[3] == str(n), row  # acted: the log-offs, not log-offs + warnings
    assert f"{m} warned" in row and f"{n} logged off" in row and "1 skipped" in row
    assert res.stdout.strip().splitlines()[-1].endswith(f"{n} done, 1 skipped")


@pytest.mark.stress
def test_ctrl_c_in_the_grace_period_reports_nothing_done(lab: Lab, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    argv = mpremote_argv(
        "logoff", lab.targets_path, "--all", "--yes", "--warn", "Closing soon", "--grace", "120s",
        "--timeout", "20", "--no-progress", "--audit-log", audit,
    )  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        # The warning phase's run_end is written before the waiting starts: a signal after
        # it lands in the grace period, however slow the machine (no sleeping to get there).
        end = time.monotonic() + 60
        while not (audit.exists() and any(line["event"] == "run_end" for line in read_jsonl(audit))):
            assert time.monotonic() < end and proc.poll() is None, "the warning phase never ended"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert not [e for e in journal(lab) if e["event"] == "logoff"]
    line = err.strip().splitlines()[-1] if err.strip() else out.strip().splitlines()[-1]
    assert "done" not in line, line
    assert "interrupted: interrupted" not in out + err
    assert "nobody was logged off" in out


def test_details_are_said_once(tmp_path: Path) -> None:
    lab = start_lab(
        tmp_path, hosts=3, sessions_per_host=4, faults=fault_rules({"mp-lab-001": "bad-cert", "mp-lab-002": "refuse"})
    )
    try:
        res = run_cli("sessions", lab.targets_path, "--timeout", "10")
    finally:
        lab.stop()
    assert res.code == 8
    text = res.stdout.lower()
    for stutter in ("tls: tls", "connect: connect:", "interrupted: interrupted", "timeout: timeout"):
        assert stutter not in text, res.stdout
    assert "tls" in text and "certificate" in text
