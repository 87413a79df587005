"""``run_policy`` with a fake clock (explicit ``now``) and a fake ``execute``: exactly once."""

from __future__ import annotations

import json
import multiprocessing
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mpremote.errors import InputFileError
from mpremote.policy.load import load_policy
from mpremote.policy.model import Policy
from mpremote.policy.runner import StageCall, StageExecution, run_policy
from mpremote.policy.state import StateFileError, StateLockTimeout

MADRID = ZoneInfo("Europe/Madrid")
# Friday 2026-03-27, T = 17:00 Madrid (CET, +01:00).
T = datetime(2026, 3, 27, 17, 0, tzinfo=MADRID)


class FakeExecute:
    """Records every call; optionally raises for one action."""

    def __init__(self, fail: dict[str, BaseException] | None = None) -> None:
        self.calls: list[StageCall] = []
        self.fail = fail or {}

    def __call__(self, call: StageCall) -> StageExecution:
        self.calls.append(call)
        label = call.instant.stage.label
        if label in self.fail:
            raise self.fail.pop(label)
        return StageExecution(0, "3 hosts, 3 ok, 5 sessions, 5 done")

    @property
    def fired(self) -> list[tuple[str, str | None]]:
        return [(c.instant.stage.label, c.text) for c in self.calls]


class Crash(BaseException):
    """Stands for the process dying (power cut, kill -9) in the middle of a stage."""


@pytest.fixture
def policy(write_policy) -> Policy:
    return load_policy(write_policy())


def _run(policy: Policy, now: datetime, state: Path, execute: FakeExecute, **kw):
    return run_policy(policy, now, state, execute=execute, **kw)


def _state(path: Path) -> dict:
    return json.loads(path.read_text())["stages"]


def test_warn_warn_logoff_each_once(policy: Policy, tmp_path: Path) -> None:
    state, ex = tmp_path / "s.json", FakeExecute()
    for offset in (-15, -15, -5, -5, 0, 0):  # every call twice in the same minute
        for seconds in (0, 40):
            _run(policy, T + timedelta(minutes=offset, seconds=seconds), state, ex)
    assert ex.fired == [
        ("T-15m", "The lab closes in 15 minutes."),
        ("T-5m", "The lab closes in 5 minutes (17:00)."),
        ("T", None),
    ]
    assert {v["outcome"] for v in _state(state).values()} == {"done"}
    assert set(_state(state)) == {"2026-03-27T16:00:00Z/0", "2026-03-27T16:00:00Z/1", "2026-03-27T16:00:00Z/2"}


def test_second_run_same_minute_reports_already_done(policy: Policy, tmp_path: Path) -> None:
    state, ex = tmp_path / "s.json", FakeExecute()
    first = _run(policy, T, state, ex)
    second = _run(policy, T + timedelta(seconds=30), state, ex)
    assert [r.outcome for r in first.fired] == ["done"] and second.fired == []
    assert second.already_done == 1 and "already done" in second.summary_line()
    assert second.exit_code == 0


def test_nothing_due_touches_nothing(policy: Policy, tmp_path: Path) -> None:
    ex = FakeExecute()
    report = _run(policy, T - timedelta(hours=3), tmp_path / "s.json", ex)
    assert ex.calls == [] and "nothing due" in report.summary_line()
    assert report.next_stage is not None and report.next_stage.stage.label == "T-15m"


def test_missed_inside_catch_up_runs_late(policy: Policy, tmp_path: Path) -> None:
    ex = FakeExecute()
    _run(policy, T - timedelta(minutes=15, seconds=1), tmp_path / "s.json", ex)  # scheduler alive
    report = _run(policy, T - timedelta(minutes=12), tmp_path / "s.json", ex)  # 3 minutes late
    assert ex.fired == [("T-15m", "The lab closes in 12 minutes.")]
    assert [r.outcome for r in report.fired] == ["done"]


