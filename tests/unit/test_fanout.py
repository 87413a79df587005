"""Fan-out guarantees: one row per host, hard deadlines, Ctrl-C / cancel, bounded threads."""

from __future__ import annotations

import _thread
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpremote.errors import ConnectError, DeadlineError
from mpremote.fanout import (
    HARD_DEADLINE_MARGIN_S,
    Deadline,
    ProgressEvent,
    default_concurrency,
    run_hosts,
)
from mpremote.hosts import Host
from mpremote.results import HostResult, HostStatus
from mpremote.targets.retry import write_retry_file

#: Forks, deadlines and interrupts: .ci/run runs these several times in a row (a 1-in-3 flake
#: cannot pass).
pytestmark = pytest.mark.stress


#: Hung jobs below wait on this; it is set after each test, so no test leaves a thread
#: behind (a later test that forks worker processes needs a process with no other thread).
UNHANG = threading.Event()


@pytest.fixture(autouse=True)
def unhang_jobs() -> Iterator[None]:
    UNHANG.clear()
    yield
    UNHANG.set()
    for t in threading.enumerate():
        if t.name.startswith("mpremote-host-"):
            t.join(timeout=5)


def hosts(n: int) -> list[Host]:
    return [Host(name=f"mp-{i:03d}", address=f"10.0.0.{i}") for i in range(1, n + 1)]


def ok(host: Host, deadline: Deadline) -> HostResult:
    return HostResult(host=host.name, address=host.address, status=HostStatus.OK)


def test_one_row_per_host_in_input_order() -> None:
    hs = hosts(25)
    out = run_hosts(hs, ok, concurrency=4)
    assert [r.host for r in out.results] == [h.name for h in hs]
    assert all(r.status is HostStatus.OK for r in out.results)
    assert sorted(out.completion_order) == sorted(h.name for h in hs)
    assert not out.interrupted


def test_empty_host_list() -> None:
    out = run_hosts([], ok)
    assert out.results == [] and not out.interrupted


def test_hung_job_gets_timeout_row_at_deadline_and_run_returns() -> None:
    def job(host: Host, deadline: Deadline) -> HostResult:
        if host.name == "mp-002":
            UNHANG.wait()  # blocks for the rest of the test
        return ok(host, deadline)

    t0 = time.monotonic()
    out = run_hosts(hosts(3), job, per_host_timeout=0.5)
    elapsed = time.monotonic() - t0
    # Correctness bound, not a benchmark: the job blocks for good, so any finite bound well
    # above the deadline proves the run did not wait for it (loaded 2-core CI runners: 5 s).
    assert elapsed < 0.5 + 5.0
    hung = out.results[1]
    assert hung.status is HostStatus.UNREACHABLE
    assert hung.error is not None and hung.error.kind == "timeout"
    assert hung.error.message == "no answer within 0.5s"
    assert hung.elapsed_s >= 0.5
    assert [r.status for r in (out.results[0], out.results[2])] == [HostStatus.OK] * 2
    assert out.completion_order[-1] == "mp-002"


def test_late_result_is_discarded() -> None:
    release = threading.Event()

    def job(host: Host, deadline: Deadline) -> HostResult:
        release.wait(5)
        return ok(host, deadline)

    out = run_hosts(hosts(1), job, per_host_timeout=0.2)
    release.set()
    time.sleep(0.05)
    assert out.results[0].status is HostStatus.UNREACHABLE
    assert len(out.results) == 1


def test_job_own_deadline_error_wins_within_margin() -> None:
    def job(host: Host, deadline: Deadline) -> HostResult:
        time.sleep(deadline.remaining())
        deadline.check()
        raise AssertionError("unreachable")

    out = run_hosts(hosts(2), job, per_host_timeout=0.2)
    for r in out.results:
        assert r.status is HostStatus.UNREACHABLE and r.error is not None
        assert r.error.kind == "timeout" and r.elapsed_s < 0.2 + HARD_DEADLINE_MARGIN_S


