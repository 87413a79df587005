"""quser parsing: real-looking output in en/es/de/fr and the layouts that break naive parsers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mpremote.errors import ParseError
from mpremote.quser import (
    QuserParseError,
    is_no_sessions,
    parse_idle,
    parse_quser,
    parse_qwinsta,
    parse_state,
)

EN = """\
 USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME
>administrator         rdp-tcp#0           2  Active          .  7/26/2018 7:29 PM
 ana                                       3  Disc         1:02  7/26/2018 8:01 PM
 Ana Maria             rdp-tcp#12        105  Active          5  7/26/2018 8:03 PM
 bo                                     1234  Disc      2+03:04  7/25/2018 4:15 PM
 ghost                                     7  Disc  24692+13:29  7/25/2018 4:15 PM
"""

ES = """\
 NOMBRE USUARIO        NOMBRE SESIÓN     ID.  ESTADO TIEMPO IN.  TIEMPO SESIÓN
>administrador         console             1  Activo    ninguno  25/07/2018 7:46
 josé                  rdp-tcp#3           4  Activo         12  25/07/2018 8:02
 maría del mar                             5  Desc         3:15  25/07/2018 8:10
"""

DE = """\
 BENUTZERNAME          SITZUNGSNAME       ID  STATUS   LEERLAUF  ANMELDEZEIT
 jürgen                rdp-tcp#1           2  Aktiv        Kein  28.04.2025 12:03
 anna                                      3  Getr.     1+02:03  27.04.2025 08:15
"""

# French as seen on a real host: LOGON TIME starts at 66, not 65, and the titles shift.
FR = """\
 UTILISATEUR           SESSION            ID  ÉTAT    TEMPS INACT TEMPS SESSION
>olivier               console             1  Actif       aucun   12/02/2023 07:11
 hélène                                    6  Déco           47   12/02/2023 09:30
"""


def _rows(text: str) -> list[tuple[object, ...]]:
    return [(s.username, s.session_name, s.id, s.state, s.idle, s.logon_text, s.current) for s in parse_quser(text)]


def test_english_sample_every_field() -> None:
    assert _rows(EN) == [
        ("administrator", "rdp-tcp#0", 2, "active", timedelta(0), "7/26/2018 7:29 PM", True),
        ("ana", None, 3, "disconnected", timedelta(hours=1, minutes=2), "7/26/2018 8:01 PM", False),
        ("Ana Maria", "rdp-tcp#12", 105, "active", timedelta(minutes=5), "7/26/2018 8:03 PM", False),
        ("bo", None, 1234, "disconnected", timedelta(days=2, hours=3, minutes=4), "7/25/2018 4:15 PM", False),
        ("ghost", None, 7, "disconnected", None, "7/25/2018 4:15 PM", False),
    ]
    assert all(s.domain is None for s in parse_quser(EN))


def test_spanish_sample() -> None:
    assert _rows(ES) == [
        ("administrador", "console", 1, "active", timedelta(0), "25/07/2018 7:46", True),
        ("josé", "rdp-tcp#3", 4, "active", timedelta(minutes=12), "25/07/2018 8:02", False),
        ("maría del mar", None, 5, "disconnected", timedelta(hours=3, minutes=15), "25/07/2018 8:10", False),
    ]


def test_german_sample() -> None:
    assert _rows(DE) == [
        ("jürgen", "rdp-tcp#1", 2, "active", timedelta(0), "28.04.2025 12:03", False),
        ("anna", None, 3, "disconnected", timedelta(days=1, hours=2, minutes=3), "27.04.2025 08:15", False),
    ]


def test_french_sample_with_shifted_logon_column() -> None:
    assert _rows(FR) == [
        ("olivier", "console", 1, "active", timedelta(0), "12/02/2023 07:11", True),
        ("hélène", None, 6, "disconnected", timedelta(minutes=47), "12/02/2023 09:30", False),
    ]


@pytest.mark.parametrize(
    "header",
    [
        " NOMBRE USUARIO        NOMBRE SESI\u00a2N     ID.  ESTADO TIEMPO IN.  TIEMPO SESI\u00a2N",  # cp850 as 1252
        " UTILISATEUR           SESSION            ID  TAT     TEMPS INACT TEMPS SESSION",  # É dropped
        " ????????????          ?????????????      ??  ??????  ??????????  ??????????????",  # Cyrillic lost
        " NOMBRE USUARIO        NOMBRE SESI\ufffdN     ID.  ESTADO TIEMPO IN.  TIEMPO SESI\ufffdN",
    ],
)
def test_mangled_or_unknown_language_headers_are_accepted_by_shape(header: str) -> None:
    body = ES.splitlines()[1:]
    assert len(parse_quser("\n".join([header, *body]))) == 3


def test_mangled_state_words_are_recognised() -> None:
    assert parse_state("D\u201aco") == "disconnected"  # Déco, cp850 bytes shown as cp1252
    assert parse_state("D?co") == "disconnected"
    assert parse_state("Abh\u00f7ren") == "listening"  # Abhören, the classic German mangling
    with pytest.raises(QuserParseError):
        parse_state("X\u201aco")  # ASCII letters must still agree


def test_crlf_trailing_blanks_leading_blank_lines_and_bom() -> None:
    crlf = "\ufeff\r\n  \r\n" + "\r\n".join(line + "   " for line in EN.splitlines()) + "\r\n\r\n"
    assert parse_quser(crlf) == parse_quser(EN)


def test_header_only_is_no_sessions_and_empty_text_is_an_error() -> None:
    assert parse_quser(EN.splitlines()[0] + "\n") == []
    for empty in ("", "   \n\r\n"):
        with pytest.raises(QuserParseError, match="empty"):
            parse_quser(empty)


def test_long_user_name_pushes_the_row_right() -> None:
    header = EN.splitlines()[0]
    text = f"""{header}
 a.very.long.user.name.x  rdp-tcp#9           8  Active          3  18-Nov-22 09:35
 firstname.lastname@school.org                  9  Disc            4  18-Nov-22 09:36
 another.long.name.in.lab rdp-tcp#10         10  Active          .  18-Nov-22 09:37
 yet.another.long.name.x                   11  Disc            .  18-Nov-22 09:38
