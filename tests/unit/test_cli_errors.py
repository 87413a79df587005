"""One mapping from exceptions to exit codes, applied to every command group (no host contacted)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mpremote.cli import app as cli_module
from mpremote.errors import ExitCode, InputFileError, MpremoteError, UsageError, exit_for

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch):
    if not cli_module.app.registered_groups:
        cli_module._mount_subapps()
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("MPREMOTE_DEBUG", raising=False)

    def run(*args: str | Path):
        return CliRunner().invoke(cli_module.app, [str(a) for a in args])

    return run


@pytest.mark.parametrize(
    ("exc", "code", "start"),
    [
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "interrupted"),
        (UsageError("--state must be active"), ExitCode.USAGE, "error: --state must be active"),
        (InputFileError("lab.yaml", 3, "port", "not a number"), ExitCode.USAGE, "error: lab.yaml:3: field 'port':"),
        (MpremoteError("another 'policy run' holds the state"), ExitCode.USAGE, "error: another"),
        (ZeroDivisionError("x"), ExitCode.INTERNAL, "internal error: ZeroDivisionError: x"),
    ],
)
def test_exit_for_is_the_one_table(exc: BaseException, code: ExitCode, start: str) -> None:
    got_code, message = exit_for(exc)
    assert got_code is code and message.startswith(start)


def test_bad_target_file_exits_2_with_one_line_naming_the_file(invoke, tmp_path: Path) -> None:
    bad = tmp_path / "lab.yaml"
    bad.write_text("hosts:\n  mp-1:\n    port: nope\n")
    for args in (("sessions", bad), ("targets", bad), ("logoff", bad, "--all", "--yes")):
        res = invoke(*args)
        assert res.exit_code == ExitCode.USAGE, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {bad}:3"), res.stderr


def test_targets_csv_is_csv(invoke) -> None:
    res = invoke("targets", EXAMPLES / "lab.yaml", "--format", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0] == ["host", "address", "port", "transport", "auth", "groups"]
    assert len(rows) > 1 and all(len(r) == 6 for r in rows)


def test_policy_errors_use_the_same_mapping(invoke, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    for args in (("policy", "check", missing), ("policy", "next", missing), ("policy", "run", missing)):
        res = invoke(*args)
        assert res.exit_code == ExitCode.USAGE, res.output
        assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1


def test_lab_serve_bad_lab_file_is_usage(invoke, tmp_path: Path) -> None:
    bad = tmp_path / "lab.yaml"
    bad.write_text("hosts: [\n")
    res = invoke("lab", "serve", bad, "--port-base", "0")
    assert res.exit_code == ExitCode.USAGE, res.output
    assert res.stderr.startswith("error: ") and "internal error" not in res.stderr


def test_a_bug_is_exit_1_redacted_one_line_plus_hint(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    from mpremote.cli import run as cli_run

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(cli_run, "_load_hosts", boom)
    res = invoke("targets", EXAMPLES / "lab.yaml")
    assert res.exit_code == ExitCode.INTERNAL
    assert res.stderr.splitlines()[0] == "internal error: RuntimeError: kaput"
    assert "MPREMOTE_DEBUG=1" in res.stderr


@pytest.mark.parametrize(("value", "on"), [("", False), ("0", False), ("1", True), ("yes", True)])
def test_mpremote_debug_means_one_thing(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    from mpremote.context import debug_enabled

    monkeypatch.setenv("MPREMOTE_DEBUG", value)
    assert debug_enabled() is on


@pytest.mark.parametrize(("option", "value"), [("--user", ""), ("--user", "ana "), ("--exclude", " bo")])
def test_bad_user_names_are_usage_errors_not_bugs(invoke, option: str, value: str) -> None:
    res = invoke("logoff", EXAMPLES / "lab.yaml", "--all" if option == "--exclude" else "--dry-run", option, value)
    assert res.exit_code == ExitCode.USAGE, res.output
    assert res.stderr.startswith(f"error: {option}: ") and "internal error" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
