"""What the live view shows, as plain data: hosts, filter, sort, cursor, selection, recent changes.

No terminal here: the view (``view.py``) feeds rows and keys in, and draws what
:meth:`ViewModel.lines` returns. Everything is guarded by one lock because rows arrive on
the refresh thread while keys arrive on the terminal's.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
import unicodedata
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from mpremote.session import Session
from mpremote.watch.changes import Change
from mpremote.watch.engine import HostRow

SORTS = ("host", "idle")
#: How many recent changes the view keeps (the change log under the host list).
RECENT_CHANGES = 200


def fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


@dataclass
class HostView:
    """The latest known state of one host."""

    name: str
    row: HostRow | None = None
    #: Sessions from the last refresh at which the host answered (kept while it is down).
    sessions: list[Session] = field(default_factory=list)
    refreshing: bool = False
    changed_at: int = 0  # refresh number of the last row that carried changes

    @property
    def ok(self) -> bool:
        return self.row is not None and self.row.ok

    @property
    def status(self) -> str:
        if self.row is None:
            return "waiting"
        return self.row.result.status.value

    @property
    def error_kind(self) -> str | None:
        r = self.row
        return r.result.error.kind if r is not None and r.result.error else None

    def longest_idle(self) -> int | None:
        idles = [s.idle_seconds for s in self.sessions if s.idle_seconds is not None]
        return max(idles) if idles else None

    def counts(self) -> Counter[str]:
        return Counter(s.state for s in self.sessions)


@dataclass(frozen=True)
class RecentChange:
    refresh: int
    at: _dt.datetime
    host: str
    change: Change


@dataclass(frozen=True)
class Line:
    """One line of the host list: a host (``session`` None) or one of its sessions."""

    host: HostView
    session: Session | None = None

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.host.name, None if self.session is None else self.session.id)


SessionRef = tuple[str, int, str]  # (host, id, username): what the operator selected


class ViewModel:
    def __init__(self, host_names: list[str], interval: float) -> None:
        self.lock = threading.RLock()
        self.hosts = {n: HostView(n) for n in host_names}
        self.order = list(host_names)
        self.interval = interval
        self.filter = ""
        self.sort = "host"
        self.expanded: set[str] = set()
        self.selected: set[SessionRef] = set()
        self.cursor: tuple[str, int | None] | None = None
        self.recent: deque[RecentChange] = deque(maxlen=RECENT_CHANGES)
        self.refresh_no = 0
        self.last_full_refresh: _dt.datetime | None = None
        self.status_message = ""
        self.input_mode: str | None = None  # "filter" while typing after '/'
        self.started = time.monotonic()
        #: Actions the view offers (shown in the key help).
        self.actions: tuple[str, ...] = ()

    # -- feeding rows ---------------------------------------------------------------------
    def start_refresh(self, k: int) -> None:
        with self.lock:
            self.refresh_no = k

    def host_started(self, name: str) -> None:
        with self.lock:
            self.hosts[name].refreshing = True

    def apply(self, row: HostRow) -> None:
        with self.lock:
            h = self.hosts[row.host]
            h.row = row
            h.refreshing = False
            if row.ok:
                h.sessions = list(row.sessions)
                present = {(s.id, s.username) for s in h.sessions}
                self.selected = {r for r in self.selected if r[0] != h.name or (r[1], r[2]) in present}
            if row.changes:
                h.changed_at = row.refresh
            for c in row.changes:
                self.recent.appendleft(RecentChange(row.refresh, row.at, row.host, c))

    def finish_refresh(self, at: _dt.datetime) -> None:
        with self.lock:
            self.last_full_refresh = at

    # -- what is shown --------------------------------------------------------------------
    def _host_matches(self, h: HostView) -> bool:
        return not self.filter or fold(self.filter) in fold(h.name)

    def _session_matches(self, s: Session) -> bool:
        return not self.filter or fold(self.filter) in fold(s.username)

    def _sorted_hosts(self) -> list[HostView]:
        hosts = [self.hosts[n] for n in self.order]
        if self.sort == "idle":
            return sorted(hosts, key=lambda h: -(h.longest_idle() or -1))
        return hosts

    def _sorted_sessions(self, sessions: list[Session]) -> list[Session]:
        if self.sort == "idle":
            return sorted(sessions, key=lambda s: (-(s.idle_seconds if s.idle_seconds is not None else -1), s.id))
        return sorted(sessions, key=lambda s: s.id)

    def lines(self) -> list[Line]:
        """Visible lines, in order: each shown host, then its shown sessions."""
        with self.lock:
            out: list[Line] = []
            for h in self._sorted_hosts():
                host_match = self._host_matches(h)
                users = [s for s in h.sessions if self._session_matches(s)] if self.filter else []
                if not host_match and not users:
                    continue
                out.append(Line(h))
                if h.name in self.expanded:
                    shown = h.sessions if host_match else users
                elif self.filter and not host_match:
                    shown = users  # filtering by user: show the matching sessions
                else:
                    shown = []
                out.extend(Line(h, s) for s in self._sorted_sessions(shown))
            return out

    def recent_changes(self, limit: int) -> list[RecentChange]:
        with self.lock:
            out = []
            for rc in self.recent:
                host = self.hosts.get(rc.host)
                if self.filter and not (
                    (host is not None and self._host_matches(host))
                    or fold(self.filter) in fold(rc.change.username or "")
                ):
                    continue
                out.append(rc)
                if len(out) >= limit:
                    break
            return out

    def totals(self) -> dict[str, Any]:
        with self.lock:
            by_status = Counter(h.status for h in self.hosts.values())
            states: Counter[str] = Counter()
            for h in self.hosts.values():
                if h.ok:
                    states.update(h.counts())
            return {"hosts": len(self.hosts), "by_status": by_status, "states": states}

    # -- cursor and selection -------------------------------------------------------------
    def cursor_index(self, lines: list[Line]) -> int:
        if not lines:
            return 0
        keys = [ln.key for ln in lines]
        if self.cursor in keys:
            return keys.index(self.cursor)
        if self.cursor is not None:  # its session went away: stay on its host
            host_key = (self.cursor[0], None)
            if host_key in keys:
                return keys.index(host_key)
        return 0

    def move(self, delta: int) -> None:
        with self.lock:
            lines = self.lines()
            if not lines:
                return
            i = max(0, min(len(lines) - 1, self.cursor_index(lines) + delta))
            self.cursor = lines[i].key

    def current(self) -> Line | None:
        with self.lock:
            lines = self.lines()
            return lines[self.cursor_index(lines)] if lines else None

    def toggle_expand(self, name: str | None = None) -> None:
        with self.lock:
            line = self.current()
            name = name or (line.host.name if line else None)
            if name is None:
                return
            if name in self.expanded:
                self.expanded.discard(name)
                self.cursor = (name, None)
            else:
                self.expanded.add(name)

    def toggle_expand_all(self) -> None:
        with self.lock:
            if self.expanded:
                self.expanded.clear()
                if self.cursor is not None:
                    self.cursor = (self.cursor[0], None)
            else:
                self.expanded = set(self.hosts)

    def toggle_select(self) -> None:
        """Space: select/unselect the session under the cursor, or every shown session of the host."""
        with self.lock:
            lines = self.lines()
            if not lines:
                return
            line = lines[self.cursor_index(lines)]
            if line.session is not None:
                refs = {(line.host.name, line.session.id, line.session.username)}
            else:
                refs = {(line.host.name, ln.session.id, ln.session.username) for ln in lines
                        if ln.host is line.host and ln.session is not None}  # fmt: skip
                if not refs:
                    self.status_message = "expand the host (Enter) to select its sessions"
                    return
            if refs <= self.selected:
                self.selected -= refs
            else:
                self.selected |= refs

    def targets(self) -> list[SessionRef]:
        """What an action works on: the selection, else the session under the cursor."""
        with self.lock:
            if self.selected:
                return sorted(self.selected)
            line = self.current()
            if line is not None and line.session is not None:
                return [(line.host.name, line.session.id, line.session.username)]
            return []

    def cycle_sort(self) -> None:
        with self.lock:
            self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
