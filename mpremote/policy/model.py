"""Policy files -> validated, immutable :class:`Policy` objects.

A policy is data that runs unattended every evening, so every mistake must surface at
``policy check`` time with ``file:line: field 'x':`` and never at 17:00 on a Friday. The
checks live in :mod:`.load`; the scheduler and runner trust a :class:`Policy` completely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mpremote.commands import Command

#: What a policy stage may do (a subset of :class:`~mpremote.commands.Command`).
ACTIONS = (Command.MESSAGE, Command.DISCONNECT, Command.LOGOFF, Command.LOCK, Command.UNLOCK)
#: Stage actions that take a text (rendered with :data:`PLACEHOLDERS`).
TEXT_ACTIONS = (Command.MESSAGE, Command.LOCK)
#: Stage actions that may leave sessions with open unsaved work alone (``spare_busy: true``).
SPARE_BUSY_ACTIONS = (Command.LOCK, Command.DISCONNECT, Command.LOGOFF)
SESSION_STATES = ("active", "disconnected")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Placeholders a message text may use (see :func:`render_text`).
PLACEHOLDERS = ("minutes", "time", "name")
#: msg refuses longer texts (DESIGN section 4).
DEFAULT_CATCH_UP = timedelta(minutes=10)
DEFAULT_MESSAGE_SECONDS = 60

_DURATION_RE = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$", re.I)


@dataclass(frozen=True)
class Stage:
    """One step relative to each scheduled instant T: fires at ``T + offset``.

    ``index`` is the stage's position in the file and part of the state key: editing a
    stage's text or time never makes an already-fired stage fire again.
    """

    index: int
    action: str
    offset: timedelta  # negative: before T
    text: str | None = None
    seconds: int = DEFAULT_MESSAGE_SECONDS
    name: str = ""
    line: int = 0
    #: Leave sessions with an application that may hold unsaved work alone (skipped, "open: ...").
    spare_busy: bool = False

    @property
    def label(self) -> str:
        """A stable human name: the explicit ``name`` or ``T-15m`` / ``T`` / ``T+5m``."""
        return self.name or offset_label(self.offset)


@dataclass(frozen=True)
class Schedule:
    """Either days + one or more local times, or a cron expression (local wall clock)."""

    days: frozenset[int] = frozenset(range(7))  # 0 = Monday
    at: tuple[time, ...] = ()
    cron: str | None = None

    def describe(self) -> str:
        if self.cron:
            return f"cron '{self.cron}'"
        if self.days == frozenset(range(7)):
            when = "every day"
        elif self.days == frozenset(range(5)):
            when = "Monday to Friday"
        else:
            when = ", ".join(DAY_NAMES[d].capitalize() for d in sorted(self.days))
        return f"{when} at {', '.join(t.strftime('%H:%M') for t in self.at)}"


@dataclass(frozen=True)
class Selection:
    all: bool = False
    state: str | None = None
    idle_over: timedelta | None = None
    users: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.all:
            return "all sessions"
        parts = []
        if self.state:
            parts.append(f"{self.state} sessions")
        if self.idle_over is not None:
            parts.append(f"idle over {format_duration(self.idle_over)}")
        if self.users:
            parts.append("users " + ", ".join(self.users))
        return " and ".join(parts)


@dataclass(frozen=True)
class Exempt:
    users: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # names or globs
    groups: tuple[str, ...] = ()
    #: Line of each ``hosts``/``groups`` entry in the policy file, for "names nothing" errors.
    lines: dict[tuple[str, str], int] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class DateRange:
    """Inclusive range of local dates (a single skip date has start == end)."""

    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass(frozen=True)
class Policy:
    name: str
    path: Path
    targets: Path
    timezone: str
    schedule: Schedule
    stages: tuple[Stage, ...]  # in time order (by offset), index = position in the file
    select: Selection = field(default_factory=lambda: Selection(all=True))
    exempt: Exempt = field(default_factory=Exempt)
    limit: str | None = None
    skip_dates: tuple[DateRange, ...] = ()
    catch_up: timedelta = DEFAULT_CATCH_UP
    dry_run: bool = False
    description: str = ""
    audit_log: Path | None = None
    #: Line of ``limit:`` in the file, for errors found once the targets are loaded.
    limit_line: int | None = field(default=None, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_skip_date(self, day: date) -> bool:
        return any(day in r for r in self.skip_dates)


def parse_duration(value: Any) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d``, ``1h30m``. Bare numbers are refused: unit-less
    durations are the classic "was that seconds or minutes?" bug."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a duration such as 15m, 2h or 1d, got {value!r}")
    m = _DURATION_RE.match(value)
    if not m or not any(m.groups()):
        raise ValueError(f"expected a duration such as 15m, 2h or 1d, got {value!r}")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def format_duration(delta: timedelta) -> str:
    """The inverse of :func:`parse_duration`, shortest form (``1h30m``, ``0m``)."""
    total = int(abs(delta).total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0m"


def offset_label(offset: timedelta) -> str:
    if not offset:
        return "T"
    return ("T-" if offset < timedelta(0) else "T+") + format_duration(offset)


def render_text(template: str, *, minutes: int, time_text: str, name: str) -> str:
    """Fill ``{minutes}`` (minutes until T, rounded), ``{time}`` (T as local HH:MM), ``{name}``."""
    return template.format(minutes=minutes, time=time_text, name=name)
