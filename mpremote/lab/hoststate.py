"""One emulated host's sessions and what happens to them, whoever asks.

The native commands (``native_tools.py``) and the MultiPoint cmdlets (``wms_cmdlets.py``)
are two front doors to the same state; both end a session through ``_logoff`` /
``_disconnect`` here, so the content faults (``vanish``, ``reuse``, ``stuck``,
``slow-logoff``) and the journal behave the same whichever door a client used. Churn
(``churn.py``) changes the state through the public ``put_session`` / ``drop_session`` /
``add_idle``. The simplifications this model makes are listed once, in ``hostmodel.py``.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mpremote.lab import contract
from mpremote.lab.desktop_apps import SHELL_PROCESSES, LabProcess
from mpremote.lab.labfile import HostSpec, SessionSpec
from mpremote.lab.locales import get_locale

#: Names a reused session id is handed to (the ``reuse`` fault).
_REUSE_NAMES = ("intruso", "nachzügler", "late comer", "other.user", "visiteur", "rgomez")


@dataclasses.dataclass(frozen=True)
class SentMessage:
    id: int
    username: str | None
    text: str
    seconds: int | None


class HostState:
    """The sessions of one Windows MultiPoint / RDS host, their faults and effects. Thread-safe."""

    def __init__(
        self,
        spec: HostSpec,
        journal: contract.JournalSink,
        operator_user: str = "labadmin",
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.clock = clock
        #: Log-offs accepted but not complete yet (``slow-logoff``): session id -> due time.
        self._logging_off: dict[int, float] = {}
        #: A log-off was accepted on this host (the ``quser-fails-after-logoff`` fault).
        self.logged_off = False
        self.name = spec.name
        self.locale = get_locale(spec.locale)
        self.operator_user = operator_user
        self.journal = journal
        self.lock = threading.RLock()
        self.messages: list[SentMessage] = []
        #: $LASTEXITCODE of the last native command (per host; see hostmodel.py).
        self.last_exit_code: int | None = None
        self._rng = random.Random(f"reuse:{spec.name}")
        sessions = spec.sessions
        if spec.has_fault("no-sessions"):  # nobody logged on: keep only user-less sessions
            sessions = tuple(s for s in sessions if not s.username)
        self._sessions: dict[int, SessionSpec] = {s.id: s for s in sessions}

    # ------------------------------------------------------------------ inspection

    @property
    def computer_name(self) -> str:
        """``$env:COMPUTERNAME``: the NetBIOS name, always upper case on Windows."""
        return self.spec.effective_computer_name.upper()

    def sessions(self) -> list[SessionSpec]:
        """A snapshot of every session (services, console, listener and users), by id."""
        with self.lock:
            self.settle()
            return sorted(self._sessions.values(), key=lambda s: s.id)

    def session(self, sid: int) -> SessionSpec | None:
        with self.lock:
            self.settle()
            return self._sessions.get(sid)

    # ------------------------------------------------------------------ churn (lab/churn.py)

    def put_session(self, s: SessionSpec, event: str | None = None, **extra: Any) -> None:
        """Add or replace a session (a logon, a reconnect) and journal ``event`` for it."""
        with self.lock:
            self._sessions[s.id] = s
            if event:
                self._emit(event, s, **extra)

    def drop_session(self, sid: int, event: str | None = None, **extra: Any) -> None:
        """Remove a session (the user logged off on their own) and journal ``event``."""
        with self.lock:
            s = self._sessions.pop(sid, None)
            self._logging_off.pop(sid, None)
            if s is not None and event:
                self._emit(event, s, **extra)

    def add_idle(self, seconds: int) -> None:
        """Idle time grows for every user session whose idle is known (churning labs only)."""
        with self.lock:
            for sid, s in list(self._sessions.items()):
                if s.username and s.idle_seconds is not None and not s.is_services and not s.is_listener:
                    self._sessions[sid] = dataclasses.replace(s, idle_seconds=s.idle_seconds + seconds)

    def settle(self) -> None:
        """Complete the log-offs whose time has come (journal ``logoff-complete``)."""
        if not self._logging_off:
            return
        now = self.clock()
        with self.lock:
            for sid, due in sorted(self._logging_off.items()):
                if due <= now:
                    del self._logging_off[sid]
                    s = self._sessions.pop(sid, None)
                    if s is not None:
                        self._emit("logoff-complete", s)

    def logoff_due_in(self, sid: int) -> float | None:
        """Seconds until an accepted log-off of ``sid`` completes: 0 when the session is
        gone, None when it never will (``stuck``) or none was asked for."""
        with self.lock:
            self.settle()
            if sid not in self._sessions:
                return 0.0
            due = self._logging_off.get(sid)
            return None if due is None else max(0.0, due - self.clock())

    def heal(self) -> None:
        """Clear content faults, as an administrator fixing the host would: log-offs in
        flight complete now; a stuck (Down) session stays until it is logged off again."""
        with self.lock:
            self.spec = dataclasses.replace(
                self.spec, faults=tuple(f for f in self.spec.faults if f.kind not in ("stuck", "slow-logoff"))
            )
            for sid in self._logging_off:
                self._logging_off[sid] = self.clock()
            self.settle()

    # ------------------------------------------------------------------ faults and effects

    def _emit(self, event: str, s: SessionSpec, **extra: Any) -> None:
        self.journal({"event": event, "id": s.id, "username": s.username, **extra})

    def before_action(self, sid: int) -> None:
        """The ``vanish``/``reuse`` faults: right before an action on ``sid`` reaches it, the
        session logs off on its own, or its id is taken by a different user (new logon)."""
        s = self._sessions.get(sid)
        if s is None or not s.username or s.is_console or s.is_services or s.is_listener:
            return
        if self.spec.has_fault("vanish"):
            del self._sessions[sid]
        elif self.spec.has_fault("reuse"):
            taken = {o.username.casefold() for o in self._sessions.values() if o.username}
            name = self._rng.choice([n for n in _REUSE_NAMES if n.casefold() not in taken] or ["reuser"])
            logon = (s.logon or self._latest_logon()) + timedelta(hours=1, minutes=7)
            self._sessions[sid] = dataclasses.replace(
                s,
                username=name,
                state="active",
                session_name=f"rdp-tcp#{sid + 200}",
                idle_seconds=0,
                logon=logon,
                station_id=None,
                is_admin=False,
            )

    def _latest_logon(self) -> Any:
        from mpremote.lab.labfile import BASE_TIME

        return max((s.logon for s in self._sessions.values() if s.logon), default=BASE_TIME)

    def _protected(self, s: SessionSpec) -> bool:
        """Sessions Windows will not end remotely: services, console (and its WMSshell), listeners."""
        return s.is_services or s.is_console or s.is_listener or s.id == 0

    def _resolve(self, target: str) -> SessionSpec | None:
        """A session by id or by session name (what logoff/tsdiscon/msg accept)."""
        if target.isdigit():
            return self._sessions.get(int(target))
        for s in self._sessions.values():
            if s.session_name and s.session_name.casefold() == target.casefold():
                return s
        return None

    def _logoff(self, s: SessionSpec) -> None:
        """End the session: at once, after ``slow-logoff:MS``, or never (``stuck``: Down)."""
        slow = next((f.slow_ms for f in self.spec.faults if f.kind == "slow-logoff"), None)
        self.logged_off = True
        if self.spec.has_fault("stuck"):
            self._sessions[s.id] = dataclasses.replace(s, state="down")
            self._emit("logoff", s, completes="never")
        elif slow is not None:
            if s.id not in self._logging_off:
                self._logging_off[s.id] = self.clock() + slow / 1000.0
            self._emit("logoff", s, completes=f"after {slow} ms")
        else:
            del self._sessions[s.id]
            self._logging_off.pop(s.id, None)
            self._emit("logoff", s)

    def _disconnect(self, s: SessionSpec) -> None:
        """Already-disconnected sessions stay as they are and log nothing (doubt: real tsdiscon
        may print an error for them)."""
        if s.state != "disconnected":
            self._sessions[s.id] = dataclasses.replace(
                s, state="disconnected", session_name=None, idle_seconds=0, station_id=None
            )
            self._emit("disconnect", s)

    # ------------------------------------------------------------------ processes

    def processes(self) -> list[LabProcess]:
        """What Get-Process lists: a few session-0 services, then per user session the shell
        processes every desktop has and the session's applications. Ids are stable."""
        procs = [LabProcess(pid, name, 0) for pid, name in ((4, "System"), (612, "svchost.exe"),
                                                           (700, "lsass.exe"), (1888, "wsmprovhost.exe"))]  # fmt: skip
        for s in self.sessions():
            if not s.username or s.is_services or s.is_listener:
                continue
            names = (*SHELL_PROCESSES, *s.apps) if not s.is_wmsshell else ("WmsShell.exe",)
            for i, name in enumerate(names):
                procs.append(LabProcess(10000 + s.id * 100 + i, name, s.id, is_app=i >= len(SHELL_PROCESSES)))
        return procs
