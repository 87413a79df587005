"""Lab churn: sessions change over time, at a seeded rate (``mpremote lab serve --churn N``).

Every host draws its own events from ``Random(f"churn:{seed}:{host}")``: the gaps between
events (a Poisson process of ``N`` events per minute *per host*) and what each event is.
Same seed, same sequence of events on every host, on every machine; only the wall-clock
instants at which they land vary with the tick (:data:`TICK_S`). What an event does depends
on the host's sessions at that moment, so a client's log-off changes what follows, the
same way for the same actions.

Events (each one journalled as ``{"event", "id", "username", "source": "churn"}``):

* ``logon``: a user without a session on the host logs on (active, idle 0). The new id is
  the next one above the highest, or sometimes a freed id (Windows reuses ids), never one
  freed by the same user (so ``(id, username)`` names one logon in the journal).
* ``logoff``: a user session ends (the user signed out).
* ``disconnect``: an active session is disconnected (blank session name, station left).
* ``reconnect``: a disconnected user comes back (active, a new rdp-tcp#N, idle 0).
* ``activity``: an active user touches the keyboard: idle back to 0 (not a session change).

Idle times of every user session grow with the wall clock while the lab churns.
The population drifts back towards the host's starting number of user sessions.
Protected sessions (services, console, WMSshell, the listener) are never touched, nor
hosts with the ``no-sessions`` fault (nobody ever logs on there).

Ticks run on the lab's event loop thread, the thread that also runs every pipeline: an
event is never half-way through a query, and the journal's order for one host is the
order in which the host saw queries and events (tests replay it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from mpremote.lab.labfile import BASE_TIME, DEFAULT_DOMAIN, SessionSpec, printable_name
from mpremote.lab.locales import get_locale

#: How often the lab applies due events and idle growth (seconds of wall clock).
TICK_S = 0.2
#: Lab clock at which churn starts: after the generated morning logons (BASE_TIME + 0..10 h).
CHURN_EPOCH = BASE_TIME + timedelta(hours=10, minutes=30)
#: How often a logon takes a freed id instead of a new one.
REUSE_ID_CHANCE = 0.35
KINDS = ("logon", "logoff", "disconnect", "reconnect", "activity")
_NAMES = tuple(
    sorted(
        {
            "ana",
            "jgarcia",
            "lucas",
            "mchen",
            "aisha.k",
            "pat",
            "kowalski",
            "nkrumah",
            "lfernandez",
            "tomasz",
            "priya",
            "b.smith",
            "o'brien",
            "yuki",
            "ahmed.r",
            "Zoë",
            "Søren",
            "j.müller",
            "van der Berg",
            "sam lee",
            "de la Cruz",
            "Łukasz",
        }
        | {f"student{i:03d}" for i in range(1, 41)}
    )
)


class ChurnHost(Protocol):
    """What churn needs of a host model (``EmulatedHost`` has it)."""

    name: str
    spec: Any

    def sessions(self) -> list[SessionSpec]: ...
    def put_session(self, s: SessionSpec, event: str | None = None, **extra: Any) -> None: ...
    def drop_session(self, sid: int, event: str | None = None, **extra: Any) -> None: ...
    def add_idle(self, seconds: int) -> None: ...


def is_user_session(s: SessionSpec) -> bool:
    """Sessions churn may change: a user's, never services/console/WMSshell/listener."""
    return bool(s.username) and not (s.is_console or s.is_services or s.is_listener or s.is_wmsshell)


