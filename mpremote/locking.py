"""Inter-process file locks that stay correct across ``fork``: ``flock`` / ``msvcrt``.

Why not a library: the lock has one job (keep two mpremote processes, or two threads, from
appending to the same audit log or policy state at once), and what a library does across
``fork`` changes between its major versions (``filelock`` 4 refuses an instance inherited
by a forked worker; 3.x lets the child believe it holds the parent's lock). Here:

* A :class:`FileLock` holds **no descriptor between uses**: :meth:`acquire` opens
  ``PATH``, takes an exclusive lock on it, and :meth:`release` unlocks and closes it.
* Its thread lock is **per process**: :func:`os.register_at_fork` gives every lock a fresh
  one in the child, before any of the child's code runs, so no thread of the child can
  see the parent's state. A lock the parent held at the instant of the fork stays the
  parent's: the child opens its own descriptor and waits for the parent to release.
* ``flock`` (not POSIX ``lockf``) locks belong to the open file, so two threads of one
  process exclude each other too; on Windows ``msvcrt.locking`` locks byte 0.
* A path that cannot be opened (missing directory, permission, a directory) raises the
  ``OSError`` at once, never a "lock timeout".

``flock`` is what ``filelock`` uses on POSIX and ``msvcrt.locking`` what it uses on
Windows, so an older mpremote (which used ``filelock``) and this one exclude each other.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FileLock", "LockTimeout"]

#: Poll interval while another process holds the lock (grows to the cap).
_POLL_START_S = 0.005
_POLL_CAP_S = 0.05


class LockTimeout(TimeoutError):
    """Another process (or thread) held the lock for the whole timeout."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__(f"{path}: still locked by another process after {timeout:g}s")
        self.path = path
        self.timeout = timeout


if sys.platform == "win32":  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


_ALL: weakref.WeakSet[FileLock] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """Runs in the child of a ``fork`` before anything else: every lock starts unheld
    by this process. An inherited descriptor is closed (the parent's lock stays the
    parent's: the parent still has the file open)."""
    for lock in list(_ALL):
        lock._reset_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class FileLock:
    """An exclusive, non-reentrant lock on ``path`` (created 0600 if missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        _ALL.add(self)

    def _reset_in_child(self) -> None:
        fd, self._fd = self._fd, None
        self._thread_lock = threading.Lock()
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def acquire(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds (0: try once). Raises :class:`LockTimeout`, or
        the ``OSError`` of a lock file that cannot be opened."""
        deadline = time.monotonic() + max(timeout, 0.0)
        got = self._thread_lock.acquire(timeout=timeout) if timeout > 0 else self._thread_lock.acquire(blocking=False)
        if not got:
            raise LockTimeout(self.path, timeout)
        try:
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(self.path, flags, 0o600)
            try:
                delay = _POLL_START_S
                while not _try_lock(fd):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise LockTimeout(self.path, timeout)
                    time.sleep(min(delay, left))
                    delay = min(delay * 2, _POLL_CAP_S)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            raise RuntimeError(f"{self.path}: release of a lock this process does not hold")
        try:
            _unlock(fd)
        finally:
            os.close(fd)
            self._thread_lock.release()

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        self.acquire(timeout)
        try:
            yield
        finally:
            self.release()
