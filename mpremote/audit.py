"""Append-only JSONL audit log: who ended whose session, when, from where.

One JSON object per line. Every line has ``ts`` (UTC, ISO 8601, milliseconds, ``Z``),
``run_id``, ``operator`` (the local account running mpremote), ``event`` and the event's
fields::

    {"ts": "2026-07-26T17:00:00.123Z", "run_id": "20260726T170000Z-3f9a1c0d",
     "operator": "it-admin", "event": "run_start", "command": "logoff",
     "argv": ["logoff", "lab.yaml", "--all"], "hosts": 40, "pid": 4242}
    events: run_start | action | host | run_end

Why it is built this way:

* **Several processes may append at once** (a scheduled policy run while an operator runs
  a command by hand). Each append takes an exclusive lock (:mod:`mpremote.locking`:
  ``flock``/``msvcrt``, fresh in every forked worker) on ``PATH.lock``, opens the file
  with ``O_APPEND`` and writes the line(s) with a single ``write()``: lines never
  interleave and a crash never leaves half a line followed by another process's line.
  The same lock covers threads of one process (the fan-out's workers record intent just
  before acting).
* **The file is opened per append**, so log rotation (rename + new file) just works.
* **Never a secret:** every string value goes through ``redact`` (the credentials
  module's redactor), and ``argv`` values of options named like a password are masked
  here as well, in case the caller forgot.
* ``run_end`` is fsync'ed (``fsync_at_end``): the record of a finished run survives a
  power cut; per-line fsync would cost a disk flush per session for little gain.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mpremote.errors import MpremoteError
from mpremote.results import HostResult, Totals

#: Keys every line has; event fields may not override them.
BASE_KEYS = ("ts", "run_id", "operator", "event")
#: Command-line options whose value is a secret (``--password X`` / ``--password=X``).
_SECRET_OPTION = re.compile(r"^--?[\w-]*(password|passwd|secret|token)[\w-]*$", re.IGNORECASE)
_FLAG_ONLY = frozenset({"--password-stdin"})
MASK = "***"


class AuditError(MpremoteError):
    """The audit log could not be written (lock timeout, permission, disk full)."""


def utc_timestamp(now: datetime | None = None) -> str:
    """``2026-07-26T17:00:00.123Z``: UTC, milliseconds, sortable as text."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """Short, sortable, unique enough: ``20260726T170000Z-3f9a1c0d`` (UTC second + 32 random bits)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def local_operator() -> str:
    """The local account running mpremote (``unknown`` where there is no login name)."""
    try:
        return getpass.getuser()
    except Exception:  # containers without a passwd entry
        return "unknown"


def mask_argv(argv: Sequence[str]) -> list[str]:
    """Mask the values of password-like options; the redact hook then handles the rest."""
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        name, eq, _value = arg.partition("=")
        if _SECRET_OPTION.match(name) and name not in _FLAG_ONLY:
            if eq:
                out.append(f"{name}={MASK}")
            else:
                out.append(arg)
                mask_next = True
            continue
        out.append(arg)
    return out


