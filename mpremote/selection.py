"""Which sessions an action touches: selectors, protected sessions, one decision per session.

Combination rules (why: every criterion may only *narrow* what "all" would touch, except the
pickers, which name things explicitly):

* Pickers name sessions: ``all``, ``users`` (exact names), ``sessions`` (``HOST:ID`` refs).
  Several pickers are OR'd: ``--user ana --user bo --session mp-101:7`` picks ana's, bo's and
  session 7 on mp-101. With no picker at all, the filters apply to every session
  (``--state disconnected`` alone means "all disconnected sessions").
* Filters narrow, AND'd with the pickers and each other: ``state``, ``idle_over``. They apply
  to ``HOST:ID`` refs too (``--session mp-101:3 --state disconnected`` leaves session 3 alone
  if it is active). A session whose idle time is unknown never passes ``idle_over``.
* ``exclude_users`` removes sessions whatever picked them.
* Protected sessions are never selected, whatever the selector: session 0, session names
  ``services``/``console``, the MultiPoint ``WMSshell`` account, the ``>`` (current) session,
  sessions with no user name, and the operator's own account (DOMAIN-aware).

User names match exactly: NFC-normalised and casefolded, never substring, regex or glob.
``SCHOOL\\ana`` matches ``ana`` when the session's domain is unknown or SCHOOL.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from mpremote.session import Session

__all__ = [
    "PROTECTED_SESSION_NAMES",
    "PROTECTED_USERS",
    "SELECTABLE_STATES",
    "Decision",
    "Selector",
    "describe",
    "format_duration",
    "parse_duration",
    "parse_session_ref",
    "select",
]

#: Session names (casefolded) that are never selected: the services session and the console.
PROTECTED_SESSION_NAMES = frozenset({"services", "console"})
#: Account names (casefolded) that are never selected: MultiPoint's station shell account.
PROTECTED_USERS = frozenset({"wmsshell"})
#: ``state`` values a selector accepts (English only: the parser normalises the host's words).
SELECTABLE_STATES = ("active", "disconnected")


EXCLUDED = "excluded user"


def _fold(name: str) -> str:
    """Caseless, canonical form of a name: equal for every spelling Windows treats as equal."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def _split_account(name: str, domain: str | None = None) -> tuple[str | None, str]:
    """``"SCHOOL\\ana"`` -> ("school", "ana") folded; an explicit domain wins when given."""
    if "\\" in name:
        left, _, name = name.rpartition("\\")
        domain = domain or left or None
    return (_fold(domain) if domain else None), _fold(name)


def _same_account(a: tuple[str | None, str], b: tuple[str | None, str]) -> bool:
    """Same name, and not provably different domains (an unknown domain matches any)."""
    return a[1] == b[1] and (a[0] is None or b[0] is None or a[0] == b[0])


@dataclass(frozen=True)
class Selector:
    """What an action should touch. Validated on construction (``ValueError``)."""

    all: bool = False
    #: Exact user names, case-insensitive, optional ``DOMAIN\\`` prefix.
    users: tuple[str, ...] = ()
    #: (host name, session id) from ``--session HOST:ID``; host compared case-insensitively.
    sessions: tuple[tuple[str, int], ...] = ()
    #: ``active`` or ``disconnected`` (normalised English).
    state: str | None = None
    #: Only sessions idle strictly longer than this (unknown idle never qualifies).
    idle_over: timedelta | None = None
    exclude_users: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field_name in ("users", "exclude_users"):
            names = tuple(getattr(self, field_name))
            object.__setattr__(self, field_name, names)
            for name in names:
                if not isinstance(name, str) or not name.strip() or name != name.strip():
                    raise ValueError(f"{field_name}: {name!r} is not a user name (empty or padded with spaces)")
                if not _split_account(name)[1]:
                    raise ValueError(f"{field_name}: {name!r} has a domain but no user name")
        refs = tuple((str(h), int(i)) for h, i in self.sessions)
        object.__setattr__(self, "sessions", refs)
        for host, sid in refs:
            if not host or sid < 0:
                raise ValueError(f"sessions: {host}:{sid} is not HOST:ID")
        if self.state is not None:
            state = self.state.strip().lower()
            if state not in SELECTABLE_STATES:
                raise ValueError(f"state must be one of {', '.join(SELECTABLE_STATES)}, not {self.state!r}")
            object.__setattr__(self, "state", state)
        if self.idle_over is not None and self.idle_over < timedelta(0):
            raise ValueError("idle_over must not be negative")

    @property
    def has_pickers(self) -> bool:
        return self.all or bool(self.users) or bool(self.sessions)

    def is_empty(self) -> bool:
        """Nothing chosen: action commands must refuse rather than treat it as "all"."""
        return not (self.has_pickers or self.state is not None or self.idle_over is not None)


@dataclass(frozen=True)
class Decision:
    """One session's fate. ``reason`` says why it is (not) selected, for reports and audit."""

    session: Session
    selected: bool
    reason: str
    #: True when the session matched but is spared on purpose (protected or excluded):
    #: reports show these as "skipped"; sessions that simply did not match are not reported.
    spared: bool = False


