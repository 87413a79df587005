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
    read_native,
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
    assert lines[0] == loc.quser_header  # a whole translated line, as real hosts print it
    rows = {int(line[23:44].split()[-1]): line for line in lines[1:]}
    assert sorted(rows) == [2, 3, 4, 117]  # the listener has no user: quser leaves it out
    for sid, line in rows.items():
        s = next(x for x in SESSIONS if x.id == sid)
        assert line[0] == " " and line[1:].startswith((s.username or "").lower())
        if s.session_name:
            assert line[23:].startswith(s.session_name)
        else:
            assert line[23:39].strip() == ""  # blank SESSIONNAME column
        assert line[43] == str(sid)[-1] and line[43 - len(str(sid))] == " "
        assert line[46:].startswith(loc.state_word(s.state))
        idle = format_idle(s.idle_seconds, loc)
        if len(idle) <= 9:
            assert line[62] == idle[-1] and line[:63].endswith(" " + idle) and line[65:] == format_logon(LOGON, code)
        else:  # overlong idle (the 24692+13:29 glitch) starts at 54 and pushes the logon time
            assert line[54:].startswith(idle + "  " + format_logon(LOGON, code))


@pytest.mark.parametrize("code", sorted(LOCALES))
def test_none_word_starts_at_58_and_three_spaces_follow(code: str) -> None:
    loc = get_locale(code)
    console = SessionSpec("Jürgen", 1, "active", "console", idle_seconds=0, logon=LOGON, is_console=True)
    line = render_quser([console], loc)[1]
    assert line[58:] == loc.idle_none + "   " + format_logon(LOGON, code)
    assert line[1:7] == "jürgen"  # quser prints names lower-cased


def test_quser_english_matches_design_example() -> None:
    lines = render_quser(SESSIONS[:2], get_locale("en-US"), current_id=2)
    assert lines == [
        " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME",
        ">administrator         rdp-tcp#0           2  Active          .  7/26/2018 7:29 PM",
        " ana                                       3  Disc         1:02  7/26/2018 7:29 PM",
    ]


def test_names_are_cut_at_20_characters() -> None:
    long = SessionSpec("A-Very-Long-User-Name-Xx", 7, "active", "rdp-tcp#12", logon=LOGON)
    line = render_quser([long], get_locale("en-US"))[1]
    assert line.startswith(" a-very-long-user-nam  rdp-tcp#12 ")


def test_layout_row_right_aligned_ids_reach_left() -> None:
    row = layout_row(
        " ", ["u", "", "65536", "Listen", "", ""], ((1, "l"), (23, "l"), (43, "r"), (46, "l"), (62, "r"), (65, "l"))
    )
    assert row.index("65536") == 39


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "."),
        (59, "."),
        (5 * 60, "5"),
        (62 * 60, "1:02"),
        ((2 * 1440 + 3 * 60 + 4) * 60, "2+03:04"),
        (None, ABSURD_IDLE),
    ],
)
def test_idle_formats(seconds: int | None, text: str) -> None:
    assert format_idle(seconds, get_locale("en-US")) == text


def test_idle_none_word_is_localised() -> None:
    words = {c: get_locale(c).idle_none for c in LOCALES}
    assert words == {"en-US": "none", "es-ES": "ninguno", "de-DE": "Kein", "fr-FR": "aucun", "it-IT": "nessuno"}


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("en-US", "7/26/2018 7:29 PM"),
        ("es-ES", "26/07/2018 19:29"),
        ("de-DE", "26.07.2018 19:29"),
        ("fr-FR", "26/07/2018 19:29"),
        ("it-IT", "26/07/2018 19:29"),
        ("dd-MMM-yy", "26-Jul-18 19:29"),
    ],
)
def test_logon_formats(code: str, text: str) -> None:
    assert format_logon(LOGON, code) == text
    assert format_logon(datetime(2025, 7, 25, 7, 46), "es-ES") == "25/07/2025 7:46"
    assert format_logon(datetime(2025, 7, 25, 7, 46), "fr-FR") == "25/07/2025 07:46"


def test_native_text_read_the_wrong_way_keeps_columns() -> None:
    loc = get_locale("es-ES")
    plain = render_quser(SESSIONS, loc)
    ansi, utf8 = read_native(plain, loc, "ansi"), read_native(plain, loc, "utf8")
    assert "NOMBRE SESIàN" in ansi[0] and "mar¡a jos‚" in ansi[-1]
    assert "SESI\ufffdN" in utf8[0]
    assert [len(x) for x in ansi] == [len(x) for x in plain] == [len(x) for x in utf8]
    assert read_native(plain, loc, "oem") == plain
    assert read_native(["ÉTAT"], get_locale("fr-FR"), "ansi") == ["\x90TAT"]


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
        loc = get_locale(code)
        text = "\n".join(read_native(render_quser(host.sessions, loc), loc, "ansi"))
        parsed = parse_quser(text)
        assert [(p.id, p.username, p.session_name, p.state) for p in parsed] == [
            (s.id, (s.username or "").lower(), s.session_name, s.state) for s in users
        ]
        for p, s in zip(parsed, users, strict=True):
            assert p.idle_seconds == (None if s.idle_seconds is None else s.idle_seconds // 60 * 60)
            assert p.logon_text == format_logon(s.logon, code)
            assert p.current is False


def test_parse_quser_reads_full_width_columns() -> None:
    ss = [
        SessionSpec("exactly-twenty-chars", 8, "disconnected", None, logon=LOGON, idle_seconds=None),
        SessionSpec("bob", 65535, "active", "rdp-tcp#1234567890", logon=LOGON),
    ]
    parsed = parse_quser("\n".join(render_quser(ss, get_locale("fr-FR"))))
    assert [(p.username, p.session_name, p.id) for p in parsed] == [(s.username, s.session_name, s.id) for s in ss]


def test_every_locale_is_offered_by_lab_serve() -> None:
    from typer.testing import CliRunner

    from mpremote.cli import app as cli_module
    from mpremote.lab.server import LabOptions

    for code in LOCALES:
        LabOptions(locale=code).validate()  # one list of locales, the renderer's
    if not cli_module.app.registered_groups:
        cli_module._mount_subapps()
    res = CliRunner().invoke(cli_module.app, ["lab", "serve", "--locale", "pt-BR"])
    assert res.exit_code == 2 and "it-IT" in res.output
