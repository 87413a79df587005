"""The ``policy`` Typer sub-app through CliRunner: output shapes and exit codes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mpremote.cli import policy as cli
from mpremote.policy.runner import StageCall, StageExecution

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(cli.app, list(args))


def test_next_json_across_dst(write_policy) -> None:
    path = write_policy(schedule={"days": "daily", "at": "02:30"})
    result = invoke("next", str(path), "--from", "2026-03-29T00:00", "--count", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["action"], r["stage"], r["at"], r["at_utc"]) for r in rows] == [
        ("message", "T-15m", "2026-03-29T01:45:00+01:00", "2026-03-29T00:45:00+00:00"),
        ("message", "T-5m", "2026-03-29T01:55:00+01:00", "2026-03-29T00:55:00+00:00"),
        ("logoff", "T", "2026-03-29T03:00:00+02:00", "2026-03-29T01:00:00+00:00"),
    ]
    assert all(datetime.fromisoformat(r["at"]) == datetime.fromisoformat(r["at_utc"]) for r in rows)


def test_next_skips_skip_dates_and_table(write_policy) -> None:
    path = write_policy(stages=[{"action": "logoff"}], skip_dates=["2026-12-24"])
    result = invoke("next", str(path), "--from", "2026-12-23T18:00+01:00", "--count", "1", "--format", "json")
    assert json.loads(result.stdout)[0]["at"] == "2026-12-25T17:00:00+01:00"
    table = invoke("next", str(path), "--from", "2026-12-23T18:00", "--count", "2")
    assert table.exit_code == 0 and "2026-12-25T17:00+01:00" in table.stdout and "2026-12-24" not in table.stdout


def test_next_bad_from(write_policy) -> None:
    result = invoke("next", str(write_policy()), "--from", "tomorrow")
    assert result.exit_code == 2 and "--from" in result.output


def test_check_examples() -> None:
    result = invoke("check", str(REPO / "policies" / "end-of-day.yaml"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Monday to Friday at 17:00, Europe/Madrid" in out and "OK: policy is valid" in out
    assert "mp-102-teacher" not in out.split("Hosts:")[1].splitlines()[0]  # exempt host left out
    data = json.loads(invoke("check", str(REPO / "policies" / "idle-sweep.yaml"), "--format", "json").stdout)
    assert data["valid"] and "library-rds" not in data["hosts"]


def test_invalid_policy_exit_2_names_file_line_field(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\ntargets: t.yaml\ntimezone: Europe/Madrid\nschedule: {at: '17:00'}\nstages: []\n")
    for command in ("check", "next", "run", "install"):
        args = [command, str(path)] + (["--target", "cron"] if command == "install" else [])
        result = invoke(*args)
        assert result.exit_code == 2, (command, result.output)
        assert f"{path}:5: field 'stages':" in result.output


def test_check_missing_targets_is_exit_2(write_policy) -> None:
    result = invoke("check", str(write_policy(targets="nowhere.yaml")))
    assert result.exit_code == 2 and "nowhere.yaml" in result.output


def test_run_with_now_and_state(write_policy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[StageCall] = []

    def fake(*_: object) -> object:
        def execute(call: StageCall) -> StageExecution:
            calls.append(call)
            return StageExecution(0, "2 hosts, 2 ok")

        return execute

    monkeypatch.setattr(cli, "_real_execute", fake)
    path, state = write_policy(), tmp_path / "state.json"
    first = invoke("run", str(path), "--now", "2026-03-27T16:45", "--state", str(state))
    assert first.exit_code == 0, first.output
    assert "1 fired; T-15m message done (2 hosts, 2 ok)" in first.stdout
    again = invoke("run", str(path), "--now", "2026-03-27T16:45:40+01:00", "--state", str(state), "--format", "json")
    report = json.loads(again.stdout)
    assert report["fired"] == [] and report["already_done"] == 1 and report["exit_code"] == 0
    assert [c.text for c in calls] == ["The lab closes in 15 minutes."]


def test_run_state_lock_busy_exit_2_nothing_done(write_policy, tmp_path: Path) -> None:
    from mpremote.locking import FileLock

    state = tmp_path / "s.json"
    with FileLock(str(state) + ".lock").hold(timeout=5):
        result = invoke("run", str(write_policy()), "--state", str(state), "--lock-timeout", "0")
    # Another run holds the state: nothing was done (exit 2, one line), not a bug (exit 1).
    assert result.exit_code == 2 and "another 'policy run'" in result.output


@pytest.mark.parametrize("target", ["cron", "systemd", "schtasks"])
def test_install_prints_and_writes_only_when_asked(write_policy, tmp_path: Path, target: str) -> None:
    path = write_policy()
    args = ["install", str(path), "--target", target, "--state", str(tmp_path / "s.json"), "--dir", str(tmp_path / "o")]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "policy run" in result.stdout and not (tmp_path / "o").exists()
    if target == "cron":
        refused = invoke(*args, "--write")
        assert refused.exit_code == 2 and "crontab -e" in refused.output
        result = invoke(*args, "--write", "--output", str(tmp_path / "o" / "cron.txt"))
    else:
        result = invoke(*args, "--write")
    assert result.exit_code == 0 and any((tmp_path / "o").iterdir())


def test_install_bad_target(write_policy) -> None:
    assert invoke("install", str(write_policy()), "--target", "launchd").exit_code == 2


def test_run_writes_policy_records_to_audit_log(write_policy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mpremote.audit import read_audit

    monkeypatch.setattr(cli, "_real_execute", lambda *_: lambda call: StageExecution(0, "ok"))
    audit = tmp_path / "audit.jsonl"
    args = ["run", str(write_policy()), "--now", "2026-03-27T17:00", "--state", str(tmp_path / "s.json")]
    assert invoke(*args, "--audit-log", str(audit)).exit_code == 0
    events = read_audit(audit)
    assert [e["event"] for e in events] == ["policy_stage", "policy_stage", "policy_run"]
    assert [(e["stage"], e["outcome"]) for e in events[:2]] == [("T-5m", "missed"), ("T", "done")]
    assert events[-1]["summary"].startswith("2026-03-27T17:00:00+01:00 policy eod:")
    assert len({e["run_id"] for e in events}) == 1


def test_run_log_option_appends(write_policy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_real_execute", lambda *_: lambda call: StageExecution(0, "ok"))
    log, state = tmp_path / "logs" / "eod.log", tmp_path / "s.json"
    for now in ("2026-03-27T16:45", "2026-03-27T16:45:30"):
        assert invoke("run", str(write_policy()), "--now", now, "--state", str(state), "--log", str(log)).exit_code == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and "1 fired" in lines[0] and "1 already done" in lines[1]
