"""Tables that fit: the least useful columns go first, names are never cut."""

from __future__ import annotations

import io

from rich.console import Console

from mpremote.report import SESSION_COLUMNS, render_sessions_table
from mpremote.results import HostResult, HostStatus
from mpremote.session import Session
from mpremote.tables import Column, fit

LONG_USER = "a.long.user.name"
LONG_HOST = "mp-101-12.school.local"


def _results() -> list[HostResult]:
    sessions = [
        Session(LONG_USER, None, 128, "disconnected", None, "12/31/2025 11:59 PM", domain="SCHOOL"),
        Session("ana", "rdp-tcp#3", 3, "active", None, "1/2/2026 8:01 AM", domain="SCHOOL"),
    ]
    return [HostResult(LONG_HOST, "10.0.0.1", HostStatus.OK, sessions=sessions)]


def _draw(width: int, terminal: bool = True) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None, legacy_windows=False)
    render_sessions_table(_results(), console)
    return out.getvalue()


def _header(text: str) -> list[str]:
    line = next(line for line in text.splitlines() if " host " in line)
    return [cell.strip() for cell in line.strip("┃").split("┃")]


def test_narrow_terminal_drops_logon_then_session_then_shortens_state_never_names() -> None:
    steps = {
        114: ["host", "id", "user", "session", "state", "idle", "logon"],
        100: ["host", "id", "user", "session", "state", "idle"],
        85: ["host", "id", "user", "state", "idle"],
        78: ["host", "id", "user", "state", "idle"],
    }
    for width, header in steps.items():
        text = _draw(width)
        assert _header(text) == header, width
        assert max(len(line) for line in text.splitlines()) <= width
        assert f"SCHOOL\\{LONG_USER}" in text and LONG_HOST in text and "…" not in text
        assert ("│ disc " in text) == (width == 78)


def test_too_narrow_for_the_names_prints_them_whole_rather_than_cut() -> None:
    text = _draw(60)
    assert max(len(line) for line in text.splitlines()) > 60  # wider than the screen, nothing cut
    assert f"SCHOOL\\{LONG_USER}" in text and LONG_HOST in text and "…" not in text


def test_off_a_terminal_every_column_in_full() -> None:
    text = _draw(40, terminal=False)
    assert "logon" in _header(text) and "12/31/2025 11:59 PM" in text and "disconnected" in text


def test_fit_drops_highest_rank_first() -> None:
    columns = [Column("a"), Column("b", drop=1), Column("c", drop=2)]
    rows = [["x" * 10, "y" * 10, "z" * 10]]
    assert fit(columns, rows, 200).shown == [0, 1, 2]
    assert fit(columns, rows, 30).shown == [0, 1]
    assert fit(columns, rows, 15).shown == [0]
    assert fit(columns, rows, None).shown == [0, 1, 2]
    assert [c[0] for c in SESSION_COLUMNS] == ["host", "id", "user", "session", "state", "idle", "logon"]