def test_missed_outside_catch_up_is_recorded_not_run(policy: Policy, tmp_path: Path) -> None:
    state, ex = tmp_path / "s.json", FakeExecute()
    _run(policy, T - timedelta(minutes=20), state, ex)
    report = _run(policy, T - timedelta(minutes=4), state, ex)  # T-15m is 11 minutes late
    assert ex.fired == [("T-5m", "The lab closes in 4 minutes (17:00).")]
    assert [(r.stage, r.outcome) for r in report.missed] == [("T-15m", "missed")]
    assert _state(state)["2026-03-27T16:00:00Z/0"]["outcome"] == "missed"
    again = _run(policy, T - timedelta(minutes=3), state, ex)  # recorded once, never re-reported
    assert again.missed == [] and len(ex.calls) == 1


def test_stale_warning_superseded_by_later_one(write_policy, tmp_path: Path) -> None:
    policy = load_policy(write_policy(catch_up="15m"))
    state, ex = tmp_path / "s.json", FakeExecute()
    _run(policy, T - timedelta(minutes=20), state, ex)
    report = _run(policy, T - timedelta(minutes=3), state, ex)  # both warnings inside the window
    assert ex.fired == [("T-5m", "The lab closes in 3 minutes (17:00).")]
    assert [(r.stage, r.detail) for r in report.missed] == [("T-15m", "superseded by a later warning")]


def test_only_newest_occurrence_of_a_stage_fires(write_policy, tmp_path: Path) -> None:
    policy = load_policy(write_policy(schedule={"cron": "* * * * *"}, stages=[{"action": "logoff"}]))
    state, ex = tmp_path / "s.json", FakeExecute()
    _run(policy, T, state, ex)
    report = _run(policy, T + timedelta(minutes=5), state, ex)
    assert [c.instant.scheduled for c in ex.calls] == [T, T + timedelta(minutes=5)]
    assert len(report.missed) == 4 and {r.detail for r in report.missed} == {"superseded by a newer occurrence"}


def test_first_run_does_not_report_old_history(policy: Policy, tmp_path: Path) -> None:
    report = _run(policy, T + timedelta(days=1, hours=2), tmp_path / "s.json", FakeExecute())
    assert report.missed == [] and report.fired == []


def test_downtime_is_reported_as_missed(policy: Policy, tmp_path: Path) -> None:
    state, ex = tmp_path / "s.json", FakeExecute()
    _run(policy, T - timedelta(hours=1), state, ex)
    report = _run(policy, T + timedelta(hours=1), state, ex)  # machine was off 16:00-18:00
    assert ex.calls == [] and [r.stage for r in report.missed] == ["T-15m", "T-5m", "T"]


def test_crash_between_warning_and_logoff(policy: Policy, tmp_path: Path) -> None:
    state, ex = tmp_path / "s.json", FakeExecute(fail={"T-5m": Crash()})
    _run(policy, T - timedelta(minutes=15), state, ex)
    with pytest.raises(Crash):
        _run(policy, T - timedelta(minutes=5), state, ex)
    assert _state(state)["2026-03-27T16:00:00Z/1"]["outcome"] == "started"  # recorded before acting
    report = _run(policy, T - timedelta(minutes=4), state, ex)  # same window: still not re-fired
    assert [r.stage for r in report.interrupted] == ["T-5m"] and report.fired == []
    assert _state(state)["2026-03-27T16:00:00Z/1"]["outcome"] == "interrupted"
    report = _run(policy, T, state, ex)
    assert [c.instant.stage.label for c in ex.calls] == ["T-15m", "T-5m", "T"]  # T-5m called once only
    assert [(r.stage, r.outcome) for r in report.fired] == [("T", "done")] and report.interrupted == []


def test_execute_error_is_failed_and_never_retried(policy: Policy, tmp_path: Path) -> None:
    state, ex = tmp_path / "s.json", FakeExecute(fail={"T": RuntimeError("read timeout after send")})
    report = _run(policy, T, state, ex)
    assert [r.outcome for r in report.fired] == ["failed"] and report.exit_code == 1
    _run(policy, T + timedelta(minutes=1), state, ex)
    assert len(ex.calls) == 1


