"""`mpremote logoff / disconnect / message` against the lab: what users were promised."""

from __future__ import annotations

import pytest

from tests.support.terminal import run_with_terminal_stdin

from .conftest import journal_events, run_subprocess, user_sessions

pytestmark = pytest.mark.lab


def _remaining(lab, host):
    return sorted((s.username, s.id) for s in user_sessions(lab, host))


def test_logoff_all_leaves_only_console_and_wmsshell_and_exits_8_when_a_host_is_down(start_lab, cli) -> None:
    lab = start_lab(hosts=4, sessions_per_host=6, seed=9, faults=["mp-lab-003=refuse"])
    res = cli("logoff", lab.targets_path, "--all", "--yes", "--format", "json", "--timeout", "10")
    assert res.exit_code == 8, res.stderr
    rows = {r["host"]: r for r in res.json()}
    assert sorted(rows) == [h.name for h in lab.hosts]  # exactly one row per host
    assert rows["mp-lab-003"]["status"] == "unreachable" and rows["mp-lab-003"]["error"]["kind"] == "connect"
    for host in ("mp-lab-001", "mp-lab-002", "mp-lab-004"):
        left = [s for s in user_sessions(lab, host)]
        assert left and all(s.is_console or s.is_wmsshell for s in left), left
        done = [a for a in rows[host]["actions"] if a["outcome"] == "done"]
        logged = [e for e in journal_events(lab, "logoff") if e["host"] == host]
        assert sorted(a["id"] for a in done) == sorted(e["id"] for e in logged)


def test_dry_run_changes_nothing_and_says_what_it_would_do(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=5)
    before = {h.name: _remaining(lab, h.name) for h in lab.hosts}
    res = cli("logoff", lab.targets_path, "--all", "--dry-run", "--format", "json")
    assert res.exit_code == 0
    assert {h.name: _remaining(lab, h.name) for h in lab.hosts} == before
    assert journal_events(lab, "logoff") == []
    would = [a for r in res.json() for a in r["actions"] if a["outcome"] == "would_do"]
    assert len(would) == sum(len(v) - 1 for v in before.values())  # all but the WMSshell console


def test_without_yes_and_without_a_terminal_nothing_is_done(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=4)
    before = {h.name: _remaining(lab, h.name) for h in lab.hosts}
    requests_before = lab.request_count()
    res = cli("logoff", lab.targets_path, "--all")
    assert res.exit_code == 2
    assert "--yes" in res.stderr
    assert lab.request_count() == requests_before  # no host was even contacted
    assert {h.name: _remaining(lab, h.name) for h in lab.hosts} == before


def _run_on_tty(args, answer: str, timeout: float = 60) -> tuple[int, str]:
    """Run the real CLI with stdin on a pseudo-terminal and type ``answer`` at the prompt."""
    code, out, err = run_with_terminal_stdin(args, answer, timeout=timeout)
    return code, out + err


def test_declined_confirmation_on_a_terminal_changes_nothing(start_lab) -> None:
    lab = start_lab(hosts=2, sessions_per_host=4)
    before = {h.name: _remaining(lab, h.name) for h in lab.hosts}
    code, text = _run_on_tty(["logoff", lab.targets_path, "--all", "--no-progress"], "n")
    assert code == 2, text
    assert "Log off 8 sessions on 2 hosts? [y/N]" in text and "Nothing was done" in text
    assert {h.name: _remaining(lab, h.name) for h in lab.hosts} == before


def test_accepted_confirmation_acts_only_on_what_was_shown(start_lab) -> None:
    lab = start_lab(hosts=1, sessions_per_host=4)
    victim = next(s for s in user_sessions(lab, "mp-lab-001") if not s.is_wmsshell)
    code, text = _run_on_tty(["logoff", lab.targets_path, "--user", victim.username, "--no-progress"], "y")
    assert code == 0, text
    assert victim.username in text  # the summary named who would be logged off
    assert [e["username"] for e in journal_events(lab, "logoff")] == [victim.username]


