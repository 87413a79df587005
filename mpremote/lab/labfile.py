"""What an emulated lab contains: hosts and their sessions, from a seed or from a YAML file.

``generate_lab`` makes a realistic, seeded lab (same seed, same lab, on every machine);
``load_lab_file`` reads an exact lab, host by host, and names file, line and field in every
validation error, because a lab file is usually written by hand to reproduce one situation.

Every host carries the sessions a real host has besides its users: ``services`` (id 0,
no user), ``console`` (id 1; on MultiPoint hosts the ``WMSshell`` account is logged on
there and runs the station shell) and the ``rdp-tcp`` listener (id 65536). quser lists
only sessions with a user; qwinsta lists all of them.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mpremote.errors import InputFileError
from mpremote.lab import faults as faults_mod
from mpremote.lab.locales import DATE_FORMATS, DEFAULT_LOCALE, LOCALES
from mpremote.targets.yamlload import LineDict, load_yaml

SESSION_STATES = ("active", "disconnected", "listen", "connected")
SERVICES_ID = 0
CONSOLE_ID = 1
LISTENER_ID = 65536
WMSSHELL_USER = "WMSshell"
DEFAULT_DOMAIN = "LAB"
#: The logon times of generated labs cluster around this school morning.
BASE_TIME = datetime(2025, 4, 28, 7, 30)


@dataclass(frozen=True)
class SessionSpec:
    """One session as the host knows it. ``idle_seconds`` None means quser prints an absurd
    value (real hosts do; it means "unknown"). Disconnected sessions have no session name."""

    username: str | None
    id: int
    state: str = "active"
    session_name: str | None = None
    domain: str | None = None
    idle_seconds: int | None = 0
    logon: datetime | None = None
    is_console: bool = False
    is_services: bool = False
    is_listener: bool = False
    is_wmsshell: bool = False
    #: MultiPoint station the session is shown on (None: a remote RDP client or none).
    station_id: int | None = None
    is_admin: bool = False
    #: Image names of the user's open applications (``WINWORD.EXE``), what Get-WmsApp and
    #: per-session Get-Process show besides the shell processes every session has.
    apps: tuple[str, ...] = ()
    #: Lock-WmsSession's message while the session is locked (blocked); None: unlocked.
    lock_message: str | None = None


@dataclass(frozen=True)
class HostSpec:
    """One emulated host. ``faults`` holds transport and content faults alike; the server
    plays the former, the host model the latter."""

    name: str
    locale: str = DEFAULT_LOCALE
    multipoint: bool = True
    sessions: tuple[SessionSpec, ...] = ()
    faults: tuple[faults_mod.Fault, ...] = ()
    computer_name: str | None = None
    #: Regional date format name (``locales.DATE_FORMATS``); None: the locale's own.
    date_format: str | None = None
    #: Accepted for old lab files and ignored: native output is always read the way a Windows
    #: PowerShell remoting session reads it (OEM bytes decoded as cp1252, ``SESIàN``).
    oem_mangle: bool = False
    #: qwinsta fills its TYPE column (``rdpwd`` for RDP sessions), as older Windows versions do.
    qwinsta_type: bool = False
    domain: str = DEFAULT_DOMAIN

    @property
    def effective_computer_name(self) -> str:
        return self.computer_name or self.name

    def has_fault(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.faults)


@dataclass(frozen=True)
class LabSpec:
    hosts: tuple[HostSpec, ...]

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)


def system_sessions(multipoint: bool, computer_name: str, *, console_user: str | None = None) -> list[SessionSpec]:
    """services, console and the RDP listener, as every real host has them."""
    if multipoint:
        console = SessionSpec(
            WMSSHELL_USER,
            CONSOLE_ID,
            "active",
            "console",
            computer_name.upper(),
            0,
            BASE_TIME - timedelta(days=3),
            is_console=True,
            is_wmsshell=True,
        )
    elif console_user:
        console = SessionSpec(
            console_user,
            CONSOLE_ID,
            "active",
            "console",
            computer_name.upper(),
            0,
            BASE_TIME - timedelta(hours=20),
            is_console=True,
            is_admin=True,
        )
    else:
        console = SessionSpec(None, CONSOLE_ID, "connected", "console", is_console=True, idle_seconds=None)
    return [
        SessionSpec(None, SERVICES_ID, "disconnected", "services", is_services=True, idle_seconds=None),
        console,
        SessionSpec(None, LISTENER_ID, "listen", "rdp-tcp", is_listener=True, idle_seconds=None),
    ]


# --------------------------------------------------------------------------- generation

_PLAIN_NAMES = (
    "ana",
    "jgarcia",
    "lucas",
    "mchen",
    "teacher",
    "aisha.k",
    "pat",
    "kowalski",
    "student07",
    "nkrumah",
    "lfernandez",
    "tomasz",
    "priya",
    "b.smith",
    "o'brien",
    "yuki",
    "ahmed.r",
)
_ACCENTED_NAMES = ("Zoë", "Søren", "émile", "j.müller", "Ana Belén", "Łukasz", "maría josé")
_SPACED_NAMES = ("van der Berg", "maría josé", "sam lee", "Ana Belén", "de la Cruz")


def printable_name(name: str, oem_codepage: int) -> bool:
    """quser prints names in the host's OEM code page; a letter it lacks (``Ł`` in cp850,
    ``ø`` in cp437) comes out as ``?`` and the name is lost, so generated hosts avoid them."""
    try:
        name.encode(f"cp{oem_codepage}")
    except UnicodeEncodeError:
        return False
    return True


def _pick_names(rng: random.Random, k: int, oem_codepage: int = 850) -> list[str]:
    pool = sorted(n for n in set(_PLAIN_NAMES + _ACCENTED_NAMES + _SPACED_NAMES) if printable_name(n, oem_codepage))
    names = rng.sample(pool, min(k, len(pool))) + [f"student{i:03d}" for i in range(len(pool), k)]
    if k >= 3:
        if not any(" " in n for n in names):
            names[0] = rng.choice([n for n in _SPACED_NAMES if n not in names])
        if not any(not n.isascii() for n in names):
            names[1] = rng.choice([n for n in pool if not n.isascii() and n not in names and " " not in n])
    return names


def _pick_ids(rng: random.Random, k: int) -> list[int]:
    ids: list[int] = []
    cur = CONSOLE_ID
    for i in range(k):
        late = i == k - 1 and k >= 4 and cur < 100
        if late or rng.random() < 0.1:
            cur = max(cur, rng.randint(100, 140))
        cur += rng.randint(1, 3)
        ids.append(cur)
    return ids


def _pick_idle(rng: random.Random, active: bool) -> int | None:
    roll = rng.random()
    if roll < 0.06:
        return None
    if active:
        if roll < 0.45:
            return rng.randint(0, 59)
        if roll < 0.8:
            return rng.randint(60, 3599)
        return rng.randint(3600, 6 * 3600)
    if roll < 0.15:
        return rng.randint(0, 59)
    if roll < 0.6:
        return rng.randint(60, 3599)
    return rng.randint(3600, 4 * 86400)


def generate_host(name: str, sessions: int, rng: random.Random, locale: str, multipoint: bool) -> HostSpec:
    """One realistic host: ``sessions`` user sessions plus services/console/listener."""
    specs = system_sessions(multipoint, name, console_user="Administrator" if rng.random() < 0.2 else None)
    rdp = rng.randint(0, 20)
    station = 0
    names = _pick_names(rng, sessions, LOCALES[locale].oem_codepage)
    for user, sid in zip(names, _pick_ids(rng, sessions), strict=True):
        active = rng.random() < 0.7
        logon = BASE_TIME + timedelta(minutes=rng.randint(0, 600))
        if not active and rng.random() < 0.3:
            logon -= timedelta(days=rng.randint(1, 3))
        station_id = None
        if active:
            rdp += rng.randint(1, 4)
            if multipoint and rng.random() < 0.6:
                station += 1
                station_id = station
        specs.append(
            SessionSpec(
                username=user,
                id=sid,
                state="active" if active else "disconnected",
                session_name=f"rdp-tcp#{rdp}" if active else None,
                domain=DEFAULT_DOMAIN,
                idle_seconds=_pick_idle(rng, active),
                logon=logon,
                station_id=station_id,
                is_admin=user == "teacher",
            )
        )
    specs = seed_apps(specs, random.Random(f"apps:{name}:{rng.random()}"))
    return HostSpec(name=name, locale=locale, multipoint=multipoint, sessions=tuple(specs))


#: What generated sessions have open: applications that hold unsaved work (flagged by
#: mpremote's default list) and ones that do not.
_BUSY_APPS = ("WINWORD.EXE", "EXCEL.EXE", "POWERPNT.EXE", "notepad.exe", "Code.exe", "chrome.exe", "msedge.exe",
              "firefox.exe", "soffice.bin")  # fmt: skip
_QUIET_APPS = ("calc.exe", "AcroRd32.exe", "vlc.exe", "Teams.exe", "SnippingTool.exe")


def seed_apps(specs: list[SessionSpec], rng: random.Random) -> list[SessionSpec]:
    """Give user sessions open applications: about half have one that holds unsaved work.

    Drawn from a separate Random so adding apps changed no other value of a seeded lab.
    """
    out = []
    for s in specs:
        if s.username and not (s.is_console or s.is_services or s.is_listener):
            roll = rng.random()
            apps: list[str] = []
            if roll < 0.45:  # about half: work at risk
                apps.append(rng.choice(_BUSY_APPS))
            if roll < 0.2 or roll > 0.6:  # some: only an app that holds nothing unsaved
                apps.append(rng.choice(_QUIET_APPS))
            s = dataclasses.replace(s, apps=tuple(apps))
        out.append(s)
    return out


def generate_lab(
    hosts: int, sessions_per_host: int, seed: int, locale: str = DEFAULT_LOCALE, multipoint: bool = True
) -> LabSpec:
    """A seeded lab: hosts ``mp-lab-001``..; the same arguments give the same lab everywhere
    (each host draws from its own ``Random(f"{seed}:{index}")``, string seeds being stable)."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}; known: {', '.join(LOCALES)}")
    return LabSpec(
        tuple(
            generate_host(f"mp-lab-{i:03d}", sessions_per_host, random.Random(f"{seed}:{i}"), locale, multipoint)
            for i in range(1, hosts + 1)
        )
    )


