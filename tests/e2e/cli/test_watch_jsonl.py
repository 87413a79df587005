"""`mpremote watch --format jsonl` against a churning lab: every change it reports is in the journal.

The lab journals each query pipeline and each churn event on one thread, in the order the
host saw them. Replaying a host's journal gives its sessions at each of watch's queries, so
the changes between two refreshes are known exactly, however the timing falls.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mpremote.lab.server import Lab

pytestmark = pytest.mark.lab

SESSION_EVENTS = ("logon", "logoff", "disconnect", "reconnect")


def replay(lab: Lab, host: str) -> list[dict[int, tuple[str, str]]]:
    """The host's user sessions {id: (username, state)} at each query pipeline, from the journal.
    User names as quser prints them: lower-cased (the journal keeps the host's own spelling)."""
    state = {
        s.id: (s.username.lower(), s.state)
        for s in lab.host(host).spec.sessions
        if s.username and not s.is_services and not s.is_listener
    }
    snapshots = []
    assert lab.options.journal is not None
    # Only whole lines: the lab may be writing a long line (a pipeline's script) right now.
    complete = lab.options.journal.read_text(encoding="utf-8").split("\n")[:-1]
    for line in complete:
        e = json.loads(line)
        if e.get("host") != host:
            continue
        kind = e.get("event")
        if kind == "pipeline":
            snapshots.append(dict(state))
        elif kind == "logon":
            state[e["id"]] = (e["username"].lower(), "active")
        elif kind == "logoff":
            assert state.pop(e["id"])[0] == e["username"].lower()
        elif kind in ("disconnect", "reconnect"):
            state[e["id"]] = (e["username"].lower(), "disconnected" if kind == "disconnect" else "active")
    return snapshots


def expected_changes(before: dict[int, tuple[str, str]], after: dict[int, tuple[str, str]]) -> set[tuple[Any, ...]]:
    out = set()
    for sid, (user, _) in before.items():
        if after.get(sid, (None,))[0] != user:
            out.add(("logoff", sid, user))
    for sid, (user, st) in after.items():
        was = before.get(sid)
        if was is None or was[0] != user:
            out.add(("logon", sid, user))
        elif was[1] == "active" and st == "disconnected":
            out.add(("disconnect", sid, user))
        elif was[1] == "disconnected" and st == "active":
            out.add(("reconnect", sid, user))
    return out


def test_jsonl_changes_match_the_lab_journal(start_lab, cli) -> None:
    lab = start_lab(hosts=6, sessions_per_host=5, seed=4, churn=120, faults=["mp-lab-004=refuse"])
    result = cli("watch", lab.targets_path, "--format", "jsonl", "--count", "3", "--interval", "1s")
    assert result.exit_code == 8, result.stderr  # one host refuses: unreachable, as `sessions` says
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    names = [h.name for h in lab.hosts]
    assert len(rows) == 3 * len(names)
    assert sorted((r["host"], r["refresh"]) for r in rows) == sorted((n, k) for n in names for k in (1, 2, 3))
    seen_changes = 0
    for name in names:
        mine = sorted((r for r in rows if r["host"] == name), key=lambda r: r["refresh"])
        if name == "mp-lab-004":
            assert [r["status"] for r in mine] == ["unreachable"] * 3
            assert all(r["changes"] == [] for r in mine)  # down from the start: no host-down
            continue
        snaps = replay(lab, name)
        assert len(snaps) == 3, f"{name}: one query per refresh on one kept pool"
        for k, row in enumerate(mine):
            assert row["status"] == "ok"
            got = {s["id"]: (s["username"], s["state"]) for s in row["sessions"]}
            assert got == snaps[k], f"{name} refresh {k + 1}"
            changes = {(c["kind"], c["id"], c["username"]) for c in row["changes"]}
            if k == 0:
                assert changes == set()  # the first refresh is the baseline
            else:
                assert changes == expected_changes(snaps[k - 1], snaps[k]), f"{name} refresh {k + 1}"
                seen_changes += len(changes)
    assert seen_changes > 0  # 120 events/min/host over two intervals: the lab did churn
    assert lab.open_shell_count() == 0  # every kept pool was closed on exit


def test_not_a_terminal_means_json_lines_and_bad_options_contact_nobody(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=3)
    result = cli("watch", lab.targets_path, "--count", "1", "--interval", "1s")  # stdout is a pipe here
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["host"] for r in rows) == ["mp-lab-001", "mp-lab-002"]
    assert all(r["refresh"] == 1 and r["changes"] == [] and r["status"] == "ok" for r in rows)
    before = lab.request_count()
    for bad in (["--interval", "0.01s"], ["--interval", "10"], ["--format", "csv"]):
        result = cli("watch", lab.targets_path, "--count", "1", *bad)
        assert result.exit_code == 2, bad
        assert result.stdout == ""
    assert lab.request_count() == before  # refused before any host was contacted
