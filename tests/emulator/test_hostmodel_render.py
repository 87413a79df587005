"""quser/qwinsta text of the emulated host: exact columns in every locale, and the project's
parser reading it back (a disagreement is a bug on one side)."""

from __future__ import annotations

from datetime import datetime

import pytest

from mpremote.lab.labfile import SessionSpec, generate_lab
from mpremote.lab.locales import (
    ABSURD_IDLE,
    LOCALES,
    format_idle,
    format_logon,
    get_locale,
    layout_row,
    mangle_oem,
    render_quser,
    render_qwinsta,
)
from mpremote.quser import parse_quser

LOGON = datetime(2018, 7, 26, 19, 29)
SESSIONS = (
    SessionSpec("administrator", 2, "active", "rdp-tcp#0", idle_seconds=0, logon=LOGON),
    SessionSpec("ana", 3, "disconnected", None, idle_seconds=62 * 60, logon=LOGON),
    SessionSpec("maría josé", 117, "active", "rdp-tcp#12", idle_seconds=5 * 60, logon=LOGON),
    SessionSpec("van der Berg", 4, "disconnected", None, idle_seconds=None, logon=LOGON),
    SessionSpec(None, 65536, "listen", "rdp-tcp", is_listener=True),
)


def _columns(line: str, fields: list[str]) -> list[int]:
    """Where each field starts, searching left to right (fields are known to be in order)."""
    out, pos = [], 0
    for f in fields:
        pos = line.index(f, pos)
        out.append(pos)
        pos += len(f)
    return out


@pytest.mark.parametrize("code", sorted(LOCALES))
def test_quser_columns_exact_in_every_locale(code: str) -> None:
    loc = get_locale(code)
    lines = render_quser(SESSIONS, loc)
    header = lines[0]
    h = loc.quser_header
    starts = _columns(header, list(h))
    assert starts[0] == 1 and starts[1] == 23 and starts[3] == 46 and starts[5] == 65
    assert starts[2] + len(h[2]) - 1 == 43 and starts[4] + len(h[4]) - 1 == 62
    rows = {int(line[23:44].split()[-1]): line for line in lines[1:]}
    assert sorted(rows) == [2, 3, 4, 117]  # the listener has no user: quser leaves it out
    for sid, line in rows.items():
        s = next(x for x in SESSIONS if x.id == sid)
        assert line[0] == " " and line[1:].startswith(s.username)
        if s.session_name:
            assert line[23:].startswith(s.session_name)
        else:
            assert line[23:39].strip() == ""  # blank SESSIONNAME column
        assert line[43] == str(sid)[-1] and line[43 - len(str(sid))] == " "
        assert line[46:].startswith(loc.state_word(s.state))
        idle = format_idle(s.idle_seconds, loc, active=s.state == "active")
        assert line[62] == idle[-1] and line[:63].endswith(" " + idle)
        assert line[65:] == format_logon(LOGON, code)


def test_quser_english_matches_design_example() -> None:
    lines = render_quser(SESSIONS[:2], get_locale("en-US"), current_id=2)
    assert lines == [
        " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME",
        ">administrator         rdp-tcp#0           2  Active          .  7/26/2018 7:29 PM",
        " ana                                       3  Disc         1:02  7/26/2018 7:29 PM",
    ]


def test_long_names_push_later_columns_with_one_space() -> None:
    long = SessionSpec("a-very-long-user-name-xx", 7, "active", "rdp-tcp#1234567890123", logon=LOGON)
    line = render_quser([long], get_locale("en-US"))[1]
    assert line.startswith(" a-very-long-user-name-xx rdp-tcp#1234567890123 ")
    assert line.split()[:4] == ["a-very-long-user-name-xx", "rdp-tcp#1234567890123", "7", "Active"]


def test_layout_row_right_aligned_ids_reach_left() -> None:
    row = layout_row(
        " ", ["u", "", "65536", "Listen", "", ""], ((1, "l"), (23, "l"), (43, "r"), (46, "l"), (62, "r"), (65, "l"))
    )
    assert row.index("65536") == 39


