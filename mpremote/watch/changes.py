"""What changed on one host between two refreshes: a pure function of two snapshots.

A session is the same session while its id, user name and logon text stay the same.
Windows reuses ids, so the same id under another user (or the same user logged on
again, a new logon time) is a log-off of the old session and a logon of the new one.

Kinds, in the order they are listed for one host:

* ``host-down``: the host answered at the previous refresh and not now;
* ``host-up``: it did not answer at the previous refresh and answers now;
* ``logoff``: a session that was there is gone;
* ``logon``: a session that was not there is there (whatever its state now);
* ``disconnect``: a session that was not disconnected now is;
* ``reconnect``: a disconnected session is active again.

Session changes are relative to the last refresh at which the host *answered*: a user who
logged off while the host was unreachable shows as a ``logoff`` when it is back. The first
refresh is the baseline and has no changes. Changes are net: a user who logged on and off
between two refreshes was never seen and is not reported.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mpremote.session import Session

KINDS = ("host-down", "host-up", "logoff", "logon", "disconnect", "reconnect")
_ORDER = {k: i for i, k in enumerate(KINDS)}


@dataclass(frozen=True)
class Change:
    kind: str
    id: int | None = None
    username: str | None = None
    #: host-down: the error kind (timeout, connect, auth...); otherwise None.
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "id": self.id, "username": self.username}
        if self.error is not None:
            data["error"] = self.error
        return data


def session_key(s: Session) -> tuple[int, str, str]:
    """Identity of one logon: id, user name (caseless) and logon text."""
    name = unicodedata.normalize("NFC", s.username).casefold()
    return (s.id, name, s.logon_text.strip())


def _sorted(changes: Iterable[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: (_ORDER[c.kind] > 1, c.id if c.id is not None else -1, _ORDER[c.kind]))


def session_changes(before: Iterable[Session], after: Iterable[Session]) -> list[Change]:
    """Log-offs, logons, disconnects and reconnects from ``before`` to ``after`` (by id)."""
    old = {session_key(s): s for s in before}
    new = {session_key(s): s for s in after}
    out: list[Change] = []
    for key, s in old.items():
        if key not in new:
            out.append(Change("logoff", s.id, s.username))
    for key, s in new.items():
        was = old.get(key)
        if was is None:
            out.append(Change("logon", s.id, s.username))
        elif was.state != "disconnected" and s.state == "disconnected":
            out.append(Change("disconnect", s.id, s.username))
        elif was.state == "disconnected" and s.state == "active":
            out.append(Change("reconnect", s.id, s.username))
    return _sorted(out)


@dataclass(frozen=True)
class Snapshot:
    """One host at one refresh: did it answer, and with which sessions."""

    ok: bool
    sessions: tuple[Session, ...] = ()
    error_kind: str | None = None


class ChangeTracker:
    """Remembers each host's last answer; :meth:`update` returns the changes since then."""

    def __init__(self) -> None:
        self._answered: dict[str, bool] = {}
        self._last_ok: dict[str, tuple[Session, ...]] = {}

    def update(self, host: str, snap: Snapshot) -> list[Change]:
        seen_before = host in self._answered
        was_ok = self._answered.get(host, False)
        self._answered[host] = snap.ok
        out: list[Change] = []
        if seen_before and was_ok and not snap.ok:
            out.append(Change("host-down", error=snap.error_kind))
        if seen_before and not was_ok and snap.ok:
            out.append(Change("host-up"))
        if snap.ok:
            previous = self._last_ok.get(host)
            self._last_ok[host] = snap.sessions
            if previous is not None:
                out += session_changes(previous, snap.sessions)
        return out
