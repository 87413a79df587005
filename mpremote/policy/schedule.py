"""Scheduled instants T and stage instants S = T + offset, in the policy's own time zone.

Rules (docs/policies.md, "Daylight saving time"):

* A schedule is a local wall-clock rule (``days`` + ``at``, or a cron expression read as
  local time). Each matching local time becomes one instant T.
* **Nonexistent local time** (spring forward, e.g. 02:30 on 2026-03-29 in Europe/Madrid):
  T is the first valid instant after the gap, the moment clocks jump (03:00 local). Several
  times inside one gap collapse to that one instant: it runs once.
* **Ambiguous local time** (fall back, e.g. 02:30 on 2026-10-25 in Europe/Madrid): only
  the first occurrence (``fold=0``, still summer time) is used. It runs once.
* Stage offsets are *elapsed* time: "15m before T" is 15 real minutes before T even across
  a transition, so ``{minutes}`` in a warning is always true.
* ``skip_dates`` apply to T's local (nominal) date, and every stage belongs to its T: a
  15-minute warning at 23:50 for a 00:05 log-off is skipped with that log-off's date.

Cron expressions are evaluated by croniter on *naive* local times, and the DST rules above
are applied afterwards by :func:`resolve_local`, so days+at and cron follow the same rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from mpremote.policy.model import Policy, Stage

#: Hard stop for searches that never find enough instants (e.g. every date skipped).
_MAX_DAYS_SCANNED = 366 * 10


@dataclass(frozen=True)
class Occurrence:
    """One scheduled instant T."""

    scheduled: datetime  # aware, in the policy's zone
    nominal: datetime  # naive local time the schedule named (02:30 even when moved to 03:00)
    skipped: bool = False  # T's local date is a skip date
    shifted: bool = False  # nominal time did not exist (spring forward) and was moved

    @property
    def scheduled_utc(self) -> datetime:
        return self.scheduled.astimezone(UTC)

    @property
    def utc_key(self) -> str:
        """T in UTC, the first half of every state key (stable across DST and zone renames)."""
        return self.scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class StageInstant:
    """One stage of one occurrence: fires at ``at`` = T + stage offset (elapsed time)."""

    stage: Stage
    occurrence: Occurrence
    at: datetime  # aware, in the policy's zone

    @property
    def at_utc(self) -> datetime:
        """Compare instants in UTC only: Python compares two datetimes of the *same* zone by
        wall clock, ignoring ``fold``, which is wrong inside a repeated hour."""
        return self.at.astimezone(UTC)

    @property
    def sort_key(self) -> tuple[datetime, timedelta, int]:
        return (self.at_utc, self.stage.offset, self.stage.index)

    @property
    def key(self) -> str:
        """``"{T_utc_iso}/{stage_index}"``: the state file's record of this stage."""
        return f"{self.occurrence.utc_key}/{self.stage.index}"

    @property
    def scheduled(self) -> datetime:
        return self.occurrence.scheduled

    def to_dict(self) -> dict[str, Any]:
        """The ``policy next --format json`` row (DESIGN section 3), plus extra fields."""
        return {
            "action": self.stage.action,
            "stage": self.stage.label,
            "at": self.at.isoformat(),
            "at_utc": self.at.astimezone(UTC).isoformat(),
            "stage_index": self.stage.index,
            "scheduled": self.occurrence.scheduled.isoformat(),
            "scheduled_utc": self.occurrence.scheduled.astimezone(UTC).isoformat(),
            "key": self.key,
        }


def resolve_local(naive: datetime, tz: tzinfo) -> tuple[datetime, bool]:
    """Turn a naive local wall time into an aware instant by the DST rules above.

    Returns ``(instant, shifted)``; ``shifted`` is True when the wall time did not exist.
    """
    first = naive.replace(tzinfo=tz, fold=0)
    as_utc = first.astimezone(UTC)
    if as_utc.astimezone(tz).replace(tzinfo=None) == naive:
        return as_utc.astimezone(tz), False  # exists; if ambiguous, fold=0 is the first one
    # In a gap, fold=0 uses the offset before the transition (a later UTC instant) and
    # fold=1 the offset after it (an earlier one); the transition lies between the two.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = as_utc
    target = hi.astimezone(tz).utcoffset()
    lo_s, hi_s = 0, int((hi - lo).total_seconds())
    while lo_s < hi_s:  # smallest second at which the new offset is in force
        mid = (lo_s + hi_s) // 2
        if (lo + timedelta(seconds=mid)).astimezone(tz).utcoffset() == target:
            hi_s = mid
        else:
            lo_s = mid + 1
    return (lo + timedelta(seconds=lo_s)).astimezone(tz), True