# --------------------------------------------------------------------------- lab files


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_QUSER_IDLE = re.compile(r"^(?:(\d+)\+)?(\d+):(\d{2})$")
_HOST_KEYS = {
    "name",
    "computer_name",
    "locale",
    "date_format",
    "multipoint",
    "domain",
    "oem_mangle",
    "qwinsta_type",
    "system_sessions",
    "console_user",
    "faults",
    "sessions",
}
_SESSION_KEYS = {"user", "domain", "id", "session", "state", "idle", "logon", "admin", "station", "apps"}
_DEFAULT_KEYS = {"locale", "date_format", "multipoint", "domain"}


def parse_idle(value: Any) -> int | None:
    """Idle in a lab file: seconds, ``90s``/``5m``/``1h30m``/``2d``, ``1:02``, ``2+03:04``,
    or ``unknown``/null (quser then prints an absurd value). ValueError otherwise."""
    if value is None or value == "unknown":
        return None
    if isinstance(value, bool):
        raise ValueError("idle must be a duration, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("idle must not be negative")
        return value
    text = str(value).strip()
    if m := _QUSER_IDLE.match(text):
        return (int(m[1] or 0) * 1440 + int(m[2]) * 60 + int(m[3])) * 60
    m = _DURATION.match(text)
    if not text or not m:
        raise ValueError(f"idle {text!r} is not a duration (e.g. 45s, 5m, 1h30m, 2d, 1:02, unknown)")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


class _Reader:
    """Validation helpers that turn every problem into an InputFileError naming file:line:field."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: LineDict | None, key: str | None, where: str, problem: str) -> InputFileError:
        line = None
        if isinstance(node, LineDict):
            line = node.line_of(key) if key else node.line
        return InputFileError(self.path, line, f"{where}.{key}" if key and where else (key or where), problem)

    def check_keys(self, node: Any, allowed: set[str], where: str) -> LineDict:
        if not isinstance(node, LineDict):
            raise InputFileError(self.path, None, where, "must be a mapping")
        for key in node:
            if key not in allowed:
                raise self.fail(node, str(key), where, f"unknown key; allowed: {', '.join(sorted(allowed))}")
        return node

    def get(self, node: LineDict, key: str, where: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in node or node[key] is None:
            return default
        value = node[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(node, key, where, f"must be a {names}, got {value!r}")
        return value


def _read_session(r: _Reader, node: Any, where: str, default_domain: str) -> SessionSpec:
    node = r.check_keys(node, _SESSION_KEYS, where)
    user = r.get(node, "user", where, (str, int), None)
    if user is None or not str(user).strip():
        raise r.fail(node, "user" if "user" in node else None, where, "a session needs a 'user'")
    if "id" not in node:
        raise r.fail(node, None, where, "a session needs an 'id'")
    sid = r.get(node, "id", where, int, None)
    if not 2 <= sid < LISTENER_ID:
        raise r.fail(node, "id", where, f"user session ids run from 2 to {LISTENER_ID - 1}, got {sid}")
    name = r.get(node, "session", where, str, None)
    state = r.get(node, "state", where, str, "active" if name else "disconnected")
    if state not in ("active", "disconnected"):
        raise r.fail(node, "state", where, f"must be active or disconnected, got {state!r}")
    if state == "disconnected" and name:
        raise r.fail(node, "session", where, "a disconnected session has no session name")
    if state == "active" and not name:
        raise r.fail(node, "state", where, "an active session needs a 'session' name (e.g. rdp-tcp#3)")
    try:
        idle = parse_idle(node.get("idle", 0))
    except ValueError as exc:
        raise r.fail(node, "idle", where, str(exc)) from None
    logon_raw = node.get("logon")
    try:
        logon = (
            logon_raw
            if isinstance(logon_raw, datetime)
            else (datetime.fromisoformat(str(logon_raw)) if logon_raw is not None else BASE_TIME)
        )
    except ValueError:
        raise r.fail(node, "logon", where, f"not a date and time (YYYY-MM-DD HH:MM): {logon_raw!r}") from None
    return SessionSpec(
        username=str(user),
        id=sid,
        state=state,
        session_name=name,
        domain=r.get(node, "domain", where, str, default_domain),
        idle_seconds=idle,
        logon=logon,
        station_id=r.get(node, "station", where, int, None),
        is_admin=r.get(node, "admin", where, bool, False),
        apps=_read_apps(r, node, where),
    )


def _read_apps(r: _Reader, node: LineDict, where: str) -> tuple[str, ...]:
    apps = r.get(node, "apps", where, list, [])
    for i, name in enumerate(apps):
        if not isinstance(name, str) or not name.strip() or "\\" in name or "/" in name:
            raise r.fail(node, "apps", where, f"[{i}]: an image name such as WINWORD.EXE, got {name!r}")
    return tuple(a.strip() for a in apps)


def _read_host(r: _Reader, node: Any, where: str, defaults: dict[str, Any]) -> HostSpec:
    node = r.check_keys(node, _HOST_KEYS, where)
    name = r.get(node, "name", where, str, None)
    if not name:
        raise r.fail(node, None, where, "a host needs a 'name'")
    locale = r.get(node, "locale", where, str, defaults.get("locale", DEFAULT_LOCALE))
    if locale not in LOCALES:
        raise r.fail(node, "locale", where, f"unknown locale {locale!r}; known: {', '.join(LOCALES)}")
    date_format = r.get(node, "date_format", where, str, defaults.get("date_format"))
    if date_format is not None and date_format not in DATE_FORMATS:
        raise r.fail(node, "date_format", where, f"unknown date format; known: {', '.join(DATE_FORMATS)}")
    multipoint = r.get(node, "multipoint", where, bool, defaults.get("multipoint", True))
    domain = r.get(node, "domain", where, str, defaults.get("domain", DEFAULT_DOMAIN))
    computer = r.get(node, "computer_name", where, str, None)
    fault_list = r.get(node, "faults", where, list, [])
    parsed_faults = []
    for i, text in enumerate(fault_list):
        try:
            parsed_faults.append(faults_mod.parse_fault_kind(str(text)))
        except ValueError as exc:
            raise r.fail(node, "faults", where, f"[{i}]: {exc}") from None
    sessions: list[SessionSpec] = []
    for i, s in enumerate(r.get(node, "sessions", where, list, [])):
        spec = _read_session(r, s, f"{where}.sessions[{i}]", domain)
        if any(o.id == spec.id for o in sessions):
            raise r.fail(s, "id", f"{where}.sessions[{i}]", f"duplicate session id {spec.id}")
        sessions.append(spec)
    if r.get(node, "system_sessions", where, bool, True):
        console_user = r.get(node, "console_user", where, str, None)
        sessions[:0] = system_sessions(multipoint, computer or name, console_user=console_user)
    return HostSpec(
        name=name,
        locale=locale,
        multipoint=multipoint,
        sessions=tuple(sessions),
        faults=tuple(parsed_faults),
        computer_name=computer,
        date_format=date_format,
        oem_mangle=r.get(node, "oem_mangle", where, bool, False),
        qwinsta_type=r.get(node, "qwinsta_type", where, bool, False),
        domain=domain,
    )


def load_lab_file(path: str | Path) -> LabSpec:
    """An exact lab from YAML (see ``examples/lab-exact.yaml``); InputFileError on any problem."""
    p = str(path)
    r = _Reader(p)
    doc = load_yaml(p)  # the client's line-aware loader: same YAML rules, same messages
    root = r.check_keys(doc, {"hosts", "defaults"}, "")
    defaults = r.check_keys(root.get("defaults") or LineDict(), _DEFAULT_KEYS, "defaults")
    hosts_node = root.get("hosts")
    if not isinstance(hosts_node, list) or not hosts_node:
        raise r.fail(root, "hosts" if "hosts" in root else None, "", "'hosts' must be a non-empty list")
    hosts: list[HostSpec] = []
    for i, h in enumerate(hosts_node):
        host = _read_host(r, h, f"hosts[{i}]", dict(defaults))
        if any(o.name == host.name for o in hosts):
            raise r.fail(h, "name", f"hosts[{i}]", f"duplicate host name {host.name!r}")
        hosts.append(host)
    return LabSpec(tuple(hosts))