class AuditLog:
    """Appends audit events to ``path`` (created with mode 0600 if missing; its directory
    must exist: callers check the path before a run, see ``check_writable_file``).

    ``redact`` is applied to every string value except the base keys; ``operator`` is
    remembered per run from :meth:`record_run_start` (default: :func:`local_operator`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        redact: Callable[[str], str] | None = None,
        operator: str | None = None,
        fsync_at_end: bool = True,
        lock_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.redact = redact
        self.operator = operator or local_operator()
        self.fsync_at_end = fsync_at_end
        self._operators: dict[str, str] = {}
        self._starts: dict[str, int] = {}
        self._lock_timeout = lock_timeout
        self._make_locks()

    def _make_locks(self) -> None:
        """The file lock (:mod:`mpremote.locking`) also excludes threads of one process and
        starts fresh in a forked worker on its own (``os.register_at_fork``): no per-pid
        check here, no window in which a thread of the child sees the parent's lock."""
        from mpremote.locking import FileLock

        self._file_lock = FileLock(f"{self.path}.lock")

    # -- events --------------------------------------------------------------------------
    def record_run_start(
        self, run_id: str, operator: str | None, command: str, argv: Sequence[str], hosts: int
    ) -> None:
        if operator:
            self._operators[run_id] = operator
        try:
            self._starts[run_id] = os.stat(self.path).st_size  # this run's lines all lie past here
        except OSError:
            self._starts[run_id] = 0
        self.record(run_id, "run_start", command=command, argv=mask_argv(argv), hosts=hosts, pid=os.getpid())

    def record_action(
        self,
        run_id: str,
        host: str,
        session_id: int,
        username: str,
        action: str,
        outcome: str,
        detail: str = "",
    ) -> None:
        """One session: ``outcome`` is ``sending`` (intent, written before the action
        script leaves) or the final ``done|would_do|skipped|failed|vanished``."""
        self.record(
            run_id,
            "action",
            host=host,
            session_id=session_id,
            username=username,
            action=action,
            outcome=outcome,
            detail=detail,
        )

    def record_host(self, run_id: str, result: HostResult) -> None:
        """One line per host; its actions are recorded by :meth:`record_action`."""
        self.record(
            run_id,
            "host",
            host=result.host,
            address=result.address,
            status=result.status.value,
            error=result.error.to_dict() if result.error else None,
            elapsed_s=round(result.elapsed_s, 3),
            sessions=len(result.sessions),
            acted=result.acted,
        )

    def settle_unanswered(self, run_id: str, action: str) -> int:
        """Give every ``sending`` line of ``run_id`` that has no outcome line one now:
        ``failed`` with ``outcome unknown`` (the host was cut off at its deadline, or the run
        was interrupted, after the action script left). Returns how many were written.

        Reads the file back from where the run started (workers in other processes wrote
        some of the ``sending`` lines), so it costs one read of this run's own lines.
        """
        start = self._starts.get(run_id)
        if start is None:
            return 0
        sent: dict[tuple[str, int], str] = {}
        answered: set[tuple[str, int]] = set()
        try:
            with open(self.path, "rb") as fh:
                fh.seek(start)
                for raw in fh:
                    try:
                        line = json.loads(raw)
                    except ValueError:
                        continue
                    if not isinstance(line, dict) or line.get("run_id") != run_id or line.get("event") != "action":
                        continue
                    key = (str(line.get("host")), int(line.get("session_id", -1)))
                    if line.get("outcome") == "sending":
                        sent.setdefault(key, str(line.get("username", "")))
                    else:
                        answered.add(key)
        except OSError as exc:
            raise AuditError(f"cannot read back the audit log {self.path}: {exc.strerror or exc}") from exc
        missing = [(key, user) for key, user in sent.items() if key not in answered]
        detail = "outcome unknown: no answer after the action was sent (cut off or interrupted); it may have happened"
        for (host, session_id), user in missing:
            self.record_action(run_id, host, session_id, user, action, "failed", detail)
        return len(missing)

    def record_run_end(self, run_id: str, exit_code: int, totals: Totals | dict[str, Any]) -> None:
        if isinstance(totals, Totals):
            summary: dict[str, Any] = {
                "hosts": totals.hosts,
                "by_status": totals.by_status,
                "sessions": totals.sessions,
                "by_outcome": totals.by_outcome,
                "line": totals.line(),
            }
        else:
            summary = dict(totals)
        self.record(run_id, "run_end", exit_code=int(exit_code), totals=summary, sync=self.fsync_at_end)
        self._operators.pop(run_id, None)
        self._starts.pop(run_id, None)

    def record(self, run_id: str, event: str, *, sync: bool = False, **fields: Any) -> None:
        """Append one event line (the generic form the ``record_*`` methods use)."""
        clash = set(fields) & set(BASE_KEYS)
        if clash:
            raise ValueError(f"audit fields may not be named {sorted(clash)}")
        fields = self._clean(fields)
        base = {"run_id": run_id, "operator": self._operators.get(run_id, self.operator), "event": event}

        def render() -> list[str]:
            # Stamped under the locks: file order is time order (workers record concurrently).
            line = {"ts": utc_timestamp(), **base, **fields}
            return [json.dumps(line, separators=(",", ":"))]

        self._append(render, sync=sync)

    # -- writing -------------------------------------------------------------------------
    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value) if self.redact else value
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value

    def append_lines(self, lines: Sequence[str], *, sync: bool = False) -> None:
        """Append whole lines under both locks with one ``write()`` (looping only on a
        short write, still under the lock). Raises :class:`AuditError` on failure."""
        self._append(lambda: list(lines), sync=sync)

    def _append(self, render: Callable[[], list[str]], *, sync: bool) -> None:
        """Take both locks, then render the lines (so timestamps follow file order) and write."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        try:
            with self._file_lock.hold(self._lock_timeout):
                lines = render()
                if any("\n" in line for line in lines):
                    raise ValueError("an audit line may not contain a newline")
                data = "".join(f"{line}\n" for line in lines).encode("utf-8")
                fd = os.open(self.path, flags, 0o600)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    if sync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
        except ValueError:
            raise
        except Exception as exc:  # LockTimeout, OSError
            raise AuditError(f"cannot write the audit log {self.path}: {type(exc).__name__}: {exc}") from exc


def read_audit(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Parse an audit log (tests, ``jq``-less inspection). Raises on a corrupt line."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
