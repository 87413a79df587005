"""`--help` of every command at 80 columns: fits the width, at most two lines per option,
flags without metavars, metavars that name the value, the same panels, examples."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from mpremote.cli import app as cli_app
from mpremote.cli.help import MAX_OPTION_LINES, PANEL_ORDER


def _all_commands() -> list[list[str]]:
    if not cli_app.app.registered_groups:
        cli_app._mount_subapps()
    root = typer.main.get_command(cli_app.app)
    found: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:
        found.append(path)
        for name in getattr(cmd, "commands", {}):
            walk(cmd.commands[name], [*path, name])

    walk(root, [])
    return found


COMMANDS = _all_commands()


def _help(path: list[str], columns: int) -> str:
    res = CliRunner().invoke(cli_app.app, [*path, "--help"], env={"COLUMNS": str(columns), "NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    return res.stdout


def _option_rows(text: str) -> list[list[str]]:
    """Each option's lines inside the panels (a row starts with its flags, continuations are indented)."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        content = line[1:-1]
        if re.match(r" (\S|    --)", content):
            rows.append([content])
        elif rows:
            rows[-1].append(content)
    return rows


def test_every_command_is_covered() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {"sessions", "logoff", "disconnect", "message", "check", "targets", "lab serve", "policy run"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "mpremote")
def test_help_fits_80_columns_with_at_most_two_lines_per_option(path: list[str]) -> None:
    text = _help(path, 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    for row in _option_rows(text):
        assert len(row) <= MAX_OPTION_LINES, "\n".join(row)
    # Flags show no type, metavars name the value: none of Typer's type spellings.
    for noise in ("<bool>", "<str>", "<list", "<path>", "<int", "<float", "{", "[["):
        assert noise not in text, (noise, text)


@pytest.mark.parametrize("path", [p for p in COMMANDS if p and p[0] not in ("lab", "policy", "credentials")])
def test_top_level_commands_show_examples_and_the_shared_panels(path: list[str]) -> None:
    text = _help(path, 120)
    assert "Examples:" in text and f"$ mpremote {' '.join(path)}" in text
    panels = re.findall(r"╭─ (\w+) ─", text)
    shared = [p for p in panels if p in PANEL_ORDER]
    assert shared == [p for p in PANEL_ORDER if p in shared]  # same order everywhere
    if path[0] in ("sessions", "logoff", "disconnect", "message", "check"):
        assert {"Selection", "Output", "Connection"} <= set(panels)


def test_flags_have_no_metavar_and_values_are_named() -> None:
    text = _help(["logoff"], 120)
    assert re.search(r"-y, --yes +Do not ask", text)
    for signature in ("-l, --limit PATTERN", "--idle-over DURATION", "-o, --output FILE", "--grace DURATION"):
        assert signature in text
    assert "Usage: mpremote logoff [OPTIONS] TARGETS" in text


def test_limit_help_explains_the_comma_ampersand_syntax_readme_documents() -> None:
    text = _help(["sessions"], 120)
    assert "'a,&b' both" in text


def test_root_help_documents_version_and_completion_and_stays_cheap() -> None:
    res = CliRunner().invoke(cli_app.app, ["--help"], env={"COLUMNS": "80"})
    assert "--version" in res.stdout and "--install-completion" in res.stdout
    code = (
        "import sys; sys.argv=['mpremote','--help']\n"
        "from mpremote.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('rich', 'markdown_it', 'typer.rich_utils') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stderr, proc.stderr
    version = subprocess.run([sys.executable, "-m", "mpremote", "--version"], capture_output=True, text=True)
    assert re.fullmatch(r"mpremote \d+\.\d+\.\d+\S*\n", version.stdout)