def _naive_times(policy: Policy, start_local: datetime) -> Iterator[datetime]:
    """Local wall times named by the schedule, in order, from ``start_local``'s date on."""
    sched = policy.schedule
    if sched.cron:
        from croniter import CroniterBadDateError, croniter

        it = croniter(sched.cron, start_local.replace(tzinfo=None) - timedelta(minutes=1))
        limit = start_local.replace(tzinfo=None) + timedelta(days=_MAX_DAYS_SCANNED)
        while True:
            try:
                nxt = it.get_next(datetime)
            except CroniterBadDateError:  # e.g. "0 0 30 2 *": never matches
                return
            if nxt > limit:
                return
            yield nxt
    day = start_local.date()
    for _ in range(_MAX_DAYS_SCANNED):
        if day.weekday() in sched.days:
            for t in sched.at:
                yield datetime.combine(day, t)
        day += timedelta(days=1)


def iter_occurrences(policy: Policy, start: datetime, *, include_skipped: bool = False) -> Iterator[Occurrence]:
    """Occurrences with T >= ``start`` (aware), in time order, each instant once."""
    tz = policy.tz
    start = start.astimezone(UTC)
    # Start a day early: moved (gap) and first-fold times can land on either side of start.
    local_start = (start.astimezone(tz) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    last: datetime | None = None
    for naive in _naive_times(policy, local_start):
        instant, shifted = resolve_local(naive, tz)
        as_utc = instant.astimezone(UTC)
        if as_utc < start or (last is not None and as_utc <= last):
            continue  # before the window, or a second gap time collapsing onto the same T
        last = as_utc
        skipped = policy.is_skip_date(naive.date())
        if skipped and not include_skipped:
            continue
        yield Occurrence(scheduled=instant, nominal=naive, skipped=skipped, shifted=shifted)


def stage_instant(stage: Stage, occ: Occurrence, tz: tzinfo) -> StageInstant:
    # Elapsed-time arithmetic: aware + timedelta on a zoned datetime would be wall-clock.
    return StageInstant(stage, occ, (occ.scheduled_utc + stage.offset).astimezone(tz))


def stage_instants_between(
    policy: Policy, start: datetime, end: datetime, *, include_skipped: bool = False
) -> list[StageInstant]:
    """Every stage instant S with ``start <= S <= end``, in time order."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    offsets = [s.offset for s in policy.stages]
    out: list[StageInstant] = []
    for occ in iter_occurrences(policy, start - max(offsets), include_skipped=include_skipped):
        if occ.scheduled_utc + min(offsets) > end:
            break
        for stage in policy.stages:
            si = stage_instant(stage, occ, policy.tz)
            if start <= si.at_utc <= end:
                out.append(si)
    return sorted(out, key=lambda si: si.sort_key)


def upcoming(policy: Policy, start: datetime, count: int) -> list[StageInstant]:
    """The next ``count`` stage instants at or after ``start`` (skip dates left out)."""
    if count <= 0:
        return []
    start = start.astimezone(UTC)
    offsets = [s.offset for s in policy.stages]
    found: list[StageInstant] = []
    for occ in iter_occurrences(policy, start - max(offsets)):
        if len(found) >= count and occ.scheduled_utc + min(offsets) > found[count - 1].at_utc:
            break  # nothing from this or any later T can enter the first `count`
        found.extend(si for stage in policy.stages if (si := stage_instant(stage, occ, policy.tz)).at_utc >= start)
        found.sort(key=lambda si: si.sort_key)
    return found[:count]


def parse_instant(text: str, policy: Policy) -> datetime:
    """ISO 8601 from the command line; a time without offset is read in the policy's zone."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value, _ = resolve_local(value, policy.tz)
    return value
