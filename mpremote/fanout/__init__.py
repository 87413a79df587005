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
import sys
import threading
from collections.abc import Callable, Sequence

from mpremote.fanout.deadline import HARD_DEADLINE_MARGIN_S, Deadline, timeout_message
from mpremote.fanout.threads import (
    DEFAULT_GRACE_S,
    EventCallback,
    FanoutOutcome,
    HostJob,
    ProgressEvent,
    Run,
    other_threads,
)
from mpremote.hosts import Host

__all__ = [
    "AUTO_PROCESSES_MAX",
    "AUTO_PROCESSES_MIN_HOSTS",
    "DEFAULT_GRACE_S",
    "DEFAULT_MAX_CONCURRENCY",
    "HARD_DEADLINE_MARGIN_S",
    "Deadline",
    "EventCallback",
    "FanoutOutcome",
    "HostJob",
    "ProgressEvent",
    "default_concurrency",
    "effective_processes",
    "fork_available",
    "other_threads",
    "run_hosts",
    "timeout_message",
]

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

#: Upper bound of the default concurrency (see :func:`default_concurrency`).
DEFAULT_MAX_CONCURRENCY = 64

#: Below this many hosts ``processes=None`` stays in one process: forking costs more than
#: it saves while the client's one core is not yet saturated (docs/performance.md).
AUTO_PROCESSES_MIN_HOSTS = 64
#: Most worker processes ``processes=None`` uses (each has its own interpreter, ~60 MB).
AUTO_PROCESSES_MAX = 4


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

    ``processes=None`` (auto, the default of the CLI and of :class:`mpremote.api.RunOptions`)
    forks only on Linux, only for at least :data:`AUTO_PROCESSES_MIN_HOSTS` hosts, only
    with at least two usable CPUs, and only from a process that runs no other thread
    (:func:`other_threads`); it then uses ``min(usable CPUs, AUTO_PROCESSES_MAX)``
    workers: the client's CPU per host is what limits a big run, and a second core takes
    half of it (docs/performance.md). macOS has ``fork`` but its system frameworks are not
    fork-safe (CPython defaults to ``spawn`` there) and Windows has only ``spawn``, so auto
    stays threaded there; an explicit ``processes`` is honoured wherever ``fork`` exists.
    Never more workers than hosts or than the concurrency (each worker runs at least one
    host at a time); ``serial`` always means one process.
    """
    if processes is not None and processes < 1:
        raise ValueError("processes must be at least 1")
    if serial or n_hosts < 2 or (processes is not None and processes == 1):
        return 1
    if processes is None:
        if not sys.platform.startswith("linux") or n_hosts < AUTO_PROCESSES_MIN_HOSTS:
            return 1
        processes = min(_usable_cpus(), AUTO_PROCESSES_MAX)
        if processes < 2 or other_threads():
            return 1
    if processes > 1 and not fork_available():
        return 1
    return max(1, min(processes, n_hosts, concurrency or default_concurrency(n_hosts)))


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
    on_tick: Callable[[], None] | None = None,
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

    ``processes``: worker processes (see :func:`effective_processes`; None: automatic).
    ``on_tick`` is called on the calling thread every few tens of milliseconds while the
    run waits (a progress display redraws its clock there instead of in a thread of its
    own, so the process has no other thread when it forks workers).
    """
    if per_host_timeout <= 0:
        raise ValueError("per_host_timeout must be positive")
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    from mpremote.fanout.gctune import relaxed_gc

    workers = effective_processes(len(hosts), processes, serial=serial, concurrency=concurrency)
    runner = Run(hosts, job, per_host_timeout, on_event, cancel, grace, redact, on_tick)
    with relaxed_gc():
        if serial:
            runner.run_serial()
        elif workers > 1:
            from mpremote.fanout.processes import run_processes

            run_processes(runner, workers, concurrency or default_concurrency(len(hosts)))
        else:
            runner.run_threaded(concurrency or default_concurrency(len(hosts)))
    return runner.outcome()
