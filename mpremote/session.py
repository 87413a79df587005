"""The Session record: one user session on one host, as quser (or Get-WmsSession) reported it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

#: Normalised, lower-case English state words (quser prints them localised and abbreviated).
KNOWN_STATES = (
    "active",
    "disconnected",
    "connected",
    "connecting",
    "listening",
    "shadowing",
    "idle",
    "down",
    "reset",
    "init",
)


@dataclass(frozen=True)
class App:
    """One open application of a session (Get-WmsApp, or a process of the session).

    ``name`` is the image name (``WINWORD.EXE``); ``flagged`` says it commonly holds
    unsaved work (see :mod:`mpremote.apps`); ``title`` is Get-WmsApp's name, when known.
    """

    name: str
    flagged: bool = False
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "flagged": self.flagged}
        if self.title:
            data["title"] = self.title
        return data


@dataclass(frozen=True)
class Session:
    """One row of ``quser`` output.

    ``idle`` is ``None`` when quser printed nothing usable (absurd values such as
    ``24692+13:29`` occur on real hosts and mean "unknown", never "very idle").
    ``current`` is the ``>`` marker: the session of the account that ran quser.
    """

    username: str
    session_name: str | None
    id: int
    state: str
    idle: timedelta | None
    logon_text: str
    current: bool = False
    domain: str | None = None
    #: Extra facts from other sources (e.g. MultiPoint StationId, IsAdmin); never used to select.
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    #: Open applications, when they were asked for (``--apps``, ``--spare-busy``); else None.
    apps: tuple[App, ...] | None = field(default=None, compare=False)

    @property
    def busy_apps(self) -> list[str]:
        """Names of the open applications flagged as holding unsaved work."""
        return [a.name for a in self.apps or () if a.flagged]

    @property
    def idle_seconds(self) -> int | None:
        return None if self.idle is None else int(self.idle.total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of DESIGN.md section 3 (``sessions`` entries)."""
        return {
            "username": self.username,
            "domain": self.domain,
            "session_name": self.session_name,
            "id": self.id,
            "state": self.state,
            "idle_seconds": self.idle_seconds,
            "logon_text": self.logon_text,
            "current": self.current,
            **({"apps": [a.to_dict() for a in self.apps]} if self.apps is not None else {}),
        }