@pytest.mark.parametrize(
    ("seconds", "active", "text"),
    [
        (0, True, "."),
        (59, False, "none"),
        (5 * 60, True, "5"),
        (62 * 60, True, "1:02"),
        ((2 * 1440 + 3 * 60 + 4) * 60, False, "2+03:04"),
        (None, True, ABSURD_IDLE),
    ],
)
def test_idle_formats(seconds: int | None, active: bool, text: str) -> None:
    assert format_idle(seconds, get_locale("en-US"), active=active) == text


def test_idle_none_word_is_localised() -> None:
    words = {c: format_idle(0, get_locale(c), active=False) for c in LOCALES}
    assert words == {"en-US": "none", "es-ES": "ninguno", "de-DE": "Kein", "fr-FR": "aucun"}


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("en-US", "7/26/2018 7:29 PM"),
        ("es-ES", "26/07/2018 19:29"),
        ("de-DE", "26.07.2018 19:29"),
        ("fr-FR", "26/07/2018 19:29"),
        ("dd-MMM-yy", "26-Jul-18 19:29"),
    ],
)
def test_logon_formats(code: str, text: str) -> None:
    assert format_logon(LOGON, code) == text
    assert format_logon(datetime(2025, 7, 25, 7, 46), "es-ES") == "25/07/2025 7:46"
    assert format_logon(datetime(2025, 7, 25, 7, 46), "fr-FR") == "25/07/2025 07:46"


def test_oem_mangling_keeps_columns() -> None:
    loc = get_locale("es-ES")
    plain, mangled = render_quser(SESSIONS, loc)[0], render_quser(SESSIONS, loc, mangle_header=True)[0]
    assert "SESI\ufffdN" in mangled and len(mangled) == len(plain)
    assert mangle_oem("ÉTAT") == "\ufffdTAT"


def test_qwinsta_lists_every_session_and_marks_services() -> None:
    lab = generate_lab(1, 4, seed=3)
    lines = render_qwinsta(lab.hosts[0].sessions, get_locale("en-US"))
    assert lines[1].startswith(">services") and lines[1][45] == "0"
    assert lines[-1].startswith(" rdp-tcp ") and lines[-1].rstrip().endswith("65536  Listen")
    assert len(lines) == 1 + len(lab.hosts[0].sessions)


@pytest.mark.parametrize("code", sorted(LOCALES))
def test_parse_quser_round_trips_generated_sessions(code: str) -> None:
    lab = generate_lab(3, 12, seed=11, locale=code)
    for host in lab.hosts:
        users = sorted((s for s in host.sessions if s.username), key=lambda s: s.id)
        text = "\n".join(render_quser(host.sessions, get_locale(code), mangle_header=True))
        parsed = parse_quser(text)
        assert [(p.id, p.username, p.session_name, p.state) for p in parsed] == [
            (s.id, s.username, s.session_name, s.state) for s in users
        ]
        for p, s in zip(parsed, users, strict=True):
            assert p.idle_seconds == (None if s.idle_seconds is None else s.idle_seconds // 60 * 60)
            assert p.logon_text == format_logon(s.logon, code)
            assert p.current is False


def test_parse_quser_reads_pushed_columns() -> None:
    ss = [
        SessionSpec("a-very-long-user-name-xx", 7, "active", "rdp-tcp#12", logon=LOGON),
        SessionSpec("exactly-twenty-chars", 8, "disconnected", None, logon=LOGON, idle_seconds=None),
        SessionSpec("bob", 65535, "active", "rdp-tcp#1234567890", logon=LOGON),
    ]
    parsed = parse_quser("\n".join(render_quser(ss, get_locale("fr-FR"))))
    assert [(p.username, p.session_name, p.id) for p in parsed] == [(s.username, s.session_name, s.id) for s in ss]
