"""Run one host job over many hosts: bounded threads, a hard per-host deadline, Ctrl-C.

Why threads: the work is I/O bound (WSMan round trips, a remote ``quser`` that takes a
second to start) and pypsrp is synchronous and not thread-safe, so the natural unit is
one connection per host per thread. The GIL is released while a thread waits on its
socket; the CPU cost per host (XML, NTLM, TLS) is a few tens of milliseconds.

For runs big enough to saturate the one core the GIL allows, ``run_hosts(processes=k)``
forks ``k`` workers that each run this threaded runner on every k-th host
(:mod:`mpremote.fanout.processes`); the guarantees below hold there too.

Guarantees (the reasons this module exists, see DESIGN.md section 6):

* **Exactly one result row per host, always**, in input order, whatever the job does:
  returns, raises, hangs, or the operator presses Ctrl-C.
* **A hung host never holds the run.** Each host job gets a :class:`Deadline`; the job
  should use ``deadline.remaining()`` for its own timeouts, but the runner does not rely on
  that: at the deadline (plus :data:`HARD_DEADLINE_MARGIN_S`) the host gets an
  ``unreachable`` row with error kind ``timeout``, its worker thread is abandoned (workers
  are daemon threads, so they never block interpreter exit) and its late result is
  discarded (logged at WARNING, because it may say that something *was* done).
* **Ctrl-C / cancel:** no new host is started; running hosts get up to ``grace`` seconds
  (their :class:`Deadline` reports ``cancelled`` so a job can skip its action phase);
  then every host without a result gets an ``interrupted`` row (error kind
  ``interrupted``) and :attr:`FanoutOutcome.interrupted` is True. Hosts that were never
  started are ``interrupted`` too, not ``skipped``: ``skipped`` means "deliberately not
  touched" and would make a re-run look unnecessary; ``interrupted`` sends them to the
  retry file and to exit code 130. Their message says "not started: nothing was done".
* Progress callbacks (``on_event``) always run on the thread that called
  :func:`run_hosts`, so renderers need no locking. A callback that raises is logged and
  switched off: a broken progress bar must not abort a half-done log-off run.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mpremote.errors import DeadlineError, HostError
from mpremote.hosts import Host
from mpremote.results import ErrorInfo, HostResult, HostStatus, failed_hosts, status_for_error

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

#: Upper bound of the default concurrency (see :func:`default_concurrency`).
DEFAULT_MAX_CONCURRENCY = 64
#: Extra time a job gets past its deadline to report its own, more precise, DeadlineError.
HARD_DEADLINE_MARGIN_S = 0.5
#: After Ctrl-C / cancel, how long running hosts may take to finish.
DEFAULT_GRACE_S = 2.0
#: Longest the coordinating thread sleeps: bounds how late a cancel event is noticed.
_POLL_S = 0.05

#: Below this many hosts ``processes=None`` stays in one process: forking costs more than
#: it saves while the client's one core is not yet saturated (docs/performance.md).
AUTO_PROCESSES_MIN_HOSTS = 64
#: Most worker processes ``processes=None`` uses (each has its own interpreter, ~60 MB).
AUTO_PROCESSES_MAX = 4


@dataclass
class Deadline:
    """Wall-clock deadline for one host's whole job (connect, query, act, close).

    Uses the monotonic clock, so a system clock change cannot stretch or cut it.
    """

    seconds: float
    started: float = field(default_factory=time.monotonic)
    cancel_event: threading.Event | None = None

    @property
    def at(self) -> float:
        """The deadline on the :func:`time.monotonic` clock."""
        return self.started + self.seconds

    def remaining(self) -> float:
        """Seconds left, never negative: pass it to socket / WSMan timeouts."""
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    @property
    def cancelled(self) -> bool:
        """True once the run is being interrupted: do not start an action now."""
        return self.cancel_event is not None and self.cancel_event.is_set()

    def check(self) -> None:
        """Raise :class:`~mpremote.errors.DeadlineError` when the deadline has passed."""
        if self.expired():
            raise DeadlineError(timeout_message(self.seconds))


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


def default_concurrency(n_hosts: int) -> int:
    """How many hosts to run at once when the user did not say: ``min(n_hosts, 64)``.

    A host job is mostly waiting (7-9 sequential round trips, wsmprovhost start-up,
    quser), so threads scale past the core count. The client's Python work (pypsrp,
    requests, NTLM: ~13-20 ms of CPU per host, see docs/performance.md) runs on one core
    under the GIL, so past the point where that core is busy more threads only add GIL
    hand-offs. The two bounds cross near ``7 x latency / CPU-per-host`` threads: about 50
    at 100 ms per round trip. Measured at 500 hosts: 16, 32 and 64 threads tie at 20 ms,
    128 gains nothing over 64 at 100 ms. 64 also stays far below the usual 1024 open-file
    limit (one socket per host), keeps NTLM pass-through load on a domain controller
    modest, and bounds memory (a blocked thread costs its stack). Never more threads than
    hosts, never fewer than one.
    """
    return max(1, min(n_hosts, DEFAULT_MAX_CONCURRENCY))


def fork_available() -> bool:
    """Whether worker processes can be forked here (POSIX with the ``fork`` start method)."""
    import multiprocessing

    return os.name == "posix" and "fork" in multiprocessing.get_all_start_methods()


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours CPU affinity and container cpusets
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def effective_processes(
    n_hosts: int, processes: int | None, *, serial: bool = False, concurrency: int | None = None
) -> int:
    """How many worker processes a run really uses (1 = the threaded runner, no fork).

    ``processes=None`` (auto) forks only on Linux, only for at least
    :data:`AUTO_PROCESSES_MIN_HOSTS` hosts, and uses ``min(usable CPUs, 4)`` workers: the
    client's CPU per host is what limits a big run, and a second core nearly halves it.
    macOS has ``fork`` but its system frameworks are not fork-safe (CPython defaults to
    ``spawn`` there), so auto stays threaded; an explicit ``processes`` is honoured
    wherever ``fork`` exists. Never more workers than hosts or than the concurrency
    (each worker runs at least one host at a time); ``serial`` always means one process.
    """
    if processes is not None and processes < 1:
        raise ValueError("processes must be at least 1")
    if serial or n_hosts < 2 or (processes is not None and processes == 1):
        return 1
    if processes is None:
        if not sys.platform.startswith("linux") or n_hosts < AUTO_PROCESSES_MIN_HOSTS:
            return 1
        processes = min(_usable_cpus(), AUTO_PROCESSES_MAX)
    if processes > 1 and not fork_available():
        return 1
    return max(1, min(processes, n_hosts, concurrency or default_concurrency(n_hosts)))


def timeout_message(seconds: float) -> str:
    return f"no answer within {seconds:g}s"


def run_hosts(
    hosts: Sequence[Host],
    job: HostJob,
    *,
    concurrency: int | None = None,
    per_host_timeout: float = 60.0,
    on_event: EventCallback | None = None,
    serial: bool = False,
    cancel: threading.Event | None = None,
    grace: float = DEFAULT_GRACE_S,
    redact: Callable[[str], str] | None = None,
    processes: int | None = 1,
) -> FanoutOutcome:
    """Run ``job`` once per host and return one :class:`HostResult` per host.

    ``concurrency`` bounds the jobs running at once (None: :func:`default_concurrency`);
    a host cut off at its deadline frees its slot even though its thread may still be
    blocked. ``cancel`` is set by the caller (e.g. from a SIGTERM handler) to interrupt
    the run like Ctrl-C does. ``redact`` cleans the text of an unexpected exception before
    it enters a result row; without it only the exception's type name is shown, because
    an arbitrary exception message may carry a secret.

    ``serial=True`` runs the jobs one after another in the calling thread (debugging,
    pdb, deterministic tests). There the deadline is cooperative only: nothing can cut a
    job off, and a job that returns late keeps its real result (nothing was reported yet).
    """
    if per_host_timeout <= 0:
        raise ValueError("per_host_timeout must be positive")
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    workers = effective_processes(len(hosts), processes, serial=serial, concurrency=concurrency)
    runner = _Run(hosts, job, per_host_timeout, on_event, cancel, grace, redact)
    if serial:
        runner.run_serial()
    elif workers > 1:
        from mpremote.fanout.processes import run_processes

        run_processes(runner, workers, concurrency or default_concurrency(len(hosts)))
    else:
        runner.run_threaded(concurrency or default_concurrency(len(hosts)))
    return runner.outcome()


def _row(host: Host, status: HostStatus, kind: str, message: str, elapsed: float) -> HostResult:
    return HostResult(
        host=host.name,
        address=host.address,
        status=status,
        error=ErrorInfo(kind, message),
        elapsed_s=elapsed,
    )


def _call_job(host: Host, job: HostJob, deadline: Deadline, redact: Callable[[str], str] | None) -> HostResult:
    """Run the job and turn anything it does wrong into a row (never raises Exception)."""
    try:
        result = job(host, deadline)
        if isinstance(result, HostResult):
            return result
        message = f"internal error: host job returned {type(result).__name__}, not HostResult"
        return _row(host, HostStatus.FAILED, "internal", message, time.monotonic() - deadline.started)
    except HostError as exc:  # a job should return these as rows, but be forgiving
        elapsed = time.monotonic() - deadline.started
        return _row(host, status_for_error(exc), exc.kind, exc.message, elapsed)
    except Exception as exc:
        log.debug("host job for %s raised %s", host.name, type(exc).__name__)
        text = f"{type(exc).__name__}: {exc}" if redact else type(exc).__name__
        message = f"internal error in host job: {redact(text) if redact else text}"
        return _row(host, HostStatus.FAILED, "internal", message, time.monotonic() - deadline.started)


class _Run:
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
    ) -> None:
        self.hosts = list(hosts)
        self.job = job
        self.timeout = timeout
        self.on_event = on_event
        self.cancel = cancel
        self.grace = max(0.0, grace)
        self.redact = redact
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
            self.results[i] = _row(self.hosts[i], HostStatus.INTERRUPTED, "interrupted", msg, self.elapsed(i))
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
                self.settle(i, _call_job(host, self.job, deadline, self.redact))
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
                result = _call_job(self.hosts[i], self.job, deadline, self.redact)
            except BaseException as exc:  # SystemExit in a job must not lose the row
                result = _row(
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
                            _row(
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
                now = time.monotonic()
                for i, d in list(running.items()):
                    if now >= d.at + HARD_DEADLINE_MARGIN_S:
                        running.pop(i)
                        log.warning("%s: cut off at its deadline; its worker thread is abandoned", self.hosts[i].name)
                        self.settle(
                            i,
                            _row(
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
