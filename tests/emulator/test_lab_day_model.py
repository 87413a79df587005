"""The lab's lab-day behaviour: slow and stuck log-offs, lock/unlock, applications per session,
and act.ps1's confirmation as its twin plays it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from mpremote.lab import scripts_twin
from mpremote.lab.contract import CommandSpec, PipelineResult
from mpremote.lab.faults import Fault, parse_fault_kind
from mpremote.lab.hostmodel import EmulatedHost
from mpremote.lab.labfile import HostSpec, SessionSpec, generate_lab, system_sessions
from mpremote.quser import parse_quser

LOGON = datetime(2025, 4, 28, 8, 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_host(*faults: Fault, multipoint: bool = True, clock: Any = None) -> tuple[EmulatedHost, list[dict[str, Any]]]:
    users = (
        SessionSpec("ana", 2, "active", "rdp-tcp#0", "LAB", 0, LOGON, apps=("WINWORD.EXE", "calc.exe")),
        SessionSpec("maría josé", 3, "disconnected", None, "LAB", 300, LOGON),
        SessionSpec("van der Berg", 117, "active", "rdp-tcp#7", "LAB", 60, LOGON, station_id=1, apps=("chrome.exe",)),
    )
    spec = HostSpec(
        "mp-lab-001",
        multipoint=multipoint,
        sessions=(*system_sessions(multipoint, "mp-lab-001"), *users),
        faults=faults,
    )
    events: list[dict[str, Any]] = []
    kw = {"clock": clock} if clock is not None else {}
    return EmulatedHost(spec, events.append, **kw), events


def run(host: EmulatedHost, text: str) -> PipelineResult:
    return host.run_pipeline([CommandSpec(text, True)], operator="labadmin")


def user_ids(host: EmulatedHost) -> list[int]:
    return [s.id for s in host.sessions() if s.username and not s.is_console]


def test_fault_kinds_parse_with_their_argument() -> None:
    assert parse_fault_kind("stuck") == Fault("stuck")
    assert parse_fault_kind("slow-logoff:1500") == Fault("slow-logoff", 1500)
    assert str(parse_fault_kind("slow-logoff:1500")) == "slow-logoff:1500"
    with pytest.raises(ValueError, match="milliseconds"):
        parse_fault_kind("slow-logoff")
    with pytest.raises(ValueError, match="no argument"):
        parse_fault_kind("stuck:5")


def test_slow_logoff_completes_after_its_delay_and_is_journalled() -> None:
    clock = Clock()
    host, events = make_host(Fault("slow-logoff", 2000), clock=clock)
    r = run(host, "logoff 2")
    assert r.errors == [] and host.last_exit_code == 0  # logoff.exe returns at once
    assert 2 in user_ids(host)  # still listed while it logs off
    assert [s.state for s in parse_quser("\n".join(run(host, "quser").output)) if s.id == 2] == ["active"]
    clock.now += 1.9
    assert 2 in user_ids(host)
    clock.now += 0.2
    assert 2 not in user_ids(host)
    assert [(e["event"], e["id"], e.get("completes")) for e in events] == [
        ("logoff", 2, "after 2000 ms"),
        ("logoff-complete", 2, None),
    ]


def test_stuck_logoff_leaves_the_session_down_until_healed_and_logged_off_again() -> None:
    host, events = make_host(Fault("stuck"))
    run(host, "logoff 117")
    rows = {s.id: s for s in parse_quser("\n".join(run(host, "quser").output))}
    assert rows[117].state == "down" and rows[117].username.casefold() == "van der berg"
    assert events[-1] == {"event": "logoff", "id": 117, "username": "van der Berg", "completes": "never"}
    run(host, "logoff 117")
    assert 117 in user_ids(host)  # a second try does not help while the fault lasts
    host.heal()
    assert 117 in user_ids(host)  # healing does not end the session by itself
    run(host, "logoff 117")
    assert 117 not in user_ids(host)


def test_lock_and_unlock_show_in_get_wmssession_and_the_journal() -> None:
    host, events = make_host()
    r = run(host, "Lock-WmsSession -SessionId 2 -Message 'Eyes on the teacher'")
    assert r.errors == [] and r.failure is None
    (obj,) = run(host, "Get-WmsSession -SessionId 2").output
    assert obj.IsBlocked is True
    assert host.session(2).lock_message == "Eyes on the teacher"  # type: ignore[union-attr]
    run(host, "Unlock-WmsSession 2")
    assert run(host, "Get-WmsSession -SessionId 2").output[0].IsBlocked is False
    assert [(e["event"], e["id"], e.get("text")) for e in events] == [
        ("lock", 2, "Eyes on the teacher"),
        ("unlock", 2, None),
    ]


def test_lock_needs_its_message_and_multipoint() -> None:
    host, events = make_host()
    r = run(host, "Lock-WmsSession -SessionId 2")
    assert r.errors and "Message" in r.errors[0].message and events == []
    plain, _ = make_host(multipoint=False)
    r = run(plain, "Lock-WmsSession -SessionId 2 -Message hi")
    assert r.errors[0].fully_qualified_error_id == "CommandNotFoundException"
    r = run(host, "Lock-WmsSession -SessionId 1 -Message hi")  # WMSshell's console: not a user session
    assert r.errors and events == []


def test_get_wmsapp_lists_the_sessions_applications_like_microsofts_example() -> None:
    host, _ = make_host()
    apps = run(host, "Get-WmsApp -SessionId 2").output
    assert [a.Name for a in apps] == ["Microsoft Word", "Calculator"]
    assert [p.name for p in apps[0].PSObject.extended_properties] == ["Name", "ProcessId", "WindowId", "CreateTime"]
    assert run(host, "Get-WmsApp -SessionId 3").output == []


def test_get_process_lists_shell_and_apps_per_session() -> None:
    host, _ = make_host()
    procs = run(host, "Get-Process -IncludeUserName").output
    by_session: dict[int, list[str]] = {}
    for p in procs:
        by_session.setdefault(p.SessionId, []).append(p.ProcessName)
    assert "WINWORD" in by_session[2] and "explorer" in by_session[2] and "chrome" in by_session[117]
    assert "wsmprovhost" in by_session[0]
    word = next(p for p in procs if p.ProcessName == "WINWORD")
    assert word.UserName == "LAB\\ana" and word.Path.endswith("\\WINWORD.EXE")


def test_generated_labs_carry_apps_some_flagged_and_stay_seeded() -> None:
    from mpremote.apps import DEFAULT_BUSY_APPS, is_flagged

    a, b = generate_lab(3, 8, seed=5), generate_lab(3, 8, seed=5)
    assert a == b
    assert a != generate_lab(3, 8, seed=6)
    users = [s for h in a.hosts for s in h.sessions if s.username and not s.is_console]
    flagged = [s for s in users if any(is_flagged(x, DEFAULT_BUSY_APPS) for x in s.apps)]
    assert 0 < len(flagged) < len(users)
    assert any(s.apps and s not in flagged for s in users) and any(not s.apps for s in users)


# -- act.ps1's confirmation, as the twin plays it ----------------------------------------------


def act(host: EmulatedHost, action: str, targets: list[dict[str, Any]], **more: Any) -> PipelineResult:
    params = [("Action", action), ("Backend", "quser"), ("Targets", targets), *more.items()]
    return host.run_pipeline([CommandSpec(scripts_twin.script_text("act.ps1"), True, params)], operator="labadmin")


def targets(host: EmulatedHost, *wanted: int) -> list[dict[str, Any]]:
    rows = parse_quser("\n".join(run(host, "quser").output))
    return [
        {"Id": s.id, "UserName": s.username, "LogonText": s.logon_text, "SessionName": s.session_name or ""}
        for s in rows
        if s.id in wanted
    ]


def rows(result: PipelineResult) -> list[Any]:
    """act.ps1's answer (one JSON string), decoded."""
    from tests.emulator.test_hostmodel_twins import answer

    return list(answer(result))


