"""Fixtures for end-to-end tests: in-process emulated labs and the real CLI.

The CLI runs in-process through Typer's CliRunner (fast) or as a real subprocess where
process-level behaviour matters (TTY, signals, the installed entry point).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mpremote.lab.server import Lab
from tests.support import helpers
from tests.support.helpers import SECRET, invoke, run_cli

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder uses the lab (a conftest's ``pytestmark`` is ignored by pytest)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.lab)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def start_lab(tmp_path: Path) -> Iterator[Callable[..., Lab]]:
    """:func:`tests.support.helpers.start_lab` under ``tmp_path/labN``, every lab stopped at
    the end: ``start_lab(hosts=3, faults=["mp-lab-002=refuse"], locale="de-DE")``."""
    labs: list[Lab] = []

    def start(**options: Any) -> Lab:
        lab = helpers.start_lab(tmp_path / f"lab{len(labs)}", **options)
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        lab.stop()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run ``mpremote ARGS`` in-process (:func:`tests.support.helpers.invoke`) with the lab's
    password in MPREMOTE_PASSWORD."""
    monkeypatch.setenv("MPREMOTE_PASSWORD", SECRET)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str, input: str | None = None) -> CliResult:
        result = invoke(*args, stdin=input)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


def run_subprocess(*args: str, input: str | None = None, timeout: float = 120, **kw: Any) -> CliResult:
    """``python -m mpremote ARGS`` (:func:`tests.support.helpers.run_cli`) with the lab's password."""
    env = {**os.environ, "MPREMOTE_PASSWORD": SECRET, "COLUMNS": "200"}
    proc = run_cli(*args, stdin=input, env=env, timeout=timeout, **kw)
    return CliResult(proc.code, proc.stdout, proc.stderr)


def journal_events(lab: Lab, event: str) -> list[dict[str, Any]]:
    path = lab.options.journal
    assert path is not None
    lines = path.read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == event]


def user_sessions(lab: Lab, host: str) -> list[Any]:
    """The lab's ground truth: sessions of real users (what quser lists)."""
    return [s for s in lab.host(host).model.sessions() if s.username and not s.is_services and not s.is_listener]
