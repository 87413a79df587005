"""The process-parallel runner behind :func:`mpremote.fanout.run_hosts`.

Why processes: pypsrp, requests and pyspnego are pure Python, so one process's threads
share one core under the GIL; at a few hundred hosts the client is CPU-bound on that
core (docs/performance.md). Here the parent forks ``k`` workers; each runs the ordinary
threaded runner (:class:`mpremote.fanout.threads.Run`) on its shard of the hosts (host ``i`` goes
to worker ``i % k``, so a slow group of consecutive hosts is spread over all workers) and
streams every start and every finished :class:`HostResult` back over a pipe. The parent
only coordinates: it records each row, emits the :class:`ProgressEvent`\\ s on its calling
thread in the order the rows arrive, and keeps every guarantee of ``fanout`` even when a
worker misbehaves:

* **One row per host.** The parent settles each host at most once (first row wins). A
  worker that dies (crash, ``os._exit`` in a job, OOM kill) is noticed by the end of its
  pipe: its hosts that had started get a ``failed`` / ``internal`` row saying the outcome
  is unknown (an action may have been sent; they are never run again); those it never
  started go to a new worker (nothing was sent to them), or, if the lost worker was itself
  such a replacement or the run is being interrupted, get an ``interrupted`` "not
  started" row. A worker reports a host's start *before* it starts the host's thread, and
  the parent reads all a dead worker wrote before deciding, so "not started" is never a
  guess.
* **Deadline.** Workers enforce the per-host deadline themselves. The parent bounds them
  too: a started host with no row by ``deadline + HARD_DEADLINE_MARGIN_S +
  WORKER_MARGIN_S`` means its worker no longer responds (e.g. a thread holding the GIL in
  a C loop); the host gets its timeout row and the worker is killed (its other unfinished
  hosts as above). The parent reads the pipes without blocking, so a worker stuck in the
  middle of a message cannot stall it.
* **Ctrl-C / SIGTERM / cancel.** The parent writes to each worker's control pipe; the
  worker's watcher thread sets its runner's cancel event, so it stops starting hosts,
  gives running hosts the grace period and reports ``interrupted`` rows. Workers ignore
  SIGINT (a Ctrl-C reaches the whole process group: they must not die with a
  traceback) and treat SIGTERM like the cancel. After ``grace + COLLECT_S`` the parent
  stops waiting, kills what is left and writes the ``interrupted`` rows itself. The end
  of the control pipe also tells a worker that its parent died: it stops starting hosts.
* **No prompt in a worker.** Workers get ``/dev/null`` as standard input (multiprocessing
  does this) and :func:`mpremote.api.run_command` resolves every credential in the parent
  before forking; the job in a worker only looks the answer up.
* **Nothing printed twice.** The parent flushes stdout/stderr before forking and
  workers leave with ``os._exit``, so no inherited buffer or ``atexit`` handler runs twice.

The ``fork`` start method is required (the job is a closure: it is inherited, never
pickled); :func:`mpremote.fanout.effective_processes` falls back to threads elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import selectors
import signal
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mpremote.fanout.deadline import HARD_DEADLINE_MARGIN_S, Deadline, timeout_message
from mpremote.fanout.threads import Run, host_row, other_threads
from mpremote.results import HostStatus

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

#: Extra time, past a host's hard deadline, before the parent decides its worker is stuck.
#: Generous: killing a worker that is merely slow would turn its running hosts into
#: "outcome unknown" rows, which costs the operator far more than a few seconds.
WORKER_MARGIN_S = 5.0
#: After the grace period, how long the parent waits for workers' ``interrupted`` rows.
COLLECT_S = 1.0
#: Longest the parent sleeps between looks at cancel and deadlines.
_POLL_S = 0.05
_HEADER = struct.Struct("!I")
#: Held off while forking, so a worker gets them only once its own handlers are set.
_FORK_BLOCKED = {signal.SIGINT, signal.SIGTERM}


# -- worker side -------------------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _ShardRun(Run):
    """A worker's threaded runner: its progress events go to the parent instead."""

    def __init__(self, run: Run, shard: list[int], cancel: threading.Event, out_fd: int) -> None:
        super().__init__([run.hosts[i] for i in shard], run.job, run.timeout, None, cancel, run.grace, run.redact, None)
        self.shard = shard
        self.out_fd = out_fd

    def send(self, message: tuple[Any, ...]) -> None:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        _write_all(self.out_fd, _HEADER.pack(len(payload)) + payload)

    def emit(self, kind: str, j: int) -> None:
        """Called before a host's thread starts ("start") and when its row is settled."""
        i = self.shard[j]
        if kind == "start":
            self.send(("start", i, self.started[j].started))
            return
        try:
            self.send(("done", i, self.results[j]))
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
            message = (
                "internal error: the host's result could not be passed from its worker process "
                f"({type(exc).__name__}); the outcome on the host is unknown"
            )
            self.send(("done", i, host_row(self.hosts[j], HostStatus.FAILED, "internal", message, self.elapsed(j))))


