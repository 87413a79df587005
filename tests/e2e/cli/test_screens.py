"""Screenshot tests: what the operator sees in a real terminal, at 80 and 120 columns.

Each screen is captured from the real CLI on a pseudo-terminal of that size (``pty``),
against a lab with a fixed seed; colour codes are stripped and the few values that change
from run to run (elapsed times, temporary paths) are masked. The result must equal the
reviewed snapshot in ``tests/snapshots/NAME.txt``: a change to what the operator sees is
then a deliberate, reviewed change to that file.

To accept new screens after a deliberate change, run

    MPREMOTE_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/e2e/cli/test_screens.py

and review ``git diff tests/snapshots`` before committing.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.support.helpers import SECRET
from tests.support.terminal import read_terminal

from .conftest import user_sessions

pytestmark = [pytest.mark.lab, pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")]

SNAPSHOTS = Path(__file__).resolve().parents[2] / "snapshots"
UPDATE_ENV = "MPREMOTE_UPDATE_SNAPSHOTS"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]")


def run_on_pty(
    args: list[str], columns: int, *, answer: str | None = None, colour: bool = False, timeout: float = 120
) -> str:
    """Run ``mpremote ARGS`` on a ``columns`` x 50 pseudo-terminal; type ``answer`` at the prompt."""
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {
        **os.environ,
        "MPREMOTE_PASSWORD": SECRET,
        "COLUMNS": str(columns),
        "LINES": "50",
        "TERM": "xterm-256color",
    }
    env.pop("FORCE_COLOR", None)
    env.pop("NO_COLOR", None)
    if not colour:
        env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpremote", *args],
        stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    return read_terminal(main, proc, timeout=timeout, answer=answer)


def screen(raw: str, tmp: Path | None = None) -> str:
    """The text a person reads: no colour codes, no carriage returns, varying values masked."""
    text = _ANSI.sub("", raw).replace("\r\n", "\n").replace("\r", "\n")
    if tmp is not None:
        text = text.replace(str(tmp), "<tmp>")
    text = re.sub(r"\b\d+\.\d\ds\b", "#.##s", text)  # elapsed times
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n") + "\n"


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get(UPDATE_ENV):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run with {UPDATE_ENV}=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{path.name} changed; if deliberate, rerun with {UPDATE_ENV}=1 and review the diff"


def _lab(start_lab):
    return start_lab(hosts=3, sessions_per_host=7, seed=4242, faults=["mp-lab-003=refuse"])


def _names(lab, hosts) -> set[str]:
    return {s.username.lower() for h in hosts for s in user_sessions(lab, h)}


@pytest.mark.parametrize("columns", [80, 120])
def test_sessions_screen(start_lab, tmp_path, columns: int) -> None:
    lab = _lab(start_lab)
    text = screen(run_on_pty(["sessions", str(lab.targets_path), "--no-progress"], columns), tmp_path)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    # No user or host name is cut, whatever the width.
    for name in _names(lab, ["mp-lab-001", "mp-lab-002"]) | {"mp-lab-001", "mp-lab-002", "mp-lab-003"}:
        assert name in text.lower(), name
    assert "…" not in text
    check_snapshot(f"sessions-{columns}", text)


@pytest.mark.parametrize("columns", [80, 120])
def test_confirmation_screen(start_lab, tmp_path, columns: int) -> None:
    lab = _lab(start_lab)
    args = ["logoff", str(lab.targets_path), "--all", "--no-progress", "--timeout", "10"]
    raw = run_on_pty(args, columns, answer="n")
    text = screen(raw, tmp_path)
    assert "Nothing was done." in text and max(len(line) for line in text.splitlines()) <= columns
    for name in _names(lab, ["mp-lab-001", "mp-lab-002"]) - {"wmsshell"}:
        assert name in text.lower(), name
    check_snapshot(f"confirm-logoff-{columns}", text)


@pytest.mark.parametrize("columns", [80, 120])
def test_help_screen(columns: int) -> None:
    text = screen(run_on_pty(["logoff", "--help"], columns))
    assert max(len(line) for line in text.splitlines()) <= columns
    check_snapshot(f"help-logoff-{columns}", text)


def _colours(raw: str) -> list[str]:
    """SGR sequences that set a colour (30-37, 38;..., 90-97), not bold or dim."""
    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", raw):
        codes = [int(c) for c in params.split(";") if c]
        if any(30 <= c <= 38 or 90 <= c <= 97 for c in codes):
            found.append(params)
    return found


def test_colour_only_without_no_color_and_full_values_on_a_pipe(start_lab) -> None:
    lab = start_lab(hosts=1, sessions_per_host=4, seed=4242)
    args = ["sessions", str(lab.targets_path), "--no-progress"]
    assert _colours(run_on_pty(args, 120, colour=True)), "a terminal gets colour"
    assert not _colours(run_on_pty(args, 120))  # NO_COLOR=1
    # Piped: every column and every value in full, whatever COLUMNS says.
    env = {**os.environ, "MPREMOTE_PASSWORD": SECRET, "COLUMNS": "40"}
    piped = subprocess.run([sys.executable, "-m", "mpremote", *args], capture_output=True, text=True, env=env)
    assert "logon" in piped.stdout and "session" in piped.stdout and "…" not in piped.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "mpremote", *args, "--format", "json"], capture_output=True, text=True, env=env
    )
    sessions = [s for r in json.loads(as_json.stdout) for s in r["sessions"]]
    assert sessions, as_json.stdout + as_json.stderr
    for s in sessions:
        assert s["logon_text"] in piped.stdout and s["username"] in piped.stdout


@pytest.mark.parametrize("columns", [80, 120])
def test_targets_screen(tmp_path, columns: int) -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    block = re.findall(r"```yaml\n(.*?)```", readme, re.S)[0]
    lab = tmp_path / "lab.yaml"
    lab.write_text(re.sub(r"^ {3}", "", block, flags=re.M), encoding="utf-8")
    # Its ca_cert is checked when the list is read: the example CA sits next to it.
    ca = Path(__file__).resolve().parents[3] / "examples" / "school-ca.pem"
    (tmp_path / "school-ca.pem").write_bytes(ca.read_bytes())
    text = screen(run_on_pty(["targets", str(lab)], columns), tmp_path)
    assert max(len(line) for line in text.splitlines()) <= columns
    for i in range(1, 13):
        assert f"mp-101-{i:02d}.school.local" in text
    assert "library-rds" in text and "…" not in text
    check_snapshot(f"targets-{columns}", text)
