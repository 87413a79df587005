"""One emulated Windows host: its sessions, and the native commands and cmdlets that act on them.

``EmulatedHost.run_pipeline`` is the seam with the lab's network layer (``contract.py``).
The project's own scripts are answered by Python twins (``scripts_twin.py``); everything else
is interpreted as PowerShell command lines (``commands.py``). Both call the primitives here
(``quser``, ``logoff``, ``tsdiscon``, ``msg``, ``Get-WmsSession``...), which is where the
Windows behaviour and the content faults live.

Simplifications, stated once:
- ``$LASTEXITCODE`` is remembered per host, not per runspace.
- A whole pipeline runs under the host's lock, so one client's script is atomic with respect
  to another's; a real host interleaves them.
- Idle times do not tick; they stay as the lab spec says (unless the lab churns: ``churn.py``).
- Over PowerShell Remoting the caller runs in session 0, so quser marks no row with ``>``.
- Native commands print in the host's OEM code page; a remoting session reads that as cp1252
  (``read_over_remoting``), unless a project script reads it in the OEM code page itself.
- A log-off accepted on a ``slow-logoff:MS`` host completes MS later: the session stays
  listed (in its state) until then and is removed the next time anyone looks; on a ``stuck``
  host it never completes and the session stays, in the Down state, until the host is healed
  and it is logged off again.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psrpcore.types import ErrorCategory, PSCustomObject

from mpremote.lab import contract
from mpremote.lab.contract import CmdletError, NativeResult
from mpremote.lab.labfile import WMSSHELL_USER, HostSpec, SessionSpec
from mpremote.lab.locales import get_locale, read_native, render_quser, render_qwinsta
from mpremote.lab.psobjects import custom_object

_log = logging.getLogger(__name__)

#: Exit code of a failing quser/logoff/tsdiscon/msg (real tools return 1; doubt for msg).
NATIVE_FAILURE = 1
ACCESS_DENIED = 5
SESSION_NOT_FOUND = 7022
RPC_UNAVAILABLE = 1722
MSG_MAX_CHARS = 255
#: Names a reused session id is handed to (the ``reuse`` fault).
_REUSE_NAMES = ("intruso", "nachzügler", "late comer", "other.user", "visiteur", "rgomez")
_GARBAGE_QUSER = [
    "Error 0x000006BA enumerating sessionnames",
    "Error [1722]:The RPC server is unavailable.",
    "\ufffd\ufffdMZ\ufffd\x03\ufffd\ufffd  \ufffd@\ufffd\ufffd \ufffd\ufffd\ufffd",
    "---- 8< ---- quser.exe: internal buffer overrun ----",
]
WMS_TYPE_NAME = "Microsoft.MultiPoint.Management.WmsSession"  # doubt: the cmdlet's real type name
#: The session a cmdlet runs in over PowerShell Remoting (wsmprovhost runs in session 0).
CALLER_SESSION_ID = 0


@dataclass(frozen=True)
class SentMessage:
    id: int
    username: str | None
    text: str
    seconds: int | None


class EmulatedHost:
    """A Windows MultiPoint / RDS host as PowerShell Remoting sees it. Thread-safe."""

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
        self.name = spec.name
        self.locale = get_locale(spec.locale)
        self.operator_user = operator_user
        self.journal = journal
        self.lock = threading.RLock()
        self.messages: list[SentMessage] = []
        #: $LASTEXITCODE of the last native command (per host; see module docstring).
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

    def run_pipeline(self, commands: list[contract.CommandSpec], *, operator: str) -> contract.PipelineResult:
        """Run one PSRP pipeline: a project script's twin, or command lines / cmdlets."""
        from mpremote.lab import commands as commands_mod
        from mpremote.lab import scripts_twin

        with self.lock:
            self.settle()
            try:
                twin = scripts_twin.match(commands)
                if twin is not None:
                    return twin(self, commands[0], operator or self.operator_user)
                return commands_mod.Interpreter(self, operator or self.operator_user).run(commands)
            except Exception as exc:  # a lab bug must fail one pipeline, never the server thread
                _log.exception("host %s: pipeline crashed", self.name)
                return contract.PipelineResult(
                    failure=contract.ErrorSpec(
                        message=f"emulated host internal error: {type(exc).__name__}: {exc}",
                        fully_qualified_error_id="LabInternalError",
                    )
                )

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

    # ------------------------------------------------------------------ native commands

    @staticmethod
    def _split_args(args: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """``/v``, ``/time:30``, ``/server:X`` switches apart from positional words."""
        words: list[str] = []
        switches: dict[str, str] = {}
        for a in args:
            if a.startswith("/") and len(a) > 1:
                key, _, value = a[1:].partition(":")
                switches[key.lower()] = value
            else:
                words.append(a)
        return words, switches

    def _foreign_server(self, switches: dict[str, str], result: NativeResult) -> bool:
        server = switches.get("server")
        if server and server.casefold() not in {
            self.name.casefold(),
            self.computer_name.casefold(),
            "localhost",
            "127.0.0.1",
            ".",
        }:
            result.err("Error 0x000006BA enumerating sessionnames")
            result.err(self.locale.error(RPC_UNAVAILABLE, "The RPC server is unavailable."))
            result.exit_code = NATIVE_FAILURE
            return True
        return False

    def read_over_remoting(self, result: NativeResult) -> NativeResult:
        """What a Windows PowerShell remoting session makes of a native command's output: it
        decodes the OEM bytes (cp850/cp437) as cp1252, so ``SESIÓN`` arrives as ``SESIàN``.
        The primitives below print what the host means; callers that read the way PowerShell
        does by default (``& quser``) pass the result through here."""
        lines = read_native([t for _, t in result.lines], self.locale, "ansi")
        return NativeResult([(stream, t) for (stream, _), t in zip(result.lines, lines, strict=True)], result.exit_code)

    def quser(self, args: Sequence[str] = ()) -> NativeResult:
        """``quser [NAME|ID|*]``: a header and one row per session with a user."""
        result = NativeResult()
        if self.spec.has_fault("garbage-quser"):
            for line in _GARBAGE_QUSER:
                result.out(line)
            return result
        words, switches = self._split_args(args)
        if self._foreign_server(switches, result):
            return result
        target = words[0] if words else "*"
        users = [s for s in self._sessions.values() if s.username]
        if target != "*":
            if target.isdigit():
                users = [s for s in users if s.id == int(target)]
            else:
                users = [s for s in users if (s.username or "").casefold() == target.casefold()]
        if not users:
            result.err(self.locale.no_user.format(target=target))
            result.exit_code = NATIVE_FAILURE
            return result
        for line in render_quser(users, self.locale, date_format=self.spec.date_format):
            result.out(line)
        return result

    def qwinsta(self, args: Sequence[str] = ()) -> NativeResult:
        """``qwinsta [ID|USER|SESSIONNAME]``: every session, including services and listeners."""
        result = NativeResult()
        words, switches = self._split_args(args)
        if self._foreign_server(switches, result):
            return result
        rows = list(self._sessions.values())
        if words and words[0] != "*":
            t = words[0].casefold()
            rows = [
                s
                for s in rows
                if str(s.id) == t or (s.username or "").casefold() == t or (s.session_name or "").casefold() == t
            ]
        if not rows:
            result.err(self.locale.no_session.format(target=words[0]))
            result.exit_code = NATIVE_FAILURE
            return result
        for line in render_qwinsta(rows, self.locale, type_column=self.spec.qwinsta_type):
            result.out(line)
        return result

    def _end_session(self, args: Sequence[str], *, disconnect: bool) -> NativeResult:
        result = NativeResult()
        words, switches = self._split_args(args)
        if self._foreign_server(switches, result):
            return result
        target = words[0] if words else "0"  # no argument: the caller's own session (0 here)
        failed = self.locale.disconnect_failed if disconnect else self.locale.logoff_failed
        if target.isdigit():
            self.before_action(int(target))
        s = self._resolve(target)
        if s is None and not target.isdigit():
            result.err(self.locale.no_session.format(target=target))
            result.exit_code = NATIVE_FAILURE
        elif s is None:
            result.err(failed.format(id=target, code=SESSION_NOT_FOUND))
            result.err(self.locale.error(SESSION_NOT_FOUND, self.locale.session_not_found))
            result.exit_code = NATIVE_FAILURE
        elif self._protected(s) or self.spec.has_fault("access-denied"):
            result.err(failed.format(id=s.id, code=ACCESS_DENIED))
            result.err(self.locale.error(ACCESS_DENIED, self.locale.access_denied))
            result.exit_code = NATIVE_FAILURE
        elif disconnect:
            if "v" in switches:
                result.out(self.locale.disconnect_verbose.format(id=s.id, name=s.session_name or ""))
            self._disconnect(s)
        else:
            if "v" in switches:
                result.out(self.locale.logoff_verbose.format(id=s.id))
            self._logoff(s)
        return result

    def _logoff(self, s: SessionSpec) -> None:
        """End the session: at once, after ``slow-logoff:MS``, or never (``stuck``: Down)."""
        slow = next((f.slow_ms for f in self.spec.faults if f.kind == "slow-logoff"), None)
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

    def logoff(self, args: Sequence[str] = ()) -> NativeResult:
        """``logoff ID|SESSIONNAME [/v]``; services/console and ``access-denied`` give Error [5]."""
        return self._end_session(args, disconnect=False)

    def tsdiscon(self, args: Sequence[str] = ()) -> NativeResult:
        """``tsdiscon ID|SESSIONNAME [/v]``: the session stays, disconnected, its name blank."""
        return self._end_session(args, disconnect=True)

    def msg(self, args: Sequence[str] = (), stdin: str | None = None) -> NativeResult:
        """``msg ID|USER|SESSIONNAME|* [/time:N] [/v] [TEXT]``; no TEXT: read from stdin.

        Text is cut to 255 characters (DESIGN.md 4). The /v wording is English on every
        locale and the error for an unknown user is our reconstruction (doubts).
        """
        result = NativeResult()
        words, switches = self._split_args(args)
        if self._foreign_server(switches, result):
            return result
        if not words:
            result.err("Error: no session or user name given")  # msg prints its usage here
            result.exit_code = NATIVE_FAILURE
            return result
        target, text_words = words[0], words[1:]
        text = " ".join(text_words) if text_words else (stdin or "").rstrip("\r\n")
        text = text[:MSG_MAX_CHARS]
        seconds = int(switches["time"]) if switches.get("time", "").isdigit() else None
        if target == "*":
            recipients = [s for s in self._sessions.values() if s.username]
        elif target.isdigit():
            self.before_action(int(target))
            one = self._sessions.get(int(target))
            recipients = [one] if one is not None and not one.is_listener else []
            if not recipients:
                result.err(self.locale.error(SESSION_NOT_FOUND, self.locale.session_not_found))
        else:
            recipients = [
                s
                for s in self._sessions.values()
                if (s.username or "").casefold() == target.casefold()
                or (s.session_name or "").casefold() == target.casefold()
            ]
            if not recipients:
                result.err(self.locale.msg_names_failed.format(code=NATIVE_FAILURE))
        if not recipients:
            result.exit_code = NATIVE_FAILURE
            return result
        for s in sorted(recipients, key=lambda s: s.id):
            if "v" in switches:
                name = s.session_name or str(s.id)
                result.out(f"Sending message to session {name}, display time {seconds or 60}")
                result.out(f"Async message sent to session {name}")
            self.messages.append(SentMessage(s.id, s.username, text, seconds))
            self._emit("message", s, text=text)
        return result

    def hostname(self, args: Sequence[str] = ()) -> NativeResult:
        result = NativeResult()
        result.out(self.spec.effective_computer_name)
        return result

    # ------------------------------------------------------------------ MultiPoint cmdlets

    def command_not_found(self, name: str) -> contract.ErrorSpec:
        """PowerShell's CommandNotFoundException record, localised."""
        return contract.ErrorSpec(
            message=self.locale.command_not_found.format(name=name),
            exception_type="System.Management.Automation.CommandNotFoundException",
            category=int(ErrorCategory.ObjectNotFound),
            fully_qualified_error_id="CommandNotFoundException",
            reason="CommandNotFoundException",
            target=name,
        )

    def _require_wms(self, name: str) -> None:
        if not self.spec.multipoint:
            raise CmdletError(self.command_not_found(name))

    def _wms_object(self, s: SessionSpec) -> PSCustomObject:
        """A Get-WmsSession object: the properties and order of Microsoft's reference example
        (SessionId, State, IsOrchestratable, IsAdmin, IsMOGUser, UserName, StationId,
        ComputerName, ClientName, DomainName, IsRail). States: ``RemoteConnection`` and
        ``ConnectedToStation`` are documented; ``Disconnected`` is our assumption (doubt)."""
        state = (
            "Disconnected"
            if s.state == "disconnected"
            else "ConnectedToStation"
            if s.station_id is not None
            else "RemoteConnection"
        )
        return custom_object(
            PSTypeName=WMS_TYPE_NAME,
            SessionId=s.id,
            State=state,
            IsOrchestratable=False,
            IsAdmin=s.is_admin,
            IsMOGUser=False,
            UserName=s.username or "",
            StationId=s.station_id or 0,
            ComputerName=self.computer_name,
            # A station's client is the host itself (reference example); a remote client's
            # name is not modelled, so it is the session's own label (doubt).
            ClientName=self.computer_name if s.station_id is not None else f"CLIENT-{s.id}",
            DomainName=s.domain or "",
            IsRail=False,
            # Lab extension (docs/lab.md): the reference lists no property for a blocked session.
            IsBlocked=s.lock_message is not None,
        )

    def _wms_visible(self, s: SessionSpec) -> bool:
        """User sessions; the WMSshell console is the station shell, not a user session (doubt)."""
        return bool(s.username) and not s.is_wmsshell and s.username != WMSSHELL_USER

    def _wms_error(self, message: str, category: ErrorCategory, fqid: str, exc: str, sid: int) -> CmdletError:
        return CmdletError(
            contract.ErrorSpec(
                message=message, exception_type=exc, category=int(category), fully_qualified_error_id=fqid, target=sid
            )
        )

    def _wms_target(self, name: str, sid: int) -> SessionSpec:
        s = self._sessions.get(sid)
        if s is None or not self._wms_visible(s):
            raise self._wms_error(
                self.locale.wms_not_found.format(id=sid),
                ErrorCategory.ObjectNotFound,
                f"SessionNotFound,Microsoft.MultiPoint.Management.{name}",
                "System.Management.Automation.ItemNotFoundException",  # the reference's error
                sid,
            )
        return s

    def wms_session_ids(self) -> list[int]:
        """The ids ``-All`` means: every user session MultiPoint shows."""
        return [s.id for s in self.sessions() if self._wms_visible(s)]

    def get_wms_session(self, session_id: int | None = None) -> list[PSCustomObject]:
        """``Get-WmsSession -All`` (``None``) / ``-SessionId N``."""
        self._require_wms("Get-WmsSession")
        if session_id is None:
            return [self._wms_object(s) for s in self.sessions() if self._wms_visible(s)]
        return [self._wms_object(self._wms_target("GetWmsSession", session_id))]

    def _wms_end(self, name: str, sid: int, *, disconnect: bool) -> None:
        self._require_wms(name)
        if sid == CALLER_SESSION_ID:
            raise self._wms_error(
                "You cannot close the cmdlet's session.",  # Close-WmsSession reference
                ErrorCategory.InvalidOperation,
                f"CannotCloseOwnSession,Microsoft.MultiPoint.Management.{name.replace('-', '')}",
                "System.InvalidOperationException",
                sid,
            )
        self.before_action(sid)
        s = self._wms_target(name.replace("-", ""), sid)
        if self._protected(s) or self.spec.has_fault("access-denied"):
            raise self._wms_denied(name, sid)
        if disconnect:
            self._disconnect(s)
        else:
            self._logoff(s)

    def _wms_denied(self, name: str, sid: int) -> CmdletError:
        """The error a ``*-WmsSession`` cmdlet gives for a protected session or access denied."""
        return self._wms_error(
            self.locale.wms_access_denied,
            ErrorCategory.PermissionDenied,
            f"AccessDenied,Microsoft.MultiPoint.Management.{name.replace('-', '')}",
            "System.UnauthorizedAccessException",
            sid,
        )

    def close_wms_session(self, sid: int) -> None:
        """``Close-WmsSession -SessionId N``: log the session off."""
        self._wms_end("Close-WmsSession", sid, disconnect=False)

    def disconnect_wms_session(self, sid: int) -> None:
        """``Disconnect-WmsSession -SessionId N``."""
        self._wms_end("Disconnect-WmsSession", sid, disconnect=True)

    def _wms_lock(self, name: str, sid: int, message: str | None) -> None:
        self._require_wms(name)
        s = self._wms_target(name.replace("-", ""), sid)
        if self._protected(s) or self.spec.has_fault("access-denied"):
            raise self._wms_denied(name, sid)
        self._sessions[sid] = dataclasses.replace(s, lock_message=message)
        if message is None:
            self._emit("unlock", s)
        else:
            self._emit("lock", s, text=message)

    def lock_wms_session(self, sid: int, message: str) -> None:
        """``Lock-WmsSession -SessionId N -Message TEXT``: block the desktop, show the text."""
        self._wms_lock("Lock-WmsSession", sid, message)

    def unlock_wms_session(self, sid: int) -> None:
        """``Unlock-WmsSession -SessionId N``: unblock (an unlocked session stays unlocked)."""
        self._wms_lock("Unlock-WmsSession", sid, None)

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

    def get_wms_app(self, sid: int) -> list[PSCustomObject]:
        """``Get-WmsApp -SessionId N``: the session's applications (Name, ProcessId, WindowId,
        CreateTime, as in Microsoft's example); not the shell processes (doubt)."""
        self._require_wms("Get-WmsApp")
        self._wms_target("GetWmsApp", sid)
        return [
            custom_object(
                Name=APP_TITLES.get(p.image.casefold(), p.image.rsplit(".", 1)[0]),
                ProcessId=p.pid,
                WindowId=p.pid * 48 + 4,
                CreateTime=133_000_000_000_000_000 + p.pid,
            )
            for p in self.processes()
            if p.session_id == sid and p.is_app
        ]


#: Processes every interactive Windows desktop session runs; not user applications.
SHELL_PROCESSES = ("explorer.exe", "sihost.exe", "taskhostw.exe", "ctfmon.exe", "rdpclip.exe", "RuntimeBroker.exe")
#: Get-WmsApp shows an application's name, not its image (Microsoft's example: Calculator).
APP_TITLES = {
    "winword.exe": "Microsoft Word",
    "excel.exe": "Microsoft Excel",
    "powerpnt.exe": "Microsoft PowerPoint",
    "notepad.exe": "Notepad",
    "code.exe": "Visual Studio Code",
    "chrome.exe": "Google Chrome",
    "msedge.exe": "Microsoft Edge",
    "firefox.exe": "Firefox",
    "soffice.bin": "LibreOffice",
    "calc.exe": "Calculator",
    "acrord32.exe": "Adobe Acrobat Reader",
    "vlc.exe": "VLC media player",
    "teams.exe": "Microsoft Teams",
    "snippingtool.exe": "Snipping Tool",
}


@dataclass(frozen=True)
class LabProcess:
    pid: int
    image: str  # file name with extension, as on disk (WINWORD.EXE)
    session_id: int
    is_app: bool = False

    @property
    def process_name(self) -> str:
        """Get-Process's ProcessName: the image name without its extension."""
        return self.image.rsplit(".", 1)[0] if self.image.lower().endswith(".exe") else self.image
