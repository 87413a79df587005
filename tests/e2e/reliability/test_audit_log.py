"""The audit log under concurrency: two runs appending to one file at the same time.

What a user cares about: when the scheduled policy run and an operator's manual run overlap,
the audit log still answers "who ended whose session, when": every line whole and valid
JSON, each run's lines complete (start, a line per host and per action, end), nothing
earlier in the file rewritten.
"""

from __future__ import annotations

import stat
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mpremote.api import RunOptions, run_command
from mpremote.lab.server import Lab
from mpremote.selection import Selector
from mpremote.targets import load_targets
from tests.support.helpers import cli_env, lab_credentials, mpremote_argv, read_jsonl, start_lab

pytestmark = pytest.mark.lab

ACTION_FIELDS = ("ts", "run_id", "operator", "event", "host", "session_id", "username", "action", "outcome")


@pytest.fixture
def two_labs(tmp_path: Path) -> Iterator[tuple[Lab, Lab]]:
    a = start_lab(tmp_path / "a", hosts=12, sessions_per_host=6, tls=False)
    b = start_lab(tmp_path / "b", hosts=12, sessions_per_host=6, tls=False)
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def check_run(lines: list[dict[str, Any]], hosts: int) -> None:
    """One run's lines: start first, end last, a host line per host, whole action lines."""
    assert lines[0]["event"] == "run_start" and lines[-1]["event"] == "run_end"
    assert Counter(line["event"] for line in lines)["host"] == hosts
    assert len({line["host"] for line in lines if line["event"] == "host"}) == hosts
    actions = [line for line in lines if line["event"] == "action"]
    assert actions
    for line in actions:
        for key in ACTION_FIELDS:
            assert line.get(key) not in (None, ""), f"audit action line without {key}"
    finals = [a for a in actions if a["outcome"] != "sending"]
    sent = {(a["host"], a["session_id"]) for a in actions if a["outcome"] == "sending"}
    assert {(a["host"], a["session_id"]) for a in finals if a["outcome"] == "done"} <= sent
    stamps = [datetime.fromisoformat(line["ts"].replace("Z", "+00:00")) for line in lines]
    assert stamps == sorted(stamps), "a run's lines are appended in time order"


def test_two_concurrent_cli_runs_share_one_audit_log(two_labs: tuple[Lab, Lab], tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.write_text('{"earlier": "line kept as is"}\n', encoding="utf-8")
    procs = [
        subprocess.Popen(
            mpremote_argv(
                command, lab.targets_path, "--all", "--audit-log", audit, "--format", "json", "--timeout", "20",
                *(["--text", "Closing"] if command == "message" else ["--yes"]),
            ),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
        )
        for command, lab in (("logoff", two_labs[0]), ("message", two_labs[1]))
    ]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err

    lines = read_jsonl(audit)  # every line parses: nothing interleaved or torn
    assert lines[0] == {"earlier": "line kept as is"}
    runs: dict[str, list[dict[str, Any]]] = {}
    for line in lines[1:]:
        runs.setdefault(line["run_id"], []).append(line)
    assert len(runs) == 2
    for run_lines in runs.values():
        check_run(run_lines, hosts=12)
    assert {r[0]["command"] for r in runs.values()} == {"logoff", "message"}


def test_two_runs_in_one_process_do_not_tear_lines(two_labs: tuple[Lab, Lab], tmp_path: Path) -> None:
    """Threads of one process (a service running two schedules) use separate AuditLog objects."""
    audit = tmp_path / "audit.jsonl"
    outcomes: list[Any] = []

    def run(lab: Lab) -> None:
        assert lab.targets_path is not None
        hosts = load_targets(lab.targets_path).limit_all([])
        options = RunOptions(
            per_host_timeout=20, audit_log=str(audit), operator="it-admin", credentials=lab_credentials
        )
        outcomes.append(run_command(hosts, "message", Selector(all=True), text="Hi", options=options))

    threads = [threading.Thread(target=run, args=(lab,)) for lab in two_labs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 2
    lines = read_jsonl(audit)
    for outcome in outcomes:
        mine = [line for line in lines if line["run_id"] == outcome.run_id]
        check_run(mine, hosts=12)
        assert {line["operator"] for line in mine} == {"it-admin"}
        done = sum(1 for r in outcome.results for a in r.actions or () if a.outcome.value == "done")
        assert sum(1 for line in mine if line.get("outcome") == "done") == done
    # A new file is private: the audit log names users and hosts.
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
