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
from mpremote.quser_lang import mangle_oem_as_ansi

EN = """\
 USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME
>administrator         rdp-tcp#0           2  Active          .  7/26/2018 7:29 PM
 ana                                       3  Disc         1:02  7/26/2018 8:01 PM
 Ana Maria             rdp-tcp#12        105  Active          5  7/26/2018 8:03 PM
 bo                                     1234  Disc      2+03:04  7/25/2018 4:15 PM
 ghost                                     7  Disc  24692+13:29  7/25/2018 4:15 PM
"""

# Built on the real Spanish, German and French header lines and the captured rules (none word
# at column 58 then three spaces; "." otherwise; names lower-cased); rows are our own.
ES = """\
 NOMBRE USUARIO        NOMBRE SESIÓN      ID. ESTADO  TIEMPO IN. TIEMPO SESIÓN
>administrador         console             1  Activo      ninguno   25/07/2018 7:46
 josé                  rdp-tcp#3           4  Activo         12  25/07/2018 8:02
 maría del mar                             5  Desc         3:15  25/07/2018 8:10
"""

DE = """\
 BENUTZERNAME          SITZUNGSNAME       ID  STATUS  LEERLAUF   ANMELDEZEIT
 jürgen                rdp-tcp#1           2  Aktiv       Kein   28.04.2025 12:03
 anna                                      3  Getr.     1+02:03  27.04.2025 08:15
"""

