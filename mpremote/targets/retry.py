"""Retry files: written after a run (hosts worth a re-run), read back by ``--limit @FILE``.

The writer and the reader live together so the format is stated once: one host name per
line, ``#`` starts a comment, UTF-8 (a BOM is accepted). Which hosts go in is
:data:`mpremote.results.RETRY_STATUSES` (failed, unreachable, interrupted).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from mpremote.errors import InputFileError
from mpremote.results import RETRY_STATUSES, UNCONFIRMED, HostResult

__all__ = ["read_retry_file", "write_retry_file"]


def write_retry_file(path: str | os.PathLike[str], results: Iterable[HostResult]) -> int:
    """Write the names of failed, unreachable and interrupted hosts, one per line.

    For ``--limit @path``. The file is replaced atomically and written even when empty,
    so a stale list from an earlier run never survives a clean run. Returns the count.
    A host whose sessions were acted on but not confirmed gone (pending, stuck) is listed
    with those session ids in a comment: a re-run acts on what is still there, so the
    list shrinks as log-offs complete.
    """
    lines = []
    for r in results:
        if r.status not in RETRY_STATUSES:
            continue
        open_ids = [f"{a.id} {a.outcome.value}" for a in r.actions or () if a.outcome in UNCONFIRMED]
        lines.append(f"{r.host}  # not confirmed: {', '.join(open_ids)}" if open_ids else r.host)
    text = "".join(f"{line}\n" for line in lines)
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        special = False
    if special:  # /dev/stdout, a FIFO: write to it; never rename a file over a device node
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        return len(lines)
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return len(lines)


def read_retry_file(path: str | Path) -> list[tuple[str, int]]:
    """Host names (with their line numbers) from a retry file written after a run."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputFileError(str(path), None, None, f"cannot read retry file: {exc.strerror or exc}") from None
    names: list[tuple[str, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        name = raw.split("#", 1)[0].strip()
        if name:
            names.append((name, number))
    return names
