"""Worker processes, the default for big runs on Linux, against the real CLI and the lab.

What a user cares about: the run that forks by default gives the same rows as the
threaded one, shows its progress bar, and keeps every promise when things go wrong: a
worker killed mid-run (OOM killer, an operator's ``kill -9``) loses no host's row and
claims nothing it did not do; Ctrl-C gives interrupted rows and leaves no process behind;
the audit log has every worker's lines; nothing is ever sent twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mpremote.fanout import AUTO_PROCESSES_MAX, AUTO_PROCESSES_MIN_HOSTS
from mpremote.lab.faults import parse_fault_rule
from mpremote.lab.server import Lab
from tests.support.helpers import cli_env, journal, mpremote_argv, read_jsonl, run_cli, start_lab
from tests.support.terminal import read_terminal

#: Forks, signals and kills: .ci/reliability.sh runs these several times in a row.
pytestmark = [pytest.mark.lab, pytest.mark.stress]

#: Just enough hosts for the automatic rule to fork.
HOSTS = AUTO_PROCESSES_MIN_HOSTS


def expected_workers() -> int:
    """What the automatic rule must pick on this machine (docs/performance.md)."""
    if not sys.platform.startswith("linux"):
        return 1
    cpus = len(os.sched_getaffinity(0))
    return min(cpus, AUTO_PROCESSES_MAX) if cpus >= 2 else 1


needs_workers = pytest.mark.skipif(expected_workers() < 2, reason="the automatic rule forks only on Linux, 2+ CPUs")


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def audit_so_far(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.endswith("}")]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = start_lab(tmp_path, hosts=HOSTS, sessions_per_host=2)
    yield lab
    lab.stop()


@pytest.fixture
def slow_lab(tmp_path: Path) -> Iterator[Lab]:
    """Every answer 150 ms late: a run lasts long enough to be hit half-way."""
    lab = start_lab(tmp_path, hosts=HOSTS, sessions_per_host=2, faults=[parse_fault_rule("mp-lab-*=slow:150")])
    yield lab
    lab.stop()


def without_timing(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


@needs_workers
def test_default_forks_and_gives_the_threaded_rows(lab: Lab) -> None:
    """No option: workers are forked (the trace says how many) and ``--format json`` is the
    same, row for row, as with ``--processes 1``."""
    default = run_cli("sessions", lab.targets_path, "--format", "json", "--no-progress",
                      env=cli_env(MPREMOTE_DEBUG="1"))  # fmt: skip
    threads = run_cli("sessions", lab.targets_path, "--format", "json", "--no-progress", "--processes", "1",
                      env=cli_env(MPREMOTE_DEBUG="1"))  # fmt: skip
    assert default.code == threads.code == 0, default.stderr[-2000:]
    assert f"{HOSTS} hosts over {expected_workers()} worker processes" in default.stderr
    assert "worker processes" not in threads.stderr
    assert "not forking" not in default.stderr
    rows = json.loads(default.stdout)
    assert [r["host"] for r in rows] == [h.name for h in lab.hosts]
    assert all(r["status"] == "ok" for r in rows)
    assert without_timing(rows) == without_timing(json.loads(threads.stdout))


@needs_workers
def test_progress_bar_is_shown_while_workers_run(lab: Lab, tmp_path: Path) -> None:
    """stderr is a terminal: the bar is drawn (by the run, not a thread) and the run forks."""
    import pty

    main, sub = pty.openpty()
    out = tmp_path / "rows.json"
    argv = mpremote_argv("sessions", lab.targets_path, "--format", "json", "-o", out)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sub,
                            env=cli_env(MPREMOTE_DEBUG="1"))  # fmt: skip
    os.close(sub)
    screen = read_terminal(main, proc, timeout=120)
    assert proc.returncode == 0, screen
    assert f"{HOSTS} hosts over {expected_workers()} worker processes" in screen
    assert f"/{HOSTS}" in screen  # the bar's done/total column
    assert "not forking" not in screen
    rows = json.loads(out.read_text())
    assert len(rows) == HOSTS and all(r["status"] == "ok" for r in rows)


@needs_workers
def test_killing_a_worker_loses_no_row_and_claims_nothing(slow_lab: Lab, tmp_path: Path) -> None:
    """SIGKILL one worker while log-offs are in flight: every host still has exactly one
    row; the dead worker's hosts it had started say 'outcome unknown', those it had not
    are run by a new worker (so no row says 'not started'); the audit log ends with an
    outcome for every action it said was being sent; no session is logged off twice; no
    process is left behind."""
    audit = tmp_path / "audit.jsonl"
    argv = mpremote_argv(
        "logoff", slow_lab.targets_path, "--all", "--yes", "--timeout", "60", "--format", "jsonl",
        "--audit-log", audit, "--no-progress",
    )  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        wait_for(lambda: any(line.get("outcome") == "sending" for line in audit_so_far(audit)), "an action sent")
        workers = children(proc.pid)
        assert len(workers) == expected_workers(), workers
        os.kill(workers[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode not in (0, 130), err  # failed hosts, not a clean or interrupted run
    assert "Traceback" not in err
    assert not [pid for pid in workers if alive(pid)], "a worker outlived the run"

    rows = [json.loads(line) for line in out.split("\n") if line.strip()]
    assert sorted(r["host"] for r in rows) == sorted(h.name for h in slow_lab.hosts)  # one each
    lost = [r for r in rows if r["status"] != "ok"]
    assert lost, "the killed worker's hosts cannot all have finished"
    for r in lost:  # only what it had started; the hosts it had not went to a new worker
        message = r["error"]["message"]
        assert r["status"] == "failed", r
        assert "worker process died" in message and "outcome on the host is unknown" in message

    played = Counter((e["host"], e["id"]) for e in journal(slow_lab) if e["event"] == "logoff")
    assert set(played.values()) <= {1}, "a session was logged off twice"
    lines = read_jsonl(audit)
    sending = {(line["host"], line["session_id"]) for line in lines if line.get("outcome") == "sending"}
    assert set(played) <= sending, "an action reached a host without an audit line first"
    settled = {(line["host"], line["session_id"]) for line in lines
               if line.get("event") == "action" and line.get("outcome") not in (None, "sending")}  # fmt: skip
    assert sending <= settled, "an action said 'sending' and never got its outcome line"
    reported_done = {(r["host"], a["id"]) for r in rows for a in r.get("actions") or () if a["outcome"] == "done"}
    assert reported_done <= set(played), "a log-off was reported done that the host never played"
    assert lines[-1]["event"] == "run_end" and lines[-1]["exit_code"] == proc.returncode


@needs_workers
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_to_the_group_by_default_interrupts_and_leaves_nothing_behind(
    slow_lab: Lab, tmp_path: Path, signum: int
) -> None:
    """A terminal's Ctrl-C reaches the parent and its workers: exit 130, one row per host,
    every action accounted for, and no worker left running."""
    audit = tmp_path / "audit.jsonl"
    argv = mpremote_argv(
        "logoff", slow_lab.targets_path, "--all", "--yes", "--timeout", "60", "--format", "jsonl",
        "--audit-log", audit, "--no-progress",
    )  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), start_new_session=True
    )
    try:
        wait_for(lambda: any(line.get("outcome") == "sending" for line in audit_so_far(audit)), "an action sent")
        workers = children(proc.pid)
        assert len(workers) == expected_workers(), workers
        os.killpg(proc.pid, signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not [pid for pid in workers if alive(pid)], "a worker outlived the run"
    rows = [json.loads(line) for line in out.split("\n") if line.strip()]
    assert sorted(r["host"] for r in rows) == sorted(h.name for h in slow_lab.hosts)
    assert {r["status"] for r in rows} <= {"ok", "interrupted"}
    assert any(r["status"] == "interrupted" for r in rows), "the signal came mid-run"
    played = Counter((e["host"], e["id"]) for e in journal(slow_lab) if e["event"] == "logoff")
    assert set(played.values()) <= {1}
    lines = read_jsonl(audit)
    sending = {(line["host"], line["session_id"]) for line in lines if line.get("outcome") == "sending"}
    assert set(played) <= sending
    reported_done = {(r["host"], a["id"]) for r in rows for a in r.get("actions") or () if a["outcome"] == "done"}
    assert reported_done <= set(played)
    assert lines[-1]["event"] == "run_end" and lines[-1]["exit_code"] == 130


@needs_workers
def test_hung_hosts_get_their_timeout_rows_from_the_workers(tmp_path: Path) -> None:
    """Per-host deadlines hold in the workers: hung hosts get 'unreachable' timeout rows,
    the others are ok, and the run ends."""
    lab = start_lab(tmp_path, hosts=HOSTS, sessions_per_host=2, faults=[parse_fault_rule("mp-lab-00[1-3]=hang")])
    try:
        result = run_cli("sessions", lab.targets_path, "--format", "json", "--no-progress", "--timeout", "3",
                         env=cli_env(MPREMOTE_DEBUG="1"), timeout=120)  # fmt: skip
    finally:
        lab.stop()
    assert f"{HOSTS} hosts over {expected_workers()} worker processes" in result.stderr
    rows = {r["host"]: r for r in json.loads(result.stdout)}
    assert len(rows) == HOSTS
    hung = {f"mp-lab-00{i}" for i in (1, 2, 3)}
    for name in hung:
        assert rows[name]["status"] == "unreachable" and rows[name]["error"]["kind"] == "timeout"
    assert all(r["status"] == "ok" for name, r in rows.items() if name not in hung)
