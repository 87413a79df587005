"""``policy check``: the plan in plain words, so a reviewer can confirm it before 17:00 does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mpremote.policy.model import Policy, format_duration
from mpremote.policy.schedule import upcoming


def _ranges(policy: Policy) -> str:
    parts = [str(r.start) if r.start == r.end else f"{r.start}..{r.end}" for r in policy.skip_dates]
    return ", ".join(parts) or "none"


def _stage_line(policy: Policy, stage: Any) -> str:
    offset = stage.offset
    when = "at T" if not offset else f"{format_duration(offset)} {'before' if offset < timedelta(0) else 'after'} T"
    if stage.action == "message":
        what = f'message "{stage.text}" (shown {stage.seconds}s)'
    elif stage.action == "lock":
        what = f'lock the selected sessions (MultiPoint) with "{stage.text}"'
    elif stage.action == "unlock":
        what = "unlock the selected sessions (MultiPoint)"
    elif stage.action == "logoff":
        what = "log off the selected sessions still present (queried again at that moment)"
    else:
        what = "disconnect the selected sessions still present (queried again at that moment)"
    if stage.spare_busy:
        what += "; sessions with unsaved work open are spared"
    return f"{stage.label:<8} {when:<16} {what}"


def describe_policy(policy: Policy, *, now: datetime | None = None, hosts: str | None = None) -> list[str]:
    """Lines describing the policy; ``hosts`` is a line about the resolved targets, if known."""
    now = now or datetime.now(UTC)
    ex = policy.exempt
    who = policy.select.describe()
    if ex.users:
        who += f", except users {', '.join(ex.users)}"
    lines = [
        f"Policy '{policy.name}' ({policy.path})" + (" — DRY RUN: nothing is changed" if policy.dry_run else ""),
    ]
    if policy.description:
        lines.append(f"  {policy.description.strip()}")
    lines += [
        f"  Targets:   {policy.targets}" + (f", limit '{policy.limit}'" if policy.limit else ""),
        f"  Exempt:    hosts {', '.join(ex.hosts) or 'none'}; groups {', '.join(ex.groups) or 'none'}; "
        f"users {', '.join(ex.users) or 'none'}",
    ]
    if hosts:
        lines.append(f"  Hosts:     {hosts}")
    lines += [
        f"  When (T):  {policy.schedule.describe()}, {policy.timezone} time",
        f"  Skip:      {_ranges(policy)} (dates of T; a stage belongs to its T)",
        f"  Sessions:  {who}",
        "  Stages:",
        *(f"    {_stage_line(policy, s)}" for s in policy.stages),
        f"  Catch-up:  a stage the scheduler missed still runs up to {format_duration(policy.catch_up)} late; "
        "later it is recorded as missed, never run",
        "  DST:       a T in the spring-forward gap runs once when clocks jump (02:30 -> 03:00); "
        "a T in the repeated hour runs once, at its first occurrence",
    ]
    nxt = upcoming(policy, now, len(policy.stages))
    if nxt:
        lines.append("  Next:")
        lines += [
            f"    {si.at.isoformat(timespec='minutes')}  {si.stage.label:<8} {si.stage.action}"
            f"  (UTC {si.at.astimezone(UTC).strftime('%Y-%m-%d %H:%M')})"
            for si in nxt
        ]
    else:
        lines.append("  Next:      never (the schedule matches no future date)")
    return lines
