"""The record of what a policy already did: a small JSON file, locked and written atomically.

``policy run`` is called every minute by cron/systemd/Task Scheduler, possibly twice at once
(a slow run overlapping the next tick, a human running it by hand). The state file is what
makes it idempotent, so it follows three rules:

* **One run at a time.** An exclusive :class:`mpremote.locking.FileLock` (``STATE.lock``) is held
  for the whole run: a concurrent run waits, then sees the first run's records.
* **Record before acting.** A stage is written as ``started`` *before* its action is sent
  and updated to its outcome afterwards. A crash in between leaves ``started``; the next
  run reports it as ``interrupted`` and never fires it again, because a message or log-off
  that may have been delivered must not be repeated (DESIGN section 4).
* **Never half-written.** Every save goes to a temporary file in the same directory,
  is fsynced, and replaces the old file with :func:`os.replace` (atomic on POSIX and NTFS).

Format (version 1)::

    {"version": 1, "policy": "end-of-day", "last_run": "2026-03-27T16:00:05+00:00",
     "stages": {"2026-03-27T16:00:00Z/2": {"outcome": "done", "at": "...", "action": "logoff",
                                           "stage": "T", "scheduled": "...", "detail": "..."}}}
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mpremote.errors import MpremoteError, UsageError

STATE_VERSION = 1
#: Records older than this (by scheduled instant) are dropped so the file stays small.
KEEP_RECORDS = timedelta(days=35)
DEFAULT_LOCK_TIMEOUT = 600.0

#: Outcomes that mean "this stage is settled: never fire it again".
OUTCOMES = ("started", "done", "failed", "dry_run", "missed", "skipped", "interrupted")


class StateFileError(UsageError):
    """The state file cannot be trusted; refusing to run is the only way not to fire twice."""


class StateLockTimeout(MpremoteError):
    """Another ``policy run`` held the state lock for longer than the timeout."""


class PolicyState:
    """The loaded state; mutate through :meth:`record`, which saves at once."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, path: Path, policy_name: str) -> PolicyState:
        if not path.exists():
            return cls(path, {"version": STATE_VERSION, "policy": policy_name, "last_run": None, "stages": {}})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateFileError(
                f"{path}: state file is unreadable ({exc}); move it aside only if you know which "
                "stages already fired, or a stage may fire twice"
            ) from None
        if (
            not isinstance(data, dict)
            or data.get("version") != STATE_VERSION
            or not isinstance(data.get("stages"), dict)
        ):
            raise StateFileError(f"{path}: not a version {STATE_VERSION} mpremote policy state file")
        if data.get("policy") not in (None, policy_name):
            raise StateFileError(
                f"{path}: state file belongs to policy '{data['policy']}', not '{policy_name}'; "
                "give each policy its own --state file"
            )
        data["policy"] = policy_name
        return cls(path, data)

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        stages: dict[str, dict[str, Any]] = self.data["stages"]
        return stages

    @property
    def last_run(self) -> datetime | None:
        raw = self.data.get("last_run")
        try:
            return datetime.fromisoformat(raw) if raw else None
        except (TypeError, ValueError):
            return None

    def get(self, key: str) -> dict[str, Any] | None:
        return self.stages.get(key)

    def record(self, key: str, outcome: str, **fields: Any) -> None:
        """Set a stage's outcome (keeping earlier fields) and save atomically right away."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        entry = dict(self.stages.get(key, {}))
        entry.update({k: v for k, v in fields.items() if v is not None})
        entry["outcome"] = outcome
        self.stages[key] = entry
        self.save()

    def forget(self, key: str) -> None:
        """Drop a record (only for a stage proven not to have reached any host)."""
        if self.stages.pop(key, None) is not None:
            self.save()

    def finish(self, now: datetime) -> None:
        """Stamp the run and drop old records; called once at the end of every run."""
        self.data["last_run"] = now.astimezone(UTC).isoformat()
        horizon = now - KEEP_RECORDS
        for key in list(self.stages):
            when = self.stages[key].get("scheduled")
            with contextlib.suppress(TypeError, ValueError):
                if when and datetime.fromisoformat(when) < horizon:
                    del self.stages[key]
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see either the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked_state(path: str | Path, policy_name: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[PolicyState]:
    """Hold ``PATH.lock`` for the whole block and yield the freshly loaded state.

    Loading happens *after* the lock is taken, so a run that waited sees what the
    previous run recorded.
    """
    from mpremote.locking import FileLock, LockTimeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout)
    except LockTimeout:
        raise StateLockTimeout(
            f"{path}: another 'policy run' has held the lock for {timeout:.0f}s; nothing was done"
        ) from None
    try:
        yield PolicyState.load(path, policy_name)
    finally:
        lock.release()


def default_state_path(policy_path: Path, policy_name: str) -> Path:
    """Where state lives when ``--state`` is not given: the user's state directory.

    Not next to the policy: policies often live in read-only or version-controlled places.
    """
    import hashlib

    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "mpremote" / "state"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "mpremote"
    digest = hashlib.sha256(str(policy_path.resolve()).encode()).hexdigest()[:8]
    return base / "policies" / f"{policy_name}-{digest}.json"
