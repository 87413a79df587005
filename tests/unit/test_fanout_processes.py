"""The process-parallel fan-out keeps every guarantee of the threaded one.

What a user cares about: splitting the hosts over worker processes may make a big run
faster, but it must never lose a host's row, report a host done that did not report,
let a hung host or a stuck worker hold the run, or ignore Ctrl-C; and the result must be
the one the threaded runner gives.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mpremote.fanout import (
    HARD_DEADLINE_MARGIN_S,
    Deadline,
    ProgressEvent,
    effective_processes,
    other_threads,
    run_hosts,
)
from mpremote.fanout import processes as fanout_processes
from mpremote.hosts import Host
from mpremote.results import HostResult, HostStatus, SessionAction
from mpremote.session import Session

#: Forks, deadlines and interrupts: .ci/run runs these several times in a row (a 1-in-3 flake
#: cannot pass).
pytestmark = pytest.mark.stress

#: Slack for "the run returns in time" on a busy 2-core machine: a bound, not a benchmark.
SLACK_S = 2.5


@pytest.fixture(autouse=True)
def only_thread() -> None:
    """The fan-out forks only from a process with no other thread (it falls back to threads
    otherwise), so every test here starts with none: an earlier test that leaked a thread
    is named here instead of silently turning these tests into threaded ones. Cancels and
    signals below come from the run's own callbacks, not from timer threads."""
    end = time.monotonic() + 10
    while other_threads() and time.monotonic() < end:
        time.sleep(0.05)
    assert other_threads() == [], "threads left running by an earlier test"


def hosts(n: int) -> list[Host]:
    return [Host(name=f"mp-{i:03d}", address=f"10.0.0.{i}") for i in range(1, n + 1)]


def number(host: Host) -> int:
    return int(host.name.rsplit("-", 1)[1])


def deterministic(host: Host, deadline: Deadline) -> HostResult:
    """A job whose row depends only on the host: sessions, actions, errors, facts."""
    n = number(host)
    if n % 7 == 0:
        raise RuntimeError("boom")
    sessions = [Session(id=k, username=f"user{n}-{k}", state="active") for k in range(1, n % 4 + 1)]
    actions = [SessionAction(s.id, s.username, "logoff", "done") for s in sessions]  # type: ignore[arg-type]
    status = HostStatus.FAILED if n % 5 == 0 else HostStatus.OK
    return HostResult(
        host=host.name, address=host.address, status=status, sessions=sessions, actions=actions, facts={"n": n}
    )


def without_timing(results: list[HostResult]) -> list[HostResult]:
    return [replace(r, elapsed_s=0.0) for r in results]


@pytest.mark.parametrize("processes", [2, 3])
def test_one_row_per_host_in_input_order_from_several_processes(processes: int) -> None:
    parent = os.getpid()

    def job(host: Host, deadline: Deadline) -> HostResult:
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK, facts={"pid": os.getpid()})

    hs = hosts(30)
    out = run_hosts(hs, job, processes=processes, concurrency=6)
    assert [r.host for r in out.results] == [h.name for h in hs]
    assert all(r.status is HostStatus.OK for r in out.results)
    pids = {r.facts["pid"] for r in out.results}
    assert len(pids) == processes and parent not in pids  # really run in the workers
    # Interleaved shards: host i went to worker i % k.
    for i, r in enumerate(out.results):
        assert r.facts["pid"] == out.results[i % processes].facts["pid"]
    assert sorted(out.completion_order) == sorted(h.name for h in hs)
    assert not out.interrupted


def test_results_equal_the_threaded_runners() -> None:
    hs = hosts(40)
    threaded = run_hosts(hs, deterministic, concurrency=8, processes=1)
    forked = run_hosts(hs, deterministic, concurrency=8, processes=3)
    assert without_timing(forked.results) == without_timing(threaded.results)
    assert forked.failed_hosts == threaded.failed_hosts