def _protection(session: Session, operator: tuple[str | None, str] | None) -> str | None:
    """Why a session must never be touched, or None."""
    if session.id == 0:
        return "session 0 (services)"
    name = _fold(session.session_name or "")
    if name in PROTECTED_SESSION_NAMES:
        return f"{name} session"
    account = _split_account(session.username.strip(), session.domain)
    if not account[1]:
        return "no user name"
    if account[1] in PROTECTED_USERS:
        return "WMSshell (MultiPoint station shell)"
    if session.current:
        return "your own session"
    if operator is not None and _same_account(account, operator):
        return "operator's own account"
    return None


def select(
    host: str,
    sessions: list[Session],
    selector: Selector,
    *,
    operator_user: str | None = None,
    operator_domain: str | None = None,
) -> list[Decision]:
    """Decide, for every session of ``host``, whether the action touches it (in input order).

    Protection is checked first, so a protected session always reports why it was spared.
    An empty selector selects nothing (callers refuse before getting here).
    """
    operator = _split_account(operator_user, operator_domain) if operator_user else None
    wanted = [_split_account(u) for u in selector.users]
    excluded = [_split_account(u) for u in selector.exclude_users]
    host_key = _fold(host)
    refs = {sid for h, sid in selector.sessions if _fold(h) == host_key}
    decisions = []
    for s in sessions:
        selected, reason = _decide(s, selector, operator, wanted, excluded, refs)
        spared = not selected and reason == EXCLUDED
        if not selected and _protection(s, operator) is not None:
            # Reported as "skipped" only when the selector picked it: the console is not
            # "skipped" by ``--user pat``, it was never in question.
            spared = _decide(s, selector, operator, wanted, excluded, refs, protect=False)[0]
        decisions.append(Decision(s, selected, reason, spared))
    return decisions


def _decide(
    s: Session,
    selector: Selector,
    operator: tuple[str | None, str] | None,
    wanted: list[tuple[str | None, str]],
    excluded: list[tuple[str | None, str]],
    refs: set[int],
    *,
    protect: bool = True,
) -> tuple[bool, str]:
    protected = _protection(s, operator) if protect else None
    if protected:
        return False, protected
    if selector.is_empty():
        return False, "nothing selected"
    account = _split_account(s.username, s.domain)
    if selector.all or not selector.has_pickers:
        why = "all sessions"
    elif any(_same_account(account, w) for w in wanted):
        why = "user matched"
    elif s.id in refs:
        why = "session id matched"
    else:
        return False, "not matched"
    if any(_same_account(account, x) for x in excluded):
        return False, EXCLUDED
    if selector.state is not None and s.state != selector.state:
        return False, f"state is {s.state}, not {selector.state}"
    if selector.idle_over is not None:
        if s.idle is None:
            return False, "idle time unknown"
        if s.idle <= selector.idle_over:
            return False, f"idle {format_duration(s.idle)}, not over {format_duration(selector.idle_over)}"
    return True, why


#: Longest duration accepted anywhere (idle time, grace period): ten years. Longer is a typo,
#: and past ~2.7 million years ``timedelta`` itself overflows.
MAX_DURATION_S = 10 * 366 * 86400
_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> timedelta:
    """``"90m"``, ``"2h"``, ``"1d"``, ``"45s"``, ``"1h30m"`` -> timedelta (units d, h, m, s).

    A bare number is refused: "30" could mean seconds or minutes, and guessing wrong here
    logs off people who were merely reading.
    """
    raw = text
    text = text.strip().lower().replace(" ", "")
    m = _DURATION_RE.fullmatch(text)
    if not text or not m or not any(m.groups()):
        hint = " (add a unit, e.g. 30m)" if text.isdigit() else ""
        raise ValueError(f"invalid duration {raw!r}{hint}: use a number with d, h, m or s, e.g. 90m, 2h, 1h30m")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    seconds = d * 86400 + h * 3600 + mi * 60 + s
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {raw!r} is too large (at most {MAX_DURATION_S // 86400}d)")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """timedelta -> the shortest ``1d2h30m15s`` spelling (``0s`` for zero); inverse of parse."""
    total = int(value.total_seconds())
    if total <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, total = divmod(total, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def parse_session_ref(text: str) -> tuple[str, int]:
    """``"mp-101:3"`` -> ("mp-101", 3). Raises ValueError naming the expected form."""
    host, sep, sid = text.strip().rpartition(":")
    if not sep or not host.strip() or not sid.isdigit() or not sid.isascii():
        raise ValueError(f"invalid session reference {text!r}: expected HOST:ID, e.g. mp-101:3")
    return host.strip(), int(sid)


def _names(label: str, names: list[str]) -> str:
    """Always plural ("users ana"): prompts read the same whatever the count."""
    return f"{label}s {', '.join(names)}"


def describe(selector: Selector) -> str:
    """A human phrase for confirmation prompts, e.g.
    ``"all sessions except users teacher"`` or
    ``"disconnected sessions idle over 30m of users ana, bo"``.
    """
    if selector.is_empty():
        return "no sessions"
    state = f"{selector.state} " if selector.state else ""
    idle = f" idle over {format_duration(selector.idle_over)}" if selector.idle_over is not None else ""
    if selector.all or not selector.has_pickers:
        phrase = f"all {state}sessions{idle}"
    else:
        refs = ", ".join(f"{h}:{i}" for h, i in selector.sessions)
        phrase = f"{state}sessions{idle}"
        if selector.users:
            phrase += " of " + _names("user", list(selector.users)) + (f" or {refs}" if refs else "")
        else:
            phrase += f" {refs}"
    if selector.exclude_users:
        phrase += " except " + _names("user", list(selector.exclude_users))
    return phrase
