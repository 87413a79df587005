"""The decorator that applies :func:`mpremote.errors.exit_for` to every command.

Every command of every group (``sessions`` ... ``credentials``, ``lab``, ``policy``) is
wrapped by :func:`handles_errors`: a command returns an :class:`~mpremote.errors.ExitCode`
(or ``None`` for OK) and raises whatever stops it; :func:`report` prints the one line of
:func:`~mpremote.errors.exit_for` on stderr (redacted) and gives the exit code. Nothing else
in the CLI turns an exception into an exit code. ``MPREMOTE_DEBUG=1`` re-raises bugs so the
traceback shows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import typer

from mpremote.context import debug_enabled
from mpremote.errors import ExitCode, exit_for

F = TypeVar("F", bound=Callable[..., Any])

#: Click's own ways out (exit, abort, usage errors of options) pass through untouched. Typer
#: 0.2x vendors Click (``typer._click``), older Typer uses ``click``: find its base class by name.
_CLICK_EXITS: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)

BUG_HINT = "This is a bug in mpremote; set MPREMOTE_DEBUG=1 to see the traceback."


def report(exc: BaseException) -> ExitCode:
    """Print the line for ``exc`` on stderr and return its exit code (re-raise bugs when debugging)."""
    code, message = exit_for(exc)
    if code is ExitCode.INTERNAL and debug_enabled():
        raise exc
    from mpremote.cli.common import err_console
    from mpremote.credentials import redact_known

    message = redact_known(message)
    if code is ExitCode.INTERNAL:
        message += "\n" + BUG_HINT

    head, _, rest = message.partition(": ") if code is not ExitCode.INTERRUPTED else (message, "", "")
    if rest:
        err_console().print(f"[bold red]{head}:[/] ", end="", markup=True, highlight=False)
        err_console().print(rest, markup=False, highlight=False)
    else:
        err_console().print(head, markup=False, highlight=False)
    return code


def handles_errors(func: F) -> F:
    """Decorator for a Typer command: its return value or exception becomes the exit code.

    Click's own exits (``typer.Exit``, usage errors of options, ``--help``) pass through.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = func(*args, **kwargs)
        except _CLICK_EXITS:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            raise typer.Exit(int(report(exc))) from None
        raise typer.Exit(int(ExitCode.OK if code is None else code))

    return cast(F, wrapper)
