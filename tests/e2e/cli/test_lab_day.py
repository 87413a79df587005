"""Lab-day controls through the real CLI against the lab: lock/unlock, confirmed log-off with
slow and stuck hosts, the retry file converging, and work at risk (--apps, --spare-busy)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mpremote.apps import DEFAULT_BUSY_APPS, is_flagged
from mpremote.targets.patterns import read_retry_file

from .conftest import journal_events, user_sessions

pytestmark = pytest.mark.lab


def acted(row: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {a["id"]: a for a in row["actions"] if a["outcome"] != "skipped"}


def people(lab: Any, host: str) -> dict[int, Any]:
    """User sessions a command may touch (not the console / WMSshell)."""
    return {s.id: s for s in user_sessions(lab, host) if not s.is_console}


def test_lock_with_a_message_then_unlock_on_multipoint(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=4, seed=3)
    text = "Eyes on the teacher; $(Stop-Computer)"
    res = cli("lock", lab.targets_path, "--all", "--text", text, "--yes", "--format", "json")
    assert res.exit_code == 0, res.stderr
    for row in res.json():
        assert row["status"] == "ok"
        assert set(acted(row)) == set(people(lab, row["host"]))
        assert all(a["outcome"] == "done" and a["action"] == "lock" for a in acted(row).values())
        assert all(s.lock_message == text for s in people(lab, row["host"]).values())
    locks = journal_events(lab, "lock")
    assert {(e["host"], e["id"]) for e in locks} == {(h.name, i) for h in lab.hosts for i in people(lab, h.name)}
    assert {e["text"] for e in locks} == {text}
    # The text travelled as a parameter, never inside the script.
    scripts = [e for e in journal_events(lab, "pipeline") if e["parameters"].get("Action") == "lock"]
    assert scripts and all(text not in e["script"] and e["parameters"]["Text"] == text for e in scripts)

    res = cli("unlock", lab.targets_path, "--all", "--yes", "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert all(a["outcome"] == "done" for row in res.json() for a in acted(row).values())
    assert all(s.lock_message is None for h in lab.hosts for s in people(lab, h.name).values())
    assert len(journal_events(lab, "unlock")) == len(locks)


def test_lock_and_unlock_exit_codes_follow_the_hosts(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=3, faults=["mp-lab-002=refuse"])
    res = cli("lock", lab.targets_path, "--all", "--text", "Stop", "--yes", "--format", "json")
    assert res.exit_code == 8, res.stderr  # one host unreachable
    res = cli("unlock", lab.targets_path, "--all", "--yes", "--limit", "mp-lab-001")
    assert res.exit_code == 0, res.stderr
    res = cli("lock", lab.targets_path, "--all", "--text", "", "--yes")
    assert res.exit_code == 2 and "empty" in res.stderr


def test_lock_on_plain_rds_is_a_clear_skipped_row(start_lab, cli) -> None:
    lab = start_lab(hosts=1, sessions_per_host=3, multipoint=False)
    res = cli("lock", lab.targets_path, "--all", "--text", "Stop", "--yes", "--format", "json")
    assert res.exit_code == 0, res.stderr
    (row,) = res.json()
    assert row["status"] == "skipped" and row["error"]["kind"] == "unsupported"
    targets = [a for a in row["actions"] if a["id"] in people(lab, row["host"])]
    assert targets and {a["outcome"] for a in targets} == {"skipped"}
    assert {a["detail"] for a in targets} == {"lock needs MultiPoint; use disconnect"}
    assert journal_events(lab, "lock") == []
    assert not [e for e in journal_events(lab, "pipeline") if "Action" in e["parameters"]]  # nothing was sent
    assert "1 skipped" in res.stderr  # the totals line says so


def test_logoff_reports_done_pending_stuck_and_the_retry_file_converges(start_lab, cli, tmp_path) -> None:
    lab = start_lab(hosts=3, sessions_per_host=4, seed=4, faults=["mp-lab-002=slow-logoff:60000", "mp-lab-003=stuck"])
    before = {h.name: people(lab, h.name) for h in lab.hosts}
    retry = tmp_path / "retry.txt"
    res = cli("logoff", lab.targets_path, "--all", "--yes", "--confirm-wait", "1s", "--format", "json",
              "--retry-file", retry)  # fmt: skip
    assert res.exit_code == 4, res.stderr
    rows = {r["host"]: r for r in res.json()}

    # Healthy host: every session gone, each reported done (verified).
    assert rows["mp-lab-001"]["status"] == "ok"
    assert {a["outcome"] for a in acted(rows["mp-lab-001"]).values()} == {"done"}
    assert people(lab, "mp-lab-001") == {}
    # Slow host: still logging off when the wait ended -> pending, and truly still there.
    assert rows["mp-lab-002"]["status"] == "failed" and rows["mp-lab-002"]["error"]["kind"] == "unconfirmed"
    assert {a["outcome"] for a in acted(rows["mp-lab-002"]).values()} == {"pending"}
    assert set(people(lab, "mp-lab-002")) == set(before["mp-lab-002"])
    # Stuck host: the sessions remain, Down -> stuck.
    assert {a["outcome"] for a in acted(rows["mp-lab-003"]).values()} == {"stuck"}
    assert {s.state for s in people(lab, "mp-lab-003").values()} == {"down"}
    assert "pending" in res.stderr and "stuck" in res.stderr  # the totals line

    # The retry file names exactly the unconfirmed hosts.
    assert [name for name, _ in read_retry_file(retry)] == ["mp-lab-002", "mp-lab-003"]

    for h in lab.hosts:  # the administrator fixes the hosts
        h.model.heal()
    res = cli("logoff", lab.targets_path, "--limit", f"@{retry}", "--all", "--yes", "--format", "json",
              "--retry-file", retry)  # fmt: skip
    assert res.exit_code == 0, res.stderr
    rows = {r["host"]: r for r in res.json()}
    assert sorted(rows) == ["mp-lab-002", "mp-lab-003"]
    assert acted(rows["mp-lab-002"]) == {}  # its log-offs completed meanwhile: nothing left
    assert {a["outcome"] for a in acted(rows["mp-lab-003"]).values()} == {"done"}
    assert retry.read_text() == ""
    assert all(people(lab, h.name) == {} for h in lab.hosts)


@pytest.mark.parametrize("multipoint", [True, False], ids=["multipoint", "plain-rds"])
def test_sessions_apps_lists_the_labs_applications(start_lab, cli, multipoint: bool) -> None:
    lab = start_lab(hosts=2, sessions_per_host=6, seed=7, multipoint=multipoint)
    res = cli("sessions", lab.targets_path, "--apps", "--format", "json")
    assert res.exit_code == 0, res.stderr
    seen_flagged = 0
    for row in res.json():
        truth = {s.id: s for s in user_sessions(lab, row["host"])}
        for s in row["sessions"]:
            names = sorted(a["name"] for a in s["apps"])
            assert names == sorted(truth[s["id"]].apps), (row["host"], s["id"])  # no shell processes
            for a in s["apps"]:
                assert a["flagged"] is is_flagged(a["name"], DEFAULT_BUSY_APPS)
                seen_flagged += a["flagged"]
    assert seen_flagged  # the lab's sessions do have work at risk
    table = cli("sessions", lab.targets_path, "--apps")
    assert "!" in table.stdout  # flagged apps are marked in the table


def test_logoff_spare_busy_leaves_exactly_the_flagged_sessions(start_lab, cli) -> None:
    lab = start_lab(hosts=3, sessions_per_host=6, seed=11)
    busy = {
        (h.name, s.id)
        for h in lab.hosts
        for s in people(lab, h.name).values()
        if any(is_flagged(a, DEFAULT_BUSY_APPS) for a in s.apps)
    }
    assert busy
    res = cli("logoff", lab.targets_path, "--all", "--spare-busy", "--yes", "--format", "json")
    assert res.exit_code == 0, res.stderr
    left = {(h.name, i) for h in lab.hosts for i in people(lab, h.name)}
    assert left == busy
    skipped = {(r["host"], a["id"]): a["detail"] for r in res.json() for a in r["actions"] if a["outcome"] == "skipped"}
    for key in busy:
        assert skipped[key].startswith("open: ")


def test_the_confirmation_shows_the_work_at_risk(start_lab) -> None:
    from .test_cli_confirm import _run_on_tty

    lab = start_lab(hosts=2, sessions_per_host=5, seed=11)
    busy = {
        (h.name, s.id): [a for a in s.apps if is_flagged(a, DEFAULT_BUSY_APPS)]
        for h in lab.hosts
        for s in people(lab, h.name).values()
        if any(is_flagged(a, DEFAULT_BUSY_APPS) for a in s.apps)
    }
    assert busy
    code, _out, err = _run_on_tty(["lock", lab.targets_path, "--all", "--text", "Stop"], "n")
    assert code == 2  # declined: nothing done, as for logoff
    assert "Nothing was done" in err and journal_events(lab, "lock") == []
    assert "Work at risk" in err
    rows = _plan_rows(err)
    for (host, sid), apps in busy.items():
        assert all(a in rows[(host, sid)] for a in apps), rows[(host, sid)]


def test_a_policy_locks_then_logs_off_and_spares_busy_sessions(start_lab, tmp_path, monkeypatch) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from mpremote.policy.execute import execute_stage
    from mpremote.policy.load import load_policy
    from mpremote.policy.runner import run_policy
    from tests.support.helpers import SECRET

    monkeypatch.setenv("MPREMOTE_PASSWORD", SECRET)
    lab = start_lab(hosts=2, sessions_per_host=6, seed=5)
    everyone = {(h.name, i) for h in lab.hosts for i in people(lab, h.name)}
    busy = {
        (h.name, s.id)
        for h in lab.hosts
        for s in people(lab, h.name).values()
        if any(is_flagged(a, DEFAULT_BUSY_APPS) for a in s.apps)
    }
    assert busy and everyone - busy
    policy_path = tmp_path / "lab-day.yaml"
    policy_path.write_text(
        f"""name: lab-day
