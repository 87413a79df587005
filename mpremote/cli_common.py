"""Shared plumbing for the CLI: common options, credentials, output, exit codes.

``common_options`` appends the connection and output options of DESIGN.md to a command's
signature (so Typer shows them in ``--help`` under their own panels) and hands them to the
command as one :class:`Common` object: each option is declared once, in ``cli_options``.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer

from mpremote import cli_options as o

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("table", "json", "jsonl", "csv")

_COMMON_PARAMS: list[tuple[str, Any, Any]] = [
    ("format", o.Format, "table"),
    ("output", o.Output, None),
    ("quiet", o.Quiet, False),
    ("no_progress", o.NoProgress, False),
    ("audit_log", o.AuditLogOpt, None),
    ("retry_file", o.RetryFile, None),
    ("concurrency", o.Concurrency, None),
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


def common_options(func: F) -> F:
    """Decorator: add the common options to ``func``'s signature; pass them as ``common=``."""
    sig = inspect.signature(func, eval_str=True)
    params = [p for p in sig.parameters.values() if p.name != "common"]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _COMMON_PARAMS
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        common = Common(**{name: kwargs.pop(name) for name, _, _ in _COMMON_PARAMS if name in kwargs})
        return func(*args, common=common, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params + extra}
    return wrapper  # type: ignore[return-value]


def fail_usage(message: str) -> typer.Exit:
    """Print a usage error the way every command does, and give the exit to raise."""
    err_console().print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(2)


@functools.cache
def err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def out_console(path: Path | None = None) -> Any:
    from rich.console import Console

    if path is not None:
        return Console(file=path.open("w", encoding="utf-8"), width=160, highlight=False, color_system=None)
    return Console(highlight=False, soft_wrap=False)


def stdin_is_tty() -> bool:
    try:
        return os.isatty(sys.stdin.fileno())
    except (AttributeError, ValueError, OSError):
        return False


def stderr_is_tty() -> bool:
    try:
        return os.isatty(sys.stderr.fileno())
    except (AttributeError, ValueError, OSError):
        return False