def _worker_main(
    run: Run,
    shard: list[int],
    concurrency: int,
    out_fd: int,
    control_fd: int,
    close_fds: list[int],
) -> None:
    """Body of one worker process: run ``shard`` (global host indices) with threads."""
    code = 0
    try:
        for fd in close_fds:  # the parent's ends of every pipe: EOF must mean what it says
            with contextlib.suppress(OSError):
                os.close(fd)
        cancel = threading.Event()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: cancel.set())
        # Blocked by the parent across the fork: a Ctrl-C that came in between is dropped
        # here (SIGINT is ignored) and a SIGTERM becomes the cancel, never a traceback.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORK_BLOCKED)

        def watch_parent() -> None:
            """Any byte (stop) or EOF (parent gone) on the control pipe cancels the shard."""
            with contextlib.suppress(OSError):
                os.read(control_fd, 1)
            cancel.set()

        threading.Thread(target=watch_parent, daemon=True, name="mpremote-worker-control").start()
        shard_run = _ShardRun(run, shard, cancel, out_fd)
        shard_run.run_threaded(concurrency)
        shard_run.send(("end",))
    except BrokenPipeError:
        code = 3  # the parent is gone: nobody to report to
    except BaseException:  # never a traceback into the operator's terminal from a worker
        log.exception("worker process failed")
        code = 2
    finally:
        os._exit(code)


# -- parent side -------------------------------------------------------------------------------


@dataclass
class _Worker:
    number: int
    shard: list[int]
    concurrency: int = 1
    replacement: bool = False  # took over a lost worker's unstarted hosts (never replaced itself)
    process: BaseProcess | None = None
    out_fd: int = -1  # parent reads rows here
    control_fd: int = -1  # parent writes one byte here to stop the worker
    buffer: bytearray = field(default_factory=bytearray)
    ended: bool = False  # sent "end": every one of its hosts was reported
    closed: bool = False  # its pipe reached EOF or it was killed


