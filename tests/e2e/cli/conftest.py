"""Fixtures for end-to-end tests: in-process emulated labs and the real CLI.

The CLI runs in-process through Typer's CliRunner (fast) or as a real subprocess where
process-level behaviour matters (TTY, signals, the installed entry point).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mpremote.lab.faults import parse_fault_rule
from mpremote.lab.server import DEFAULT_PASSWORD, Lab, LabOptions

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
    """Start a lab in-process: ``start_lab(hosts=3, faults=["mp-lab-002=refuse"], locale="de-DE")``."""
    labs: list[Lab] = []

    def start(*, faults: tuple[str, ...] | list[str] = (), **options: Any) -> Lab:
        name = f"lab{len(labs)}"
        opts = LabOptions(
            faults=[parse_fault_rule(f) for f in faults],
            write_targets=tmp_path / name / "targets.yaml",
            journal=tmp_path / name / "journal.jsonl",
            **options,
        )
        lab = Lab(opts).start()
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        lab.stop()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run ``mpremote ARGS`` in-process with the lab's password in MPREMOTE_PASSWORD."""
    from mpremote.cli import app as cli_module

    if not cli_module.app.registered_groups:
        cli_module._mount_subapps()
    monkeypatch.setenv("MPREMOTE_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str, input: str | None = None) -> CliResult:
        result = CliRunner().invoke(cli_module.app, [str(a) for a in args], input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


def run_subprocess(*args: str, input: str | None = None, timeout: float = 120, **kw: Any) -> CliResult:
    env = {**os.environ, "MPREMOTE_PASSWORD": DEFAULT_PASSWORD, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "mpremote", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kw,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def journal_events(lab: Lab, event: str) -> list[dict[str, Any]]:
    path = lab.options.journal
    assert path is not None
    lines = path.read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == event]


def user_sessions(lab: Lab, host: str) -> list[Any]:
    """The lab's ground truth: sessions of real users (what quser lists)."""
    return [s for s in lab.host(host).model.sessions() if s.username and not s.is_services and not s.is_listener]
