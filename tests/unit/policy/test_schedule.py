"""Scheduled instants across DST changes, skip dates and cron, with explicit instants only."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mpremote.policy.load import load_policy
from mpremote.policy.schedule import parse_instant, resolve_local, stage_instants_between, upcoming

MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")


def _times(rows) -> list[tuple[str, str, str]]:
    return [(si.stage.action, si.at.isoformat(), si.at.astimezone(UTC).isoformat()) for si in rows]


def test_resolve_local_gap_and_fold() -> None:
    gap, shifted = resolve_local(datetime(2026, 3, 29, 2, 30), MADRID)
    assert shifted and gap.isoformat() == "2026-03-29T03:00:00+02:00"
    fold, shifted = resolve_local(datetime(2026, 10, 25, 2, 30), MADRID)
    assert not shifted and fold.isoformat() == "2026-10-25T02:30:00+02:00"  # first (summer) one
    gap, _ = resolve_local(datetime(2026, 3, 8, 2, 30), NEW_YORK)
    assert gap.isoformat() == "2026-03-08T03:00:00-04:00"
    fold, _ = resolve_local(datetime(2026, 11, 1, 1, 30), NEW_YORK)
    assert fold.isoformat() == "2026-11-01T01:30:00-04:00"


def test_madrid_spring_forward_1700_keeps_local_time(write_policy) -> None:
    p = load_policy(write_policy(schedule={"at": "17:00"}))
    rows = upcoming(p, parse_instant("2026-03-28T12:00", p), 6)
    assert _times(rows) == [
        ("message", "2026-03-28T16:45:00+01:00", "2026-03-28T15:45:00+00:00"),
        ("message", "2026-03-28T16:55:00+01:00", "2026-03-28T15:55:00+00:00"),
        ("logoff", "2026-03-28T17:00:00+01:00", "2026-03-28T16:00:00+00:00"),
        ("message", "2026-03-29T16:45:00+02:00", "2026-03-29T14:45:00+00:00"),
        ("message", "2026-03-29T16:55:00+02:00", "2026-03-29T14:55:00+00:00"),
        ("logoff", "2026-03-29T17:00:00+02:00", "2026-03-29T15:00:00+00:00"),
    ]


def test_madrid_spring_forward_0230_runs_once_at_0300(write_policy) -> None:
    p = load_policy(write_policy(schedule={"at": "02:30"}))
    rows = upcoming(p, parse_instant("2026-03-29T00:00", p), 3)
    # T moves to the end of the gap; warnings stay 15 and 5 *real* minutes before it.
    assert _times(rows) == [
        ("message", "2026-03-29T01:45:00+01:00", "2026-03-29T00:45:00+00:00"),
        ("message", "2026-03-29T01:55:00+01:00", "2026-03-29T00:55:00+00:00"),
        ("logoff", "2026-03-29T03:00:00+02:00", "2026-03-29T01:00:00+00:00"),
    ]
    assert rows[-1].occurrence.shifted and rows[-1].occurrence.nominal == datetime(2026, 3, 29, 2, 30)


def test_madrid_fall_back_0230_runs_once(write_policy) -> None:
    p = load_policy(write_policy(schedule={"at": "02:30"}, stages=[{"action": "logoff"}]))
    start = parse_instant("2026-10-24T12:00", p)
    end = datetime(2026, 10, 26, 12, 0, tzinfo=MADRID)
    rows = stage_instants_between(p, start, end)
    assert _times(rows) == [
        ("logoff", "2026-10-25T02:30:00+02:00", "2026-10-25T00:30:00+00:00"),  # first 02:30 only
        ("logoff", "2026-10-26T02:30:00+01:00", "2026-10-26T01:30:00+00:00"),
    ]
    # Asking from inside the repeated hour (second 02:00, winter time) finds no second run.
    second = datetime(2026, 10, 25, 2, 0, tzinfo=MADRID, fold=1)
    assert upcoming(p, second, 1)[0].at.isoformat() == "2026-10-26T02:30:00+01:00"


def test_madrid_fall_back_warning_before_fold(write_policy) -> None:
    p = load_policy(write_policy(schedule={"at": "03:00"}))
    rows = upcoming(p, parse_instant("2026-10-25T00:00", p), 3)
    # 03:00 CET is 04:00 summer time... minus 15 elapsed minutes lands in the second 02:45.
    assert _times(rows) == [
        ("message", "2026-10-25T02:45:00+01:00", "2026-10-25T01:45:00+00:00"),
        ("message", "2026-10-25T02:55:00+01:00", "2026-10-25T01:55:00+00:00"),
        ("logoff", "2026-10-25T03:00:00+01:00", "2026-10-25T02:00:00+00:00"),
    ]


def test_new_york_spring_and_fall(write_policy) -> None:
    p = load_policy(write_policy(timezone="America/New_York", schedule={"at": "02:30"}, stages=[{"action": "logoff"}]))
    rows = upcoming(p, parse_instant("2026-03-07T12:00", p), 3)
    assert [si.at.isoformat() for si in rows] == [
        "2026-03-08T03:00:00-04:00",  # 02:30 does not exist: once, when clocks jump
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]
    p = load_policy(write_policy(timezone="America/New_York", schedule={"at": "01:30"}, stages=[{"action": "logoff"}]))
    rows = upcoming(p, parse_instant("2026-10-31T12:00", p), 3)
    assert [si.at.isoformat() for si in rows] == [
        "2026-11-01T01:30:00-04:00",  # repeated hour: first occurrence only
        "2026-11-02T01:30:00-05:00",
        "2026-11-03T01:30:00-05:00",
    ]
    assert rows[0].at.astimezone(UTC).isoformat() == "2026-11-01T05:30:00+00:00"


def test_new_york_weekday_1700_across_spring(write_policy) -> None:
    p = load_policy(write_policy(timezone="America/New_York", stages=[{"action": "logoff"}]))
    rows = upcoming(p, parse_instant("2026-03-06T00:00", p), 2)  # Fri, then Mon after the change
    assert [si.at.astimezone(UTC).isoformat() for si in rows] == [
        "2026-03-06T22:00:00+00:00",
        "2026-03-09T21:00:00+00:00",
    ]


def test_cron_in_dst_gap_collapses_to_one_instant(write_policy) -> None:
    p = load_policy(write_policy(schedule={"cron": "*/15 2 * * *"}, stages=[{"action": "logoff"}]))
    rows = stage_instants_between(p, parse_instant("2026-03-29T00:00", p), parse_instant("2026-03-29T12:00", p))
    assert [si.at.isoformat() for si in rows] == ["2026-03-29T03:00:00+02:00"]
    rows = stage_instants_between(p, parse_instant("2026-10-25T00:00", p), parse_instant("2026-10-25T12:00", p))
    assert [si.at.isoformat() for si in rows] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:15:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:45:00+02:00",
    ]


def test_cron_weekdays(write_policy) -> None:
    p = load_policy(write_policy(schedule={"cron": "0 17 * * 1-5"}, stages=[{"action": "logoff"}]))
    rows = upcoming(p, parse_instant("2026-03-27T18:00", p), 2)  # Friday evening
    assert [si.at.isoformat() for si in rows] == ["2026-03-30T17:00:00+02:00", "2026-03-31T17:00:00+02:00"]


def test_skip_dates_and_ranges(write_policy) -> None:
    p = load_policy(
        write_policy(
            stages=[{"action": "logoff"}],
            skip_dates=["2026-12-23", {"from": "2026-12-28", "to": "2027-01-06"}],
        )
    )
    rows = upcoming(p, parse_instant("2026-12-21T00:00", p), 5)
    assert [si.at.date().isoformat() for si in rows] == [
        "2026-12-21",
        "2026-12-22",
        "2026-12-24",
        "2026-12-25",
        "2027-01-07",
    ]


def test_stage_belongs_to_its_t(write_policy) -> None:
    """A warning the evening before a 00:05 log-off is skipped with that log-off's date."""
    p = load_policy(write_policy(schedule={"at": "00:05"}, skip_dates=["2026-05-06"], stages=BASE_STAGES_MIDNIGHT))
    rows = upcoming(p, parse_instant("2026-05-05T12:00", p), 2)
    assert [(si.stage.action, si.at.isoformat()) for si in rows] == [
        ("message", "2026-05-06T23:50:00+02:00"),  # for T = 2026-05-07 00:05
        ("logoff", "2026-05-07T00:05:00+02:00"),
    ]
    skipped = stage_instants_between(
        p, parse_instant("2026-05-05T12:00", p), parse_instant("2026-05-06T12:00", p), include_skipped=True
    )
    assert [si.occurrence.skipped for si in skipped] == [True, True]
    assert skipped[0].at.isoformat() == "2026-05-05T23:50:00+02:00"


BASE_STAGES_MIDNIGHT = [{"before": "15m", "action": "message", "text": "closing at {time}"}, {"action": "logoff"}]


def test_next_from_is_inclusive_and_counts(write_policy) -> None:
    p = load_policy(write_policy())
    rows = upcoming(p, parse_instant("2026-03-27T16:55", p), 2)
    assert [(si.stage.label, si.at.isoformat()) for si in rows] == [
        ("T-5m", "2026-03-27T16:55:00+01:00"),
        ("T", "2026-03-27T17:00:00+01:00"),
    ]
    assert upcoming(p, parse_instant("2026-03-27T16:55+00:00", p), 1)[0].at.isoformat() == ("2026-03-30T16:45:00+02:00")


@pytest.mark.parametrize("expr", ["0 0 30 2 *"])
def test_cron_that_never_matches(write_policy, expr: str) -> None:
    p = load_policy(write_policy(schedule={"cron": expr}, stages=[{"action": "logoff"}]))
    assert upcoming(p, parse_instant("2026-01-01T00:00", p), 3) == []
