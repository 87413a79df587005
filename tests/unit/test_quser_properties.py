"""Property tests: render sessions the way quser lays them out, parse them back.

The renderers here are written from DESIGN.md section 4 alone (not from the lab), in the two
ways a field may push the next one: printf-like (push by the excess, keep two spaces) and
collision-only (keep the column unless it would touch, then one space after).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpremote.quser import QuserParseError, parse_quser

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (header titles, {normalised state: word}, idle none word) per language.
LANGS = {
    "en": (("USERNAME", "SESSIONNAME", "ID", "STATE", "IDLE TIME", "LOGON TIME"),
           {"active": "Active", "disconnected": "Disc", "connected": "Conn"}, "none"),
    "es": (("NOMBRE USUARIO", "NOMBRE SESIÓN", "ID.", "ESTADO", "TIEMPO IN.", "TIEMPO SESIÓN"),
           {"active": "Activo", "disconnected": "Desc"}, "ninguno"),
    "de": (("BENUTZERNAME", "SITZUNGSNAME", "ID", "STATUS", "LEERLAUF", "ANMELDEZEIT"),
           {"active": "Aktiv", "disconnected": "Getr."}, "Kein"),
    "fr": (("UTILISATEUR", "SESSION", "ID", "ÉTAT", "TEMPS INACT", "TEMPS SESSION"),
           {"active": "Actif", "disconnected": "Déco"}, "aucun"),
}  # fmt: skip
COLS = ((1, "l"), (23, "l"), (43, "r"), (46, "l"), (62, "r"), (65, "l"))
WIDTHS = (20, 18, 3, 6, 9)  # printf widths of the first five fields (2 spaces between)


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


def render_collision(marker: str, fields: tuple[str, ...]) -> str:
    line = marker
    for text, (col, align) in zip(fields, COLS, strict=True):
        if not text:
            continue
        start = col if align == "l" else col - len(text) + 1
        line = line.ljust(max(start, len(line) + 1) if len(line) > 1 else start) + text
    return line


def render_printf(marker: str, fields: tuple[str, ...]) -> str:
    """Like C's ``%-20s  %-18s%3s  %-6s  %9s  %s`` except that the id reaches left."""
    user, session, ident, state, idle, logon = fields
    line = marker + user.ljust(WIDTHS[0]) + "  " + session
    id_end = 43 + max(0, len(user) - WIDTHS[0])
    line = line.ljust(max(id_end - len(ident) + 1, len(line) + 1)) + ident
    line += "  " + state
    idle_end = 62 + (len(line) - len(state) - 46)
    line = line.ljust(max(idle_end - len(idle) + 1, len(line) + 2)) + idle
    return line + "  " + logon


def render(rows: list[Row], lang: str, printf: bool, mangle: bool) -> str:
    titles = LANGS[lang][0]
    header = render_collision(" ", titles)
    if mangle:
        header = "".join(c if ord(c) < 128 else "\ufffd" for c in header)
    draw = render_printf if printf else render_collision
    lines = [header]
    for r in rows:
        fields = (r.username, r.session_name or "", str(r.id), LANGS[lang][1][r.state], r.idle_text, r.logon)
        lines.append(draw(">" if r.current else " ", fields))
    return "\r\n".join(lines) + "\r\n"


# Letters incl. accents, digits, punctuation seen in account names; no backslash (DOMAIN\).
WORD_CHARS = st.characters(categories=["Lu", "Ll", "Nd"], max_codepoint=0x24F) | st.sampled_from(".-_'")
names = st.text(WORD_CHARS | st.just(" "), min_size=1, max_size=20).filter(lambda s: s == s.strip(" "))
# Over 20 characters a name cannot be a SAM account name; such (UPN-like) names have no
# spaces, which is what keeps "<long name> <session>" readable (see quser._split_left).
long_names = st.text(WORD_CHARS, min_size=21, max_size=30)
session_names = (
    st.none()
    | st.builds(lambda n: f"rdp-tcp#{n}", st.integers(0, 999))
    | st.sampled_from(["console", "ica-cgp#3", "31c5ce94259d#0"])
)


@st.composite
def idles(draw: st.DrawFn, none_word: str) -> tuple[str, timedelta | None]:
    kind = draw(st.sampled_from(["dot", "none", "m", "hm", "dhm", "absurd"]))
    if kind == "dot":
        return ".", timedelta(0)
    if kind == "none":
        return none_word, timedelta(0)
    m, h, d = draw(st.integers(0, 59)), draw(st.integers(0, 23)), draw(st.integers(1, 365))
    if kind == "m":
        return str(max(m, 1)), timedelta(minutes=max(m, 1))
    if kind == "hm":
        return f"{h + 1}:{m:02d}", timedelta(hours=h + 1, minutes=m)
    if kind == "dhm":
        return f"{d}+{h:02d}:{m:02d}", timedelta(days=d, hours=h, minutes=m)
    return f"{draw(st.integers(367, 99999))}+{h:02d}:{m:02d}", None


LOGON_FORMATS = (
    lambda t: f"{t.month}/{t.day}/{t.year} {t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}",
    lambda t: t.strftime("%d.%m.%Y %H:%M"),
    lambda t: f"{t.day:02d}/{t.month:02d}/{t.year} {t.hour}:{t.minute:02d}",
    lambda t: t.strftime("%d-%b-%y %H:%M"),
)


@st.composite
def outputs(draw: st.DrawFn, name_strategy: st.SearchStrategy[str] = names) -> tuple[str, list[Row]]:
    lang = draw(st.sampled_from(sorted(LANGS)))
    ids = draw(st.lists(st.integers(1, 65535), min_size=0, max_size=6, unique=True))
    current = draw(st.sampled_from([None, *range(len(ids))]))
    fmt = draw(st.sampled_from(LOGON_FORMATS))
    rows = []
    for i, ident in enumerate(ids):
        state = draw(st.sampled_from(sorted(LANGS[lang][1])))
        idle_text, idle = draw(idles(LANGS[lang][2]))
        logon = fmt(draw(st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1))))
        name = draw(name_strategy)
        rows.append(Row(name, draw(session_names), ident, state, idle_text, idle, logon, i == current))
    return render(rows, lang, draw(st.booleans()), draw(st.booleans())), rows


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
@given(outputs(long_names | names))
def test_round_trip_with_long_names_pushing_columns(sample: tuple[str, list[Row]]) -> None:
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
