"""Checks of the files a run will write, made before any host is contacted.

Why: an output path that cannot be written used to be found only after the sessions were
logged off (no results shown, no retry file, an audit log saying exit 0), and ``-o`` or
``--retry-file`` naming the target list silently replaced it. Each check here raises
:class:`~mpremote.errors.UsageError` with one line naming the option and the path; the
caller turns it into exit 2 with nothing done.

A check never leaves a trace: a file it had to create to prove the directory writable is
removed again, and an existing file is opened for appending (never truncated) and closed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from mpremote.errors import UsageError

__all__ = ["OutputFile", "check_output_files"]


class OutputFile:
    """A file the run will write: ``option`` names it in messages (``-o/--output``)."""

    def __init__(self, option: str, path: str | os.PathLike[str] | None) -> None:
        self.option = option
        self.path = None if path is None else Path(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _probe(option: str, path: Path) -> None:
    """Prove ``path`` writable without changing it (create-and-remove when it is new)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{option}: {path} is a directory; give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return  # /dev/stdout, a FIFO, a terminal: opening it could block or consume; trust it
    parent = path.parent if str(path.parent) else Path(".")
    if st is None and not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise UsageError(f"{option}: cannot write {path}: the directory {parent} {what}")
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    try:
        if st is None:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            os.unlink(path)
        else:
            fd = os.open(path, flags)
            try:
                os.write(fd, b"")  # changes nothing, but fails where writing would (/proc files)
            finally:
                os.close(fd)
    except FileExistsError:
        return  # created by someone else meanwhile: it exists, writability is theirs to decide
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None


def check_output_files(
    outputs: Sequence[OutputFile],
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    *,
    make_dirs: bool = False,
) -> None:
    """Refuse (UsageError) an output path that cannot be written, that is an input file
    (the target list, the policy), or that two options share.

    (``--retry-file F --limit @F`` is allowed on purpose: re-run what failed and keep the
    list current; the retry file is replaced atomically after the run.) ``make_dirs``
    creates missing parent directories first (scheduled ``policy run``).
    """
    given = [o for o in outputs if o.path is not None]
    input_paths = [Path(p) for p in inputs if p is not None]
    for out in given:
        assert out.path is not None
        for source in input_paths:
            if _same_file(out.path, source):
                raise UsageError(
                    f"{out.option}: {out.path} is an input file of this run ({source}); it would be overwritten"
                )
    for i, out in enumerate(given):
        for other in given[:i]:
            assert out.path is not None and other.path is not None
            if _same_file(out.path, other.path):
                raise UsageError(f"{out.option} and {other.option} name the same file {out.path}")
    for out in given:
        assert out.path is not None
        if make_dirs:
            try:
                out.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                msg = f"{out.option}: cannot create the directory {out.path.parent}: {exc.strerror or exc}"
                raise UsageError(msg) from None
        _probe(out.option, out.path)