@pytest.mark.stress
def test_events_in_the_parent_on_the_calling_thread_in_completion_order(tmp_path: Path) -> None:
    # The first host in input order finishes last, by construction rather than by sleeping
    # (no timing assumption under load): its job waits until the parent has *received* all
    # the other rows, which the parent's own on_event marks with a file the worker sees.
    others_received = tmp_path / "others-received"

    def job(host: Host, deadline: Deadline) -> HostResult:
        if host.name == "mp-001":
            give_up = time.monotonic() + 60
            while not others_received.exists() and time.monotonic() < give_up:
                time.sleep(0.005)
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK)

    seen: list[tuple[str, str, int, int, int]] = []

    def on_event(e: ProgressEvent) -> None:
        seen.append((e.kind, e.host.name, e.done_count, os.getpid(), threading.get_ident()))
        if e.kind == "done" and e.done_count == 11:
            others_received.touch()

    out = run_hosts(hosts(12), job, processes=2, concurrency=12, on_event=on_event, per_host_timeout=120)
    assert {(pid, tid) for *_, pid, tid in seen} == {(os.getpid(), threading.get_ident())}
    done = [(name, count) for kind, name, count, *_ in seen if kind == "done"]
    assert [name for name, _ in done] == out.completion_order
    assert [count for _, count in done] == list(range(1, 13))
    started = [name for kind, name, *_ in seen if kind == "start"]
    assert sorted(started) == sorted(h.name for h in hosts(12))
    for name, _ in done:  # every host's start is announced before its row
        assert started.index(name) < [n for kind, n, *_ in seen].index(name) + 1
    # Completion order is the order rows arrived in, not input order; rows keep input order.
    assert out.completion_order[-1] == "mp-001"
    assert [r.host for r in out.results] == [h.name for h in hosts(12)]
    assert all(r.status is HostStatus.OK for r in out.results)


def test_hung_job_in_a_worker_gets_timeout_row_at_deadline() -> None:
    def job(host: Host, deadline: Deadline) -> HostResult:
        if host.name == "mp-002":
            threading.Event().wait()  # blocks for good, in the worker
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK)

    t0 = time.monotonic()
    out = run_hosts(hosts(6), job, per_host_timeout=0.5, processes=2)
    assert time.monotonic() - t0 < 0.5 + HARD_DEADLINE_MARGIN_S + SLACK_S
    hung = out.results[1]
    assert hung.status is HostStatus.UNREACHABLE and hung.error is not None
    assert (hung.error.kind, hung.error.message) == ("timeout", "no answer within 0.5s")
    assert [r.status for i, r in enumerate(out.results) if i != 1] == [HostStatus.OK] * 5


def test_stuck_worker_is_killed_and_the_run_still_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job that holds the GIL in C starves its worker's coordinator: the parent steps in."""
    monkeypatch.setattr(fanout_processes, "WORKER_MARGIN_S", 0.5)

    def job(host: Host, deadline: Deadline) -> HostResult:
        if host.name == "mp-001":
            sum(range(10**13))  # one C call: the GIL is never released
        else:
            time.sleep(0.05)
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK)

    t0 = time.monotonic()
    out = run_hosts(hosts(6), job, per_host_timeout=0.5, processes=2, concurrency=2)
    assert time.monotonic() - t0 < 0.5 + HARD_DEADLINE_MARGIN_S + 0.5 + SLACK_S
    stuck = out.results[0]
    assert stuck.status is HostStatus.UNREACHABLE and stuck.error is not None and stuck.error.kind == "timeout"
    assert len(out.results) == 6
    # The other worker's hosts (even positions: mp-002, 004, 006) were not affected.
    assert [out.results[i].status for i in (1, 3, 5)] == [HostStatus.OK] * 3
    # The stuck worker's other hosts had never started: a new worker ran them.
    assert [out.results[i].status for i in (2, 4)] == [HostStatus.OK] * 2


def test_cancel_gives_interrupted_rows() -> None:
    cancel = threading.Event()

    def job(host: Host, deadline: Deadline) -> HostResult:
        time.sleep(30)  # never cooperates
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK)

    started: list[str] = []

    def on_event(e: ProgressEvent) -> None:  # all four slots busy: cancel (on the calling thread)
        if e.kind == "start":
            started.append(e.host.name)
            if len(started) == 4:
                cancel.set()

    t0 = time.monotonic()
    out = run_hosts(hosts(10), job, processes=2, concurrency=4, cancel=cancel, grace=0.2, on_event=on_event)
    assert time.monotonic() - t0 < 0.2 + fanout_processes.COLLECT_S + SLACK_S
    assert out.interrupted
    assert len(out.results) == 10
    assert all(r.status is HostStatus.INTERRUPTED for r in out.results)
    messages = Counter(r.error.message for r in out.results if r.error)
    assert messages["interrupted while running: the outcome on the host is unknown"] == 4
    assert messages["interrupted: not started, nothing was done"] == 6


