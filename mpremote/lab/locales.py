"""quser/qwinsta text and native-command messages of an emulated host, per Windows locale.

Real hosts print localised headers, state words and messages, and their logon time follows
the regional date format, which is set independently of the display language. This module
is the one place that knows those strings; ``native_tools`` only asks it to render rows.

What is real and what is not (docs/lab.md "Known differences from Windows" cites each):
header lines are whole translated lines copied from real captures (``mpremote.quser_lang``)
except the French and Italian qwinsta headers, which no capture shows; state words and none
words are real where a capture shows them (en, es, de, fr active, it active/disconnected);
the message translations (errors, /v output) are our reconstruction, not verbatim copies.

quser layout (0-based), as the captures show it::

    col 0 ``>`` or space | user name from 1 (lower-cased, at most 20 characters) | session
    name from 23 | ID right-aligned ending at 43 | state from 46 | idle right-aligned ending
    at 62, except the none word (from 58, then three spaces) and overlong values (from 54,
    two spaces kept) | logon time after that (65 usually; 66 after ``aucun``, 68 after
    ``ninguno``)

qwinsta: SESSIONNAME from 1, USERNAME from 19 (case kept), ID right-aligned ending at 45,
STATE from 48; TYPE and DEVICE are blank on current Windows versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mpremote.quser_lang import KNOWN_HEADERS, mangle_oem_as_ansi, mangle_oem_as_utf8

if TYPE_CHECKING:  # pragma: no cover - typing only, labfile imports this module
    from mpremote.lab.labfile import SessionSpec

#: Quser columns: (start or end column, alignment). Named once, used by header and rows.
QUSER_COLUMNS: tuple[tuple[int, str], ...] = ((1, "l"), (23, "l"), (43, "r"), (46, "l"), (62, "r"), (65, "l"))
#: Qwinsta columns: SESSIONNAME, USERNAME, ID (right, ends at 45), STATE, TYPE, DEVICE.
QWINSTA_COLUMNS: tuple[tuple[int, str], ...] = ((1, "l"), (19, "l"), (45, "r"), (48, "l"), (56, "l"), (68, "l"))
#: Where the idle field starts (it is 9 wide, right-aligned, ending at 62).
QUSER_IDLE_COL = 54
#: quser prints at most this many characters of a user name.
QUSER_NAME_MAX = 20

#: What quser prints for an idle time it cannot make sense of (real hosts show such values).
ABSURD_IDLE = "24692+13:29"

DEFAULT_LOCALE = "en-US"


def _us_date(dt: datetime) -> str:
    hour = dt.hour % 12 or 12
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


def _es_date(dt: datetime) -> str:
    return f"{dt.day:02d}/{dt.month:02d}/{dt.year} {dt.hour}:{dt.minute:02d}"


def _de_date(dt: datetime) -> str:
    return f"{dt.day:02d}.{dt.month:02d}.{dt.year} {dt.hour:02d}:{dt.minute:02d}"


def _fr_date(dt: datetime) -> str:
    """fr-FR and it-IT alike: ``20/09/2026 12:27``, ``02/09/2024 09:47`` (captures)."""
    return f"{dt.day:02d}/{dt.month:02d}/{dt.year} {dt.hour:02d}:{dt.minute:02d}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _short_month_date(dt: datetime) -> str:
    """``18-Nov-22 09:35``: a customised short date seen on real hosts (DESIGN.md 4)."""
    return f"{dt.day:02d}-{_MONTHS[dt.month - 1]}-{dt.year % 100:02d} {dt.hour:02d}:{dt.minute:02d}"


#: Regional date formats by name; a host may pick one independently of its language.
DATE_FORMATS: dict[str, Callable[[datetime], str]] = {
    "en-US": _us_date,
    "es-ES": _es_date,
    "de-DE": _de_date,
    "fr-FR": _fr_date,
    "it-IT": _fr_date,
    "dd-MMM-yy": _short_month_date,
}


@dataclass(frozen=True)
class Locale:
    """Every localised string an emulated host prints. Messages are ``str.format`` templates."""

    code: str
    #: Whole header lines as the host prints them (leading space, no trailing blanks).
    quser_header: str
    qwinsta_header: str
    states: dict[str, str]
    idle_none: str
    #: quser with nothing to show: "No User exists for *" / "... for 5" / "... for ana".
    no_user: str
    #: qwinsta / logoff by name with nothing to show.
    no_session: str
    #: Windows error line: "Error [5]:Access is denied." (``code``, ``text``).
    error_line: str
    access_denied: str
    session_not_found: str
    logoff_failed: str  # first line before error_line: id, code
    disconnect_failed: str
    logoff_verbose: str
    disconnect_verbose: str
    msg_names_failed: str  # msg USER with no session of that user: code
    wms_access_denied: str
    wms_not_found: str
    command_not_found: str  # name
    #: The OEM code page quser/qwinsta write in (cp437 on en-US hosts, cp850 in western Europe).
    oem_codepage: int = 850

    def state_word(self, state: str) -> str:
        return self.states.get(state, state.capitalize())

    def error(self, code: int, text: str) -> str:
        return self.error_line.format(code=code, text=text)


def layout_row(marker: str, fields: Sequence[str], columns: Sequence[tuple[int, str]]) -> str:
    """Place ``fields`` at their columns; blank fields are skipped.

    A left-aligned field starts at its column, a right-aligned one ends at its column; either
    moves right to keep at least one space after the previous field (long names push).
    """
    line = marker[:1] or " "
    for text, (col, align) in zip(fields, columns, strict=True):
        if not text:
            continue
        start = col if align == "l" else col - len(text) + 1
        if len(line) > 1:
            start = max(start, len(line) + 1)
        line = line.ljust(start) + text
    return line


_HRESULT_DENIED = "(Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"


def _header(command: str, language: str) -> str:
    for h in KNOWN_HEADERS:
        if (h.command, h.language) == (command, language):
            return h.line
    raise KeyError((command, language))


def _built_header(titles: tuple[str, ...], columns: Sequence[tuple[int, str]]) -> str:
    """A header laid out title by title: only for languages no real capture shows (doubt)."""
    return layout_row(" ", titles, columns)


LOCALES: dict[str, Locale] = {
    "en-US": Locale(
        code="en-US",
        quser_header=_header("quser", "en"),
        qwinsta_header=_header("qwinsta", "en"),
        states={"active": "Active", "disconnected": "Disc", "listen": "Listen", "connected": "Conn"},
        idle_none="none",
        no_user="No User exists for {target}",
        no_session="No session exists for {target}",
        error_line="Error [{code}]:{text}",
        access_denied="Access is denied.",
        session_not_found="The specified session cannot be found.",
        logoff_failed="Could not logoff session ID {id}, Error code {code}",
        disconnect_failed="Could not disconnect session {id}, Error code {code}",
        logoff_verbose="Logging off session ID {id}",
        disconnect_verbose="Disconnecting sessionID {id} from sessionname {name}",
        msg_names_failed="Error {code} getting session names",
        wms_access_denied="Access is denied. " + _HRESULT_DENIED,
        wms_not_found="The session with ID {id} was not found.",
        command_not_found=(
            "The term '{name}' is not recognized as the name of a cmdlet, function, script file, "
            "or operable program. Check the spelling of the name, or if a path was included, "
            "verify that the path is correct and try again."
        ),
        oem_codepage=437,
    ),
    "es-ES": Locale(
        code="es-ES",
        quser_header=_header("quser", "es"),
        qwinsta_header=_header("qwinsta", "es"),
        states={"active": "Activo", "disconnected": "Desc", "listen": "Escuchar", "connected": "Conn"},
        idle_none="ninguno",
        no_user="No existe ningún usuario para {target}",
        no_session="No existe ninguna sesión para {target}",
        error_line="Error [{code}]:{text}",
        access_denied="Acceso denegado.",
        session_not_found="No se encuentra la sesión especificada.",
        logoff_failed="No se pudo cerrar la sesión con id. {id}, código de error {code}",
        disconnect_failed="No se pudo desconectar la sesión {id}, código de error {code}",
        logoff_verbose="Cerrando la sesión con id. {id}",
        disconnect_verbose="Desconectando la sesión {id} del nombre de sesión {name}",
        msg_names_failed="Error {code} al obtener los nombres de sesión",
        wms_access_denied="Acceso denegado. (Excepción de HRESULT: 0x80070005 (E_ACCESSDENIED))",
        wms_not_found="No se encontró la sesión con id. {id}.",
        command_not_found=(
            "El término '{name}' no se reconoce como nombre de un cmdlet, función, archivo de script "
            "o programa ejecutable. Compruebe si escribió correctamente el nombre o, si incluyó una "
            "ruta de acceso, compruebe que dicha ruta es correcta e inténtelo de nuevo."
        ),
    ),
    "de-DE": Locale(
        code="de-DE",
        quser_header=_header("quser", "de"),
        qwinsta_header=_header("qwinsta", "de"),
        states={"active": "Aktiv", "disconnected": "Getr.", "listen": "Abhör.", "connected": "Verb."},
        idle_none="Kein",
        no_user="Kein Benutzer vorhanden für {target}",
        no_session="Keine Sitzung vorhanden für {target}",
        error_line="Fehler [{code}]:{text}",
        access_denied="Zugriff verweigert",
        session_not_found="Die angegebene Sitzung wurde nicht gefunden.",
        logoff_failed="Die Sitzungs-ID {id} konnte nicht abgemeldet werden, Fehlercode {code}",
        disconnect_failed="Die Sitzung {id} konnte nicht getrennt werden, Fehlercode {code}",
        logoff_verbose="Sitzungs-ID {id} wird abgemeldet",
        disconnect_verbose="Sitzungs-ID {id} wird von Sitzungsname {name} getrennt",
        msg_names_failed="Fehler {code} beim Abrufen der Sitzungsnamen",
        wms_access_denied="Zugriff verweigert (Ausnahme von HRESULT: 0x80070005 (E_ACCESSDENIED))",
        wms_not_found="Die Sitzung mit der ID {id} wurde nicht gefunden.",
        command_not_found=(
            'Die Benennung "{name}" wurde nicht als Name eines Cmdlet, einer Funktion, einer '
            "Skriptdatei oder eines ausführbaren Programms erkannt. Überprüfen Sie die Schreibweise "
            "des Namens, oder ob der Pfad korrekt ist (sofern enthalten), und wiederholen Sie den Vorgang."
        ),
    ),
    "fr-FR": Locale(
        code="fr-FR",
        quser_header=_header("quser", "fr"),
        qwinsta_header=_built_header(("SESSION", "UTILISATEUR", "ID", "ÉTAT", "TYPE", "PÉRIPHÉRIQUE"), QWINSTA_COLUMNS),
        states={"active": "Actif", "disconnected": "Déco", "listen": "Écouter", "connected": "Conn"},
        idle_none="aucun",
        no_user="Aucun utilisateur n'existe pour {target}",
        no_session="Aucune session n'existe pour {target}",
        error_line="Erreur [{code}]:{text}",
        access_denied="Accès refusé.",
        session_not_found="La session spécifiée est introuvable.",
        logoff_failed="Impossible de fermer la session ID {id}, code d'erreur {code}",
        disconnect_failed="Impossible de déconnecter la session {id}, code d'erreur {code}",
        logoff_verbose="Fermeture de la session ID {id}",
        disconnect_verbose="Déconnexion de la session ID {id} du nom de session {name}",
        msg_names_failed="Erreur {code} lors de l'obtention des noms de session",
        wms_access_denied="Accès refusé. (Exception de HRESULT : 0x80070005 (E_ACCESSDENIED))",
        wms_not_found="La session d'ID {id} est introuvable.",
        command_not_found=(
            "Le terme «{name}» n'est pas reconnu comme nom d'applet de commande, fonction, fichier "
            "de script ou programme exécutable. Vérifiez l'orthographe du nom, ou si un chemin "
            "d'accès existe, vérifiez que le chemin d'accès est correct et réessayez."
        ),
    ),
    # Italian: the quser header, Attivo, Disc and the date format are from a real capture;
    # the none word, the qwinsta header, the other state words and the messages are not.
    "it-IT": Locale(
        code="it-IT",
        quser_header=_header("quser", "it"),
        qwinsta_header=_built_header(
            ("NOMESESSIONE", "NOMEUTENTE", "ID", "STATO", "TIPO", "DISPOSITIVO"), QWINSTA_COLUMNS
        ),
        states={"active": "Attivo", "disconnected": "Disc", "listen": "Listen", "connected": "Conn"},
        idle_none="nessuno",
        no_user="Nessun utente per {target}",
        no_session="Nessuna sessione per {target}",
        error_line="Errore [{code}]:{text}",
        access_denied="Accesso negato.",
        session_not_found="Impossibile trovare la sessione specificata.",
        logoff_failed="Impossibile disconnettere l'ID sessione {id}, codice di errore {code}",
        disconnect_failed="Impossibile disconnettere la sessione {id}, codice di errore {code}",
        logoff_verbose="Disconnessione dell'ID sessione {id}",
        disconnect_verbose="Disconnessione della sessione {id} dal nome sessione {name}",
        msg_names_failed="Errore {code} durante il recupero dei nomi di sessione",
        wms_access_denied="Accesso negato. (Eccezione da HRESULT: 0x80070005 (E_ACCESSDENIED))",
        wms_not_found="Impossibile trovare la sessione con ID {id}.",
        command_not_found=(
            "Termine '{name}' non riconosciuto come nome di cmdlet, funzione, programma eseguibile o "
            "file script. Controllare l'ortografia del nome o verificare che il percorso sia incluso "
            "e corretto, quindi riprovare."
        ),
    ),
}


def get_locale(code: str) -> Locale:
    """The Locale for ``code`` (exact, e.g. ``es-ES``); ValueError naming the known ones."""
    try:
        return LOCALES[code]
    except KeyError:
        raise ValueError(f"unknown locale {code!r}; known: {', '.join(LOCALES)}") from None


def format_logon(dt: datetime, date_format: str) -> str:
    """LOGON TIME text in a named regional format (see :data:`DATE_FORMATS`)."""
    return DATE_FORMATS[date_format](dt)


def format_idle(seconds: int | None, locale: Locale) -> str:
    """IDLE TIME text: ``.`` under a minute, ``5``, ``1:02``, ``2+03:04`` (the none word is
    the row's business: :func:`quser_row`).

    ``None`` renders the absurd value real hosts sometimes print (meaning "unknown").
    """
    if seconds is None:
        return ABSURD_IDLE
    minutes = seconds // 60
    if minutes < 1:
        return "."
    if minutes < 60:
        return str(minutes)
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}:{mins:02d}"
    days, hours = divmod(hours, 24)
    return f"{days}+{hours:02d}:{mins:02d}"


#: How a client reads a native command's bytes: "oem" (correctly, in the OEM code page),
#: "ansi" (as cp1252: what a Windows PowerShell remoting session does), "utf8".
READ_AS = ("oem", "ansi", "utf8")


def read_native(lines: list[str], locale: Locale, how: str) -> list[str]:
    """The text a client sees of lines the host printed in its OEM code page."""
    if how == "oem":
        return lines
    if how == "ansi":
        return [mangle_oem_as_ansi(line, locale.oem_codepage) for line in lines]
    if how == "utf8":
        return [mangle_oem_as_utf8(line, locale.oem_codepage) for line in lines]
    raise ValueError(f"read_as must be one of {READ_AS}, not {how!r}")


def _prints_none_word(s: SessionSpec) -> bool:
    """Captures show the none word only on console sessions with no idle time (doubt: what a
    console session idle for minutes shows); every other session prints ``.`` or minutes."""
    return (s.is_console or s.session_name == "console") and s.idle_seconds is not None and s.idle_seconds < 60


def quser_row(s: SessionSpec, locale: Locale, fmt: str, marker: str = " ") -> str:
    """One quser row, laid out as real hosts lay it out (module docstring)."""
    name = (s.username or "").lower()[:QUSER_NAME_MAX]
    ident = str(s.id)
    line = (marker + name).ljust(QUSER_COLUMNS[1][0]) + (s.session_name or "")
    line = line.ljust(max(QUSER_COLUMNS[2][0] - len(ident) + 1, len(line) + 1)) + ident
    line = (line + "  " + locale.state_word(s.state)).ljust(QUSER_IDLE_COL)
    logon = format_logon(s.logon, fmt) if s.logon else ""
    if _prints_none_word(s):
        return line + "    " + locale.idle_none + "   " + logon
    idle = format_idle(s.idle_seconds, locale)
    return line + idle.rjust(QUSER_COLUMNS[4][0] - QUSER_IDLE_COL + 1) + "  " + logon


def render_quser(
    sessions: Iterable[SessionSpec],
    locale: Locale,
    *,
    date_format: str | None = None,
    current_id: int | None = None,
) -> list[str]:
    """quser stdout lines (header first) for the sessions that have a user, by id, as the
    host prints them (read them through :func:`read_native` to see what a client sees).

    ``current_id`` gets the ``>`` marker. Over PowerShell Remoting the caller runs in
    session 0, which quser never lists, so a real remote quser shows no marker at all.
    """
    fmt = date_format or locale.code
    lines = [locale.quser_header]
    for s in sorted((s for s in sessions if s.username), key=lambda s: s.id):
        lines.append(quser_row(s, locale, fmt, ">" if s.id == current_id else " "))
    return lines


def qwinsta_row(s: SessionSpec, locale: Locale, marker: str = " ", *, type_column: bool = False) -> str:
    ident = str(s.id)
    line = (marker + (s.session_name or "")).ljust(QWINSTA_COLUMNS[1][0]) + (s.username or "")
    line = line.ljust(max(QWINSTA_COLUMNS[2][0] - len(ident) + 1, len(line) + 1)) + ident
    line += "  " + locale.state_word(s.state)
    # TYPE and DEVICE are blank on current Windows versions; older ones print the RDP
    # session's protocol driver (capture en-US_qwinsta_type: only the connected RDP session).
    if type_column and (s.session_name or "").lower().startswith("rdp-tcp#"):
        line = line.ljust(QWINSTA_COLUMNS[4][0]) + "rdpwd"
    return line


def render_qwinsta(
    sessions: Iterable[SessionSpec],
    locale: Locale,
    *,
    current_id: int | None = 0,
    type_column: bool = False,
    header: bool = True,
) -> list[str]:
    """qwinsta stdout lines: every session (services, console, listeners, users), by id.
    ``type_column``: fill TYPE as older Windows versions do; ``header=False``: rows only.

    ``current_id`` defaults to 0: over PowerShell Remoting the caller is in the services
    session, so the ``>`` lands on ``services`` (our understanding of real hosts; doubt).
    """
    lines = [locale.qwinsta_header] if header else []
    for s in sorted(sessions, key=lambda s: s.id):
        lines.append(qwinsta_row(s, locale, ">" if s.id == current_id else " ", type_column=type_column))
    return lines
