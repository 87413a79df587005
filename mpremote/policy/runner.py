"""``policy run``: do what is due now, exactly once, and say what happened in one line.

The scheduler calls this every minute; everything about *when* is decided here, in the
policy's own zone, against the state file (:mod:`.state`). Decision rules, in order, for
every stage instant S of every scheduled instant T not yet recorded in the state:

1. T's date is a skip date          -> recorded ``skipped`` (once), nothing sent.
2. a warning (message before T) once T is reached, or ``now >= S + catch_up``
                                    -> recorded ``missed`` (once), nothing sent: a warning
                                       after the fact or a log-off hours late is worse
                                       than none.
3. ``S <= now < S + catch_up``      -> due. Of several due occurrences of the same stage
                                       only the newest fires (older ones ``missed``), and of
                                       several due warnings for the same T only the last
                                       fires: users get one current warning, not a burst.
4. Due stages fire in time order: ``started`` is recorded before the action, the outcome
   after. An action that raised is ``failed`` and never retried (it may have been
   delivered), except a :class:`UsageError` (bad targets file...), which provably reached no
   host: its record is dropped so a later run inside the window can try again.

Stages are looked for back to the previous run (at most :data:`MAX_LOOKBACK`), or, on a
first run, back to ``now - catch_up``: a fresh install does not report a week of "missed".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mpremote.errors import ExitCode, UsageError, exit_for
from mpremote.policy.model import Policy, render_text
from mpremote.policy.schedule import StageInstant, stage_instants_between, upcoming
from mpremote.policy.state import DEFAULT_LOCK_TIMEOUT, PolicyState, locked_state

MAX_LOOKBACK = timedelta(days=7)
#: State-key prefix for dry runs, so a rehearsal never blocks the real stage.
DRY_RUN_PREFIX = "dry-run:"


@dataclass(frozen=True)
class StageCall:
    """Everything an ``execute`` function needs to carry out one stage."""

    policy: Policy
    instant: StageInstant
    now: datetime
    text: str | None  # the message with placeholders filled in; None for logoff/disconnect
    dry_run: bool


@dataclass(frozen=True)
class StageExecution:
    """What ``execute`` reports back: the library's exit code and a one-line summary."""

    exit_code: int = 0  # 0 / 4 / 8 / 12 / 130, as results.ExitCode
    summary: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)  # HostResult.to_dict() rows


ExecuteFn = Callable[[StageCall], StageExecution]
AuditFn = Callable[[dict[str, Any]], None]


@dataclass
class StageReport:
    """One line of a run's report: a stage that fired, was missed, skipped or interrupted."""

    key: str
    action: str
    stage: str
    at: datetime
    scheduled: datetime
    outcome: str
    detail: str = ""
    exit_code: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "action": self.action,
            "stage": self.stage,
            "at": self.at.isoformat(),
            "scheduled": self.scheduled.isoformat(),
            "outcome": self.outcome,
            "detail": self.detail,
            "exit_code": self.exit_code,
        }


@dataclass
class PolicyRunReport:
    policy: str
    now: datetime
    dry_run: bool
    fired: list[StageReport] = field(default_factory=list)
    missed: list[StageReport] = field(default_factory=list)
    skipped: list[StageReport] = field(default_factory=list)
    #: ``started`` records left by a crashed run: reported once, never re-fired.
    interrupted: list[StageReport] = field(default_factory=list)
    already_done: int = 0
    next_stage: StageInstant | None = None
    aborted: bool = False  # Ctrl-C during a stage

    @property
    def exit_code(self) -> int:
        """130 on Ctrl-C; else the host bits 4/8 of every fired stage; else 1 or 2 if a stage
        raised (internal error / refused input); else 0."""
        if self.aborted:
            return ExitCode.INTERRUPTED
        codes = [r.exit_code for r in self.fired]
        bits = 0
        for c in codes:
            bits |= c & 12
        if bits:
            return bits
        for code in (ExitCode.INTERNAL, ExitCode.USAGE):
            if code in codes:
                return code
        return ExitCode.OK

    def summary_line(self) -> str:
        """The one line per run that goes to stdout, the scheduler's log and the audit log."""
        counts = [
            f"{len(self.fired)} fired" if self.fired else "",
            f"{self.already_done} already done" if self.already_done else "",
            f"{len(self.missed)} missed" if self.missed else "",
            f"{len(self.skipped)} skipped (skip date)" if self.skipped else "",
            f"{len(self.interrupted)} interrupted earlier" if self.interrupted else "",
        ]
        dry = " (dry run)" if self.dry_run else ""
        line = f"{self.now.isoformat(timespec='seconds')} policy {self.policy}{dry}: "
        line += ", ".join(c for c in counts if c) or "nothing due"
        for r in self.fired:
            line += f"; {r.stage} {r.action} {r.outcome}" + (f" ({r.detail})" if r.detail else "")
        if self.next_stage is not None:
            si = self.next_stage
            line += f"; next {si.stage.label} {si.stage.action} at {si.at.isoformat(timespec='minutes')}"
        return line + f"; exit {self.exit_code}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "fired": [r.to_dict() for r in self.fired],
            "missed": [r.to_dict() for r in self.missed],
            "skipped": [r.to_dict() for r in self.skipped],
            "interrupted": [r.to_dict() for r in self.interrupted],
            "already_done": self.already_done,
            "next": self.next_stage.to_dict() if self.next_stage else None,
            "exit_code": self.exit_code,
            "summary": self.summary_line(),
        }


