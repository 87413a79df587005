"""quser/qwinsta text and native-command messages of an emulated host, per Windows locale.

Real hosts print localised headers, state words and messages, and their logon time follows
the regional date format, which is set independently of the display language. This module
is the one place that knows those strings; ``hostmodel`` only asks it to render rows.

Column layout (DESIGN.md section 4), 0-based::

    col 0 ``>`` or space | USERNAME from 1 | SESSIONNAME from 23 | ID right-aligned ending
    at 43 | STATE from 46 | IDLE TIME right-aligned ending at 62 | LOGON TIME from 65

Every field starts at its nominal column, or one space after the previous field when that
one ran long (ids of 100+ reach left into the gap first, since they are right-aligned).

Doubts, stated once here: the English strings are taken from real output we have seen or
from Microsoft's documentation; the es/de/fr message translations (other than the quser
headers and state words given in DESIGN.md) are our best reconstruction of the Windows
resource strings, not verbatim copies. The qwinsta layout (SESSIONNAME 1, USERNAME 19,
ID ending at 45, STATE 48, TYPE 56, DEVICE 68) is modelled on real Server 2016+ output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only, labfile imports this module
    from mpremote.lab.labfile import SessionSpec

#: Quser columns: (start or end column, alignment). Named once, used by header and rows.
QUSER_COLUMNS: tuple[tuple[int, str], ...] = ((1, "l"), (23, "l"), (43, "r"), (46, "l"), (62, "r"), (65, "l"))
#: Qwinsta columns: SESSIONNAME, USERNAME, ID (right, ends at 45), STATE, TYPE, DEVICE.
QWINSTA_COLUMNS: tuple[tuple[int, str], ...] = ((1, "l"), (19, "l"), (45, "r"), (48, "l"), (56, "l"), (68, "l"))

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
    "dd-MMM-yy": _short_month_date,
}


@dataclass(frozen=True)
class Locale:
    """Every localised string an emulated host prints. Messages are ``str.format`` templates."""

    code: str
    quser_header: tuple[str, str, str, str, str, str]
    qwinsta_header: tuple[str, str, str, str, str, str]
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

    def state_word(self, state: str) -> str:
        return self.states.get(state, state.capitalize())

    def error(self, code: int, text: str) -> str:
        return self.error_line.format(code=code, text=text)


_HRESULT_DENIED = "(Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"

LOCALES: dict[str, Locale] = {
    "en-US": Locale(
        code="en-US",
        quser_header=("USERNAME", "SESSIONNAME", "ID", "STATE", "IDLE TIME", "LOGON TIME"),
        qwinsta_header=("SESSIONNAME", "USERNAME", "ID", "STATE", "TYPE", "DEVICE"),
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
    ),
    "es-ES": Locale(
        code="es-ES",
        quser_header=("NOMBRE USUARIO", "NOMBRE SESIÓN", "ID.", "ESTADO", "TIEMPO IN.", "TIEMPO SESIÓN"),
        qwinsta_header=("NOMBRE SESIÓN", "NOMBRE USUARIO", "ID.", "ESTADO", "TIPO", "DISPOSITIVO"),
        states={"active": "Activo", "disconnected": "Desc", "listen": "Escuchar", "connected": "Conec"},
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
        quser_header=("BENUTZERNAME", "SITZUNGSNAME", "ID", "STATUS", "LEERLAUF", "ANMELDEZEIT"),
        qwinsta_header=("SITZUNGSNAME", "BENUTZERNAME", "ID", "STATUS", "TYP", "GERÄT"),
        states={"active": "Aktiv", "disconnected": "Getr.", "listen": "Abhören", "connected": "Verb."},
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
        quser_header=("UTILISATEUR", "SESSION", "ID", "ÉTAT", "TEMPS INACT", "TEMPS SESSION"),
        qwinsta_header=("SESSION", "UTILISATEUR", "ID", "ÉTAT", "TYPE", "PÉRIPHÉRIQUE"),
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


def format_idle(seconds: int | None, locale: Locale, *, active: bool) -> str:
    """IDLE TIME text: ``.``/none word under a minute, ``5``, ``1:02``, ``2+03:04``.

    ``None`` renders the absurd value real hosts sometimes print (meaning "unknown").
    Under a minute, active sessions show ``.`` and disconnected ones the localised "none";
    that split matches the outputs we have seen but is not documented anywhere (doubt).
    """
    if seconds is None:
        return ABSURD_IDLE
    minutes = seconds // 60
    if minutes < 1:
        return "." if active else locale.idle_none
    if minutes < 60:
        return str(minutes)
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}:{mins:02d}"
    days, hours = divmod(hours, 24)
    return f"{days}+{hours:02d}:{mins:02d}"


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


def mangle_oem(text: str) -> str:
    """What a header looks like when OEM (cp850) bytes are decoded as UTF-8: ``SESI�N``.

    Each non-ASCII character becomes one replacement character, so columns do not move.
    """
    return text.encode("cp850", errors="replace").decode("utf-8", errors="replace")


def render_quser(
    sessions: Iterable[SessionSpec],
    locale: Locale,
    *,
    date_format: str | None = None,
    current_id: int | None = None,
    mangle_header: bool = False,
) -> list[str]:
    """quser stdout lines (header first) for the sessions that have a user, by id.

    ``current_id`` gets the ``>`` marker. Over PowerShell Remoting the caller runs in
    session 0, which quser never lists, so a real remote quser shows no marker at all.
    """
    header = layout_row(" ", locale.quser_header, QUSER_COLUMNS)
    lines = [mangle_oem(header) if mangle_header else header]
    fmt = date_format or locale.code
    for s in sorted((s for s in sessions if s.username), key=lambda s: s.id):
        fields = (
            s.username or "",
            s.session_name or "",
            str(s.id),
            locale.state_word(s.state),
            format_idle(s.idle_seconds, locale, active=s.state == "active"),
            format_logon(s.logon, fmt) if s.logon else "",
        )
        lines.append(layout_row(">" if s.id == current_id else " ", fields, QUSER_COLUMNS))
    return lines


def render_qwinsta(
    sessions: Iterable[SessionSpec],
    locale: Locale,
    *,
    current_id: int | None = 0,
    mangle_header: bool = False,
) -> list[str]:
    """qwinsta stdout lines: every session (services, console, listeners, users), by id.

    ``current_id`` defaults to 0: over PowerShell Remoting the caller is in the services
    session, so the ``>`` lands on ``services`` (our understanding of real hosts; doubt).
    """
    header = layout_row(" ", locale.qwinsta_header, QWINSTA_COLUMNS)
    lines = [mangle_oem(header) if mangle_header else header]
    for s in sorted(sessions, key=lambda s: s.id):
        # TYPE and DEVICE are blank on current Windows versions for every session kind.
        fields = (s.session_name or "", s.username or "", str(s.id), locale.state_word(s.state), "", "")
        lines.append(layout_row(">" if s.id == current_id else " ", fields, QWINSTA_COLUMNS))
    return lines
