"""Audit-log and state locks in forked workers (``--processes N``), under load.

What a user cares about: with ``--processes 2 --audit-log FILE`` every worker writes its
``sending`` lines, every time. A forked worker inherits its parent's lock objects; a lock
library may refuse them ("inherited across fork") or, worse, believe it already holds the
file lock. Each process must own fresh locks, and a lock held by the parent at the moment
of the fork must still keep the child out.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from mpremote.audit import AuditLog, read_audit

pytestmark = pytest.mark.stress

FORKS = 300
THREADS = 8


def _child_writes(log: AuditLog, tag: str) -> int:
    """In a forked child: THREADS threads append at the same instant. 0 if all succeed."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def write() -> None:
        barrier.wait()
        try:
            log.record(tag, "action", host="c")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.stderr.write(f"{tag}: {errors[0]!r}\n")
        return 3
    return 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_every_forked_worker_writes_the_audit_log(tmp_path: Path) -> None:
    """300 forks, 8 threads each racing for the first append: not one line may be lost."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.record("parent", "run_start")
    failed = []
    for i in range(FORKS):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                code = _child_writes(log, f"child-{i}")
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            failed.append(i)
    assert failed == []
    lines = read_audit(path)
    assert len(lines) == 1 + FORKS * THREADS
    assert {line["run_id"] for line in lines} == {"parent", *(f"child-{i}" for i in range(FORKS))}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_parent_writing_while_forking_loses_nothing(tmp_path: Path) -> None:
    """The parent's threads append without pause while it forks: the lock may be held at
    the instant of the fork. Children still write, and no line is torn or lost."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    stop = threading.Event()
    written = [0, 0, 0]

    def parent_writer(k: int) -> None:
        while not stop.is_set():
            log.record("parent", "action", host="p", detail="x" * 2000)
            written[k] += 1

    writers = [threading.Thread(target=parent_writer, args=(k,)) for k in range(3)]
    for t in writers:
        t.start()
    failed = []
    try:
        for i in range(60):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - child
                code = 1
                try:
                    code = _child_writes(log, f"child-{i}")
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                failed.append(i)
    finally:
        stop.set()
        for t in writers:
            t.join()
    assert failed == []
    lines = read_audit(path)  # every line parses: nothing torn
    assert sum(1 for line in lines if line["run_id"] == "parent") == sum(written)
    assert sum(1 for line in lines if line["run_id"].startswith("child-")) == 60 * THREADS


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_lock_held_by_the_parent_at_fork_keeps_the_child_out(tmp_path: Path) -> None:
    """A file lock the parent holds when it forks is the parent's: the child must wait
    for it (mutual exclusion between processes), not believe it holds it already."""
    from mpremote.locking import FileLock, LockTimeout

    lock = FileLock(tmp_path / "x.lock")
    lock.acquire(timeout=1)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            os.close(r)
            try:
                lock.acquire(timeout=0.2)
                code = 10  # got a lock the parent holds: no mutual exclusion
            except LockTimeout:
                os.write(w, b"waited")
                lock.acquire(timeout=30)  # the parent releases it now
                lock.release()
                code = 0
        finally:
            os._exit(code)
    os.close(w)
    assert os.read(r, 6) == b"waited"
    os.close(r)
    lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_lock_excludes_threads_and_times_out(tmp_path: Path) -> None:
    from mpremote.locking import FileLock, LockTimeout

    a, b = FileLock(tmp_path / "x.lock"), FileLock(tmp_path / "x.lock")
    with a.hold(timeout=1):
        with pytest.raises(LockTimeout, match=r"x\.lock"):
            b.acquire(timeout=0)
        t0 = time.monotonic()
        with pytest.raises(LockTimeout):
            b.acquire(timeout=0.2)
        assert time.monotonic() - t0 >= 0.2
    with b.hold(timeout=0):
        pass


def test_lock_in_a_missing_or_unwritable_place_fails_at_once(tmp_path: Path) -> None:
    """Not a 30-second 'lock timeout' for what is really a bad path."""
    from mpremote.locking import FileLock

    t0 = time.monotonic()
    with pytest.raises(OSError):
        FileLock(tmp_path / "missing-dir" / "x.lock").acquire(timeout=30)
    assert time.monotonic() - t0 < 10
