"""The watch loop's engine: refresh every host, bounded, and say what changed.

A refresh is one read-only ``sessions`` job per host through the same fan-out and host
job as ``mpremote sessions`` (per-host deadline, bounded concurrency, one row per host).
On top of that:

* **A host is never queried twice at once.** A host whose previous job still runs (it was
  cut off at its deadline and its thread has not come back yet) is not started again; its
  row says so (``timeout``: "the previous refresh of this host is still running").
* **One runspace pool per host stays open between refreshes** (``keep_open``, the default):
  a refresh is then one pipeline on an open pool, 2 HTTP requests instead of 7-9 for
  connect + query + close (numbers in docs/performance.md). A pool that fails is closed and
  the query, which changes nothing, is tried once more on a fresh one; a host that does not
  answer loses its pool. :meth:`Watcher.close` closes every pool (one Delete each).
* **Changes** come from :class:`~mpremote.watch.changes.ChangeTracker`, computed on each
  host's full session list; ``selector`` only narrows what is shown.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mpremote.commands import Command
from mpremote.hostjob import JobSpec, run_host_job
from mpremote.hosts import Host
from mpremote.remote.connection import Connection, ConnectionSettings
from mpremote.results import ErrorInfo, ExitCode, HostResult, HostStatus, exit_code
from mpremote.session import Session
from mpremote.watch.changes import Change, ChangeTracker, Snapshot, session_key

log = logging.getLogger(__name__)

CredentialSource = Callable[[Host], tuple[str | None, str | None]]
BUSY_MESSAGE = "the previous refresh of this host is still running"


@dataclass
class WatchOptions:
    interval: float = 10.0
    per_host_timeout: float = 30.0
    concurrency: int | None = None
    settings: ConnectionSettings = field(default_factory=ConnectionSettings)
    backend: str = "auto"
    credentials: CredentialSource | None = None
    redact: Callable[[str], str] | None = None
    #: Keep one runspace pool per host open between refreshes.
    keep_open: bool = True
    #: A selection.Selector: only these sessions are shown (changes still come from all).
    selector: Any = None


@dataclass
class HostRow:
    """One host at one refresh."""

    refresh: int
    result: HostResult
    sessions: list[Session]  # what is shown (the selector applied)
    changes: list[Change]
    at: _dt.datetime  # wall clock, UTC, when the row was settled

    @property
    def host(self) -> str:
        return self.result.host

    @property
    def ok(self) -> bool:
        return self.result.status is HostStatus.OK

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "host": r.host,
            "refresh": self.refresh,
            "ts": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "status": r.status.value,
            "error": r.error.to_dict() if r.error else None,
            "elapsed_s": round(r.elapsed_s, 3),
            "sessions": [s.to_dict() for s in self.sessions],
            "changes": [c.to_dict() for c in self.changes],
        }


class _KeptPool:
    """One host's connection, kept open across refreshes; used by one job at a time."""

    def __init__(self, host: Host, connect: Callable[..., Any]) -> None:
        self.host = host
        self._connect = connect
        self._cm: Any = None
        self.conn: Any = None
        self.opened = 0  # how many times a pool was opened (measurements, tests)

    def factory(self, host: Host, **kwargs: Any) -> _KeptPool:
        self._kwargs = kwargs
        return self

    def _open(self) -> Any:
        cm = self._connect(self.host, **self._kwargs)
        self.conn = cm.__enter__()
        self._cm = cm
        self.opened += 1
        return self.conn

    def __enter__(self) -> _KeptPool:
        if self.conn is None:
            self._open()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self.close()

    @property
    def endpoint(self) -> Any:
        return self.conn.endpoint

    def run_script(self, name: str, parameters: dict[str, Any], *, acting: bool = False) -> Any:
        reused = self.opened > 0 and self.conn is not None
        try:
            return self.conn.run_script(name, parameters, acting=acting)
        except Exception:
            self.close()
            if acting or not reused:
                raise
            # A read-only query on a pool that went stale (host restarted, shell expired):
            # it changed nothing, so one more try on a fresh pool is safe.
            log.debug("%s: kept pool failed; reopening once", self.host.name)
            return self._open().run_script(name, parameters, acting=acting)

    def close(self) -> None:
        cm, self._cm, self.conn = self._cm, None, None
        if cm is not None:
            try:
                cm.__exit__(None, None, None)
            except Exception as exc:  # closing must never fail the watch
                log.debug("%s: closing the pool failed: %s", self.host.name, type(exc).__name__)


