"""Property tests: render sessions with the rules real captures show, parse them back.

The renderer here is written from tests/unit/data/captures (README and manifest), not from the
lab: the real header line of each language, user name from column 1 (lower-cased, at most
20 characters), session name from 23, id right-aligned ending at 43, state from 46, idle
right-aligned ending at 62 except the none word (from 58, then three spaces) and overlong
values (from 54, two spaces kept), logon time after that. Damage is the real one too: OEM
cp850/cp437 bytes decoded as cp1252.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpremote.quser import QuserParseError, parse_quser
from mpremote.quser_lang import KNOWN_HEADERS, mangle_oem_as_ansi

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEADERS = {h.language: h.line for h in KNOWN_HEADERS if h.command == "quser"}
# Real state words and none words per language (captures); Italian has no captured none word.
LANGS = {
    "en": ({"active": "Active", "disconnected": "Disc"}, "none", 437),
    "es": ({"active": "Activo", "disconnected": "Desc"}, "ninguno", 850),
    "de": ({"active": "Aktiv", "disconnected": "Getr."}, "Kein", 850),
    "fr": ({"active": "Actif"}, "aucun", 850),
    "it": ({"active": "Attivo", "disconnected": "Disc"}, None, 850),
}


@dataclass(frozen=True)
class Row:
    username: str
    session_name: str | None
    id: int
    state: str
    idle_text: str
    idle: timedelta | None
    logon: str
    current: bool


def render_row(marker: str, r: Row, state_word: str) -> str:
    line = (marker + r.username).ljust(23) + (r.session_name or "")
    line = line.ljust(43 - len(str(r.id)) + 1) + str(r.id)
    line = (line + "  " + state_word).ljust(54)
    if r.idle_text == r.idle_text.strip(".0123456789:+"):  # a none word
        return line + "    " + r.idle_text + "   " + r.logon
    return line + r.idle_text.rjust(9) + "  " + r.logon


def render(rows: list[Row], lang: str, mangle: bool) -> str:
    words, _, oem = LANGS[lang]
    lines = [HEADERS[lang]] + [render_row(">" if r.current else " ", r, words[r.state]) for r in rows]
    text = "\r\n".join(lines) + "\r\n"
    return mangle_oem_as_ansi(text, oem) if mangle else text


# Lower-case letters quser may print (it lower-cases names), accented ones included; no
# backslash (DOMAIN\). With an ASCII header (en, de) a damaged name is only recognisable by
# the characters it turns into, so DETECTABLE leaves out letters that become letters (ß -> á).
DETECTABLE = "abcdefghijklmnopqrstuvwxyz0123456789.-_'áéíóúñüäöçèàêâôûïëìòù"
names = st.text(st.sampled_from(DETECTABLE + " "), min_size=1, max_size=20).filter(
    lambda s: s == s.strip(" ") and "  " not in s
)
session_names = st.none() | st.builds(lambda n: f"rdp-tcp#{n}", st.integers(0, 99999)) | st.just("console")


@st.composite
def idles(draw: st.DrawFn, none_word: str | None) -> tuple[str, timedelta | None]:
    kind = draw(st.sampled_from(["dot", "none", "m", "hm", "dhm", "absurd"]))
    if kind == "dot" or (kind == "none" and none_word is None):
        return ".", timedelta(0)
    if kind == "none":
        return none_word or ".", timedelta(0)
    m, h, d = draw(st.integers(0, 59)), draw(st.integers(0, 23)), draw(st.integers(1, 365))
    if kind == "m":
        return str(max(m, 1)), timedelta(minutes=max(m, 1))
    if kind == "hm":
        return f"{h + 1}:{m:02d}", timedelta(hours=h + 1, minutes=m)
    if kind == "dhm":
        return f"{d}+{h:02d}:{m:02d}", timedelta(days=d, hours=h, minutes=m)
    return f"{draw(st.integers(367, 99999))}+{h:02d}:{m:02d}", None


# Date formats seen in the captures: en-US (also on es-EC), de-DE, fr-FR/it-IT.
LOGON_FORMATS = (
    lambda t: f"{t.month}/{t.day}/{t.year} {t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}",
    lambda t: t.strftime("%d.%m.%Y %H:%M"),
    lambda t: t.strftime("%d/%m/%Y %H:%M"),
)


@st.composite
def outputs(draw: st.DrawFn, mangle: bool | None = None) -> tuple[str, list[Row]]:
    lang = draw(st.sampled_from(sorted(LANGS)))
    words, none_word, _ = LANGS[lang]
    ids = draw(st.lists(st.integers(1, 9999), min_size=0, max_size=6, unique=True))
    current = draw(st.sampled_from([None, *range(len(ids))]))
    fmt = draw(st.sampled_from(LOGON_FORMATS))
    rows = []
    for i, ident in enumerate(sorted(ids)):
        state = draw(st.sampled_from(sorted(words)))
        idle_text, idle = draw(idles(none_word))
        logon = fmt(draw(st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1))))
        session = draw(session_names) if state == "active" else None
        rows.append(Row(draw(names), session, ident, state, idle_text, idle, logon, i == current))
    return render(rows, lang, draw(st.booleans()) if mangle is None else mangle), rows


def as_tuples(rows: list[Row]) -> list[tuple[object, ...]]:
    return [(r.username, r.session_name, r.id, r.state, r.idle, r.logon, r.current) for r in rows]


def parsed_tuples(text: str) -> list[tuple[object, ...]]:
    out = []
    for s in parse_quser(text):
        assert s.domain is None
        out.append((s.username, s.session_name, s.id, s.state, s.idle, s.logon_text, s.current))
    return out


@SETTINGS
@given(outputs())
def test_round_trip_every_field(sample: tuple[str, list[Row]]) -> None:
    text, rows = sample
    assert parsed_tuples(text) == as_tuples(rows)


@SETTINGS
@given(outputs(mangle=True))
def test_round_trip_through_the_wrong_code_page(sample: tuple[str, list[Row]]) -> None:
    """OEM bytes read as cp1252 (remoting) come back as the names the host meant."""
    text, rows = sample
    assert parsed_tuples(text) == as_tuples(rows)


def _outcome_is_safe(text: str, rendered: list[Row]) -> None:
    """Either a clear refusal, or only rows that were rendered, each exactly."""
    try:
        got = parsed_tuples(text)
    except QuserParseError as exc:
        assert str(exc)
        return
    expected = as_tuples(rendered)
    assert all(row in expected for row in got), (text, got)


@SETTINGS
@given(st.text(max_size=300))
def test_random_text_never_yields_a_row(text: str) -> None:
    _outcome_is_safe(text, [])


GARBAGE_LINE = st.text(st.sampled_from(" >0123456789:+./abcActiveDiscPM\u00e9"), max_size=90)


@SETTINGS
@given(st.lists(GARBAGE_LINE, max_size=6))
def test_quser_like_garbage_never_yields_a_row(lines: list[str]) -> None:
    _outcome_is_safe("\n".join(lines), [])


@SETTINGS
@given(outputs(), st.data())
def test_shifted_columns_or_stray_lines_never_yield_a_wrong_row(
    sample: tuple[str, list[Row]], data: st.DataObject
) -> None:
    text, rows = sample
    lines = text.split("\r\n")
    if len(lines) < 3:
        return
    i = data.draw(st.integers(1, len(lines) - 2), label="row")
    line = lines[i]
    id_end = line.index(str(rows[i - 1].id) + " ", 1) + len(str(rows[i - 1].id))
    how = data.draw(st.sampled_from(["insert", "delete", "truncate", "stray"]), label="how")
    pos = data.draw(st.integers(1, id_end - 1), label="pos")
    if how == "insert":
        lines[i] = line[:pos] + " " + line[pos:]
    elif how == "delete":
        lines[i] = line[:pos] + line[pos + 1 :]
    elif how == "truncate":
        lines[i] = line[: data.draw(st.integers(1, id_end + 8), label="cut")]
    else:
        lines.insert(i, data.draw(GARBAGE_LINE.filter(str.strip), label="stray"))
    _outcome_is_safe("\r\n".join(lines), rows)