FR = """\
 UTILISATEUR           SESSION            ID  ÉTAT    TEMPS INACT TEMPS SESSION
>olivier               console             1  Actif       aucun   12/02/2023 07:11
 hélène                                    6  Déco           47  12/02/2023 09:30
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


def test_french_sample_with_the_none_word_moving_the_logon_time() -> None:
    assert _rows(FR) == [
        ("olivier", "console", 1, "active", timedelta(0), "12/02/2023 07:11", True),
        ("hélène", None, 6, "disconnected", timedelta(minutes=47), "12/02/2023 09:30", False),
    ]


@pytest.mark.parametrize(
    "header",
    [
        " NOMBRE USUARIO       NOMBRE SESION       ID  ESTADO  TIEMPO IN. TIEMPO SESION",  # not in the table
        " UTILISATEUR           SESSION            ID  TAT     TEMPS INACT TEMPS SESSION",  # É dropped, shifted
        " ????????????          ?????????????      ??  ??????  ??????????  ??????????????",  # Cyrillic lost
        " NOMBRE USUARIO        NOMBRE SESI\ufffdN      ID. ESTADO  TIEMPO IN. TIEMPO SESI\ufffdN",  # read as UTF-8
    ],
)
def test_unknown_or_damaged_headers_are_accepted_by_shape(header: str) -> None:
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
        EN.replace("Active          .", "Xctive          ."),  # unknown state word
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
    bad = EN.replace("Active          .", "Xctive          .")
    with pytest.raises(QuserParseError) as info:
        parse_quser(bad)
    assert info.value.line_no == 2
    assert "line 2" in str(info.value) and "Xctive" in str(info.value)


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
        ("Actif", "active"), ("Déco", "disconnected"), ("DÉCO", "disconnected"), ("Abhör.", "listening"),
        ("Escuchar", "listening"), ("Attivo", "active"),
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


# --- code-page damage: OEM cp850 bytes decoded as cp1252 (what Windows PowerShell remoting does)


def _as_remoting_reads_it(text: str, oem: int = 850) -> str:
    """The real transformation: the host prints OEM bytes, the reader decodes them as cp1252."""
    return mangle_oem_as_ansi(text, oem)


@pytest.mark.parametrize("sample", [ES, DE, FR])
def test_text_read_through_the_wrong_code_page_is_repaired(sample: str) -> None:
    damaged = _as_remoting_reads_it(sample)
    assert damaged != sample
    assert parse_quser(damaged) == parse_quser(sample)


def test_spanish_damage_as_seen_in_real_output() -> None:
    damaged = _as_remoting_reads_it(ES)
    assert "NOMBRE SESIàN" in damaged and "mar¡a del mar" in damaged and "jos‚" in damaged
    assert [s.username for s in parse_quser(damaged)] == ["administrador", "josé", "maría del mar"]


def test_french_header_carries_a_c1_control_and_is_still_repaired() -> None:
    damaged = _as_remoting_reads_it(FR)
    assert "\x90TAT" in damaged and "D\u201aco" in damaged
    assert [(s.username, s.state) for s in parse_quser(damaged)] == [
        ("olivier", "active"),
        ("hélène", "disconnected"),
    ]


def test_ascii_header_damage_is_found_from_the_names() -> None:
    # German and English quser headers are pure ASCII: the evidence is in the rows (ü -> U+0081,
    # ä -> „). The host's OEM code page, when known, is used for the repair.
    damaged = _as_remoting_reads_it(DE)
    assert "j\x81rgen" in damaged
    assert parse_quser(damaged)[0].username == "jürgen"
    damaged = _as_remoting_reads_it(DE.replace("jürgen", "jägern"))
    assert "j\u201egern" in damaged and not any(0x80 <= ord(c) <= 0x9F for c in damaged)
    assert parse_quser(damaged)[0].username == "jägern"
    en = EN.replace("ana   ", "maría ", 1)
    assert parse_quser(mangle_oem_as_ansi(en, 437), oem_codepage=437)[1].username == "maría"


def test_correct_text_is_left_alone() -> None:
    # á, ñ, é are letters: nothing says the text is damaged, so it is not "repaired".
    text = EN.replace("ana   ", "peñá  ", 1)
    assert parse_quser(text)[1].username == "peñá"
    # A no-break space inside the logon time (AM/PM designators of some cultures) is not evidence.
    assert parse_quser(EN.replace("7:29 PM", "7:29\u00a0p.\u00a0m."))[0].logon_text == "7/26/2018 7:29\u00a0p.\u00a0m."


def test_c1_control_in_text_whose_header_is_intact_is_refused() -> None:
    with pytest.raises(QuserParseError, match="C1"):
        parse_quser(ES.replace("josé", "jos\x82"))


def test_name_lost_to_the_code_page_is_refused_not_guessed() -> None:
    # OEM read as UTF-8 loses every non-ASCII byte (U+FFFD); Windows prints "?" for a character
    # the OEM code page lacks. Neither name can be matched with certainty.
    for lost in ("j\ufffdrgen", "j?rgen"):
        with pytest.raises(QuserParseError, match="code page"):
            parse_quser(DE.replace("jürgen", lost))


def test_repair_that_gives_symbols_is_refused() -> None:
    # Evidence of damage (the „), but another character repairs into a box-drawing symbol: the
    # text is not cleanly OEM-read-as-ANSI, so nothing is trusted.
    with pytest.raises(QuserParseError, match="uncertain"):
        parse_quser(DE.replace("jürgen", "j\u201eger\u00b3x"))


def test_qwinsta_german_listener_word_and_header_damage() -> None:
    text = (
        " SITZUNGSNAME      BENUTZERNAME             ID  STATUS  TYP         GERÄT\n"
        " services                                    0  Getr.\n"
        " console           Jürgen                    3  Aktiv\n"
        " rdp-tcp                                 65536  Abhör.\n"
    )
    for variant in (text, _as_remoting_reads_it(text)):
        got = [(s.username, s.id, s.state) for s in parse_qwinsta(variant)]
        assert got == [("", 0, "disconnected"), ("Jürgen", 3, "active"), ("", 65536, "listening")]


def test_free_text_repair_only_when_damaged() -> None:
    from mpremote.quser_lang import repair_if_damaged

    assert repair_if_damaged("Erreur [5]:AccŠs refus‚.", 850) == "Erreur [5]:Accès refusé."
    assert repair_if_damaged("Fehler [5]:Zugriff verweigert f\x81r", None) == "Fehler [5]:Zugriff verweigert für"
    for intact in ("Error [5]:Acceso denegado.", "Accès refusé.", "plain ascii"):
        assert repair_if_damaged(intact, 850) == intact