def test_exceptions_become_rows_without_secrets() -> None:
    def job(host: Host, deadline: Deadline) -> HostResult:
        if host.name == "mp-001":
            raise RuntimeError("password=hunter2 leaked")
        if host.name == "mp-002":
            raise ConnectError("connection refused")
        if host.name == "mp-003":
            return None  # type: ignore[return-value]
        return ok(host, deadline)

    for serial in (False, True):
        out = run_hosts(hosts(4), job, serial=serial)
        r1, r2, r3, r4 = out.results
        assert r1.status is HostStatus.FAILED and r1.error is not None
        assert r1.error.kind == "internal" and "hunter2" not in r1.error.message
        assert "RuntimeError" in r1.error.message
        assert r2.status is HostStatus.UNREACHABLE and r2.error is not None and r2.error.kind == "connect"
        assert r3.status is HostStatus.FAILED and r3.error is not None and "NoneType" in r3.error.message
        assert r4.status is HostStatus.OK


def test_redact_hook_keeps_useful_text() -> None:
    def job(host: Host, deadline: Deadline) -> HostResult:
        raise ValueError("bad value hunter2")

    out = run_hosts(hosts(1), job, redact=lambda s: s.replace("hunter2", "***"))
    msg = out.results[0].error.message  # type: ignore[union-attr]
    assert "bad value ***" in msg and "hunter2" not in msg


def test_cancel_event_interrupts_running_and_unstarted_hosts() -> None:
    cancel = threading.Event()
    started = threading.Event()

    def job(host: Host, deadline: Deadline) -> HostResult:
        if host.name == "mp-001":
            return ok(host, deadline)
        started.set()
        UNHANG.wait(30)  # ignores cancellation: must be cut after the grace
        return ok(host, deadline)

    threading.Timer(0.3, cancel.set).start()
    t0 = time.monotonic()
    out = run_hosts(hosts(6), job, concurrency=2, per_host_timeout=30, cancel=cancel, grace=0.3)
    assert time.monotonic() - t0 < 15.0  # the job would hold the run 30 s: far below that is enough
    assert out.interrupted
    assert out.results[0].status is HostStatus.OK
    rest = out.results[1:]
    assert all(r.status is HostStatus.INTERRUPTED for r in rest)
    assert all(r.error is not None and r.error.kind == "interrupted" for r in rest)
    assert "unknown" in rest[0].error.message  # type: ignore[union-attr]  # was running
    assert "not started" in rest[-1].error.message  # type: ignore[union-attr]
    assert len(out.completion_order) == 6


def test_cooperative_job_sees_cancellation_and_finishes_in_grace() -> None:
    cancel = threading.Event()

    def job(host: Host, deadline: Deadline) -> HostResult:
        while not deadline.cancelled:
            time.sleep(0.01)
        return HostResult(host.name, host.address, HostStatus.SKIPPED)

    threading.Timer(0.2, cancel.set).start()
    out = run_hosts(hosts(3), job, cancel=cancel, per_host_timeout=10)
    assert out.interrupted
    assert [r.status for r in out.results] == [HostStatus.SKIPPED] * 3