def test_usage_error_reached_no_host_so_it_is_retried(policy: Policy, tmp_path: Path) -> None:
    bad = InputFileError("lab.yaml", 3, "port", "not a number")
    state, ex = tmp_path / "s.json", FakeExecute(fail={"T": bad})
    first = _run(policy, T, state, ex)
    assert first.exit_code == 2 and "not started" in first.fired[0].detail
    second = _run(policy, T + timedelta(minutes=1), state, ex)
    assert [r.outcome for r in second.fired] == ["done"] and len(ex.calls) == 2


def test_host_failures_set_exit_bits(policy: Policy, tmp_path: Path) -> None:
    report = run_policy(policy, T, tmp_path / "s.json", execute=lambda call: StageExecution(8, "1 unreachable"))
    assert report.exit_code == 8 and report.fired[0].outcome == "failed"


def test_skip_date_skips_every_stage_once(write_policy, tmp_path: Path) -> None:
    policy = load_policy(write_policy(skip_dates=["2026-03-27"]))
    state, ex = tmp_path / "s.json", FakeExecute()
    reports = [_run(policy, T + timedelta(minutes=m), state, ex) for m in (-15, -5, 0, 0)]
    assert ex.calls == []
    assert [len(r.skipped) for r in reports] == [1, 1, 1, 0]
    assert "skip date" in reports[0].summary_line()


def test_dry_run_records_separately(policy: Policy, tmp_path: Path) -> None:
    state, ex = tmp_path / "s.json", FakeExecute()
    rehearsal = _run(policy, T, state, ex, dry_run=True)
    assert [r.outcome for r in rehearsal.fired] == ["dry_run"] and ex.calls[0].dry_run
    assert _run(policy, T, state, ex, dry_run=True).fired == []  # idempotent too
    real = _run(policy, T, state, ex)  # a rehearsal never blocks the real stage
    assert [r.outcome for r in real.fired] == ["done"] and not ex.calls[-1].dry_run


def test_policy_dry_run_flag(write_policy, tmp_path: Path) -> None:
    ex = FakeExecute()
    report = _run(load_policy(write_policy(dry_run=True)), T, tmp_path / "s.json", ex)
    assert report.dry_run and ex.calls[0].dry_run and "(dry run)" in report.summary_line()


def test_spring_forward_0230_fires_once(write_policy, tmp_path: Path) -> None:
    policy = load_policy(write_policy(schedule={"at": "02:30"}, stages=[{"action": "logoff"}]))
    state, ex = tmp_path / "s.json", FakeExecute()
    for hh, mm, off in ((1, 59, 1), (3, 0, 2), (3, 0, 2), (3, 1, 2), (3, 30, 2)):
        tz = ZoneInfo(f"Etc/GMT-{off}")  # explicit offsets: +01:00 before, +02:00 after
        _run(policy, datetime(2026, 3, 29, hh, mm, tzinfo=tz), state, ex)
    assert [c.instant.at.isoformat() for c in ex.calls] == ["2026-03-29T03:00:00+02:00"]


def test_fall_back_0230_fires_once(write_policy, tmp_path: Path) -> None:
    policy = load_policy(write_policy(schedule={"at": "02:30"}, stages=[{"action": "logoff"}]))
    state, ex = tmp_path / "s.json", FakeExecute()
    first = datetime(2026, 10, 25, 2, 30, tzinfo=MADRID, fold=0)  # summer time, 00:30 UTC
    second = datetime(2026, 10, 25, 2, 30, tzinfo=MADRID, fold=1)  # winter time, 01:30 UTC
    for now in (first, first + timedelta(seconds=30), second, second + timedelta(minutes=5)):
        _run(policy, now, state, ex)
    assert [c.instant.at.isoformat() for c in ex.calls] == ["2026-10-25T02:30:00+02:00"]


