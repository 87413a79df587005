"""A relaxed garbage collector for the length of a run (restored afterwards).

CPython's cyclic collector runs a generation-0 pass every 700 net allocations and, every
so often, a full pass over every tracked object: the interpreter's, Typer's, pypsrp's and
requests' module objects included, tens of thousands that live as long as the process.
A run allocates heavily (ElementTree elements, CLIXML objects, HTTP headers) and creates
few cycles, so those passes are mostly wasted work.

:func:`relaxed_gc` freezes the objects alive when the run starts (``gc.freeze``: later
collections never scan them) and raises the generation-0 threshold for the run; both are
put back when it ends, whatever happens. Memory stays bounded: the collector still runs,
only less often (every :data:`RUN_THRESHOLD` net allocations).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

from mpremote import startup

#: Generation-0 threshold during a run (CPython's default is 700).
RUN_THRESHOLD = 20_000
#: Switch (the A/B benchmark flips it).
ENABLED = True

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, ...] | None = None


@contextlib.contextmanager
def relaxed_gc() -> Iterator[None]:
    """Relax the collector until the outermost such block ends (nested blocks share it)."""
    global _depth, _saved
    startup.resume()  # the CLI's start-up pause ends where the work begins
    if not ENABLED or not gc.isenabled():
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(RUN_THRESHOLD, _saved[0]), *_saved[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
                _saved = None
