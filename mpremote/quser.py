"""quser / qwinsta text -> :class:`~mpremote.session.Session` objects, in any language.

Why column-based: quser pads fixed-width columns, and splitting on runs of spaces breaks on
disconnected sessions (blank SESSIONNAME), user names with spaces, ids >= 100 and long names.
Headers: the first non-blank line is looked up in a table of whole translated header lines
as real hosts print them (:data:`mpremote.quser_lang.KNOWN_HEADERS`), also in their code-page
damaged forms; a header we do not know is accepted by *shape* (titles at the quser columns).
Code pages: text that arrived as OEM bytes decoded as cp1252 (the header says so, or the text
holds characters only that damage explains, such as C1 controls or ``„ ¡ ¤`` in a name) is
repaired before parsing, so names come out as the host meant them.

The layout (0-based columns)::

     USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME
    >administrator         rdp-tcp#0           2  Active          .  7/26/2018 7:29 PM

Column 0 is ``>`` or a space; USERNAME starts at 1 (20 wide); SESSIONNAME at 23; ID is
right-aligned ending at 43 (longer ids reach left); STATE at 46; IDLE right-aligned ending
at 62; LOGON from 65 (66 seen on French hosts). A user name longer than 20 characters pushes
what follows right, either printf-like (by its excess, two spaces kept) or collision-only
(one space after it, later columns kept): we accept both, since we cannot tell which a
given Windows build does. Names over 20 characters must have no spaces (SAM names are at
most 20; longer UPN-like names have none), else "<long name> <token>" has two readings.

How a row is read: the right part (ID, STATE, IDLE, LOGON) is anchored by the ID, which must
end at column 43 or further right, be followed by a known state word and a well-formed idle
time. The left part is then split by position: the user name starts at column 1, a session
name (one token, no spaces) starts exactly where the layout puts it given the name's length.
Every row must admit exactly one reading consistent with the layout; anything else raises
:class:`QuserParseError` naming the line. We prefer refusing a host to logging off a wrong row.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

from mpremote.errors import ParseError
from mpremote.quser_lang import (
    IDLE_NONE_WORDS,
    STATE_WORDS,
    HeaderMatch,
    default_oem_codepage,
    has_mangling_evidence,
    lookup_header,
    repair_oem_as_ansi,
)
from mpremote.session import Session

__all__ = [
    "QuserParseError",
    "is_last_session_gone",
    "is_no_sessions",
    "parse_idle",
    "parse_quser",
    "parse_qwinsta",
    "parse_qwinsta_rows",
    "parse_state",
]

# Layout of quser rows (0-based columns).
USER_COL = 1
USER_WIDTH = 20
SESSION_COL = 23
ID_END_COL = 43
#: Left-aligned header titles start here (USERNAME, SESSIONNAME, STATE, LOGON TIME).
HEADER_TITLE_COLS = (1, 23, 46, 65)
#: How far a header title may sit from its column (mangled or differently localised headers).
HEADER_SLACK = 3
#: Idle times above this are garbage from the host ("24692+13:29"): reported as unknown.
MAX_IDLE = timedelta(days=366)

_IDLE_RE = re.compile(r"(?:(?P<d>[0-9]+)\+)?(?:(?P<h>[0-9]+):)?(?P<m>[0-9]+)")
_ID_RE = re.compile(r"(?<= )[0-9]+(?= )")
_TAIL_RE = re.compile(r"([0-9]+)( +)([^ ]+)( +)([^ ]+)( +)([^ ](?:.*[^ ])?)")
_QWINSTA_TAIL_RE = re.compile(r"([0-9]+)( +)([^ ]+)(?: +.*)?")
#: Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F (stable by Unicode policy;
#: ``tests/unit/test_quser_fast.py`` checks it against ``unicodedata`` for every code point).
#: A regex scans a row in C; a per-character ``unicodedata.category`` was ~5 % of a run's CPU.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
_C1_RE = re.compile("[\x80-\x9f]")


class QuserParseError(ParseError, ValueError):
    """quser printed something that is not quser output (or not a form we can read safely).

    ``line_no`` is 1-based within the text given to the parser (None for helper errors).
    Also a ValueError, so the public helpers behave like ordinary parsing functions.
    """

    def __init__(self, message: str, *, line_no: int | None = None, line: str | None = None) -> None:
        self.line_no = line_no
        self.line = line
        full = message
        if line_no is not None:
            shown = line if line is None or len(line) <= 120 else line[:117] + "..."
            full = f"quser output line {line_no}: {message}" + (f": {shown!a}" if shown is not None else "")
        super().__init__(full)


def _fold(word: str) -> str:
    return unicodedata.normalize("NFC", word).casefold().rstrip(".")


def _mangled_equal(seen: str, known: str) -> bool:
    """Equal except where ``seen`` has a non-ASCII or '?' char and ``known`` a non-ASCII one.

    Why: OEM code page mangling replaces one accented letter by one other character
    (``Déco`` -> ``D‚co``, ``Abhören`` -> ``Abh÷ren``) but keeps ASCII letters intact.
    """
    if len(seen) != len(known):
        return False
    for a, b in zip(seen, known, strict=True):
        if a == b:
            continue
        if not (ord(b) > 127 and (ord(a) > 127 or a in "?\ufffd")):
            return False
    return True


def parse_state(word: str) -> str:
    """A localised quser/qwinsta state word -> normalised lower-case English state.

    Raises :class:`QuserParseError` on a word we do not know: guessing a state could select
    the wrong sessions (``--state disconnected``).
    """
    key = _fold(word.strip())
    if key in STATE_WORDS:
        return STATE_WORDS[key]
    if any(ord(c) > 127 or c == "?" for c in key):
        hits = {v for k, v in STATE_WORDS.items() if _mangled_equal(key, k)}
        if len(hits) == 1:
            return hits.pop()
    raise QuserParseError(f"unknown session state word {word!r}")


def parse_idle(text: str) -> timedelta | None:
    """quser IDLE TIME -> timedelta; None when the host printed an absurd value (unknown).

    ``.``/none words -> 0 (under a minute); ``5`` minutes; ``1:02`` h:mm; ``2+03:04``
    d+hh:mm. Anything else raises :class:`QuserParseError` (it is not an idle time).
    """
    word = text.strip()
    if _fold(word) in IDLE_NONE_WORDS or word == ".":
        return timedelta(0)
    m = _IDLE_RE.fullmatch(word)
    if not m:
        raise QuserParseError(f"idle time {text!r} is not '.', a none word, M, H:MM or D+HH:MM")
    days = int(m["d"] or 0)
    hours = int(m["h"] or 0)
    minutes = int(m["m"])
    if m["h"] is not None and (len(m["m"]) != 2 or minutes > 59):
        raise QuserParseError(f"idle time {text!r} has minutes that are not 00-59")
    if m["d"] is not None and m["h"] is None:
        raise QuserParseError(f"idle time {text!r} has days but no hours")
    if days > MAX_IDLE.days:  # avoid building huge timedeltas from garbage
        return None
    idle = timedelta(days=days, hours=hours, minutes=minutes)
    return None if idle > MAX_IDLE else idle


_NO_USER_PATTERNS = (
    re.compile(r"\bno user exists for\b"),  # en: "No User exists for *"
    re.compile(r"\bno (?:existe|hay)\b.*\busuario"),  # es: "No existe ningún usuario para *"
    re.compile(r"\bning\S*n usuario\b"),
    re.compile(r"\bkein\w* benutzer\b"),  # de: "Kein Benutzer vorhanden für *"
    re.compile(r"\bbenutzer\b.*\bnicht\b"),
    re.compile(r"\baucun\w* utilisateur\b"),  # fr: "Aucun utilisateur pour *"
    re.compile(r"\butilisateur\b.*\bn'existe\b"),
)


def is_no_sessions(stderr: str, exit_code: int) -> bool:
    """True when quser failed only because no user session exists ("No User exists for *").

    Why a separate helper: quser reports "nobody logged on" as an error (non-zero exit,
    message on stderr, nothing on stdout), which must become an empty list, not a failure.
    The wording varies by language and build, so we match key words, not the sentence.
    """
    if exit_code == 0:
        return False
    text = " ".join(stderr.split()).casefold()
    if not text or len(text) > 200:
        return False
    return any(p.search(text) for p in _NO_USER_PATTERNS)


def is_last_session_gone(stderr: str, exit_code: int) -> bool:
    """True only when quser failed with exactly its "No User exists for *" message in a
    language of :data:`mpremote.quser_lang.NO_USER_TEXTS` (spacing aside).

    Stricter than :func:`is_no_sessions`, on purpose: after a log-off this failure is taken
    as proof that the session is gone, so any other failure (RPC errors, access denied, a
    language whose text has no source yet) must leave the session unconfirmed."""
    from mpremote.quser_lang import NO_USER_TEXTS

    if exit_code == 0:
        return False
    text = " ".join(stderr.split())
    return any(text == known for texts in NO_USER_TEXTS.values() for known in texts)


def _lines(text: str) -> list[tuple[int, str]]:
    """Numbered, right-stripped lines; CRLF/CR tolerated, blank lines dropped."""
    if not isinstance(text, str):
        raise TypeError(f"quser text must be str, not {type(text).__name__}")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for no, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip(" \t")
        if not line.strip():
            continue
        if "\t" in line:
            raise QuserParseError("tab character inside a row; quser aligns with spaces", line_no=no, line=line)
        out.append((no, line))
    return out


def _check_controls(lines: list[tuple[int, str]]) -> None:
    """After repair no control character may remain (C1 controls are code-page damage)."""
    for no, line in lines:
        if _CONTROL_RE.search(line):
            raise QuserParseError("control character in the text", line_no=no, line=line)


def _evidence_region(command: str, line: str) -> str:
    """The part of a row where damage can be told from real text: names and state, not the
    logon time (whose AM/PM designators may legitimately hold a no-break space)."""
    return line[:54] if command == "quser" else line


def _has_c1(line: str) -> bool:
    return _C1_RE.search(line) is not None


def _undo_damage(
    command: str, lines: list[tuple[int, str]], oem_codepage: int | None
) -> tuple[list[tuple[int, str]], HeaderMatch | None]:
    """Repair OEM text that was decoded as cp1252; leave correct text alone.

    Evidence, in order: a known header in its damaged form (``SESIàN``) or in its correct
    non-ASCII form (then the text is right); else characters only that damage explains
    (C1 controls anywhere, ``„ ‚ ¡ ¤ ...`` in names or states). A line that cannot be such
    damage while the rest is, or that repairs into symbols, is an error: uncertain text is
    never turned into sessions.
    """
    header_no, header = lines[0]
    match = lookup_header(command, header)
    damage = match.damage if match else None
    language = match.header.language if match else None
    if damage == "ok" and not header.isascii():
        for no, line in lines[1:]:
            if _has_c1(line):
                raise QuserParseError("C1 control character in text whose header is intact", line_no=no, line=line)
        return lines, match
    if damage == "utf8":
        return lines, match  # not repairable; rows with U+FFFD in a name are refused later
    if damage not in ("ansi", "ansi-c1-lost"):
        evidence = any(_has_c1(line) for _, line in lines) or any(
            has_mangling_evidence(line if no == header_no else _evidence_region(command, line), language)
            for no, line in lines
        )
        if not evidence:
            return lines, match
    codepage = oem_codepage or default_oem_codepage(language)
    repaired: list[tuple[int, str]] = []
    for no, line in lines:
        if no == header_no and match is not None:
            repaired.append((no, match.header.line))
            continue
        fixed = repair_oem_as_ansi(line, codepage)
        if fixed is None:
            raise QuserParseError(
                f"text looks like OEM cp{codepage} read as cp1252, but this line cannot be", line_no=no, line=line
            )
        if any(unicodedata.category(c) == "So" for c in _evidence_region(command, fixed)):
            raise QuserParseError(
                f"repairing OEM cp{codepage} damage gives symbols in a name; the encoding is uncertain",
                line_no=no,
                line=line,
            )
        repaired.append((no, fixed))
    return repaired, match


def _check_header(no: int, line: str) -> None:
    """A header we do not know must be shaped like a quser header, in whatever language."""

    def fail(why: str) -> QuserParseError:
        return QuserParseError(f"not a quser header ({why})", line_no=no, line=line)

    if line[0] != " " or len(line) < 2 or line[1] == " ":
        raise fail("a header starts with one space, then a title at column 1")
    if any(c.isdigit() for c in line):
        raise fail("a header has no digits")
    if len(line) < HEADER_TITLE_COLS[-1] - HEADER_SLACK + 1:
        raise fail("too short for the quser columns")
    for col in HEADER_TITLE_COLS[1:]:
        # One space is enough: real headers join titles with one (es "ID. ESTADO", fr "INACT TEMPS").
        lo, hi = col - HEADER_SLACK, col + HEADER_SLACK
        if not any(p < len(line) and line[p] != " " and line[p - 1] == " " for p in range(lo, hi + 1)):
            raise fail(f"no column title near column {col}")


def _has_column_gap(line: str, end: int) -> bool:
    """True when ``line[1:end]`` has 2+ spaces followed by text at column 21 or later.

    Such a run is a gap between columns, never part of a user name: names of up to 20
    characters end by column 20, and longer ones never contain spaces (see below).
    """
    return any(m.end() >= USER_WIDTH + 1 for m in re.finditer(r" {2,}(?=[^ ])", line[:end]) if m.start() >= 1)


def _split_left(line: str, id_start: int, shift: int) -> list[tuple[str, str | None]]:
    """All readings (user, session name) of ``line[1:id_start]`` consistent with the layout.

    Two ways of pushing columns are accepted, because we cannot tell which one a given
    Windows build uses: *printf-like* (a field longer than its width pushes everything after
    it right by the excess, two spaces kept) and *collision-only* (a field keeps its column
    unless the previous one runs into it, then it starts one space after). ``shift`` is how
    far right of column 43 the ID ends: from 0 up to the most that overflow could push it,
    or any amount when the ID sits tight (1-2 spaces) after the text before it.
    """
    readings: list[tuple[str, str | None]] = []
    end = len(line[:id_start].rstrip(" "))
    if end <= USER_COL or line[USER_COL] == " ":
        return readings
    tight = id_start - end <= 3

    def shift_ok(user_end: int) -> bool:
        return shift <= max(0, user_end - USER_WIDTH) or tight

    def name_ok(name: str) -> bool:
        # Names over 20 characters are never SAM account names; the UPN-like names that
        # reach quser that long have no spaces. Without this, "<long name> <token>" (one
        # space, collision-only layout) would have two readings.
        return len(name) <= USER_WIDTH or " " not in name

    # (a) blank session name: everything is the user name. A run of spaces that ends at the
    # session column or later is a column gap, never part of a name.
    user = line[USER_COL:end]
    if shift_ok(end - 1) and name_ok(user) and not _has_column_gap(line, end):
        readings.append((user, None))
    # (b) the last token is the session name (one token, no spaces): at column 23 after a
    # name of at most 21 characters, else one (collision-only) or two (printf) spaces after it.
    start = line.rfind(" ", 0, end) + 1
    user = line[USER_COL:start].rstrip(" ")
    user_end = len(user)  # its last column, since it starts at column 1
    placed = (start == SESSION_COL and user_end <= USER_WIDTH + 1) or (
        start > SESSION_COL and start - user_end in (2, 3)
    )
    if user and placed and name_ok(user) and not _has_column_gap(line, user_end + 1) and shift_ok(user_end):
        readings.append((user, line[start:end]))
    return readings


def _parse_row(no: int, line: str) -> Session:
    if line[0] not in "> ":
        raise QuserParseError("column 0 must be '>' or a space", line_no=no, line=line)
    found: list[Session] = []
    problems: list[str] = []
    for m in _ID_RE.finditer(line):
        if m.end() - 1 < ID_END_COL:
            continue
        tail = _TAIL_RE.fullmatch(line, m.start())
        if not tail:
            continue
        try:
            state = parse_state(tail[3])
            idle = parse_idle(tail[5])
        except QuserParseError as exc:
            problems.append(str(exc))
            continue
        readings = _split_left(line, m.start(), m.end() - 1 - ID_END_COL)
        if not readings:
            problems.append("user/session name columns do not fit the quser layout")
        for user, session_name in readings:
            found.append(_session(no, line, user, session_name, int(m[0]), state, idle, tail[7]))
    if len(found) == 1:
        return found[0]
    if found:
        raise QuserParseError("ambiguous row: more than one reading fits the quser layout", line_no=no, line=line)
    why = problems[0] if problems else "no session id followed by state, idle and logon time at the quser columns"
    raise QuserParseError(why, line_no=no, line=line)


def _session(
    no: int, line: str, user: str, session_name: str | None, sid: int, state: str, idle: timedelta | None, logon: str
) -> Session:
    """A Session from one reading; ``DOMAIN\\name`` (not printed by quser, but cheap) fills domain."""
    if "\ufffd" in user or "?" in user:
        # "?" is what Windows prints for a character the OEM code page lacks (no account name
        # may contain one); U+FFFD is OEM text read as UTF-8. Either way the name is lost.
        raise QuserParseError("user name was damaged by a code page mismatch; it cannot be read", line_no=no, line=line)
    domain = None
    if "\\" in user:
        domain, _, user = user.partition("\\")
        if not domain or not user or "\\" in user:
            raise QuserParseError("user name is not NAME or DOMAIN\\NAME", line_no=no, line=line)
    return Session(user, session_name, sid, state, idle, logon, line[0] == ">", domain)


def _check_unique(sessions: list[tuple[int, Session]], text_lines: dict[int, str]) -> None:
    seen: dict[int, int] = {}
    current = [no for no, s in sessions if s.current]
    for no, s in sessions:
        if s.id in seen:
            raise QuserParseError(
                f"session id {s.id} appears twice (also line {seen[s.id]})", line_no=no, line=text_lines[no]
            )
        seen[s.id] = no
    if len(current) > 1:
        raise QuserParseError("more than one row carries the '>' marker", line_no=current[1], line=None)


def parse_quser(text: str, *, oem_codepage: int | None = None) -> list[Session]:
    """Parse the stdout of ``quser`` into sessions, in the order printed.

    Empty (or blank) text is an error: quser always prints a header when it has rows, and
    "no sessions" arrives on stderr (see :func:`is_no_sessions`). A header alone gives [].
    ``oem_codepage`` is the host's OEM code page, used to repair text that arrived decoded as
    cp1252 (default: the usual one for the header's language).
    Raises :class:`QuserParseError` naming the line on anything else that is not quser output.
    """
    lines = _lines(text)
    if not lines:
        raise QuserParseError("quser output is empty (no header line)")
    lines, match = _undo_damage("quser", lines, oem_codepage)
    _check_controls(lines)
    header_no, header = lines[0]
    if match is None:
        _check_header(header_no, header)
    parsed = [(no, _parse_row(no, line)) for no, line in lines[1:]]
    _check_unique(parsed, dict(lines))
    return [s for _, s in parsed]


# qwinsta: " SESSIONNAME       USERNAME                 ID  STATE   TYPE        DEVICE", ID ends at 45
QWINSTA_USER_COL = 19
#: A digit run ending left of this is inside the user name (19..38), never the id.
QWINSTA_MIN_ID_END = 40


def parse_qwinsta(text: str, *, oem_codepage: int | None = None) -> list[Session]:
    """Parse ``qwinsta`` stdout (all sessions, including services/listeners).

    qwinsta has no idle or logon time: ``idle`` is None and ``logon_text`` is "". Sessions
    without a user (services, listeners) have ``username == ""``. Same refusal and repair
    rules as :func:`parse_quser`; only the columns differ (SESSIONNAME at 1, USERNAME at 19, ID
    ending at 45 with listener ids such as 65536 reaching left, then STATE, TYPE, DEVICE).
    """
    lines = _lines(text)
    if not lines:
        raise QuserParseError("qwinsta output is empty (no header line)")
    lines, match = _undo_damage("qwinsta", lines, oem_codepage)
    _check_controls(lines)
    header_no, header = lines[0]
    if match is None and (header[0] != " " or header[1] == " " or any(c.isdigit() for c in header) or len(header) < 45):
        raise QuserParseError("not a qwinsta header", line_no=header_no, line=header)
    return parse_qwinsta_rows(lines[1:])


def parse_qwinsta_rows(rows: list[tuple[int, str]]) -> list[Session]:
    """qwinsta rows without their header, numbered (some real captures quote only rows)."""
    out = [(no, _parse_qwinsta_row(no, line)) for no, line in rows]
    _check_unique(out, dict(rows))
    return [s for _, s in out]


def _parse_qwinsta_row(no: int, line: str) -> Session:
    """One qwinsta row: session name token at 1, user name at 19 (or one space after a long
    session name), then ID, STATE and optional TYPE/DEVICE. Exactly one reading or an error."""
    if line[0] not in "> ":
        raise QuserParseError("column 0 must be '>' or a space", line_no=no, line=line)
    found: list[Session] = []
    for m in _ID_RE.finditer(line + " "):
        tail = _QWINSTA_TAIL_RE.fullmatch(line, m.start()) if m.end() - 1 >= QWINSTA_MIN_ID_END else None
        if tail is None or not _is_state_word(tail[3]):
            continue
        end = len(line[: m.start()].rstrip(" "))
        name_end = line.find(" ", 1) if line[1] != " " else 1
        name_end = end if name_end == -1 or name_end > end else name_end
        user_start = len(line) - len(line[name_end:].lstrip(" "))
        user = line[user_start:end] if user_start < end else ""
        fits = (
            not user
            or user_start == QWINSTA_USER_COL
            or (user_start > QWINSTA_USER_COL and line[user_start - 2] != " ")
        )
        if fits and "  " not in user:
            if "\ufffd" in user or "?" in user:
                raise QuserParseError("user name was damaged by a code page mismatch", line_no=no, line=line)
            session_name = line[1:name_end] or None
            found.append(Session(user, session_name, int(m[0]), parse_state(tail[3]), None, "", line[0] == ">"))
    if len(found) != 1:
        why = "ambiguous row" if found else "no session id followed by a state at the qwinsta columns"
        raise QuserParseError(why, line_no=no, line=line)
    return found[0]


def _is_state_word(word: str) -> bool:
    try:
        parse_state(word)
    except QuserParseError:
        return False
    return True
