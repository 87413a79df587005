"""Fault kinds the emulated lab can inject, per host, selected by glob on the host name.

Transport faults are played by the server layer (``wsman.py``/``server.py``); content faults
by the host model (``hoststate.py``, ``native_tools.py``, ``wms_cmdlets.py``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

TRANSPORT_FAULTS = ("refuse", "hang", "slow", "http500", "wsman-fault", "auth-fail", "bad-cert")
CONTENT_FAULTS = (
    "garbage-quser",
    "no-sessions",
    "access-denied",
    "vanish",
    "reuse",
    "stuck",
    "slow-logoff",
    "no-json",
    "quser-fails-after-logoff",
)
FAULT_KINDS = TRANSPORT_FAULTS + CONTENT_FAULTS


@dataclass(frozen=True)
class Fault:
    kind: str
    #: ``slow:MS``: milliseconds added to every response of that host;
    #: ``slow-logoff:MS``: how long a log-off takes to complete after it was accepted.
    slow_ms: int = 0

    def __str__(self) -> str:
        return f"{self.kind}:{self.slow_ms}" if self.kind in _TIMED else self.kind


#: Fault kinds that take milliseconds (``KIND:MS``).
_TIMED = ("slow", "slow-logoff")


def parse_fault_kind(text: str) -> Fault:
    """``"slow:250"`` -> Fault("slow", 250); raises ValueError naming the valid kinds."""
    kind, _, arg = text.strip().partition(":")
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; valid kinds: {', '.join(FAULT_KINDS)}")
    if kind in _TIMED:
        if not arg.isdigit():
            raise ValueError(f"fault {kind!r} needs milliseconds, e.g. {kind}:500")
        return Fault(kind, int(arg))
    if arg:
        raise ValueError(f"fault {kind!r} takes no argument")
    return Fault(kind)


@dataclass(frozen=True)
class FaultRule:
    host_glob: str
    fault: Fault

    def matches(self, host_name: str) -> bool:
        return fnmatch.fnmatchcase(host_name, self.host_glob)


def parse_fault_rule(text: str) -> FaultRule:
    """``"mp-lab-00[1-3]=hang"`` -> FaultRule. Raises ValueError with a readable message."""
    glob, sep, kind = text.partition("=")
    if not sep or not glob.strip():
        raise ValueError(f"--fault wants HOSTGLOB=KIND, got {text!r}")
    return FaultRule(glob.strip(), parse_fault_kind(kind))


def faults_for(host_name: str, rules: list[FaultRule]) -> tuple[Fault, ...]:
    return tuple(r.fault for r in rules if r.matches(host_name))