def test_cooperative_jobs_see_cancel_inside_the_worker() -> None:
    cancel = threading.Event()

    def job(host: Host, deadline: Deadline) -> HostResult:
        end = time.monotonic() + 20
        while time.monotonic() < end and not deadline.cancelled:
            time.sleep(0.01)
        status = HostStatus.INTERRUPTED if deadline.cancelled else HostStatus.OK
        return HostResult(host=host.name, address=host.address, status=status, facts={"saw_cancel": True})

    started: list[str] = []

    def on_event(e: ProgressEvent) -> None:
        if e.kind == "start":
            started.append(e.host.name)
            if len(started) == 4:
                cancel.set()

    out = run_hosts(hosts(4), job, processes=2, concurrency=4, cancel=cancel, grace=5.0, on_event=on_event)
    assert out.interrupted
    assert all(r.facts.get("saw_cancel") for r in out.results)  # the job's own rows, not the parent's


def test_worker_dying_mid_run_leaves_one_honest_row_per_host(tmp_path: Path) -> None:
    """``os._exit`` in a job kills its worker: no row lost, none claims what did not happen,
    the hosts it had not started run in a new worker, and no host's job runs twice."""

    def job(host: Host, deadline: Deadline) -> HostResult:
        # O_EXCL: a second run of the same host's job fails loudly instead of passing unseen.
        os.close(os.open(tmp_path / f"{host.name}.started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        if host.name == "mp-005":
            # At once: the shard's other thread is then at most one 20 ms job further, so
            # later hosts of the shard are certainly not started (a sleep here let a loaded
            # machine's other thread drain the whole shard first).
            os._exit(7)
        time.sleep(0.02)
        (tmp_path / host.name).touch()  # the job really finished
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK)

    out = run_hosts(hosts(20), job, processes=2, concurrency=4)
    assert [r.host for r in out.results] == [h.name for h in hosts(20)]
    for r in out.results:
        if r.status is HostStatus.OK:
            assert (tmp_path / r.host).exists(), f"{r.host} reported ok without finishing"
    assert all(r.status is HostStatus.OK for i, r in enumerate(out.results) if i % 2 == 1)
    victim = out.results[4]  # mp-005
    assert victim.status is HostStatus.FAILED and victim.error is not None
    assert victim.error.kind == "internal" and "outcome on the host is unknown" in victim.error.message
    assert "exit code 7" in victim.error.message
    not_ok = [r for r in out.results if r.status is not HostStatus.OK]
    for r in not_ok:  # only hosts the dead worker had started: never a "not started" row
        assert r.status is HostStatus.FAILED and r.error is not None
        assert "while this host was running" in r.error.message
    # mp-005 killed its worker after at most one other host of the shard had started, so the
    # shard's later hosts were run, once, by the new worker.
    assert len(not_ok) <= 2
    assert all(r.status is HostStatus.OK for r in out.results[12::2])
    # A second run of a host's job would have failed its O_EXCL create: no row says so.
    assert not [r.host for r in out.results if r.error is not None and "FileExistsError" in r.error.message]


def test_a_replacement_worker_that_dies_is_not_replaced(tmp_path: Path) -> None:
    """A job that kills every worker it runs in cannot fork worker after worker: the
    replacement's own loss gives its hosts honest rows, and the run ends."""

    def job(host: Host, deadline: Deadline) -> HostResult:
        os.close(os.open(tmp_path / f"{host.name}.started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        if host.name in ("mp-005", "mp-011"):
            os._exit(7)
        time.sleep(0.05)
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK)

    out = run_hosts(hosts(20), job, processes=2, concurrency=2)  # one thread per worker
    assert [r.host for r in out.results] == [h.name for h in hosts(20)]
    rows = {r.host: r for r in out.results}
    assert all(rows[f"mp-{n:03d}"].status is HostStatus.OK for n in range(2, 21, 2))  # the other worker
    assert rows["mp-001"].status is HostStatus.OK and rows["mp-003"].status is HostStatus.OK
    for name in ("mp-005", "mp-011"):  # each killed the worker it ran in
        assert rows[name].status is HostStatus.FAILED and "outcome on the host is unknown" in rows[name].error.message
    assert rows["mp-007"].status is HostStatus.OK and rows["mp-009"].status is HostStatus.OK  # the replacement's
    for n in (13, 15, 17, 19):  # after the replacement died: not started, nothing was done
        r = rows[f"mp-{n:03d}"]
        assert r.status is HostStatus.INTERRUPTED and r.error is not None and "not started" in r.error.message
        assert not (tmp_path / f"{r.host}.started").exists()


def test_sigint_to_the_workers_does_not_kill_them(capfd: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C reaches the whole process group; workers ignore it (the parent decides)."""
    import multiprocessing

    def job(host: Host, deadline: Deadline) -> HostResult:
        time.sleep(0.4)
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK)

    def interrupt_workers() -> None:
        for child in multiprocessing.active_children():
            if child.name.startswith("mpremote-worker-") and child.pid:
                os.kill(child.pid, signal.SIGINT)

    def on_event(e: ProgressEvent) -> None:  # a host is running in a worker: Ctrl-C the workers
        if e.kind == "start" and e.done_count == 0 and not sent:
            sent.append(True)
            interrupt_workers()

    sent: list[bool] = []
    out = run_hosts(hosts(4), job, processes=2, concurrency=4, on_event=on_event)
    assert sent
    assert [r.status for r in out.results] == [HostStatus.OK] * 4
    assert "Traceback" not in capfd.readouterr().err


def test_effective_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    from mpremote import fanout

    monkeypatch.setattr(fanout, "_usable_cpus", lambda: 8)
    monkeypatch.setattr(fanout.sys, "platform", "linux")
    assert effective_processes(500, None) == 4  # auto: min(CPUs, 4)
    assert effective_processes(63, None) == 1  # too few hosts to pay for forking
    assert effective_processes(500, None, serial=True) == 1
    assert effective_processes(500, 1) == 1
    assert effective_processes(500, 3) == 3
    assert effective_processes(2, 3) == 2  # never more workers than hosts
    assert effective_processes(500, 3, concurrency=2) == 2  # each worker runs one host at least
    with pytest.raises(ValueError):
        effective_processes(10, 0)
    monkeypatch.setattr(fanout, "_usable_cpus", lambda: 1)
    assert effective_processes(500, None) == 1  # one usable CPU: nothing to gain
    monkeypatch.setattr(fanout, "_usable_cpus", lambda: 2)
    assert effective_processes(500, None) == 2
    release = threading.Event()
    other = threading.Thread(target=release.wait, name="someone-elses-thread")
    other.start()
    try:  # another thread may hold a lock at the fork: auto stays threaded
        assert effective_processes(500, None) == 1
    finally:
        release.set()
        other.join()
    assert effective_processes(500, None) == 2
    monkeypatch.setattr(fanout.sys, "platform", "darwin")
    assert effective_processes(500, None) == 1  # auto never forks outside Linux
    monkeypatch.setattr(fanout, "fork_available", lambda: False)
    assert effective_processes(500, 3) == 1  # no fork: threads


# -- through the library entry point, against the emulated lab ---------------------------------


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[object]:
    """The lab in this process (its server threads make a fork unsafe here)."""
    from tests.support.helpers import start_lab

    lab = start_lab(tmp_path, hosts=8, sessions_per_host=3, password="Xq7-Proc-Pa55")
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def lab_process(tmp_path: Path) -> Iterator[Path]:
    """``mpremote lab serve`` in its own process (this one keeps no thread); its targets file."""
    import subprocess
    import sys

    targets = tmp_path / "lab.yaml"
    argv = [
        sys.executable, "-m", "mpremote", "lab", "serve", "--hosts", "8", "--sessions-per-host", "3",
        "--password", "Xq7-Proc-Pa55", "--port-base", "0", "--write-targets", str(targets),
        "--journal", str(tmp_path / "journal.jsonl"),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "ready":
                break
        else:
            raise AssertionError("the lab exited before it was ready")
        yield targets
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.lab
def test_logoff_over_two_processes_against_the_lab(lab_process: Path, tmp_path: Path) -> None:
    import json
    import multiprocessing

    from mpremote.api import RunOptions, run_command
    from mpremote.results import Outcome
    from mpremote.selection import Selector
    from mpremote.targets import load_targets

    calls = tmp_path / "credential-calls"

    def credentials(host: Host) -> tuple[str | None, str | None]:
        with calls.open("a") as fh:  # a file, so a call made in a worker would show too
            fh.write(f"{os.getpid()}\n")
        return "labadmin", "Xq7-Proc-Pa55"

    workers_seen: set[str] = set()

    def on_event(e: ProgressEvent) -> None:
        workers_seen.update(c.name for c in multiprocessing.active_children())

    hosts = load_targets(lab_process).limit_all([])
    audit = tmp_path / "audit.jsonl"
    options = RunOptions(
        processes=2, credentials=credentials, audit_log=str(audit), per_host_timeout=30, on_event=on_event
    )
    outcome = run_command(hosts, "logoff", Selector(all=True), options=options)

    assert [r.host for r in outcome.results] == [h.name for h in hosts]
    assert all(r.status is HostStatus.OK for r in outcome.results), [r.error for r in outcome.results]
    done = {(r.host, a.id) for r in outcome.results for a in r.actions or () if a.outcome is Outcome.DONE}
    assert len(done) == 8 * 3
    journal = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines() if line]
    logoffs = Counter((e["host"], e["id"]) for e in journal if e["event"] == "logoff")
    assert set(logoffs) == done and set(logoffs.values()) == {1}  # each exactly once
    assert workers_seen == {"mpremote-worker-0", "mpremote-worker-1"}  # really forked
    assert multiprocessing.active_children() == []  # and reaped
    # Credentials were resolved in the parent only, once per host.
    assert calls.read_text().split() == [str(os.getpid())] * 8
    # The workers wrote the audit log's "sending" lines before acting, one per session.
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    sending = Counter((e["host"], e["session_id"]) for e in lines if e.get("outcome") == "sending")
    assert set(sending) == done and set(sending.values()) == {1}
    operator = lines[0]["operator"]
    assert all(e["operator"] == operator for e in lines)  # the workers' lines name the same operator


@pytest.mark.lab
def test_a_caller_with_threads_of_its_own_gets_threads_not_a_fork(
    lab: object, caplog: pytest.LogCaptureFixture
) -> None:
    """The lab's server threads run in this process: a fork here could copy a lock one of
    them holds. Even with ``processes=2`` the run uses threads, says why, and is right."""
    import logging
    import multiprocessing

    from mpremote.api import RunOptions, run_command
    from mpremote.targets import load_targets

    workers_seen: set[str] = set()

    def on_event(e: ProgressEvent) -> None:
        workers_seen.update(c.name for c in multiprocessing.active_children())

    hosts = load_targets(lab.targets_path).limit_all([])  # type: ignore[attr-defined]
    options = RunOptions(
        processes=2,
        credentials=lambda host: ("labadmin", "Xq7-Proc-Pa55"),
        per_host_timeout=30,
        on_event=on_event,
    )
    with caplog.at_level(logging.WARNING, logger="mpremote.fanout.processes"):
        outcome = run_command(hosts, "sessions", options=options)
    assert [r.host for r in outcome.results] == [h.name for h in hosts]
    assert all(r.status is HostStatus.OK and r.sessions for r in outcome.results), [r.error for r in outcome.results]
    assert workers_seen == set()
    assert "not forking worker processes while other threads run" in caplog.text


@pytest.mark.lab
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_to_the_whole_process_group_mid_run(tmp_path: Path, signum: int) -> None:
    """Ctrl-C at a terminal (or a service manager's SIGTERM) reaches the parent *and* its
    workers: exit 130, one row per host, no traceback, no unlogged or overstated action."""
    import json
    import subprocess
    import sys

    from tests.support.helpers import start_lab

    password = "Xq7-Proc-Pa55"
    lab = start_lab(tmp_path, hosts=8, sessions_per_host=3, password=password, faults=["mp-lab-*=slow:150"])
    audit = tmp_path / "audit.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPREMOTE_")}
    env.update({"MPREMOTE_PASSWORD": password, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"})
    argv = [
        sys.executable, "-m", "mpremote", "logoff", str(lab.targets_path), "--all", "--yes", "--timeout", "30",
        "--concurrency", "2", "--processes", "2", "--format", "jsonl", "--audit-log", str(audit), "--no-progress",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        end = time.monotonic() + 20
        while not (audit.exists() and '"sending"' in audit.read_text()):
            assert time.monotonic() < end, "the run never sent an action"
            time.sleep(0.02)
        os.killpg(proc.pid, signum)  # the whole group, as a terminal does
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        lab.stop()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    rows = [json.loads(line) for line in out.split("\n") if line.strip()]
    assert sorted(r["host"] for r in rows) == sorted(h.name for h in lab.hosts)
    assert {r["status"] for r in rows} <= {"ok", "interrupted"}
    assert any(r["status"] == "interrupted" for r in rows), "the signal came mid-run"
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert lines[-1]["event"] == "run_end" and lines[-1]["exit_code"] == 130
    sending = {(e["host"], e["session_id"]) for e in lines if e.get("outcome") == "sending"}
    journal = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines() if line]
    played = {(e["host"], e["id"]) for e in journal if e["event"] == "logoff"}
    assert played <= sending, "an action reached a host without an audit line first"
    done = {(r["host"], a["id"]) for r in rows for a in r.get("actions") or () if a["outcome"] == "done"}
    assert done <= played, "a log-off was reported done that the host never played"
    unknown = {r["host"] for r in rows if r["status"] == "interrupted" and "unknown" in r["error"]["message"]}
    assert {host for host, _ in played - done} <= unknown