def test_a_reused_session_id_is_left_alone(start_lab, cli) -> None:
    """Between query and action the id changes owner: that session must not be logged off."""
    lab = start_lab(hosts=2, sessions_per_host=4, faults=["mp-lab-001=reuse"])
    res = cli("logoff", lab.targets_path, "--all", "--yes", "--format", "json")
    rows = {r["host"]: r for r in res.json()}
    reused = rows["mp-lab-001"]
    assert reused["status"] == "ok"
    assert {a["outcome"] for a in reused["actions"] if a["outcome"] != "skipped"} == {"vanished"}
    assert not [e for e in journal_events(lab, "logoff") if e["host"] == "mp-lab-001"]
    newcomers = [s for s in user_sessions(lab, "mp-lab-001") if not s.is_wmsshell]
    assert newcomers, "the users who took over the ids are still logged on"
    assert rows["mp-lab-002"]["status"] == "ok"
    assert all(a["outcome"] in ("done", "skipped") for a in rows["mp-lab-002"]["actions"])


def test_user_selection_is_exact(start_lab, cli) -> None:
    lab = start_lab(hosts=3, sessions_per_host=8, seed=21)
    everyone = [s for h in lab.hosts for s in user_sessions(lab, h.name) if not s.is_wmsshell]
    target = everyone[0].username
    expected = sorted((h.name, s.id) for h in lab.hosts for s in user_sessions(lab, h.name) if s.username == target)
    res = cli("logoff", lab.targets_path, "--user", target.swapcase(), "--yes", "--format", "json")
    assert res.exit_code == 0
    logged = sorted((e["host"], e["id"]) for e in journal_events(lab, "logoff"))
    assert logged == expected


def test_disconnect_keeps_sessions_but_disconnects_them(start_lab, cli) -> None:
    lab = start_lab(hosts=1, sessions_per_host=5, multipoint=False)
    active = [s for s in user_sessions(lab, "mp-lab-001") if s.state == "active" and not s.is_console]
    res = cli("disconnect", lab.targets_path, "--state", "active", "--yes", "--format", "json")
    assert res.exit_code == 0
    after = {s.id: s for s in user_sessions(lab, "mp-lab-001")}
    for s in active:
        assert after[s.id].state == "disconnected"
    assert sorted(e["id"] for e in journal_events(lab, "disconnect")) == sorted(s.id for s in active)


def test_message_reaches_every_selected_session_with_the_exact_text(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=3)
    text = 'Lab closes in 5 minutes; save "your" work — $(whoami) `n ok'
    res = cli("message", lab.targets_path, "--text", text, "--format", "json")
    assert res.exit_code == 0, res.stderr
    events = journal_events(lab, "message")
    expected = sum(1 for h in lab.hosts for s in user_sessions(lab, h.name) if not s.is_wmsshell)
    assert len(events) == expected and {e["text"] for e in events} == {text}
    scripts = [e["script"] for e in journal_events(lab, "pipeline")]
    assert scripts and not any(text in s or "whoami" in s for s in scripts)


def test_overlong_message_is_refused_before_any_host_is_contacted(start_lab, cli) -> None:
    lab = start_lab(hosts=1)
    res = cli("message", lab.targets_path, "--text", "x" * 256)
    assert res.exit_code == 2 and "255" in res.stderr
    assert lab.request_count() == 0


def test_warn_then_grace_then_logoff(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=3)
    res = cli("logoff", lab.targets_path, "--all", "--yes", "--warn", "Closing now", "--grace", "1s",
              "--format", "json")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    rows = res.json()
    assert len(rows) == 2
    for r in rows:
        kinds = [(a["action"], a["outcome"]) for a in r["actions"] if a["outcome"] != "skipped"]
        users = len([s for s in r["sessions"] if s["username"] != "wmsshell"])  # quser lower-cases
        assert kinds.count(("message", "done")) == users and kinds.count(("logoff", "done")) == users
    assert len(journal_events(lab, "message")) == len(journal_events(lab, "logoff")) > 0


def test_retry_file_reruns_only_the_failed_hosts(start_lab, cli, tmp_path) -> None:
    lab = start_lab(hosts=3, sessions_per_host=2, faults=["mp-lab-002=auth-fail"])
    retry = tmp_path / "failed.txt"
    res = cli("sessions", lab.targets_path, "--retry-file", retry, "--format", "json")
    assert res.exit_code == 8
    assert retry.read_text().split() == ["mp-lab-002"]
    again = cli("sessions", lab.targets_path, "--limit", f"@{retry}", "--format", "json")
    assert [r["host"] for r in again.json()] == ["mp-lab-002"]


def test_demo_runs_end_to_end() -> None:
    res = run_subprocess("demo", "--hosts", "2")
    assert res.exit_code == 0, res.stderr
    assert "logged off" in res.stdout and "WMSshell" in res.stdout