def test_new_york_spring_forward_run(write_policy, tmp_path: Path) -> None:
    policy = load_policy(
        write_policy(timezone="America/New_York", schedule={"at": "02:30"}, stages=[{"action": "logoff"}])
    )
    state, ex = tmp_path / "s.json", FakeExecute()
    ny = ZoneInfo("America/New_York")
    for now in (datetime(2026, 3, 8, 1, 59, tzinfo=ny), datetime(2026, 3, 8, 3, 0, tzinfo=ny)):
        _run(policy, now, state, ex)
    _run(policy, datetime(2026, 3, 8, 3, 0, 30, tzinfo=ny), state, ex)
    assert [c.instant.at.isoformat() for c in ex.calls] == ["2026-03-08T03:00:00-04:00"]


def test_concurrent_threads_fire_each_stage_once(policy: Policy, tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []
    lock = threading.Lock()

    def slow_execute(call: StageCall) -> StageExecution:
        with lock:
            calls.append(call.instant.key)
        entered.set()
        release.wait(30)
        return StageExecution(0, "ok")

    threads = [threading.Thread(target=run_policy, args=(policy, T, state), kwargs={"execute": slow_execute})]
    threads[0].start()
    assert entered.wait(30)  # the first run is inside a stage, holding the lock
    threads += [
        threading.Thread(
            target=run_policy, args=(policy, T + timedelta(seconds=i), state), kwargs={"execute": slow_execute}
        )
        for i in range(1, 4)
    ]
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(60)
    assert calls == ["2026-03-27T16:00:00Z/2"]


def _process_run(policy_path: str, state: str, out: str) -> None:
    policy = load_policy(policy_path)

    def execute(call: StageCall) -> StageExecution:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(call.instant.key + "\n")
        return StageExecution(0, "ok")

    run_policy(policy, T - timedelta(minutes=5), state, execute=execute)


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_concurrent_processes_fire_each_stage_once(write_policy, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    out = tmp_path / "fired.txt"
    path = str(write_policy())
    procs = [ctx.Process(target=_process_run, args=(path, str(tmp_path / "s.json"), str(out))) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert out.read_text().splitlines() == ["2026-03-27T16:00:00Z/1"]


def test_lock_timeout_does_nothing(policy: Policy, tmp_path: Path) -> None:
    from mpremote.locking import FileLock

    state, ex = tmp_path / "s.json", FakeExecute()
    with FileLock(str(state) + ".lock").hold(timeout=5), pytest.raises(StateLockTimeout):
        _run(policy, T, state, ex, lock_timeout=0)
    assert ex.calls == [] and not state.exists()


def test_corrupt_or_foreign_state_refuses(policy: Policy, tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    state.write_text("{half a file")
    with pytest.raises(StateFileError):
        _run(policy, T, state, FakeExecute())
    state.write_text(json.dumps({"version": 1, "policy": "other", "stages": {}}))
    with pytest.raises(StateFileError, match="belongs to policy 'other'"):
        _run(policy, T, state, FakeExecute())


def test_audit_records_and_summary(policy: Policy, tmp_path: Path) -> None:
    records: list[dict] = []
    run_policy(policy, T - timedelta(minutes=15), tmp_path / "s.json", execute=FakeExecute(), audit=records.append)
    assert [r["event"] for r in records] == ["policy_stage", "policy_run"]
    assert records[0]["text"] == "The lab closes in 15 minutes." and records[0]["outcome"] == "done"
    assert records[1]["summary"].startswith("2026-03-27T16:45:00+01:00 policy eod: 1 fired; T-15m message done")


def test_warning_never_sent_after_its_t(policy: Policy, tmp_path: Path) -> None:
    state, ex = tmp_path / "s.json", FakeExecute()
    _run(policy, T - timedelta(minutes=6), state, ex)
    report = _run(policy, T + timedelta(minutes=1), state, ex)  # T-5m still inside catch_up, but T passed
    assert ex.fired == [("T-15m", "The lab closes in 6 minutes."), ("T", None)]
    assert [(r.stage, r.outcome) for r in report.missed] == [("T-5m", "missed")]
    assert "T already reached" in report.missed[0].detail
