"""mpremote.cli.coercion gives Typer's own answers (values and error messages) for every
parameter of the command tree, without pydantic where the answer is known; the Typer source
it leans on is pinned by hash."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer import _adapters, _coercion, _param_types, core
from typer._click import Context

from mpremote.cli import app as cli_app
from mpremote.cli import coercion

#: The Typer 0.29 code the shortcuts reproduce or rely on. A change in any of these means the
#: shortcuts must be checked again (then update the hash).
PINNED = {
    # Typer's own hook, which coercion.install() takes the place of (read the original).
    "typer.core._TyperParameter.get_runtime_param": (
        coercion._ORIGINAL or core._TyperParameter.get_runtime_param,
        "74aa41c7",
    ),
    "typer.core._TyperParameter.process_value": (core._TyperParameter.process_value, "405ec55b"),
    "typer._coercion.RuntimeParam.coerce": (_coercion.RuntimeParam.coerce, "75e2de2b"),
    "typer._coercion.build_runtime_param": (_coercion.build_runtime_param, "a2d5790a"),
    "typer._adapters.build_adapter": (_adapters.build_adapter, "a5a83145"),
    "typer._adapters.build_leaf_adapter": (_adapters.build_leaf_adapter, "5385352f"),
    "typer._adapters._build_number_adapter": (_adapters._build_number_adapter, "8d86a941"),
    "typer._adapters._build_path_adapter": (_adapters._build_path_adapter, "69805397"),
    "typer._adapters._parse_cli_str": (_adapters._parse_cli_str, "f1b7de56"),
    "typer._param_types.coerce_cli_path": (_param_types.coerce_cli_path, "f5d4c676"),
}


def _digest(fn: Any) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode("utf-8")).hexdigest()[:8]


@pytest.mark.parametrize("name", sorted(PINNED))
def test_typer_source_is_the_one_checked(name: str) -> None:
    fn, digest = PINNED[name]
    assert typer.__version__.startswith("0.29.")
    assert _digest(fn) == digest, f"{name} changed in Typer {typer.__version__}: check mpremote.cli.coercion"


def _params() -> Iterator[tuple[str, Any, Any]]:
    """(command path, click command, parameter) for every Typer parameter of the CLI."""
    cli_app._mount_subapps()
    root = typer.main.get_command(cli_app.app)

    def walk(cmd: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
        for param in cmd.params:
            if getattr(param, "type_descriptor", None) is not None:
                yield path, cmd, param
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, f"{path} {name}".strip())

    yield from walk(root, "")


def _values(annotation: Any, tmp: Path) -> list[Any]:
    existing = tmp / "lab.yaml"
    existing.write_text("hosts: {}\n", encoding="utf-8")
    common: list[Any] = ["", "x", " 1", "１２", b"bytes", None, True, 0, 1, -1, 1.5]
    numbers = ["0", "00", "007", "1", "5", "32", "64", "65", "1024", "65535", "65536", "9" * 20, "+3", "-3",
               "1_000", "1e3", "2.5", "0.5", "1.", ".5", "nan", "inf", "３", 0.0, 2, 2.0, 64, 65, 1e9]  # fmt: skip
    paths = [str(existing), str(tmp), str(tmp / "missing.yaml"), "-", "a\x00b", existing]
    lists: list[Any] = [(), [], ("a", "b"), ["a"], (1, "a"), "a"]
    return [*common, *numbers, *paths, *lists]


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        value = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # Typer's BadParameter, or anything else it raises
        return ("error", (type(exc).__name__, str(exc)))
    return ("value", (type(value).__name__, repr(value)))  # repr: nan == nan


def test_deferred_coercion_answers_as_typer_for_every_parameter(tmp_path: Path) -> None:
    checked = shortcuts = 0
    for path, cmd, param in _params():
        ctx = Context(cmd, info_name=path or "mpremote")
        descriptor = param.type_descriptor
        if descriptor.file_annotation is not None:
            continue
        typer_own = _coercion.build_runtime_param(descriptor)
        for value in _values(descriptor.annotation, tmp_path):
            deferred = coercion.DeferredRuntimeParam(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation, descriptor=descriptor
            )
            saved = param._runtime_param
            try:
                ours = _outcome(deferred, value, param, ctx)
            finally:
                param._runtime_param = saved
            theirs = _outcome(typer_own, value, param, ctx)
            assert ours == theirs, f"{path} --{param.name} ({descriptor.annotation}) {value!r}"
            checked += 1
            shortcuts += coercion.shortcut(descriptor.annotation, descriptor.parameter_info, value, param, ctx) is not (
                coercion._MISS
            )
    assert checked > 1000 and shortcuts > 300  # the tree and the shortcuts were exercised


def test_out_of_range_number_gets_typers_message() -> None:
    from tests.support.helpers import run_cli  # the CLI as users run it

    res = run_cli("sessions", "missing.yaml", "--concurrency", "0")
    assert res.code == 2
    assert "greater than or equal to 1" in res.stderr


def test_install_is_once_and_reversible() -> None:
    original = core._TyperParameter.get_runtime_param
    coercion.uninstall()
    try:
        assert core._TyperParameter.get_runtime_param is original or coercion._ORIGINAL is None
        assert coercion.install() and coercion.install()
        assert core._TyperParameter.get_runtime_param is not coercion._ORIGINAL
    finally:
        coercion.uninstall()
        coercion.install()