@contextlib.contextmanager
def _forking() -> Iterator[None]:
    """Around a fork: buffered output flushed (a child must not print it again), SIGINT and
    SIGTERM held off so that a worker gets them only once its own handlers are set."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    saved_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _FORK_BLOCKED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved_mask)  # a pending Ctrl-C lands here


class ProcessRunner:
    """The parent's side of one process-parallel run; settles rows into ``run``."""

    def __init__(self, run: Run, processes: int, concurrency: int) -> None:
        self.run = run
        n = len(run.hosts)
        base, extra = divmod(concurrency, processes)
        self.workers = [
            _Worker(w, list(range(w, n, processes)), max(1, base + (1 if w < extra else 0))) for w in range(processes)
        ]
        self.selector = selectors.DefaultSelector()
        self.ctx: Any = None

    @property
    def concurrency(self) -> list[int]:
        """Threads of each worker, in worker order (replacements included)."""
        return [w.concurrency for w in self.workers]

    # -- starting ------------------------------------------------------------------------------
    def start(self) -> bool:
        """Fork the workers; False if not even one could be started (caller uses threads)."""
        import multiprocessing

        self.ctx = multiprocessing.get_context("fork")
        with _forking():
            for w in self.workers:
                error = self._fork_one(w)
                if error is None:
                    continue
                if not any(x.process for x in self.workers):
                    log.warning("could not start a worker process (%s); running with threads", error)
                    return False
                w.closed = w.ended = True
                for i in w.shard:
                    message = f"could not start a worker process: {error}"
                    self.run.settle(i, host_row(self.run.hosts[i], HostStatus.FAILED, "internal", message, 0.0))
        return True

    def _fork_one(self, w: _Worker) -> OSError | None:
        """Fork worker ``w`` (inside :func:`_forking`); the error if it could not be started."""
        out_r, out_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        # The child closes the parent's end of every pipe, so that EOF means what it says.
        parent_fds = [fd for x in self.workers for fd in (x.out_fd, x.control_fd) if fd >= 0] + [out_r, ctl_w]
        process = self.ctx.Process(
            target=_worker_main,
            args=(self.run, w.shard, w.concurrency, out_w, ctl_r, parent_fds),
            name=f"mpremote-worker-{w.number}",
            daemon=True,
        )
        try:
            process.start()
        except OSError as exc:
            for fd in (out_r, out_w, ctl_r, ctl_w):
                os.close(fd)
            return exc
        os.close(out_w)
        os.close(ctl_r)
        os.set_blocking(out_r, False)
        w.process, w.out_fd, w.control_fd = process, out_r, ctl_w
        self.selector.register(out_r, selectors.EVENT_READ, w)
        return None

    # -- messages ------------------------------------------------------------------------------
    def read(self, w: _Worker) -> None:
        """Take whatever the pipe holds now; handle each complete message; never block."""
        eof, garbled = self._take(w)
        if garbled is not None:  # nothing more from this pipe can be trusted
            self.kill(w)
            self.lost(w, f"unreadable message ({garbled})", trusted=False)
        elif eof:
            self.lost(w, "")

    def _take(self, w: _Worker) -> tuple[bool, str | None]:
        """Read the pipe until it is empty and handle each complete message: (end of file
        reached, the error's name if a message could not be read)."""
        eof = False
        while True:
            try:
                chunk = os.read(w.out_fd, 65536)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                eof = True
                break
            w.buffer += chunk
        while len(w.buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(w.buffer)
            if len(w.buffer) < _HEADER.size + size:
                break
            payload = bytes(w.buffer[_HEADER.size : _HEADER.size + size])
            del w.buffer[: _HEADER.size + size]
            try:
                message = pickle.loads(payload)
            except Exception as exc:
                return eof, type(exc).__name__
            self.handle(w, message)
        return eof, None

    def handle(self, w: _Worker, message: tuple[Any, ...]) -> None:
        run = self.run
        if message[0] == "start":
            _, i, started = message
            if i not in run.results:
                run.started[i] = Deadline(run.timeout, started=started, cancel_event=run.stop)
                run.emit("start", i)
        elif message[0] == "done":
            _, i, result = message
            if i in run.results:
                log.warning(
                    "late result from %s discarded (status %s): it arrived after the host was cut off",
                    run.hosts[i].name,
                    result.status.value,
                )
            else:
                run.settle(i, result)
        elif message[0] == "end":
            w.ended = True

    # -- failures ------------------------------------------------------------------------------
    def lost(self, w: _Worker, why: str, *, trusted: bool = True) -> None:
        """The worker is gone (or was killed): every host of its shard without a row gets one.

        Hosts it never started go to a new worker process (once: a replacement that is lost
        in turn is not replaced), since nothing was sent to them; hosts it had started get
        an "outcome unknown" row and are never run again. Before deciding, everything the
        dead worker wrote is read, so a host it reported started is never taken for one it
        never started. ``trusted=False`` (its pipe was garbled): no replacement.
        """
        if w.closed:
            return
        w.closed = True
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(w.out_fd)
        if w.process is not None:
            w.process.join(timeout=1.0)
            if w.process.exitcode is not None:
                why = ", ".join(filter(None, [why, f"exit code {w.process.exitcode}"]))
        dead = w.process is None or w.process.exitcode is not None
        if trusted and dead and w.out_fd >= 0:
            _eof, garbled = self._take(w)  # its last messages: the pipe holds all it wrote
            trusted = garbled is None
        run = self.run
        unsettled = [i for i in w.shard if i not in run.results]
        if not unsettled:
            return
        fresh = [i for i in unsettled if i not in run.started]
        if fresh and trusted and dead and self._replace(w, fresh, why):
            unsettled = [i for i in unsettled if i in run.started]
            if not unsettled:
                return
        log.warning("worker process %d lost (%s) with %d host(s) unreported", w.number, why, len(unsettled))
        for i in unsettled:
            if i in run.started:
                row = host_row(
                    run.hosts[i],
                    HostStatus.FAILED,
                    "internal",
                    f"worker process died ({why}) while this host was running; the outcome on the host is unknown",
                    run.elapsed(i),
                )
            else:
                row = host_row(
                    run.hosts[i],
                    HostStatus.INTERRUPTED,
                    "interrupted",
                    f"not started: its worker process died ({why}); nothing was done",
                    0.0,
                )
            run.settle(i, row)

    def _replace(self, lost: _Worker, fresh: list[int], why: str) -> bool:
        """Fork a new worker for ``fresh``, the lost worker's hosts that were never started.

        Not for a replacement (a job that kills its worker must not kill worker after
        worker), not once the run is being interrupted, and not while this process runs
        another thread (a fork is only safe from a single-threaded process)."""
        run = self.run
        cancelled = run.cancel is not None and run.cancel.is_set()
        if lost.replacement or run.interrupted or cancelled or self.ctx is None or other_threads():
            return False
        w = _Worker(len(self.workers), sorted(fresh), lost.concurrency, replacement=True)
        with _forking():
            error = self._fork_one(w)
        if error is not None:
            log.warning("could not start a worker process to replace worker %d (%s)", lost.number, error)
            return False
        self.workers.append(w)
        log.warning(
            "worker process %d lost (%s); its %d host(s) not yet started go to worker process %d",
            lost.number,
            why,
            len(fresh),
            w.number,
        )
        return True

    def kill(self, w: _Worker) -> None:
        if w.process is not None and w.process.is_alive():
            w.process.kill()

    def check_deadlines(self, now: float) -> None:
        """A started host far past its hard deadline means its worker no longer responds."""
        run = self.run
        for w in self.workers:
            if w.closed:
                continue
            overdue = [
                i
                for i in w.shard
                if i in run.started
                and i not in run.results
                and now >= run.started[i].at + HARD_DEADLINE_MARGIN_S + WORKER_MARGIN_S
            ]
            if not overdue:
                continue
            for i in overdue:
                log.warning("%s: no row from its worker past the deadline; killing the worker", run.hosts[i].name)
                run.settle(
                    i,
                    host_row(
                        run.hosts[i],
                        HostStatus.UNREACHABLE,
                        "timeout",
                        timeout_message(run.timeout),
                        now - run.started[i].started,
                    ),
                )
            self.kill(w)
            self.lost(w, "it stopped responding and was killed")

    def stop_workers(self) -> None:
        for w in self.workers:
            if w.control_fd >= 0:
                with contextlib.suppress(OSError):
                    os.write(w.control_fd, b"x")

    # -- the loop ------------------------------------------------------------------------------
    def loop(self) -> None:
        run = self.run
        stop_at: float | None = None
        try:
            while True:
                try:
                    if stop_at is None and run.cancel is not None and run.cancel.is_set():
                        run.start_interrupt()
                    if stop_at is None and run.interrupted:
                        self.stop_workers()
                        stop_at = time.monotonic() + run.grace + COLLECT_S
                    if all(w.closed or w.ended for w in self.workers):
                        break
                    for key, _ in self.selector.select(timeout=_POLL_S):
                        self.read(key.data)
                    run.tick()
                    for w in self.workers:
                        if w.ended and not w.closed and w.process is not None:
                            w.process.join(timeout=0)
                    now = time.monotonic()
                    self.check_deadlines(now)
                    if stop_at is not None and now >= stop_at:
                        break
                except KeyboardInterrupt:
                    if run.interrupted and stop_at is not None:
                        break  # a second Ctrl-C ends the grace period at once
                    run.start_interrupt()
        finally:
            self.close()

    def close(self) -> None:
        """Kill whatever still runs (a hung host's worker, or after the grace) and reap."""
        for w in self.workers:
            if not w.ended:
                self.kill(w)
        for w in self.workers:
            if w.process is not None:
                w.process.join(timeout=2.0)
            for fd in (w.out_fd, w.control_fd):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            w.out_fd = w.control_fd = -1
        self.selector.close()


def run_processes(run: Run, processes: int, concurrency: int) -> None:
    """Run ``run``'s hosts over ``processes`` forked workers; settle every host.

    Forks only from a process with no other live thread (checked here, at the fork):
    otherwise the hosts run on threads in this process, with the same guarantees.
    """
    alive = other_threads()
    if alive:
        shown = ", ".join(alive[:3]) + (f" and {len(alive) - 3} more" if len(alive) > 3 else "")
        log.warning("not forking worker processes while other threads run (%s); using threads", shown)
        run.run_threaded(concurrency)
        return
    runner = ProcessRunner(run, processes, concurrency)
    try:
        started = runner.start()
    except KeyboardInterrupt:
        run.start_interrupt()
        runner.close()
        run.finish_unsettled()
        return
    if not started:
        runner.close()
        run.run_threaded(concurrency)
        return
    log.debug(
        "%d hosts over %d worker processes, %s threads each",
        len(run.hosts),
        processes,
        "/".join(map(str, runner.concurrency)),
    )
    runner.loop()
    run.finish_unsettled()
