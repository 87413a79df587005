"""The live view's model, keys and drawing, without a terminal."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from datetime import timedelta

from rich.console import Console

from mpremote.results import ErrorInfo, HostResult, HostStatus
from mpremote.session import Session
from mpremote.watch.changes import Change
from mpremote.watch.engine import HostRow
from mpremote.watch.model import ViewModel
from mpremote.watch.render import human_seconds, render
from mpremote.watch.view import handle_key, parse_keys

NOW = _dt.datetime(2026, 1, 5, 9, 0, tzinfo=_dt.UTC)


def sess(sid: int, user: str, state: str = "active", idle: int = 0) -> Session:
    return Session(user, None, sid, state, timedelta(seconds=idle), "1/5/2026 8:00 AM")


def row(
    host: str, sessions: list[Session], k: int = 1, changes: list[Change] | None = None, ok: bool = True
) -> HostRow:
    if ok:
        result = HostResult(host, "127.0.0.1", HostStatus.OK, sessions=sessions)
    else:
        result = HostResult(host, "127.0.0.1", HostStatus.UNREACHABLE, ErrorInfo("connect", "connection refused"))
    return HostRow(k, result, sessions if ok else [], changes or [], NOW)


def model() -> ViewModel:
    m = ViewModel(["mp-1", "mp-2", "mp-3"], 10)
    m.apply(row("mp-1", [sess(2, "ana", idle=60), sess(3, "bo", "disconnected", idle=7200)]))
    m.apply(row("mp-2", [sess(5, "cy", idle=30), sess(6, "anatole")]))
    m.apply(row("mp-3", [], ok=False))
    return m


def shown(m: ViewModel) -> list[str]:
    return [ln.host.name if ln.session is None else f"  {ln.session.username}" for ln in m.lines()]


def test_filter_by_user_shows_matching_sessions_by_host_shows_the_host() -> None:
    m = model()
    m.filter = "ana"
    assert shown(m) == ["mp-1", "  ana", "mp-2", "  anatole"]
    m.filter = "MP-2"
    assert shown(m) == ["mp-2"]
    m.filter = "nobody"
    assert shown(m) == []


def test_sort_by_idle_puts_the_longest_idle_first() -> None:
    m = model()
    m.cycle_sort()
    assert m.sort == "idle"
    assert [ln.host.name for ln in m.lines()] == ["mp-1", "mp-2", "mp-3"]
    m.apply(row("mp-2", [sess(5, "cy", idle=99999)], k=2))
    assert [ln.host.name for ln in m.lines()] == ["mp-2", "mp-1", "mp-3"]


def test_expand_select_and_targets() -> None:
    m = model()
    assert m.targets() == []  # the cursor is on a host: nothing to act on yet
    m.toggle_expand()
    m.move(1)
    m.toggle_select()
    m.move(1)
    m.toggle_select()
    assert m.targets() == [("mp-1", 2, "ana"), ("mp-1", 3, "bo")]
    # bo logs off: the selection forgets him, so an action never names a session that left
    m.apply(row("mp-1", [sess(2, "ana")], k=2, changes=[Change("logoff", 3, "bo")]))
    assert m.targets() == [("mp-1", 2, "ana")]
    assert m.recent_changes(5)[0].change == Change("logoff", 3, "bo")


def test_keys_parse_and_drive_the_model() -> None:
    assert parse_keys("\x1b[A\x1b[Bq/ab\r\x7f\x1b") == ["up", "down", "q", "/", "a", "b", "enter", "backspace", "esc"]

    class Refresher:
        class wake:
            set_called = False

            @classmethod
            def set(cls) -> None:
                cls.set_called = True

    m = model()
    for key in ["/", "c", "y", "enter"]:
        assert handle_key(m, Refresher(), key, ("logoff",)) is None  # type: ignore[arg-type]
    assert m.filter == "cy" and m.input_mode is None
    assert handle_key(m, Refresher(), "r", ()) is None  # type: ignore[arg-type]
    assert Refresher.wake.set_called
    assert handle_key(m, Refresher(), "L", ("logoff",)) is None  # type: ignore[arg-type]
    assert "select sessions first" in m.status_message
    m.move(1)
    assert handle_key(m, Refresher(), "L", ("logoff",)) == "logoff"  # type: ignore[arg-type]
    assert handle_key(m, Refresher(), "K", ("logoff",)) is None  # type: ignore[arg-type]
    assert "not available" in m.status_message
    assert handle_key(m, Refresher(), "q", ()) == "quit"  # type: ignore[arg-type]


def test_render_shows_every_host_its_counts_errors_and_changes() -> None:
    m = model()
    m.apply(row("mp-2", [sess(5, "cy", idle=30), sess(7, "dee")], k=2, changes=[Change("logon", 7, "dee")]))
    m.refresh_no = 2
    console = Console(width=160, record=True, color_system=None)
    console.print(render(m, height=30, width=160, now=NOW + timedelta(seconds=3)))
    text = console.export_text()
    assert "3 hosts: 2 ok, 1 unreachable" in text
    assert "mp-3  unreachable (connect)" in text and "connection refused" in text
    assert "+dee(7)" in text and "logon dee (7)" in text
    assert "idle max   2h00m" in text
    assert "3s ago" in text


def test_human_seconds() -> None:
    assert [human_seconds(x) for x in (None, 5, 95, 7500, 200000)] == ["?", "5s", "1m35s", "2h05m", "2d07h"]


# -- fitting the terminal: names are never cut while anything else can give way ----------

LONG_DOMAIN = "CONTOSO-EDUCATION-NORTH-CAMPUS"  # 51 cells with a 20-letter user name
HUGE = "x" * 70 + ".end-of-a-name-wider-than-the-terminal"


def long_names_model() -> ViewModel:
    m = ViewModel(["mp-lab-001", "mp-lab-002", "mp-lab-003"], 10)
    long_user = Session("maximiliano.fernande", "rdp-tcp#7", 4, "disconnected", timedelta(hours=2), "1/5/2026 7:02 AM")
    long_user = dataclasses.replace(long_user, domain=LONG_DOMAIN)
    m.apply(row("mp-lab-001", [sess(2, "ana", idle=60), long_user]))
    m.apply(row("mp-lab-002", [sess(5, HUGE, idle=30), sess(6, "bo")], changes=[Change("logon", 5, HUGE)]))
    m.apply(row("mp-lab-003", [], ok=False))
    m.refresh_no = 1
    m.toggle_expand_all()
    return m


def screen_at(m: ViewModel, width: int, height: int = 30) -> list[str]:
    console = Console(width=width, height=height, record=True, color_system=None)
    console.print(render(m, height=height, width=width, now=NOW + timedelta(seconds=3)))
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_rows_fit_80_columns_and_names_are_never_cut_while_other_columns_can_give_way() -> None:
    from rich.cells import cell_len

    lines = screen_at(long_names_model(), 80)
    assert len(lines) <= 30 and all(cell_len(line) <= 80 for line in lines)
    text = "\n".join(lines)
    for host in ("mp-lab-001", "mp-lab-002", "mp-lab-003"):
        assert re.search(rf"^[> ] - {host} ", text, re.M), host
    # 51 cells of DOMAIN\user: the state and idle columns went, the name stayed whole.
    row_long = next(line for line in lines if "maximiliano" in line)
    assert f"{LONG_DOMAIN}\\maximiliano.fernande" in row_long
    assert "disconnected" not in row_long and "rdp-tcp#7" not in row_long
    # every session line drops the same columns, so they stay aligned
    assert not any(re.search(r"\[ \]\s+\d+\s+ana\s+active", line) for line in lines)


def test_a_name_wider_than_the_terminal_is_shortened_on_its_row_and_whole_in_the_detail_line() -> None:
    m = long_names_model()
    while (cur := m.current()) is None or cur.session is None or cur.session.username != HUGE:
        m.move(1)
    lines = screen_at(m, 80)
    row_huge = next(line for line in lines if line.startswith(">"))
    assert row_huge.endswith("…") and HUGE not in row_huge
    detail = lines.index("  mp-lab-002  id 5")  # the detail line, folded at the edge
    assert HUGE in "".join(lines[detail + 1 : detail + 3])
    # the recent change keeps the whole name too (refresh number and time give way first)
    assert any(line.startswith("  mp-lab-002  logon xxx") for line in lines)


def test_at_200_columns_nothing_gives_way() -> None:
    text = "\n".join(screen_at(long_names_model(), 200))
    long_row = rf"{LONG_DOMAIN}\\maximiliano\.fernande +disconnected idle   2h00m  rdp-tcp#7 +1/5/2026 7:02 AM"
    assert re.search(long_row, text)
    assert "last full refresh -" in text and "idle max   2h00m" in text


def test_watch_screen_at_80_columns_snapshot() -> None:
    from tests.e2e.cli.test_screens import check_snapshot

    check_snapshot("watch-80", "\n".join(screen_at(long_names_model(), 80, height=24)) + "\n")
