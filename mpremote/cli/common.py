"""Shared plumbing for the CLI: common options, credentials, output, exit codes.

``common_options`` appends the connection and output options of DESIGN.md to a command's
signature (so Typer shows them in ``--help`` under their own panels) and hands them to the
command as one :class:`Common` object: each option is declared once, in ``cli_options``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from mpremote.cli import options as o

F = TypeVar("F", bound=Callable[..., Any])

_COMMON_PARAMS: list[tuple[str, Any, Any]] = [
    ("format", o.Format, "table"),
    ("output", o.Output, None),
    ("quiet", o.Quiet, False),
    ("no_progress", o.NoProgress, False),
    ("audit_log", o.AuditLogOpt, None),
    ("retry_file", o.RetryFile, None),
    ("concurrency", o.Concurrency, None),
    ("processes", o.Processes, None),
    ("timeout", o.Timeout, 60.0),
    ("username", o.Username, None),
    ("password_stdin", o.PasswordStdin, False),
    ("auth", o.Auth, None),
    ("transport", o.Transport, None),
    ("port", o.Port, None),
    ("ca_cert", o.CaCert, None),
    ("no_verify_tls", o.NoVerifyTls, False),
    ("allow_insecure_basic", o.AllowInsecureBasic, False),
    ("backend", o.Backend, "auto"),
    ("serial", o.Serial, False),
]


@dataclass
class Common:
    format: str = "table"
    output: Path | None = None
    quiet: bool = False
    no_progress: bool = False
    audit_log: Path | None = None
    retry_file: Path | None = None
    concurrency: int | None = None
    processes: int | None = None
    timeout: float = 60.0
    username: str | None = None
    password_stdin: bool = False
    auth: str | None = None
    transport: str | None = None
    port: int | None = None
    ca_cert: Path | None = None
    no_verify_tls: bool = False
    allow_insecure_basic: bool = False
    backend: str = "auto"
    serial: bool = False


#: Selector options: (parameter name, annotation, default, key in the ``sel`` dict).
_SELECTOR_PARAMS: list[tuple[str, Any, Any, str]] = [
    ("all_", o.AllSessions, False, "all"),
    ("user", o.Users, None, "users"),
    ("session", o.SessionRefs, None, "sessions"),
    ("state", o.State, None, "state"),
    ("idle_over", o.IdleOver, None, "idle_over"),
    ("exclude", o.Excludes, None, "exclude"),
]
#: ``sessions`` lists; it has no --all (it lists everything anyway) and no --exclude.
_LISTING_ONLY = ("user", "session", "state", "idle_over")


def _graft(func: F, placeholder: str, extra: list[inspect.Parameter], build: Callable[[dict[str, Any]], Any]) -> F:
    """Replace parameter ``placeholder`` of ``func`` by ``extra`` options in its signature.

    Typer reads the new signature (so the options show in ``--help`` where the placeholder
    was); at call time the wrapper pops them, builds one object with ``build`` and passes it
    as ``placeholder=``. Each option is therefore declared once, in ``cli_options``.
    """
    sig = inspect.signature(func, eval_str=True)
    params: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        params.extend(extra if p.name == placeholder else [p])
    names = [p.name for p in extra]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in names if name in kwargs}
        return func(*args, **{placeholder: build(values)}, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return cast(F, wrapper)


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


def common_options(func: F) -> F:
    """Decorator: add the common options in place of parameter ``common``; pass them as one Common."""
    extra = [_option(name, annotation, default) for name, annotation, default in _COMMON_PARAMS]
    return _graft(func, "common", extra, lambda values: Common(**values))


def selector_options(*, listing: bool = False) -> Callable[[F], F]:
    """Decorator: add the selector options in place of parameter ``sel``; pass them as a dict.

    The dict has every key (``all``, ``users``, ``sessions``, ``state``, ``idle_over``,
    ``exclude``) whatever the command offers, so the code after it never special-cases.
    """
    chosen = [p for p in _SELECTOR_PARAMS if not listing or p[0] in _LISTING_ONLY]

    def build(values: dict[str, Any]) -> dict[str, Any]:
        sel: dict[str, Any] = {"all": False, "users": [], "sessions": [], "state": None, "idle_over": None,
                               "exclude": []}  # fmt: skip
        for name, _, _, key in chosen:
            value = values.get(name)
            sel[key] = list(value or []) if isinstance(sel[key], list) else value
        sel["all"] = bool(sel["all"])
        return sel

    def decorate(func: F) -> F:
        extra = [_option(name, annotation, default) for name, annotation, default, _ in chosen]
        return _graft(func, "sel", extra, build)

    return decorate


@functools.cache
def err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)