class Watcher:
    """Refreshes a set of hosts; a context manager that closes every pool on exit."""

    def __init__(
        self, hosts: Sequence[Host], options: WatchOptions, *, connect: Callable[..., Any] = Connection
    ) -> None:
        if not hosts:
            raise ValueError("no hosts to watch")
        self.hosts = list(hosts)
        self.options = options
        self._connect = connect
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._idle = threading.Condition(self._lock)
        self._pools: dict[str, _KeptPool] = {}
        self._closing = False
        #: Per host, (id, folded user) of the sessions shown at its last answer (selectors).
        self._shown: dict[str, set[tuple[int, str]]] = {}
        self.tracker = ChangeTracker()
        self.refreshes = 0
        self.worst = ExitCode.OK
        self._spec = JobSpec(command=Command.SESSIONS, backend=options.backend, settings=options.settings)
        from mpremote.api import fresh_credentials

        self._credentials = options.credentials or fresh_credentials()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one refresh --------------------------------------------------------------------
    def busy(self) -> set[str]:
        with self._lock:
            return set(self._busy)

    def refresh(
        self,
        *,
        cancel: threading.Event | None = None,
        on_row: Callable[[HostRow], None] | None = None,
        on_start: Callable[[Host], None] | None = None,
    ) -> list[HostRow]:
        """Query every host once (those still busy get a ``timeout`` row); rows in host order.

        ``on_row`` is called with each row as it is settled (completion order), on the
        calling thread.
        """
        from mpremote.fanout import run_hosts

        self.refreshes += 1
        k = self.refreshes
        busy = self.busy()
        rows: dict[str, HostRow] = {}

        def settle(result: HostResult) -> None:
            row = self._row(k, result)
            rows[row.host] = row
            if on_row is not None:
                on_row(row)

        for h in self.hosts:
            if h.name in busy:
                settle(HostResult(h.name, h.address, HostStatus.UNREACHABLE, ErrorInfo("timeout", BUSY_MESSAGE)))
        free = [h for h in self.hosts if h.name not in busy]

        def on_event(event: Any) -> None:
            if event.kind == "start" and on_start is not None:
                on_start(event.host)
            if event.kind == "done" and event.result is not None:
                settle(event.result)

        if free:
            fan = run_hosts(
                free,
                self._job,
                concurrency=self.options.concurrency,
                per_host_timeout=self.options.per_host_timeout,
                on_event=on_event,
                cancel=cancel,
                redact=self.options.redact,
                processes=1,
            )
            for r in fan.results:  # on_event has settled them all; belt and braces
                if r.host not in rows:
                    settle(r)
        ordered = [rows[h.name] for h in self.hosts]
        code = exit_code([r.result for r in ordered])
        if code is not ExitCode.INTERRUPTED:
            self.worst = ExitCode(int(self.worst) | int(code))
        return ordered

    def _job(self, host: Host, deadline: Any) -> HostResult:
        with self._lock:
            self._busy.add(host.name)
        pool: _KeptPool | None = None
        try:
            connect: Callable[..., Any] = self._connect
            if self.options.keep_open:
                with self._lock:
                    pool = self._pools.setdefault(host.name, _KeptPool(host, self._connect))
                connect = pool.factory
            result = run_host_job(
                host,
                self._spec,
                credential=self._credentials,
                deadline_remaining=deadline.remaining,
                cancelled=lambda: deadline.cancelled,
                connect=connect,
            )
            if pool is not None and result.status is not HostStatus.OK:
                pool.close()  # a host that did not answer well starts afresh next time
            return result
        finally:
            with self._lock:
                self._busy.discard(host.name)
                closing = self._closing
                self._idle.notify_all()
            if pool is not None and closing:
                pool.close()  # the watch ended while this job ran: leave nothing open

    def _row(self, k: int, result: HostResult) -> HostRow:
        ok = result.status is HostStatus.OK
        kind = result.error.kind if result.error else None
        changes = self.tracker.update(result.host, Snapshot(ok, tuple(result.sessions), kind))
        shown = list(result.sessions)
        selector = self.options.selector
        if ok and selector is not None and not selector.is_empty():
            from mpremote.selection import select

            decisions = select(result.host, shown, selector, operator_user=(result.facts or {}).get("operator") or None)
            shown = [d.session for d in decisions if d.selected]
            now = {(s.id, session_key(s)[1]) for s in shown}
            keys = now | self._shown.get(result.host, set())
            changes = [c for c in changes if c.id is None or (c.id, _fold(c.username or "")) in keys]
            self._shown[result.host] = now
        return HostRow(k, result, shown, changes, _dt.datetime.now(_dt.UTC))

    # -- shutdown -----------------------------------------------------------------------
    def open_pools(self) -> int:
        with self._lock:
            return sum(1 for p in self._pools.values() if p.conn is not None)

    def close(self, wait: float | None = None) -> None:
        """Close every kept pool. Waits (up to ``wait``, default the per-host deadline) for
        jobs still running, so their pools can be closed too rather than left open."""
        limit = time.monotonic() + (self.options.per_host_timeout + 2 if wait is None else wait)
        with self._lock:
            self._closing = True
            while self._busy and (left := limit - time.monotonic()) > 0:
                self._idle.wait(left)
            pools = [p for name, p in self._pools.items() if name not in self._busy]
            abandoned = sorted(self._busy)
        for p in pools:
            p.close()
        if abandoned:
            log.warning("still waiting on %s; their pools are closed when their jobs end", ", ".join(abandoned))


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def stream_jsonl(
    watcher: Watcher,
    write: Callable[[str], None],
    *,
    interval: float,
    count: int | None = None,
    cancel: threading.Event | None = None,
) -> ExitCode:
    """Refresh every ``interval`` seconds; write one JSON line per host per refresh.

    Stops after ``count`` refreshes (None: until ``cancel``). Returns the exit code of the
    worst refresh (4/8/12 when a host failed or was unreachable at any refresh), or 130
    when cancelled. Refreshes start at a fixed rate; one that overruns the interval is
    followed by the next at once, never by two at the same time.
    """
    import json

    cancel = cancel or threading.Event()
    next_at = time.monotonic()
    while count is None or watcher.refreshes < count:
        watcher.refresh(cancel=cancel, on_row=lambda row: write(json.dumps(row.to_dict(), ensure_ascii=False)))
        if cancel.is_set():
            return ExitCode.INTERRUPTED
        if count is not None and watcher.refreshes >= count:
            break
        next_at = max(next_at + interval, time.monotonic() - interval)
        if cancel.wait(max(0.0, next_at - time.monotonic())):
            return ExitCode.INTERRUPTED
    return watcher.worst
