"""Per-host results, exit-code rules and totals.

Every host ends with exactly one :class:`HostResult`, whatever happened (Nornir's rule:
a host's failure is data, never an exception that reaches another host).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mpremote.errors import UNREACHABLE_KINDS, ExitCode, HostError
from mpremote.session import Session

__all__ = [
    "RETRY_STATUSES",
    "ErrorInfo",
    "ExitCode",
    "HostResult",
    "HostStatus",
    "Outcome",
    "SessionAction",
    "Totals",
    "exit_code",
    "failed_hosts",
    "status_for_error",
    "totals",
]


class HostStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class Outcome(enum.StrEnum):
    DONE = "done"
    WOULD_DO = "would_do"
    SKIPPED = "skipped"
    FAILED = "failed"
    VANISHED = "vanished"
    #: Accepted, but the session was still logging off (or not yet disconnected) when the
    #: bounded wait ended.
    PENDING = "pending"
    #: Accepted, but the session remains, e.g. in the Down state.
    STUCK = "stuck"


#: Outcomes of an action the host accepted but that was not seen to take effect.
UNCONFIRMED = frozenset({Outcome.PENDING, Outcome.STUCK})


@dataclass(frozen=True)
class ErrorInfo:
    kind: str
    message: str

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        if isinstance(exc, HostError):
            return cls(exc.kind, exc.message)
        return cls("internal", f"{type(exc).__name__}: {exc}")

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class SessionAction:
    """What was done (or would be done) to one session."""

    id: int
    username: str
    action: str  # logoff | disconnect | message | lock | unlock
    outcome: Outcome
    detail: str = ""
    error_kind: str | None = None  # e.g. "denied" for Error [5]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "action": self.action,
            "outcome": self.outcome.value,
            "detail": self.detail,
        }


@dataclass
class HostResult:
    host: str
    address: str
    status: HostStatus
    error: ErrorInfo | None = None
    elapsed_s: float = 0.0
    sessions: list[Session] = field(default_factory=list)
    actions: list[SessionAction] | None = None
    #: Facts about the host gathered on the way (backend used, capabilities); shown by `check`.
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def acted(self) -> int:
        """Sessions the command's own action was done to (a ``--warn`` message is not one)."""
        return sum(1 for a in self.final_actions if a.outcome is Outcome.DONE)

    @property
    def final_actions(self) -> list[SessionAction]:
        """The actions that count for totals: without the warning messages that a
        ``logoff --warn`` row carries (``facts["warned"]``) before its log-off actions,
        so each session is counted once, by what finally happened to it."""
        actions = list(self.actions or ())
        if self.facts.get("warned"):
            return [a for a in actions if a.action != "message"]
        return actions

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "host": self.host,
            "address": self.address,
            "status": self.status.value,
            "error": self.error.to_dict() if self.error else None,
            "elapsed_s": round(self.elapsed_s, 3),
            "sessions": [s.to_dict() for s in self.sessions],
        }
        if self.actions is not None:
            data["actions"] = [a.to_dict() for a in self.actions]
        if self.facts:
            data["facts"] = self.facts
        return data


#: Statuses worth a re-run (the retry file, ``failed_hosts``): reached-but-failed,
#: unreachable, interrupted.
RETRY_STATUSES = frozenset({HostStatus.FAILED, HostStatus.UNREACHABLE, HostStatus.INTERRUPTED})


def failed_hosts(results: Iterable[HostResult]) -> list[str]:
    """Names of hosts worth a re-run, in result order (Nornir's ``failed_hosts``)."""
    return [r.host for r in results if r.status in RETRY_STATUSES]


def status_for_error(exc: BaseException) -> HostStatus:
    """Unreachable when we never had a usable conversation; failed otherwise."""
    kind = exc.kind if isinstance(exc, HostError) else "internal"
    return HostStatus.UNREACHABLE if kind in UNREACHABLE_KINDS else HostStatus.FAILED


def exit_code(results: Iterable[HostResult], *, interrupted: bool = False) -> ExitCode:
    """Combine per-host statuses into one exit code (bits 4 and 8; 130 wins)."""
    if interrupted:
        return ExitCode.INTERRUPTED
    code = 0
    for r in results:
        if r.status is HostStatus.FAILED:
            code |= ExitCode.HOST_FAILED
        elif r.status is HostStatus.UNREACHABLE:
            code |= ExitCode.HOST_UNREACHABLE
        elif r.status is HostStatus.INTERRUPTED:
            return ExitCode.INTERRUPTED
    return ExitCode(code)


@dataclass(frozen=True)
class Totals:
    hosts: int
    by_status: dict[str, int]
    sessions: int
    by_outcome: dict[str, int]

    def line(self) -> str:
        """One line a human reads at the end of a run."""
        parts = [_plural(self.hosts, "host")]
        parts += [f"{n} {s}" for s, n in self.by_status.items() if n]
        parts.append(_plural(self.sessions, "session"))
        parts += [f"{n} {o.replace('_', ' ')}" for o, n in self.by_outcome.items() if n]
        return ", ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def totals(results: Iterable[HostResult]) -> Totals:
    results = list(results)
    by_status = Counter({s.value: 0 for s in HostStatus})
    by_outcome: Counter[str] = Counter()
    for r in results:
        by_status[r.status.value] += 1
        for a in r.final_actions:
            by_outcome[a.outcome.value] += 1
    return Totals(
        hosts=len(results),
        by_status=dict(by_status),
        sessions=sum(len(r.sessions) for r in results),
        by_outcome={o.value: by_outcome[o.value] for o in Outcome if by_outcome[o.value]},
    )