targets: {lab.targets_path}
timezone: Europe/Madrid
schedule: {{at: "17:00"}}
stages:
  - {{before: 2m, action: lock, text: "The lab closes in {{minutes}} minutes.", spare_busy: true}}
  - {{action: logoff, spare_busy: true}}
select: {{all: true}}
""",
        encoding="utf-8",
    )
    policy = load_policy(policy_path)
    t = datetime(2026, 3, 27, 17, 0, tzinfo=ZoneInfo("Europe/Madrid"))
    state = tmp_path / "state.json"

    report = run_policy(policy, t - timedelta(minutes=2), state, execute=execute_stage)
    assert report.exit_code == 0, report.summary_line()
    locks = journal_events(lab, "lock")
    assert {(e["host"], e["id"]) for e in locks} == everyone - busy
    assert {e["text"] for e in locks} == {"The lab closes in 2 minutes."}

    report = run_policy(policy, t, state, execute=execute_stage)
    assert report.exit_code == 0, report.summary_line()
    assert {(e["host"], e["id"]) for e in journal_events(lab, "logoff")} == everyone - busy
    left = {(h.name, i) for h in lab.hosts for i in people(lab, h.name)}
    assert left == busy  # people with unsaved work open are still there, never locked
    assert all(s.lock_message is None for h in lab.hosts for s in people(lab, h.name).values())


def _plan_rows(text: str) -> dict[tuple[str, int], str]:
    """(host, id) -> that session's line of the confirmation (the host is named on its first row)."""
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("host ") and " work at risk" in x)
    rows, host = {}, ""
    for x in lines[start + 1 :]:
        if not x.strip():
            break
        m = re.match(r"(\S*)\s+(\d+)  ", x)
        assert m, x
        host = m.group(1) or host
        rows[(host, int(m.group(2)))] = x
    return rows
