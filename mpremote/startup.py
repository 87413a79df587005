"""The collector paused while the CLI starts: imports make objects, not garbage.

Why: a ``sessions`` run imports Typer, pypsrp, requests, pyspnego and cryptography before
its first request, well over a hundred thousand objects. Each import's allocations trip
CPython's collector, whose passes walk every tracked object so far; almost none of them is
garbage. With the collector off until the real work starts, the start-up (the part of a
run that uses one core while the other waits) costs ~13 % less CPU (interleaved pairs:
195 -> 175 ms to the first fork).

The CLI's entry point calls :func:`pause` first thing; :func:`resume` gives the
collector back, and is called where work that makes garbage begins: the fan-out's
:func:`mpremote.fanout.gctune.relaxed_gc` (every command that contacts hosts, ``watch``
included) and the lab's start (``lab serve``, ``demo``). A command that does neither
allocates little (help, checks, a password prompt, installing a schedule) and ends with
the collector still paused; a policy waiting for its first stage sleeps, allocating
nothing, until that stage's run resumes it. A library caller never
calls :func:`pause`, and a collector its program switched off stays off: :func:`resume`
only undoes this module's own pause.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "paused", "resume"]

_paused = False


def pause() -> None:
    """Switch the collector off for the start-up (if it is on)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Switch the collector back on if :func:`pause` switched it off; else do nothing."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()


def paused() -> bool:
    return _paused