def minutes_until(scheduled: datetime, now: datetime) -> int:
    """``{minutes}``: whole minutes from now until T, rounded, never negative."""
    return max(0, round((scheduled - now).total_seconds() / 60))


def run_policy(
    policy: Policy,
    now: datetime,
    state_path: str | Path,
    *,
    execute: ExecuteFn,
    dry_run: bool = False,
    audit: AuditFn | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> PolicyRunReport:
    """Fire every due, not-yet-fired stage once; record everything; return the report.

    ``now`` must be timezone-aware (tests pass a fake clock; the CLI passes the real one
    or ``--now``). ``execute`` does the work of one stage (see :mod:`.execute` for the real
    one); it is injected so the decision logic is tested without any network.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)  # all comparisons in UTC (same-zone comparisons ignore fold)
    dry_run = dry_run or policy.dry_run
    prefix = DRY_RUN_PREFIX if dry_run else ""
    report = PolicyRunReport(policy=policy.name, now=now.astimezone(policy.tz), dry_run=dry_run)
    emit = audit or (lambda record: None)

    with locked_state(state_path, policy.name, timeout=lock_timeout) as state:
        _settle_crashed(state, report, emit)
        due = _classify(policy, now, state, prefix, report, emit)
        for si in due:
            if not _fire(policy, si, now, state, prefix, dry_run, execute, report, emit):
                break
        state.finish(now)
    following = upcoming(policy, now + timedelta(seconds=1), 1) if not report.aborted else []
    report.next_stage = following[0] if following else None
    emit({"event": "policy_run", "policy": policy.name, "now": now.isoformat(), "dry_run": dry_run,
          "exit_code": report.exit_code, "summary": report.summary_line()})  # fmt: skip
    return report


def _stage_fields(si: StageInstant) -> dict[str, Any]:
    return {
        "action": si.stage.action,
        "stage": si.stage.label,
        "at": si.at.isoformat(),
        "scheduled": si.scheduled.isoformat(),
    }


def _report(si: StageInstant, key: str, outcome: str, detail: str = "", code: int = 0) -> StageReport:
    return StageReport(key, si.stage.action, si.stage.label, si.at, si.scheduled, outcome, detail, code)


def _settle_crashed(state: PolicyState, report: PolicyRunReport, emit: AuditFn) -> None:
    """A ``started`` record seen while we hold the lock can only come from a dead run."""
    for key, entry in list(state.stages.items()):
        if entry.get("outcome") != "started":
            continue
        detail = "a previous run stopped after starting this stage; it may have been delivered, not repeated"
        state.record(key, "interrupted", detail=detail)
        at = _parse(entry.get("at"), report.now)
        sr = StageReport(key, entry.get("action", "?"), entry.get("stage", "?"), at,
                         _parse(entry.get("scheduled"), at), "interrupted", detail)  # fmt: skip
        report.interrupted.append(sr)
        emit({"event": "policy_stage", "policy": report.policy, **sr.to_dict()})


def _parse(raw: Any, default: datetime) -> datetime:
    try:
        return datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        return default


def _classify(
    policy: Policy, now: datetime, state: PolicyState, prefix: str, report: PolicyRunReport, emit: AuditFn
) -> list[StageInstant]:
    """Record skipped and missed stages; return the due ones, in time order."""
    last = state.last_run
    start = now - policy.catch_up
    if last is not None:
        start = max(min(last, start), now - MAX_LOOKBACK)
    due: list[StageInstant] = []
    for si in stage_instants_between(policy, start, now, include_skipped=True):
        key = prefix + si.key
        if (entry := state.get(key)) is not None:
            fired = entry.get("outcome") not in ("missed", "skipped")
            report.already_done += fired and si.at_utc + policy.catch_up > now
            continue
        if si.occurrence.skipped:
            _settle(state, si, key, "skipped", f"{si.occurrence.nominal.date()} is a skip date", report, emit)
        elif si.stage.action == "message" and si.stage.offset < timedelta(0) and now >= si.occurrence.scheduled_utc:
            _settle(state, si, key, "missed", "T already reached: a warning now would come too late", report, emit)
        elif now >= si.at_utc + policy.catch_up:
            late = now - si.at_utc
            _settle(state, si, key, "missed", f"{_mins(late)} late, outside catch_up", report, emit)
        else:
            due.append(si)
    # Newest occurrence per stage; last due warning per T.
    keep: list[StageInstant] = []
    for si in due:
        newer_same_stage = any(o.stage.index == si.stage.index and o.at_utc > si.at_utc for o in due)
        later_warning = si.stage.action == "message" and any(
            o.occurrence == si.occurrence and o.stage.action == "message" and o.at_utc > si.at_utc for o in due
        )
        if newer_same_stage or later_warning:
            why = "superseded by a newer occurrence" if newer_same_stage else "superseded by a later warning"
            _settle(state, si, prefix + si.key, "missed", why, report, emit)
        else:
            keep.append(si)
    return keep


def _mins(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)}m"


def _settle(
    state: PolicyState, si: StageInstant, key: str, outcome: str, detail: str, report: PolicyRunReport,
    emit: AuditFn,
) -> None:  # fmt: skip
    state.record(key, outcome, detail=detail, **_stage_fields(si))
    sr = _report(si, key, outcome, detail)
    (report.skipped if outcome == "skipped" else report.missed).append(sr)
    emit({"event": "policy_stage", "policy": report.policy, **sr.to_dict()})


def _fire(
    policy: Policy, si: StageInstant, now: datetime, state: PolicyState, prefix: str, dry_run: bool,
    execute: ExecuteFn, report: PolicyRunReport, emit: AuditFn,
) -> bool:  # fmt: skip
    """Fire one stage; False means stop the run (Ctrl-C)."""
    key = prefix + si.key
    text = None
    if si.stage.text is not None:
        local_t = si.scheduled.astimezone(policy.tz)
        text = render_text(si.stage.text, minutes=minutes_until(si.scheduled, now),
                           time_text=local_t.strftime("%H:%M"), name=policy.name)  # fmt: skip
    state.record(key, "started", started=now.astimezone(UTC).isoformat(), **_stage_fields(si))
    call = StageCall(policy=policy, instant=si, now=now, text=text, dry_run=dry_run)
    results: list[dict[str, Any]] = []
    try:
        result = execute(call)
    except KeyboardInterrupt as exc:
        detail = "interrupted while running; may have been delivered, not repeated"
        state.record(key, "interrupted", detail=detail)
        sr, report.aborted = _report(si, key, "interrupted", detail, exit_for(exc)[0]), True
    except UsageError as exc:
        # Refused before contacting any host: nothing was delivered, so a later run may retry.
        state.forget(key)
        sr = _report(si, key, "failed", f"not started: {exc}", exit_for(exc)[0])
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}; not retried (it may have been delivered)"
        state.record(key, "failed", detail=detail)
        sr = _report(si, key, "failed", detail, exit_for(exc)[0])
    else:
        outcome = "dry_run" if dry_run else ("done" if result.exit_code == 0 else "failed")
        state.record(key, outcome, detail=result.summary, exit_code=int(result.exit_code))
        sr = _report(si, key, outcome, result.summary, int(result.exit_code))
        results = result.results
    report.fired.append(sr)
    emit({"event": "policy_stage", "policy": policy.name, "text": text, **sr.to_dict(), "results": results})
    return not report.aborted
