"""Policy validation: good files load; every bad one names file:line and field (exit 2)."""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

import pytest

from mpremote.errors import InputFileError
from mpremote.policy.load import load_policy
from mpremote.policy.model import parse_duration

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["end-of-day", "idle-sweep", "disconnected-cleanup", "lab-day"])
def test_example_policies_load(name: str) -> None:
    policy = load_policy(REPO / "policies" / f"{name}.yaml")
    assert policy.name == name
    assert policy.targets == (REPO / "examples" / "lab.yaml").resolve()
    assert policy.stages[-1].action == "logoff"


def test_full_example_values() -> None:
    p = load_policy(REPO / "policies" / "end-of-day.yaml")
    assert p.schedule.days == frozenset(range(5)) and p.schedule.at == (time(17, 0),)
    assert [s.offset for s in p.stages] == [timedelta(minutes=-15), timedelta(minutes=-5), timedelta(0)]
    assert [s.label for s in p.stages] == ["T-15m", "T-5m", "T"]
    assert p.is_skip_date(date(2026, 12, 24)) and p.is_skip_date(date(2027, 1, 7))
    assert not p.is_skip_date(date(2027, 1, 8))
    assert p.exempt.users == ("teacher", "SCHOOL\\labadmin")
    assert p.catch_up == timedelta(minutes=10)


def test_design_minimum_policy(tmp_path: Path) -> None:
    """The policy of DESIGN.md section 3, verbatim."""
    path = tmp_path / "p.yaml"
    path.write_text(
        """name: end-of-day
targets: ../examples/lab.yaml        # relative to the policy file
limit: "lab1"                        # optional, same syntax as --limit
timezone: Europe/Madrid              # IANA name, required
schedule: {days: [mon, tue, wed, thu, fri], at: "17:00"}   # or {cron: "0 17 * * 1-5"}
stages:                              # relative to each scheduled instant T
  - {before: 15m, action: message, text: "The lab closes in {minutes} minutes. Save your work."}
  - {before: 5m,  action: message, text: "The lab closes in {minutes} minutes."}
  - {action: logoff}                 # at T
select: {all: true}                  # or {state: disconnected} / {idle_over: 30m} / {users: [...]}
exempt: {users: [teacher], hosts: [mp-lab-001]}
skip_dates: [2026-12-24, {from: 2026-12-28, to: 2027-01-06}]
catch_up: 10m                        # a missed stage runs late only within this window
""",
        encoding="utf-8",
    )
    p = load_policy(path)
    assert p.limit == "lab1" and p.exempt.hosts == ("mp-lab-001",)
    assert p.targets == (tmp_path.parent / "examples" / "lab.yaml").resolve()


def test_unquoted_time_and_cron(write_policy) -> None:
    # YAML 1.1 reads an unquoted 17:00 as 1020; we still understand it.
    p = load_policy(write_policy(schedule={"days": "weekdays", "at": 1020}))
    assert p.schedule.at == (time(17, 0),)
    p = load_policy(write_policy(schedule={"cron": "0  17 * * 1-5"}))
    assert p.schedule.cron == "0 17 * * 1-5"


def test_defaults(write_policy) -> None:
    p = load_policy(write_policy(select=None, catch_up=None))
    assert p.select.all and p.catch_up == timedelta(minutes=10) and not p.dry_run


def test_durations() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1)
    with pytest.raises(ValueError):
        parse_duration("15")
    with pytest.raises(ValueError):
        parse_duration(15)


def _error(path: Path) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        load_policy(path)
    return info.value


def test_unknown_key_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: x\ntargets: t.yaml\ntimezone: UTC\nschedule: {at: '17:00'}\n"
        "stages:\n  - {action: logoff}\nexcempt: {users: [a]}\n",
        encoding="utf-8",
    )
    err = _error(path)
    assert (err.line, err.field) == (7, "excempt")
    assert "did you mean 'exempt'" in str(err)
    assert str(err).startswith(f"{path}:7: field 'excempt':")


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("stages:\n  - {before: 15, action: message, text: hi}\n", 7, "stages[0].before", "duration"),
        ("stages:\n  - {action: shutdown}\n", 7, "stages[0].action", "message, disconnect, logoff"),
        ("stages:\n  - {action: message}\n", 7, "stages[0].text", "needs a text"),
        ("stages:\n  - {action: message, text: 'in {minuts}'}\n", 7, "stages[0].text", "{minuts}"),
        ("stages:\n  - {action: logoff, befor: 5m}\n", 7, "stages[0].befor", "did you mean 'before'"),
        ("stages:\n  - action: message\n    text: " + "x" * 300 + "\n", 8, "stages[0].text", "255"),
        ("stages: [{action: logoff}]\nselect: {state: sleeping}\n", 7, "select.state", "active or disconnected"),
        ("stages: [{action: logoff}]\nselect: {all: true, users: [a]}\n", 7, "select", "cannot be combined"),
        ("stages: [{action: logoff}]\nskip_dates:\n  - 2026-12-24\n  - {from: 2027-01-06, to: 2026-12-28}\n", 9,
         "skip_dates[1].to", "before it starts"),
        ("stages: [{action: logoff}]\nskip_dates: ['2026-13-01']\n", 7, "skip_dates[0]", "YYYY-MM-DD"),
        ("stages: [{action: logoff}]\ncatch_up: 30s\n", 7, "catch_up", "at least 1m"),
        ("stages: [{action: logoff}]\ndry_run: maybe\n", 7, "dry_run", "true or false"),
    ],
)  # fmt: skip
def test_errors_name_line_and_field(tmp_path: Path, text: str, line: int, field: str, words: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\ntargets: t.yaml\ntimezone: UTC\nschedule: {at: '17:00'}\n# pad\n" + text, "utf-8")
    err = _error(path)
    assert (err.path, err.line, err.field) == (str(path), line, field), str(err)
    assert words in err.problem


@pytest.mark.parametrize(
    ("header", "field", "words"),
    [
        ("timezone: Europe/Madird\nschedule: {at: '17:00'}\n", "timezone", "IANA"),
        ("timezone: UTC\nschedule: {at: '25:00'}\n", "schedule.at", "HH:MM"),
        ("timezone: UTC\nschedule: {days: [mon, funday], at: '17:00'}\n", "schedule.days", "funday"),
        ("timezone: UTC\nschedule: {cron: '61 17 * * *'}\n", "schedule.cron", "cron"),
        ("timezone: UTC\nschedule: {cron: '0 17 * * *', at: '17:00'}\n", "schedule", "not both"),
        ("schedule: {at: '17:00'}\n", "timezone", "required"),
    ],
)
def test_schedule_errors(tmp_path: Path, header: str, field: str, words: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\ntargets: t.yaml\n" + header + "stages: [{action: logoff}]\n", "utf-8")
    err = _error(path)
    assert err.field == field and words in err.problem, str(err)
    assert err.line is not None


def test_duplicate_key_and_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nname: y\n", "utf-8")
    assert _error(path).line == 2
    path.write_text("name: [x\n", "utf-8")
    assert _error(path).line is not None
    assert "not found" in _error(tmp_path / "missing.yaml").problem


def test_impossible_unquoted_date(tmp_path: Path) -> None:
    """PyYAML itself fails on 2026-13-01; still an InputFileError (exit 2), not a traceback."""
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nskip_dates: [2026-13-01]\n", "utf-8")
    assert "month must be in 1..12" in _error(path).problem