def checks(result: PipelineResult) -> dict[int, Any]:
    return {o.Id: o for o in rows(result) if o.get("Check") == "confirm"}


def test_confirmation_sees_an_ordinary_logoff_gone_at_once() -> None:
    host, _ = make_host()
    r = act(host, "logoff", targets(host, 2, 117), ConfirmMs=3000)
    assert r.resume is None  # nothing to wait for
    assert {i: (c.Confirmed, c.After) for i, c in checks(r).items()} == {2: (True, ""), 117: (True, "")}


def test_confirmation_waits_for_a_slow_logoff_without_blocking_and_then_sees_it_gone() -> None:
    host, _ = make_host(Fault("slow-logoff", 300))
    r = act(host, "logoff", targets(host, 2), ConfirmMs=5000)
    assert r.resume is not None and 0 < r.resume_after <= 0.5  # comes back when it is due, not at 5 s
    final = r.finish()
    assert checks(final)[2].Confirmed is True
    assert [o.Outcome for o in rows(final) if o.get("Check") is None] == ["done"]


def test_confirmation_gives_up_at_the_end_of_the_wait_and_shows_the_row() -> None:
    host, _ = make_host(Fault("stuck"))
    final = act(host, "logoff", targets(host, 117), ConfirmMs=300).finish()
    c = checks(final)[117]
    assert c.Confirmed is False
    (row,) = parse_quser(c.After)
    assert (row.id, row.state) == (117, "down")


def test_disconnect_is_confirmed_when_the_session_name_is_blank() -> None:
    host, _ = make_host()
    final = act(host, "disconnect", targets(host, 117), ConfirmMs=1000).finish()
    assert checks(final)[117].Confirmed is True
    assert host.session(117).state == "disconnected"  # type: ignore[union-attr]


def test_without_confirm_ms_act_answers_as_before() -> None:
    host, _ = make_host()
    r = act(host, "logoff", targets(host, 2))
    assert r.resume is None and checks(r) == {}


def test_find_session_row_needs_the_id_and_logon_time_not_the_names_spelling() -> None:
    host, _ = make_host()
    lines = run(host, "quser").output
    logon = targets(host, 2)[0]["LogonText"]
    assert scripts_twin.find_session_row(lines, 2, "ana", logon) is not None
    assert scripts_twin.find_session_row(lines, 117, "van der Berg", logon) is not None
    assert scripts_twin.find_session_row(lines, 4, "ana", logon) is None  # no such id
    assert scripts_twin.find_session_row(lines, 2, "ana", "1/1/2020 1:00 AM") is None  # id reused: other logon
    # maría josé read over remoting in the wrong code page is still found by id and logon.
    mangled = [line.replace("í", "\u00a1").replace("é", "\u201a") for line in lines]
    assert scripts_twin.find_session_row(mangled, 3, "maría josé", logon) is not None


def test_deadline_ms_cuts_the_confirmation_wait() -> None:
    host, _ = make_host(Fault("stuck"))
    r = act(host, "logoff", targets(host, 117), ConfirmMs=5000, DeadlineMs=300)
    assert r.resume is not None and r.resume_after <= 0.3  # not the 5 s asked for
    assert checks(r.finish())[117].Confirmed is False
