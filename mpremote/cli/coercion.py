"""Typer's parameter coercion, with pydantic loaded only for the values that need it.

Typer 0.29 coerces every parameter value through a pydantic ``TypeAdapter``, built on the
parameter's first use. A command line such as ``mpremote sessions lab.yaml`` therefore
imported pydantic (about 40 ms of CPU) and built one adapter per parameter (about 9 ms
more): a fifth of a command's start-up, for values that come out unchanged. This module
gives each Typer parameter a runtime parameter that answers the cases whose result is known
exactly, and builds Typer's own (pydantic and all) for everything else:

* ``str`` / ``bool`` / ``int`` / ``float`` values that already have the annotation's exact
  type (defaults, flags, text options): the adapter returns the value itself;
* ``int`` / ``float`` from a plain decimal string (``"32"``, ``"2.5"``: ASCII digits, no
  sign, no leading zero, no exponent, no underscore) inside the parameter's ``min``/``max``;
* ``list[str]`` of ``str`` (repeatable options): a list of the same strings;
* ``Path`` from a non-empty ``str`` without NUL: ``Path(value)``, then Typer's own
  ``coerce_cli_path`` for the existence and permission checks, as its adapter does.

Anything else (a custom parser, a clamp, a value out of range, a sign, bytes, an enum,
a file type) goes to Typer's coercion, so its error messages stay Typer's. Only Typer
0.29 (pinned in ``pyproject.toml``); ``tests/unit/test_cli_coercion.py`` pins the Typer
source this relies on by hash and compares the answers with Typer's own for every
parameter of the command tree.
"""

# No ``from __future__ import annotations``: the dataclass below is Typer's, and its
# fields must stay real annotations.

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import typer

#: The Typer minor version the shortcuts were checked against. Any other Typer (or one whose
#: private ``_coercion`` module moved) gets Typer's own coercion: :func:`install` does nothing.
SUPPORTED = typer.__version__.startswith("0.29.")
try:
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover - a Typer without the module this leans on
    SUPPORTED = False
    RuntimeParam = object  # type: ignore[misc,assignment]

_INT = re.compile(r"(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")
_MISS = object()


def _in_range(value: Any, info: Any) -> bool:
    return (info.min is None or value >= info.min) and (info.max is None or value <= info.max)


def shortcut(annotation: Any, info: Any, value: Any, param: Any = None, ctx: Any = None) -> Any:
    """The value Typer's adapter would return, or :data:`_MISS` when this cannot tell."""
    if info.parser is not None:
        return _MISS
    kind = type(value)
    if annotation is str or annotation is bool:
        return value if kind is annotation else _MISS
    if annotation is int or annotation is float:
        if info.clamp:
            return _MISS
        if kind is annotation:
            number = value
        elif kind is str and (_INT if annotation is int else _FLOAT).fullmatch(value):
            number = annotation(value)
        else:
            return _MISS
        return number if _in_range(number, info) else _MISS
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        if kind in (list, tuple) and all(type(v) is str for v in value):
            return list(value)
        return _MISS
    if annotation is Path and info.path_type is None and kind is str and value and "\x00" not in value:
        from typer._param_types import coerce_cli_path

        return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    return _MISS


@dataclass(frozen=True)
class DeferredRuntimeParam(RuntimeParam):
    """Typer's runtime parameter, built only when a value needs it."""

    descriptor: Any

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        result = shortcut(self.annotation, self.parameter_info, value, param, ctx)
        if result is not _MISS:
            return result
        real = build_runtime_param(self.descriptor)
        param._runtime_param = real  # from now on Typer's own, as Typer would have it
        return real._coerce_value(value, param=param, ctx=ctx)


_ORIGINAL: Any = None


def install() -> bool:
    """Make every Typer parameter's runtime parameter a :class:`DeferredRuntimeParam`
    (Typer builds it lazily on first use, through ``get_runtime_param``; this takes that
    hook's place for parameters whose type is not a file). Once per process; nothing on a
    Typer other than 0.29. Returns whether it is installed."""
    global _ORIGINAL
    if not SUPPORTED:
        return False
    if _ORIGINAL is not None:
        return True
    from typer.core import _TyperParameter

    _ORIGINAL = _TyperParameter.get_runtime_param

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            if descriptor.file_annotation is not None:
                return _ORIGINAL(self)
            self._runtime_param = DeferredRuntimeParam(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation, descriptor=descriptor
            )
        return self._runtime_param

    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    """Typer's own hook again (tests)."""
    global _ORIGINAL
    if _ORIGINAL is not None:
        from typer.core import _TyperParameter

        _TyperParameter.get_runtime_param = _ORIGINAL  # type: ignore[method-assign]
        _ORIGINAL = None
