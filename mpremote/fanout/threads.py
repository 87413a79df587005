"""The threaded runner behind :func:`mpremote.fanout.run_hosts` (and inside each worker of
:mod:`mpremote.fanout.processes`): bounded daemon threads, the hard per-host deadline,
Ctrl-C, one row per host. Its guarantees are listed in :mod:`mpremote.fanout`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from mpremote.errors import HostError
from mpremote.fanout.deadline import HARD_DEADLINE_MARGIN_S, Deadline, timeout_message
from mpremote.hosts import Host
from mpremote.results import ErrorInfo, HostResult, HostStatus, failed_hosts, status_for_error

__all__ = [
    "DEFAULT_GRACE_S",
    "EventCallback",
    "FanoutOutcome",
    "HostJob",
    "ProgressEvent",
    "Run",
    "call_job",
    "host_row",
    "other_threads",
]

log = logging.getLogger("mpremote.fanout")

#: After Ctrl-C / cancel, how long running hosts may take to finish.
DEFAULT_GRACE_S = 2.0
#: Longest the coordinating thread sleeps: bounds how late a cancel event is noticed.
_POLL_S = 0.05


@dataclass
class ProgressEvent:
    """A host started or finished. ``done_count`` counts finished hosts, this one included."""

    kind: Literal["start", "done"]
    host: Host
    result: HostResult | None
    done_count: int
    total: int


@dataclass
class FanoutOutcome:
    results: list[HostResult]  # one per input host, in input order
    interrupted: bool
    completion_order: list[str]  # host names in the order their rows were settled

    @property
    def failed_hosts(self) -> list[str]:
        """Names of hosts worth a re-run (Nornir's ``failed_hosts``)."""
        return failed_hosts(self.results)


HostJob = Callable[[Host, Deadline], HostResult]
EventCallback = Callable[[ProgressEvent], None]


def other_threads() -> list[str]:
    """Names of the live threads besides the calling one.

    A process must not fork while another thread may hold a lock (a buffered stream's,
    a library's): the child would inherit the lock held by a thread that does not exist
    there and block on it forever. The fan-out forks only when this list is empty.
    """
    me = threading.current_thread()
    return [t.name for t in threading.enumerate() if t is not me and t.is_alive()]


def host_row(host: Host, status: HostStatus, kind: str, message: str, elapsed: float) -> HostResult:
    return HostResult(
        host=host.name,
        address=host.address,
        status=status,
        error=ErrorInfo(kind, message),
        elapsed_s=elapsed,
    )


def call_job(host: Host, job: HostJob, deadline: Deadline, redact: Callable[[str], str] | None) -> HostResult:
    """Run the job and turn anything it does wrong into a row (never raises Exception)."""
    try:
        result = job(host, deadline)
        if isinstance(result, HostResult):
            return result
        message = f"internal error: host job returned {type(result).__name__}, not HostResult"
        return host_row(host, HostStatus.FAILED, "internal", message, time.monotonic() - deadline.started)
    except HostError as exc:  # a job should return these as rows, but be forgiving
        elapsed = time.monotonic() - deadline.started
        return host_row(host, status_for_error(exc), exc.kind, exc.message, elapsed)
    except Exception as exc:
        log.debug("host job for %s raised %s", host.name, type(exc).__name__)
        text = f"{type(exc).__name__}: {exc}" if redact else type(exc).__name__
        message = f"internal error in host job: {redact(text) if redact else text}"
        return host_row(host, HostStatus.FAILED, "internal", message, time.monotonic() - deadline.started)


class Run:
    """State of one fan-out. Only the coordinating thread touches it."""

    def __init__(
        self,
        hosts: Sequence[Host],
        job: HostJob,
        timeout: float,
        on_event: EventCallback | None,
        cancel: threading.Event | None,
        grace: float,
        redact: Callable[[str], str] | None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.hosts = list(hosts)
        self.job = job
        self.timeout = timeout
        self.on_event = on_event
        self.cancel = cancel
        self.grace = max(0.0, grace)
        self.redact = redact
        self.on_tick = on_tick
        self.results: dict[int, HostResult] = {}
        self.order: list[str] = []
        self.started: dict[int, Deadline] = {}
        self.interrupted = False
        #: Set on Ctrl-C or external cancel; every Deadline shares it (``cancelled``).
        self.stop = threading.Event()

    # -- bookkeeping -------------------------------------------------------------------
    def emit(self, kind: Literal["start", "done"], i: int) -> None:
        if self.on_event is None:
            return
        event = ProgressEvent(kind, self.hosts[i], self.results.get(i), len(self.results), len(self.hosts))
        try:
            self.on_event(event)
        except Exception:
            log.exception("progress callback failed; progress events switched off")
            self.on_event = None

    def tick(self) -> None:
        """Let a display redraw (called on this thread while the run waits)."""
        if self.on_tick is None:
            return
        try:
            self.on_tick()
        except Exception:
            log.exception("progress tick failed; ticks switched off")
            self.on_tick = None

    def settle(self, i: int, result: HostResult) -> None:
        """Record host i's one row (first one wins) and announce it."""
        if i in self.results:
            return
        self.results[i] = result
        self.order.append(self.hosts[i].name)
        self.emit("done", i)

    def elapsed(self, i: int) -> float:
        d = self.started.get(i)
        return 0.0 if d is None else time.monotonic() - d.started

    def begin(self, i: int) -> Deadline:
        deadline = Deadline(self.timeout, cancel_event=self.stop)
        self.started[i] = deadline
        self.emit("start", i)
        return deadline

    def start_interrupt(self) -> None:
        self.interrupted = True
        self.stop.set()

    def finish_unsettled(self) -> None:
        """Give every host without a row its ``interrupted`` row."""
        missing = [i for i in range(len(self.hosts)) if i not in self.results]
        for i in missing:
            if i in self.started:
                msg = "interrupted while running: the outcome on the host is unknown"
            else:
                msg = "interrupted: not started, nothing was done"
            # Store first, announce after: a late Ctrl-C cannot leave a host without a row.
            self.results[i] = host_row(self.hosts[i], HostStatus.INTERRUPTED, "interrupted", msg, self.elapsed(i))
            self.order.append(self.hosts[i].name)
        for i in missing:
            try:
                self.emit("done", i)
            except KeyboardInterrupt:
                continue

    def outcome(self) -> FanoutOutcome:
        return FanoutOutcome(
            results=[self.results[i] for i in range(len(self.hosts))],
            interrupted=self.interrupted,
            completion_order=self.order,
        )

    # -- runners -----------------------------------------------------------------------
    def run_serial(self) -> None:
        try:
            for i, host in enumerate(self.hosts):
                if self.cancel is not None and self.cancel.is_set():
                    self.start_interrupt()
                    break
                deadline = self.begin(i)
                self.settle(i, call_job(host, self.job, deadline, self.redact))
        except KeyboardInterrupt:
            self.start_interrupt()
        self.finish_unsettled()

    def run_threaded(self, concurrency: int) -> None:
        done: queue.SimpleQueue[tuple[int, HostResult]] = queue.SimpleQueue()
        pending = deque(range(len(self.hosts)))
        running: dict[int, Deadline] = {}
        stop_at: float | None = None  # end of the grace period once interrupted

        def worker(i: int, deadline: Deadline) -> None:
            try:
                result = call_job(self.hosts[i], self.job, deadline, self.redact)
            except BaseException as exc:  # SystemExit in a job must not lose the row
                result = host_row(
                    self.hosts[i],
                    HostStatus.FAILED,
                    "internal",
                    f"internal error in host job: {type(exc).__name__}",
                    time.monotonic() - deadline.started,
                )
            done.put((i, result))

        def accept(i: int, result: HostResult) -> None:
            if running.pop(i, None) is None:
                log.warning(
                    "late result from %s discarded (status %s): it arrived after the host was cut off",
                    self.hosts[i].name,
                    result.status.value,
                )
                return
            self.settle(i, result)

        while True:
            try:
                if stop_at is None and self.cancel is not None and self.cancel.is_set():
                    self.start_interrupt()
                if stop_at is None and self.interrupted:
                    stop_at = time.monotonic() + self.grace
                while stop_at is None and pending and len(running) < concurrency:
                    i = pending.popleft()
                    deadline = self.begin(i)
                    running[i] = deadline
                    t = threading.Thread(
                        target=worker,
                        args=(i, deadline),
                        daemon=True,
                        name=f"mpremote-host-{self.hosts[i].name}",
                    )
                    try:
                        t.start()
                    except RuntimeError as exc:  # can't start new thread
                        running.pop(i)
                        self.settle(
                            i,
                            host_row(
                                self.hosts[i],
                                HostStatus.FAILED,
                                "internal",
                                f"could not start a worker: {exc}",
                                0.0,
                            ),
                        )
                now = time.monotonic()
                if not running and (stop_at is not None or not pending):
                    break
                if stop_at is not None and now >= stop_at:
                    break
                wake = min((d.at + HARD_DEADLINE_MARGIN_S for d in running.values()), default=now + _POLL_S)
                if stop_at is not None:
                    wake = min(wake, stop_at)
                try:
                    accept(*done.get(timeout=min(max(wake - now, 0.0), _POLL_S)))
                    while True:
                        accept(*done.get_nowait())
                except queue.Empty:
                    pass
                self.tick()
                now = time.monotonic()
                for i, d in list(running.items()):
                    if now >= d.at + HARD_DEADLINE_MARGIN_S:
                        running.pop(i)
                        log.warning("%s: cut off at its deadline; its worker thread is abandoned", self.hosts[i].name)
                        self.settle(
                            i,
                            host_row(
                                self.hosts[i],
                                HostStatus.UNREACHABLE,
                                "timeout",
                                timeout_message(self.timeout),
                                now - d.started,
                            ),
                        )
            except KeyboardInterrupt:
                if self.interrupted and stop_at is not None:
                    break  # a second Ctrl-C ends the grace period at once
                self.start_interrupt()
        self.finish_unsettled()
