"""Lab churn: seeded session events, replayable from the journal, never touching protected sessions."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mpremote.lab.churn import Churn, is_user_session
from mpremote.lab.hostmodel import EmulatedHost
from mpremote.lab.labfile import generate_lab
from mpremote.lab.server import Lab, LabError, LabOptions


def _hosts(n: int = 4, sessions: int = 6, seed: int = 1) -> tuple[list[EmulatedHost], list[dict[str, Any]]]:
    journal: list[dict[str, Any]] = []
    hosts = []
    for spec in generate_lab(n, sessions, seed).hosts:

        def sink(event: dict[str, Any], name: str = spec.name) -> None:
            journal.append({"host": name, **event})

        hosts.append(EmulatedHost(spec, sink))
    return hosts, journal


def _run(seed: int, minutes: float = 10, per_minute: float = 12) -> tuple[list[EmulatedHost], list[dict[str, Any]]]:
    hosts, journal = _hosts()
    churn = Churn(list(hosts), per_minute, seed, start=0.0)
    t = 0.0
    while t < minutes * 60:
        t += 0.7
        churn.tick(t)
    return hosts, journal


def test_same_seed_same_events_other_seed_other_events() -> None:
    _, a = _run(seed=7)
    _, b = _run(seed=7)
    _, c = _run(seed=8)
    assert a == b
    assert a != c
    kinds = {e["event"] for e in a}
    assert {"logon", "logoff", "disconnect", "reconnect"} <= kinds


def test_rate_is_per_host_per_minute() -> None:
    _, journal = _run(seed=3, minutes=20, per_minute=6)
    per_host = len(journal) / 4 / 20
    assert 4 <= per_host <= 8  # a Poisson process of 6/min over 20 min: well inside these bounds


def test_protected_sessions_are_never_touched_and_journal_replays_the_state() -> None:
    hosts, journal = _run(seed=5)
    for host in hosts:
        start = {s.id: s for s in generate_lab(4, 6, 1).host(host.name).sessions}
        protected = {sid: s for sid, s in start.items() if not is_user_session(s)}
        now = {s.id: s for s in host.sessions()}
        for sid, s in protected.items():
            assert now[sid].username == s.username and now[sid].state == s.state
        # Replay the journal: it alone explains every user session the host has now.
        state = {sid: (s.username, s.state) for sid, s in start.items() if is_user_session(s)}
        for e in journal:
            if e["host"] != host.name:
                continue
            assert e["source"] == "churn"
            key = e["id"]
            if e["event"] == "logon":
                assert key not in state
                state[key] = (e["username"], "active")
            elif e["event"] == "logoff":
                assert state.pop(key)[0] == e["username"]
            elif e["event"] == "disconnect":
                assert state[key] == (e["username"], "active")
                state[key] = (e["username"], "disconnected")
            elif e["event"] == "reconnect":
                assert state[key] == (e["username"], "disconnected")
                state[key] = (e["username"], "active")
        assert state == {s.id: (s.username, s.state) for s in host.sessions() if is_user_session(s)}


def test_idle_grows_with_the_clock() -> None:
    hosts, _ = _hosts(n=1)
    before = {s.id: s.idle_seconds for s in hosts[0].sessions() if is_user_session(s)}
    churn = Churn(list(hosts), 0.0001, 1, start=0.0)  # practically no events
    churn.tick(30.4)
    after = {s.id: s.idle_seconds for s in hosts[0].sessions() if is_user_session(s)}
    assert after == {sid: (None if v is None else v + 30) for sid, v in before.items()}


def test_an_id_is_never_reused_by_the_user_who_freed_it() -> None:
    _, journal = _run(seed=11, minutes=60, per_minute=30)
    last_user: dict[tuple[str, int], str] = {}
    reused = 0
    for e in journal:
        key = (e["host"], e["id"])
        if e["event"] == "logoff":
            last_user[key] = e["username"]
        elif e["event"] == "logon" and key in last_user:
            reused += 1
            assert last_user[key].casefold() != e["username"].casefold()
    assert reused > 0  # ids do get reused (as on Windows)


def test_churn_option_is_validated() -> None:
    with pytest.raises(LabError, match="--churn"):
        LabOptions(churn=-1).validate()


@pytest.mark.lab
def test_a_churning_lab_journals_events_and_reports_shells(tmp_path: Path) -> None:
    opts = LabOptions(hosts=2, churn=600, tls=False, auth="basic", journal=tmp_path / "j.jsonl")
    with Lab(opts) as lab:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            whole = (tmp_path / "j.jsonl").read_text(encoding="utf-8").split("\n")[:-1]  # only complete lines
            lines = [json.loads(x) for x in whole]
            if sum(1 for e in lines if e.get("source") == "churn") >= 5:
                break
            time.sleep(0.05)
        assert sum(1 for e in lines if e.get("source") == "churn") >= 5
        h = lab.hosts[0]
        with urllib.request.urlopen(f"http://{h.address}:{h.port}/lab/status", timeout=10) as r:
            assert json.load(r)["open_shells"] == 0