@dataclass
class HostChurn:
    """The event stream of one host."""

    host: ChurnHost
    rng: random.Random
    per_second: float
    next_at: float
    target: int
    freed: dict[int, str] = field(default_factory=dict)  # id -> the user who last had it
    rdp: int = 500

    def gap(self) -> float:
        return self.rng.expovariate(self.per_second)

    def step(self, lab_time: datetime) -> dict[str, Any] | None:
        """Apply the next event to the host; return what was journalled (None: nothing possible)."""
        users = [s for s in self.host.sessions() if is_user_session(s)]
        active = [s for s in users if s.state == "active"]
        disconnected = [s for s in users if s.state == "disconnected"]
        n, t = len(users), max(1, self.target)
        weights = {
            "logon": 1.0 + 2.0 * max(0, self.target - n) / t,
            "logoff": (1.0 + 2.0 * max(0, n - self.target) / t) if users else 0.0,
            "disconnect": 1.0 if active else 0.0,
            "reconnect": 1.0 if disconnected else 0.0,
            "activity": 0.5 if active else 0.0,
        }
        kinds = [k for k in KINDS if weights[k] > 0]
        kind = self.rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        if kind == "logon":
            return self._logon(users, lab_time)
        if kind == "logoff":
            s = self.rng.choice(users)
            self.freed[s.id] = s.username or ""
            self.host.drop_session(s.id, "logoff", source="churn")
            return {"event": "logoff", "id": s.id, "username": s.username}
        if kind == "disconnect":
            s = self.rng.choice(active)
            new = replace(s, state="disconnected", session_name=None, station_id=None)
            self.host.put_session(new, "disconnect", source="churn")
            return {"event": "disconnect", "id": s.id, "username": s.username}
        if kind == "reconnect":
            s = self.rng.choice(disconnected)
            self.rdp += 1
            new = replace(s, state="active", session_name=f"rdp-tcp#{self.rdp}", idle_seconds=0)
            self.host.put_session(new, "reconnect", source="churn")
            return {"event": "reconnect", "id": s.id, "username": s.username}
        s = self.rng.choice(active)
        touched = replace(s, idle_seconds=0 if s.idle_seconds is not None else None)
        self.host.put_session(touched, "activity", source="churn")
        return {"event": "activity", "id": s.id, "username": s.username}

    def _logon(self, users: list[SessionSpec], lab_time: datetime) -> dict[str, Any] | None:
        present = {(s.username or "").casefold() for s in users}
        oem = get_locale(self.host.spec.locale).oem_codepage
        names = [n for n in _NAMES if n.casefold() not in present and printable_name(n, oem)]
        if not names:
            return None
        name = self.rng.choice(names)
        in_use = {s.id for s in self.host.sessions()}
        reusable = sorted(i for i, who in self.freed.items() if i not in in_use and who.casefold() != name.casefold())
        if reusable and self.rng.random() < REUSE_ID_CHANCE:
            sid = self.rng.choice(reusable)
        else:
            sid = max((i for i in in_use if i < 65536), default=1) + 1
            while self.freed.get(sid, "").casefold() == name.casefold():
                sid += 1
        self.freed.pop(sid, None)
        self.rdp += 1
        s = SessionSpec(
            username=name,
            id=sid,
            state="active",
            session_name=f"rdp-tcp#{self.rdp}",
            domain=getattr(self.host.spec, "domain", None) or DEFAULT_DOMAIN,
            idle_seconds=0,
            logon=lab_time.replace(second=0, microsecond=0),
        )
        self.host.put_session(s, "logon", source="churn", state="active")
        return {"event": "logon", "id": sid, "username": name}


class Churn:
    """Sessions changing on every host of a lab: call :meth:`tick` with a monotonic clock."""

    def __init__(self, hosts: list[ChurnHost], per_minute: float, seed: int, *, start: float) -> None:
        if per_minute < 0:
            raise ValueError("churn must not be negative")
        self.per_minute = per_minute
        self.start = start
        self._idle_clock = start
        self.hosts: list[HostChurn] = []
        if per_minute == 0:
            return
        for h in hosts:
            if h.spec.has_fault("no-sessions"):
                continue
            rng = random.Random(f"churn:{seed}:{h.name}")
            target = sum(1 for s in h.sessions() if is_user_session(s))
            hc = HostChurn(h, rng, per_minute / 60.0, start, target)
            hc.next_at = start + hc.gap()
            self.hosts.append(hc)

    def lab_time(self, now: float) -> datetime:
        return CHURN_EPOCH + timedelta(seconds=max(0.0, now - self.start))

    def tick(self, now: float) -> list[tuple[str, dict[str, Any]]]:
        """Apply every event due by ``now`` (per host, in order) and the idle growth since the
        last tick. Returns (host, event) pairs in the order they were applied."""
        applied: list[tuple[str, dict[str, Any]]] = []
        whole = int(now - self._idle_clock)
        if whole > 0:
            self._idle_clock += whole
            for hc in self.hosts:
                hc.host.add_idle(whole)
        for hc in self.hosts:
            while hc.next_at <= now:
                event = hc.step(self.lab_time(hc.next_at))
                if event is not None:
                    applied.append((hc.host.name, event))
                hc.next_at += hc.gap()
        return applied