@pytest.fixture
def default_sigint() -> object:
    """Ctrl-C raises KeyboardInterrupt, whatever the test process inherited: a process
    started in the background by a non-interactive shell ignores SIGINT, and then
    ``interrupt_main`` does nothing (the test would wait out the job's 30 s)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.stress
@pytest.mark.usefixtures("default_sigint")
def test_keyboard_interrupt_in_main_thread_gives_interrupted_rows() -> None:
    """Ctrl-C ends the run at once: the hung job is abandoned, not waited for (no timing bet)."""
    # interrupt_main() calls whatever SIGINT handler is installed: make it Python's own.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    release = threading.Event()
    still_hung_when_run_ended = threading.Event()

    def job(host: Host, deadline: Deadline) -> HostResult:
        if host.name == "mp-002":
            _thread.interrupt_main()
            release.wait(60)  # the run must come back while this job still hangs
        return ok(host, deadline)

    try:
        out = run_hosts(hosts(5), job, concurrency=2, per_host_timeout=60, grace=0.2)
        if not release.is_set():
            still_hung_when_run_ended.set()
    finally:
        release.set()
        signal.signal(signal.SIGINT, previous)
    assert still_hung_when_run_ended.is_set()
    assert out.interrupted
    statuses = [r.status for r in out.results]
    assert statuses[1] is HostStatus.INTERRUPTED
    assert HostStatus.INTERRUPTED in statuses[2:]
    assert len(out.results) == 5


def test_keyboard_interrupt_in_serial_runner() -> None:
    def job(host: Host, deadline: Deadline) -> HostResult:
        if host.name == "mp-002":
            raise KeyboardInterrupt
        return ok(host, deadline)

    out = run_hosts(hosts(3), job, serial=True)
    assert out.interrupted
    assert [r.status for r in out.results] == [HostStatus.OK, HostStatus.INTERRUPTED, HostStatus.INTERRUPTED]
    assert out.completion_order == ["mp-001", "mp-002", "mp-003"]


def test_serial_runner_parity_and_order() -> None:
    def job(host: Host, deadline: Deadline) -> HostResult:
        status = HostStatus.FAILED if host.name.endswith("3") else HostStatus.OK
        return HostResult(host.name, host.address, status)

    hs = hosts(8)
    threaded = run_hosts(hs, job, concurrency=3)
    serial = run_hosts(hs, job, serial=True)
    assert [r.to_dict() for r in threaded.results] == [r.to_dict() for r in serial.results]
    assert serial.completion_order == [h.name for h in hs]


def test_concurrency_bound_respected() -> None:
    lock = threading.Lock()
    now = peak = 0
    full = threading.Barrier(4)  # the first four must all be running at once

    def job(host: Host, deadline: Deadline) -> HostResult:
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)
        if int(host.name[-3:]) <= 4:
            full.wait(timeout=5)
        time.sleep(0.01)
        with lock:
            now -= 1
        return ok(host, deadline)

    out = run_hosts(hosts(30), job, concurrency=4)
    assert len(out.results) == 30
    assert peak == 4


def test_completion_order_follows_finish_time() -> None:
    delays = {"mp-001": 0.3, "mp-002": 0.0, "mp-003": 0.15}

    def job(host: Host, deadline: Deadline) -> HostResult:
        time.sleep(delays[host.name])
        return ok(host, deadline)

    out = run_hosts(hosts(3), job, concurrency=3)
    assert out.completion_order == ["mp-002", "mp-003", "mp-001"]
    assert [r.host for r in out.results] == ["mp-001", "mp-002", "mp-003"]


def test_progress_events_on_calling_thread_and_counted() -> None:
    events: list[ProgressEvent] = []
    threads: set[int] = set()

    def on_event(e: ProgressEvent) -> None:
        threads.add(threading.get_ident())
        events.append(e)

    run_hosts(hosts(5), ok, concurrency=2, on_event=on_event)
    assert threads == {threading.get_ident()}
    done = [e for e in events if e.kind == "done"]
    assert [e.done_count for e in done] == [1, 2, 3, 4, 5]
    assert all(e.result is not None and e.total == 5 for e in done)
    assert sum(e.kind == "start" for e in events) == 5


def test_broken_progress_callback_does_not_abort_run() -> None:
    def on_event(e: ProgressEvent) -> None:
        raise BrokenPipeError

    out = run_hosts(hosts(4), ok, on_event=on_event)
    assert [r.status for r in out.results] == [HostStatus.OK] * 4


def test_default_concurrency() -> None:
    assert default_concurrency(0) == 1
    assert default_concurrency(5) == 5
    assert default_concurrency(1000) == 64


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        run_hosts(hosts(1), ok, concurrency=0)
    with pytest.raises(ValueError):
        run_hosts(hosts(1), ok, per_host_timeout=0)


def test_deadline() -> None:
    d = Deadline(0.05)
    assert 0 < d.remaining() <= 0.05 and not d.expired() and not d.cancelled
    d.check()
    time.sleep(0.06)
    assert d.expired() and d.remaining() == 0.0
    with pytest.raises(DeadlineError, match=r"no answer within 0\.05s"):
        d.check()


def test_write_retry_file(tmp_path: Path) -> None:
    rows = [
        HostResult("a", "1", HostStatus.OK),
        HostResult("b", "2", HostStatus.FAILED),
        HostResult("c", "3", HostStatus.UNREACHABLE),
        HostResult("d", "4", HostStatus.SKIPPED),
        HostResult("e", "5", HostStatus.INTERRUPTED),
    ]
    path = tmp_path / "retry.txt"
    assert write_retry_file(path, rows) == 3
    assert path.read_text() == "b\nc\ne\n"
    assert write_retry_file(path, rows[:1]) == 0
    assert path.read_text() == ""
