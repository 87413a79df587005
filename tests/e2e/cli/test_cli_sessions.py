"""`mpremote sessions` against the lab: what it reports is what each host really has."""

from __future__ import annotations

import pytest

from .conftest import user_sessions

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("locale", ["en-US", "es-ES", "de-DE", "fr-FR"])
@pytest.mark.parametrize("multipoint", [True, False])
def test_sessions_match_each_hosts_own_sessions_in_every_locale(start_lab, cli, locale, multipoint) -> None:
    lab = start_lab(hosts=3, sessions_per_host=9, seed=11, locale=locale, multipoint=multipoint)
    result = cli("sessions", lab.targets_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = {r["host"]: r for r in result.json()}
    assert sorted(rows) == [h.name for h in lab.hosts]
    for host in lab.hosts:
        truth = {s.id: s for s in user_sessions(lab, host.name)}
        got = {s["id"]: s for s in rows[host.name]["sessions"]}
        assert sorted(got) == sorted(truth), host.name
        for sid, s in truth.items():
            assert got[sid]["username"] == s.username.lower()  # as quser prints it
            assert got[sid]["state"] == s.state
            assert got[sid]["session_name"] == s.session_name
            assert rows[host.name]["facts"]["backend"] == ("wms" if multipoint else "quser")


def test_generated_labs_exercise_the_hard_cases(start_lab, cli) -> None:
    """The seeded lab has names with spaces, ids of 100+, blank session names; all come back intact."""
    lab = start_lab(hosts=4, sessions_per_host=10, seed=3)
    rows = cli("sessions", lab.targets_path, "--format", "json").json()
    sessions = [s for r in rows for s in r["sessions"]]
    assert any(" " in s["username"] for s in sessions)
    assert any(s["id"] >= 100 for s in sessions)
    assert any(s["session_name"] is None and s["state"] == "disconnected" for s in sessions)
    assert any(not s["username"].isascii() for s in sessions)


def test_sessions_table_has_a_row_per_session_and_one_totals_line(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=4, faults=["mp-lab-002=refuse"])
    result = cli("sessions", lab.targets_path)
    assert result.exit_code == 8
    truth = user_sessions(lab, "mp-lab-001")
    for s in truth:
        assert s.username.lower() in result.stdout  # quser prints names lower-cased
    assert "mp-lab-002" in result.stdout and "refused" in result.stdout
    totals = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("2 hosts")]
    assert totals == [f"2 hosts, 1 ok, 1 unreachable, {len(truth)} sessions"]


def test_selectors_filter_the_listing_to_what_an_action_would_touch(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=8, seed=5)
    rows = cli("sessions", lab.targets_path, "--format", "json", "--state", "disconnected").json()
    truth = [s for h in lab.hosts for s in user_sessions(lab, h.name) if s.state == "disconnected"]
    listed = [s for r in rows for s in r["sessions"]]
    assert truth and sorted((s["username"], s["id"]) for s in listed) == sorted(
        (s.username.lower(), s.id) for s in truth
    )
    one = truth[0]
    rows = cli("sessions", lab.targets_path, "--format", "json", "--user", one.username.upper()).json()
    listed = [s for r in rows for s in r["sessions"]]
    assert listed and {s["username"] for s in listed} == {one.username.lower()}


def test_jsonl_and_csv_outputs(start_lab, cli, tmp_path) -> None:
    import csv
    import io
    import json

    lab = start_lab(hosts=3, sessions_per_host=3, faults=["mp-lab-003=no-sessions"])
    jl = cli("sessions", lab.targets_path, "--format", "jsonl")
    objs = [json.loads(line) for line in jl.stdout.splitlines() if line.strip()]
    assert sorted(o["host"] for o in objs) == ["mp-lab-001", "mp-lab-002", "mp-lab-003"]
    out = tmp_path / "s.csv"
    res = cli("sessions", lab.targets_path, "--format", "csv", "--output", out)
    assert res.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["host"] for r in rows} == {"mp-lab-001", "mp-lab-002", "mp-lab-003"}
    empty = [r for r in rows if r["host"] == "mp-lab-003"]
    assert len(empty) == 1 and not empty[0]["username"]


def test_check_reports_capabilities_per_host(start_lab, cli) -> None:
    lab = start_lab(hosts=2, multipoint=False, faults=["mp-lab-002=auth-fail"])
    res = cli("check", lab.targets_path, "--format", "json")
    assert res.exit_code == 8
    rows = {r["host"]: r for r in res.json()}
    assert rows["mp-lab-001"]["status"] == "ok"
    assert rows["mp-lab-001"]["facts"]["multipoint"] is False
    assert rows["mp-lab-002"]["error"]["kind"] == "auth"
