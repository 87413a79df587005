"""End to end against the emulated lab: warnings and log-offs checked in the lab's journal.

``policy run`` at T-15m, T-5m and T (fake clock, real network on loopback) must warn every
active selected session twice, log every selected session off once, do nothing more when
run again in the same minute, and never touch exempt users or hosts.

Skipped only while the modules it drives are not in the tree yet (importorskip-style).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

pytestmark = pytest.mark.lab

api = pytest.importorskip("mpremote.api")
targets_mod = pytest.importorskip("mpremote.targets")
selection = pytest.importorskip("mpremote.selection")
pytest.importorskip("mpremote.lab.server")
pytest.importorskip("mpremote.cli.lab")
pytest.importorskip("mpremote.credentials")
pytest.importorskip("mpremote.audit")
for _mod, _attr in ((api, "run_command"), (targets_mod, "load_targets"), (selection, "Selector")):
    if not hasattr(_mod, _attr):
        pytest.skip(f"{_mod.__name__}.{_attr} not available yet", allow_module_level=True)

from mpremote.policy.execute import execute_stage  # noqa: E402
from mpremote.policy.load import load_policy  # noqa: E402
from mpremote.policy.runner import run_policy  # noqa: E402

PASSWORD = "lab-Passw0rd"
MADRID = ZoneInfo("Europe/Madrid")
T = datetime(2026, 3, 27, 17, 0, tzinfo=MADRID)


@pytest.fixture
def lab(tmp_path: Path):
    targets, journal = tmp_path / "lab-targets.yaml", tmp_path / "journal.jsonl"
    cmd = [
        sys.executable, "-m", "mpremote", "lab", "serve", "--hosts", "3", "--sessions-per-host", "5",
        "--seed", "11", "--port-base", "0", "--username", "labadmin", "--password", PASSWORD,
        "--write-targets", str(targets), "--journal", str(journal),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks until the lab says it listens (or exits)
            if line.strip() == "ready":
                break
        else:
            pytest.fail(f"lab did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield targets, journal
    finally:
        proc.terminate()
        proc.wait(30)


def _events(journal: Path, kind: str) -> list[dict]:
    rows = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("event") == kind]


def test_end_of_day_against_the_lab(lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    targets, journal = lab
    monkeypatch.setenv("MPREMOTE_PASSWORD", PASSWORD)
    hosts = targets_mod.load_targets(targets).limit()
    before = api.run_command(hosts, "sessions", None)
    sessions = {(r.host, s.id): s for r in before.results for s in r.sessions}
    users = sorted({s.username for (h, _), s in sessions.items() if h == "mp-lab-001" and s.username})
    exempt_user = users[0]

    policy_path = tmp_path / "eod.yaml"
    policy_path.write_text(
        f"""name: lab-eod
targets: {targets}
timezone: Europe/Madrid
schedule: {{days: [mon, tue, wed, thu, fri], at: "17:00"}}
stages:
  - {{before: 15m, action: message, text: "The lab closes in {{minutes}} minutes."}}
  - {{before: 5m, action: message, text: "The lab closes in {{minutes}} minutes."}}
  - {{action: logoff}}
select: {{all: true}}
exempt: {{users: ["{exempt_user}"], hosts: [mp-lab-003]}}
""",
        encoding="utf-8",
    )
    policy = load_policy(policy_path)
    selector = selection.Selector(all=True, exclude_users=(exempt_user,))
    expected: set[tuple[str, int]] = set()
    for r in before.results:
        if r.host == "mp-lab-003":
            continue
        op_user, op_domain = r.facts.get("operator_user"), r.facts.get("operator_domain")
        for d in selection.select(r.host, r.sessions, selector, operator_user=op_user, operator_domain=op_domain):
            if d.selected:
                expected.add((r.host, d.session.id))
    active = {k for k in expected if sessions[k].state == "active"}
    assert expected and active

    state = tmp_path / "state.json"
    for minutes in (-15, -5, 0):
        for seconds in (0, 20):  # a second run in the same minute does nothing
            report = run_policy(policy, T + timedelta(minutes=minutes, seconds=seconds), state, execute=execute_stage)
            assert report.exit_code == 0, report.summary_line()

    messages = Counter((e["host"], e["id"]) for e in _events(journal, "message"))
    logoffs = Counter((e["host"], e["id"]) for e in _events(journal, "logoff"))
    assert {k: messages[k] for k in active} == dict.fromkeys(active, 2)
    assert set(logoffs) == expected and set(logoffs.values()) == {1}
    touched = set(messages) | set(logoffs)
    assert not any(h == "mp-lab-003" for h, _ in touched)
    assert not any(sessions[k].username == exempt_user for k in touched)
    texts = {e.get("text") for e in _events(journal, "message")}
    assert texts == {"The lab closes in 15 minutes.", "The lab closes in 5 minutes."}
    assert os.path.getsize(state) > 0