"""
    assert _rows(text) == [
        ("a.very.long.user.name.x", "rdp-tcp#9", 8, "active", timedelta(minutes=3), "18-Nov-22 09:35", False),
        ("firstname.lastname@school.org", None, 9, "disconnected", timedelta(minutes=4), "18-Nov-22 09:36", False),
        # collision-only layout (one space after a long name, ids kept at column 43)
        ("another.long.name.in.lab", "rdp-tcp#10", 10, "active", timedelta(0), "18-Nov-22 09:37", False),
        ("yet.another.long.name.x", None, 11, "disconnected", timedelta(0), "18-Nov-22 09:38", False),
    ]


def test_long_user_name_with_spaces_is_refused_not_guessed() -> None:
    # Over 20 characters "another very long name x" could be a name, or a name plus a session
    # name "x": SAM names are at most 20 characters, so such a row is refused.
    header = EN.splitlines()[0]
    with pytest.raises(QuserParseError):
        parse_quser(f"{header}\n another very long name x                      9  Disc            4  18-Nov-22 09:36\n")


def test_row_pushed_further_than_anything_in_it_explains_is_refused() -> None:
    # "ana" cannot push the id from column 43 to 47; such a row is not from quser.
    header = EN.splitlines()[0]
    with pytest.raises(QuserParseError, match="do not fit"):
        parse_quser(f"{header}\n ana                                           9  Disc            4  18-Nov-22 09:36\n")


def test_user_names_with_digits_and_state_words_do_not_fool_the_anchor() -> None:
    header = EN.splitlines()[0]
    text = f"{header}\n lab 3 Active 5 x      rdp-tcp#4           4  Disc            .  7/26/2018 7:29 PM\n"
    assert _rows(text)[0][:4] == ("lab 3 Active 5 x", "rdp-tcp#4", 4, "disconnected")


def test_domain_prefixed_name_fills_domain() -> None:
    header = EN.splitlines()[0]
    (s,) = parse_quser(
        f"{header}\n school\\ana            rdp-tcp#1           3  Active          .  1/1/2025 8:00 AM\n"
    )
    assert (s.domain, s.username) == ("school", "ana")


@pytest.mark.parametrize(
    "text",
    [
        "The quick brown fox jumps over the lazy dog.\nIt was not quser output at all.",
        "No User exists for *",
        "Error 1722 getting sessionnames\nError [1722]:The RPC server is unavailable.",
        "<html><head><title>500 Internal Server Error</title></head><body>oops</body></html>",
        '{"sessions": [{"username": "ana", "id": 3}]}',
        " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME\nana 3 Disc 1:02 7/26/2018",
        EN + " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME\n",  # header twice
        EN.replace("Active          .", "Attivo          ."),  # unknown state word
        EN.replace("1:02", "1:75"),  # impossible idle
        EN.replace("  3  Disc", "  2  Disc"),  # duplicate id
        EN.replace(" ana   ", ">ana   "),  # two '>' markers
        EN.replace(" ana   ", "*ana   "),  # column 0 not '>' or space
        EN.replace("rdp-tcp#12 ", "rdp tcp#12 "),  # session name with a space: no consistent reading
        EN.replace(" bo   ", " bo\t  "),  # a tab inside a row
        " " + "x" * 80,  # digit-free, but no title columns
    ],
)
def test_not_quser_output_raises(text: str) -> None:
    with pytest.raises(QuserParseError) as info:
        parse_quser(text)
    assert isinstance(info.value, ParseError) and info.value.kind == "parse"


def test_error_names_the_line_and_the_problem() -> None:
    bad = EN.replace("Active          .", "Attivo          .")
    with pytest.raises(QuserParseError) as info:
        parse_quser(bad)
    assert info.value.line_no == 2
    assert "line 2" in str(info.value) and "Attivo" in str(info.value)


def test_session_name_touching_a_pushed_id_is_refused_not_guessed() -> None:
    header = EN.splitlines()[0]
    with pytest.raises(QuserParseError):
        parse_quser(f"{header}\n ana                   rdp-tcp#12345678901234  Active   .  7/26/2018 7:29 PM\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (".", timedelta(0)),
        ("none", timedelta(0)),
        ("Ninguno", timedelta(0)),
        ("Kein", timedelta(0)),
        ("aucun", timedelta(0)),
        ("5", timedelta(minutes=5)),
        ("1:02", timedelta(hours=1, minutes=2)),
        ("2+03:04", timedelta(days=2, hours=3, minutes=4)),
        ("365+23:59", timedelta(days=365, hours=23, minutes=59)),
        ("24692+13:29", None),
        ("400+00:00", None),
    ],
)
def test_parse_idle(text: str, expected: timedelta | None) -> None:
    assert parse_idle(text) == expected


@pytest.mark.parametrize("text", ["", "-", "abc", "1:2", "1:60", "2+5", "1.5", "5m"])
def test_parse_idle_rejects_non_idle_text(text: str) -> None:
    with pytest.raises(QuserParseError):
        parse_idle(text)


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("Active", "active"), ("Disc", "disconnected"), ("Conn", "connected"), ("Listen", "listening"),
        ("Activo", "active"), ("Desc", "disconnected"), ("Aktiv", "active"), ("Getr.", "disconnected"),
        ("Actif", "active"), ("Déco", "disconnected"), ("DÉCO", "disconnected"), ("Abhören", "listening"),
    ],
)  # fmt: skip
def test_parse_state_words(word: str, state: str) -> None:
    assert parse_state(word) == state


@pytest.mark.parametrize(
    ("stderr", "code", "expected"),
    [
        ("No User exists for *", 1, True),
        ("No User exists for ana", 1, True),
        ("No existe ningún usuario para *", 1, True),
        ("Kein Benutzer vorhanden für *", 1, True),
        ("Aucun utilisateur pour *", 1, True),
        ("No User exists for *", 0, False),
        ("Error [5]: Access is denied.", 1, False),
        ("Error 1722 getting sessionnames", 1, False),
        ("", 1, False),
    ],
)
def test_is_no_sessions(stderr: str, code: int, expected: bool) -> None:
    assert is_no_sessions(stderr, code) is expected


QWINSTA = """\
 SESSIONNAME       USERNAME                 ID  STATE   TYPE        DEVICE
 services                                    0  Disc
>console           Administrator             1  Active
 rdp-tcp#3         ana maria                 3  Active
                   bo                        4  Disc
 rdp-tcp                                 65536  Listen
"""


def test_parse_qwinsta() -> None:
    got = [(s.session_name, s.username, s.id, s.state, s.current) for s in parse_qwinsta(QWINSTA)]
    assert got == [
        ("services", "", 0, "disconnected", False),
        ("console", "Administrator", 1, "active", True),
        ("rdp-tcp#3", "ana maria", 3, "active", False),
        (None, "bo", 4, "disconnected", False),
        ("rdp-tcp", "", 65536, "listening", False),
    ]
    with pytest.raises(QuserParseError):
        parse_qwinsta("garbage\n")
