"""The MultiPoint cmdlets an emulated host answers: Get-/Close-/Disconnect-/Lock-/Unlock-WmsSession, Get-WmsApp.

These are the host-side effects; parameter binding (``-SessionId``, ``-All``, ``-WhatIf``)
is the interpreter's (``cmdlets.py``). A host that is not MultiPoint answers every one of
them with PowerShell's CommandNotFoundException, as a plain RDS host does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from psrpcore.types import ErrorCategory, PSCustomObject

from mpremote.lab import contract
from mpremote.lab.contract import CmdletError
from mpremote.lab.desktop_apps import APP_TITLES
from mpremote.lab.hoststate import HostState
from mpremote.lab.labfile import WMSSHELL_USER, SessionSpec
from mpremote.lab.psobjects import custom_object

WMS_TYPE_NAME = "Microsoft.MultiPoint.Management.WmsSession"  # doubt: the cmdlet's real type name
#: The session a cmdlet runs in over PowerShell Remoting (wsmprovhost runs in session 0).
CALLER_SESSION_ID = 0


class WmsCmdlets(HostState):
    """The MultiPoint cmdlets of one host (a layer over its ``HostState``)."""

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

    def _wms_fields(self, s: SessionSpec) -> dict[str, Any]:
        """A Get-WmsSession object's properties, in order: those of Microsoft's reference example
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
        return dict(
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
        return [custom_object(PSTypeName=WMS_TYPE_NAME, **fields) for fields in self.get_wms_session_fields(session_id)]

    def get_wms_session_fields(self, session_id: int | None = None) -> list[dict[str, Any]]:
        """:meth:`get_wms_session`'s objects as their properties (name -> value, in order),
        for the script twins, which only read them: same sessions, same errors."""
        self._require_wms("Get-WmsSession")
        if session_id is None:
            return [self._wms_fields(s) for s in self.sessions() if self._wms_visible(s)]
        return [self._wms_fields(self._wms_target("GetWmsSession", session_id))]

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
