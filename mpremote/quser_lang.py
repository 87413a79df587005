"""What real Windows hosts print in quser/qwinsta, per language, and how to undo code-page damage.

Every string here comes from a real capture (``tests/unit/data/captures/manifest.json`` names the
source of each); ``docs/lab.md`` lists what is still unverified. The lab renders from these
same tables, so parser and emulator cannot drift apart.

Code pages. quser and qwinsta write their text in the host's OEM code page (cp850 on western
European hosts, cp437 on US ones). A client that decodes those bytes with another code page
sees damage of two kinds, both seen in real output:

* *OEM read as ANSI* (cp850 bytes decoded as cp1252, what Windows PowerShell remoting does
  with native output): ``SESIÓN`` arrives as ``SESIàN``, ``É`` as the C1 control U+0090,
  ``maría`` as ``mar¡a``. Reversible: :func:`repair_oem_as_ansi`.
* *OEM read as UTF-8*: every non-ASCII byte becomes U+FFFD (``GER�T``). Not reversible.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = [
    "ANSI_CODEPAGE",
    "IDLE_NONE_WORDS",
    "KNOWN_HEADERS",
    "NO_USER_TEXTS",
    "STATE_WORDS",
    "KnownHeader",
    "ansi_decode",
    "ansi_encode",
    "default_oem_codepage",
    "has_mangling_evidence",
    "lookup_header",
    "mangle_oem_as_ansi",
    "mangle_oem_as_utf8",
    "repair_if_damaged",
    "repair_oem_as_ansi",
]

#: The ANSI code page western European and US hosts decode with (and remoting uses).
ANSI_CODEPAGE = 1252


@dataclass(frozen=True)
class KnownHeader:
    """A header line exactly as a real host prints it (leading space, no trailing blanks)."""

    command: str  # "quser" | "qwinsta"
    language: str  # BCP 47 language of the host's display language
    line: str
    #: The host's usual OEM code page for that language (repairs use it unless told otherwise).
    oem_codepage: int = 850


#: What ``quser`` (no argument) prints on stderr, exiting 1, when no user session is left on the
#: host, per display language: the only quser failure that proves a logged-off session gone.
#: Only texts with a public source are here (docs/lab.md names them); a host whose language
#: is missing reports such a log-off unconfirmed rather than guessed done.
NO_USER_TEXTS: dict[str, tuple[str, ...]] = {
    "en": ("No User exists for *",),
}

#: Whole translated header lines. Sources: tests/unit/data/captures/manifest.json.
KNOWN_HEADERS: tuple[KnownHeader, ...] = (
    KnownHeader("quser", "en", " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME", 437),
    KnownHeader("quser", "es", " NOMBRE USUARIO        NOMBRE SESIÓN      ID. ESTADO  TIEMPO IN. TIEMPO SESIÓN"),
    KnownHeader("quser", "fr", " UTILISATEUR           SESSION            ID  ÉTAT    TEMPS INACT TEMPS SESSION"),
    KnownHeader("quser", "de", " BENUTZERNAME          SITZUNGSNAME       ID  STATUS  LEERLAUF   ANMELDEZEIT"),
    KnownHeader("quser", "it", " NOMEUTENTE            NOMESESSIONE       ID  STATO   INATTIVITÀ ACCESSO"),
    KnownHeader("qwinsta", "en", " SESSIONNAME       USERNAME                 ID  STATE   TYPE        DEVICE", 437),
    KnownHeader("qwinsta", "es", " NOMBRE DE SESIÓN  NOMBRE DE USUARIO        ID  ESTADO    TIPO   DISPOSITIVO"),
    KnownHeader("qwinsta", "de", " SITZUNGSNAME      BENUTZERNAME             ID  STATUS  TYP         GERÄT"),
)  # fmt: skip

#: Localised (and abbreviated) state words -> normalised English (mpremote.session.KNOWN_STATES).
#: Keys are casefolded, without a trailing dot. Seen in real output: en Active/Disc/Conn/Listen,
#: es Activo/Desc/Conn/Escuchar, de Aktiv/Getr./Abhör., fr Actif, it Attivo/Disc. The other
#: English words are the remaining WTS connect states; French ``Déco`` and the long forms are
#: unverified (docs/lab.md). An unknown word is an error, never a guess.
STATE_WORDS: dict[str, str] = {
    # English (qwinsta/quser abbreviations and full words)
    "active": "active", "disc": "disconnected", "disconnected": "disconnected",
    "conn": "connected", "connected": "connected", "connq": "connecting",
    "shadow": "shadowing", "listen": "listening", "idle": "idle", "down": "down",
    "reset": "reset", "init": "init",
    # Spanish
    "activo": "active", "desc": "disconnected", "desconectado": "disconnected",
    "conec": "connected", "conectado": "connected", "escuchar": "listening",
    "inactivo": "idle",
    # German
    "aktiv": "active", "getr": "disconnected", "getrennt": "disconnected",
    "verb": "connected", "verbunden": "connected", "abhör": "listening", "abhören": "listening",
    "leerlauf": "idle",
    # French
    "actif": "active", "déco": "disconnected", "déconnecté": "disconnected",
    "connecté": "connected", "écouter": "listening", "écoute": "listening",
    "inactif": "idle",
    # Italian
    "attivo": "active",
}  # fmt: skip

#: "No idle time" words (console sessions print them; real: none, ninguno, aucun, Kein).
IDLE_NONE_WORDS = frozenset({".", "none", "ninguno", "ninguna", "kein", "keine", "aucun", "aucune", "nessuno"})


# --- code pages -----------------------------------------------------------------------------


def _ansi_table() -> str:
    """cp1252 as Windows decodes it: its five unassigned bytes map to U+0081, U+008D, ...

    Python's codec rejects those bytes; .NET (and so PowerShell) maps them to the C1 control
    of the same number, which is how ``É`` (OEM 0x90) arrives as U+0090.
    """
    chars = []
    for b in range(256):
        try:
            chars.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            chars.append(chr(b))
    return "".join(chars)


_ANSI = _ansi_table()
_ANSI_BYTES = {c: b for b, c in enumerate(_ANSI)}

#: Characters that OEM bytes 0x80-0xBF turn into when read as cp1252 and that are not letters:
#: C1 controls, typographic marks (``„ ‚ ”``) and symbols (``¡ ¢ ¤``). A user name, session name
#: or state word almost never contains one; mangled text almost always does.
_EVIDENCE = frozenset(c for c in _ANSI[0x80:0xC0] if not unicodedata.category(c).startswith("L"))
#: Letters cp1252 puts at 0x80-0x9F (``Š Œ ˆ ž``): what French ``è î ê`` become. Evidence only when
#: the header says the host speaks a western language (they are real letters in central Europe).
_WESTERN_EVIDENCE = _EVIDENCE | frozenset(_ANSI[0x80:0xA0])
_WESTERN = frozenset({"en", "es", "fr", "de", "it"})


def ansi_decode(data: bytes) -> str:
    return "".join(_ANSI[b] for b in data)


def ansi_encode(text: str) -> bytes | None:
    """The cp1252 bytes of ``text`` (Windows' mapping), or None if a character has none."""
    out = bytearray()
    for c in text:
        b = _ANSI_BYTES.get(c)
        if b is None:
            return None
        out.append(b)
    return bytes(out)


def mangle_oem_as_ansi(text: str, oem_codepage: int = 850) -> str:
    """What ``text`` printed in the OEM code page looks like when decoded as cp1252."""
    return ansi_decode(text.encode(f"cp{oem_codepage}", errors="replace"))


def mangle_oem_as_utf8(text: str, oem_codepage: int = 850) -> str:
    """What ``text`` printed in the OEM code page looks like when decoded as UTF-8."""
    return text.encode(f"cp{oem_codepage}", errors="replace").decode("utf-8", errors="replace")


def repair_oem_as_ansi(text: str, oem_codepage: int = 850) -> str | None:
    """Undo :func:`mangle_oem_as_ansi`; None when ``text`` cannot be such damage."""
    data = ansi_encode(text)
    return None if data is None else data.decode(f"cp{oem_codepage}")


def has_mangling_evidence(text: str, language: str | None = None) -> bool:
    """True when ``text`` holds a character that only OEM-read-as-ANSI damage explains."""
    evidence = _WESTERN_EVIDENCE if language in _WESTERN else _EVIDENCE
    return not text.isascii() and not evidence.isdisjoint(text)  # every evidence char is non-ASCII


def repair_if_damaged(text: str, oem_codepage: int | None) -> str:
    """``text`` with OEM-read-as-ANSI damage undone when it shows some, else unchanged.

    For free text (logoff/tsdiscon messages) where a wrong repair costs nothing worse than
    the damage itself; session rows go through the parser's stricter rules."""
    if not (any(0x80 <= ord(c) <= 0x9F for c in text) or has_mangling_evidence(text)):
        return text
    fixed = repair_oem_as_ansi(text, oem_codepage or 850)
    return text if fixed is None else fixed


def default_oem_codepage(language: str | None) -> int:
    for h in KNOWN_HEADERS:
        if h.language == language:
            return h.oem_codepage
    return 850


# --- header lookup ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderMatch:
    header: KnownHeader
    #: How the header arrived: "ok", "ansi" (OEM read as cp1252), "utf8" (OEM read as UTF-8),
    #: "ansi-c1-lost" (read as cp1252, then a copy dropped its C1 controls).
    damage: str


def _header_variants() -> dict[tuple[str, str], HeaderMatch]:
    table: dict[tuple[str, str], HeaderMatch] = {}
    for h in KNOWN_HEADERS:
        for cp in (850, 437):
            ansi = mangle_oem_as_ansi(h.line, cp)
            variants = {
                h.line: "ok",
                ansi: "ansi",
                mangle_oem_as_utf8(h.line, cp): "utf8",
                "".join(c for c in ansi if not 0x80 <= ord(c) <= 0x9F): "ansi-c1-lost",
            }
            for line, damage in variants.items():
                table.setdefault((h.command, line), HeaderMatch(h, damage if line != h.line else "ok"))
    return table


_HEADERS = _header_variants()


def lookup_header(command: str, line: str) -> HeaderMatch | None:
    """The known header ``line`` is (trailing blanks ignored), with how it was damaged."""
    return _HEADERS.get((command, line.rstrip()))
