"""Confirmed log-off, lock on hosts without MultiPoint, work-at-risk flags: the per-host rules
with an in-process fake of the remote layer, and the retry file they feed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mpremote.apps import DEFAULT_BUSY_APPS, is_flagged, parse_busy_apps
from mpremote.hostjob import confirm_ms, deadline_ms
from mpremote.results import ExitCode, HostStatus, Outcome, exit_code, totals
from mpremote.selection import Selector
from mpremote.targets.patterns import read_retry_file
from mpremote.targets.retry import write_retry_file
from tests.support.fakes import HEADER, ROWS, FakeConnection, query_object, run


def confirming(state: dict[int, tuple[bool, str]]) -> Any:
    """An act.ps1 that acted on every target, then read quser: id -> (confirmed, row)."""

    def act(params: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"Id": t["Id"], "Outcome": "done", "Denied": False, "Detail": ""} for t in params["Targets"]
        ]
        for t in params["Targets"]:
            ok, row = state[t["Id"]]
            out.append({"Check": "confirm", "Id": t["Id"], "Confirmed": ok, "After": f"{HEADER}\n{row}" if row else "",
                        "QuserExitCode": 0, "QuserStderr": ""})  # fmt: skip
        return out

    return act


def test_logoff_outcomes_follow_the_confirmation_read() -> None:
    down = " bo                                        4  Down         1:02  7/26/2018 8:01 PM"
    fake = FakeConnection(query_object(), confirming({3: (False, ROWS[1]), 4: (False, down)}))
    result = run(fake, command="logoff", selector=Selector(all=True), confirm_wait=2.0)
    outcomes = {a.id: a.outcome for a in result.actions if a.outcome is not Outcome.SKIPPED}
    assert outcomes == {3: Outcome.PENDING, 4: Outcome.STUCK}
    assert result.status is HostStatus.FAILED and result.error.kind == "unconfirmed"
    assert "1 pending, 1 stuck" in result.error.message
    assert exit_code([result]) == ExitCode.HOST_FAILED
    assert "1 pending, 1 stuck" in totals([result]).line()
    # The wait asked of the host is the one given, in milliseconds.
    assert [p["ConfirmMs"] for name, p in fake.calls if name == "act.ps1"] == [2000]


def test_confirmed_gone_is_done_verified() -> None:
    fake = FakeConnection(query_object(), confirming({3: (True, ""), 4: (True, "")}))
    result = run(fake, command="logoff", selector=Selector(all=True))
    assert result.status is HostStatus.OK
    assert all(a.outcome is Outcome.DONE and "verified" in a.detail for a in result.actions if a.id in (3, 4))


def test_a_failed_confirmation_read_is_not_taken_for_gone() -> None:
    def act(params: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"Id": 3, "Outcome": "done", "Denied": False, "Detail": ""},
            {"Check": "confirm", "Id": 3, "Confirmed": True, "After": "", "QuserExitCode": 1,
             "QuserStderr": "Error [1722]:The RPC server is unavailable."},
        ]  # fmt: skip

    result = run(FakeConnection(query_object(), act), command="logoff", selector=Selector(users=("ana",)))
    (a,) = [a for a in result.actions if a.id == 3]
    assert a.outcome is Outcome.PENDING and "not verified" in a.detail


def test_disconnect_confirmation_and_message_needs_none() -> None:
    fake = FakeConnection(query_object(), confirming({3: (False, ROWS[1])}))
    result = run(fake, command="disconnect", selector=Selector(users=("ana",)))
    assert [(a.outcome, a.detail) for a in result.actions if a.id == 3] == [
        (Outcome.PENDING, "not disconnected yet when the wait ended (state active)")
    ]
    fake = FakeConnection(query_object())
    run(fake, command="message", selector=Selector(all=True), text="hi")
    assert all("ConfirmMs" not in p for name, p in fake.calls if name == "act.ps1")


def test_confirm_wait_stays_inside_the_host_deadline() -> None:
    assert confirm_ms(5.0) == 5000
    assert confirm_ms(0.0) == 1  # one read, no waiting
    assert deadline_ms(None) == 0
    assert deadline_ms(60.0) == 58500  # room to read the answer and close the connection
    assert 0 < deadline_ms(2.0) <= 1700
    assert deadline_ms(0.2) == 1  # one read, however late


def test_lock_on_a_host_without_multipoint_is_a_clear_skipped_row() -> None:
    fake = FakeConnection(query_object())
    result = run(fake, command="lock", selector=Selector(all=True), text="Eyes front")
    assert result.status is HostStatus.SKIPPED
    assert {a.detail for a in result.actions if a.id in (3, 4)} == {"lock needs MultiPoint; use disconnect"}
    assert all(a.outcome is Outcome.SKIPPED for a in result.actions)
    assert [name for name, _ in fake.calls] == ["query.ps1"]  # nothing sent
    assert exit_code([result]) == ExitCode.OK


def test_lock_on_multipoint_sends_the_text_as_a_parameter() -> None:
    q = {**query_object(), "WmsAvailable": True, "WmsSessions": []}
    fake = FakeConnection(q)
    result = run(fake, command="lock", selector=Selector(users=("ana",)), text="Eyes front; $(rm -rf)")
    act = [p for name, p in fake.calls if name == "act.ps1"]
    assert act == [{"Action": "lock", "Backend": "wms", "Text": "Eyes front; $(rm -rf)", "MessageSeconds": 60,
                    "Targets": [{"Id": 3, "UserName": "ana", "LogonText": "7/26/2018 7:29 PM",
                                 "SessionName": "rdp-tcp#3"}]}]  # fmt: skip
    assert [a.outcome for a in result.actions if a.id == 3] == [Outcome.DONE]


def with_apps(apps: dict[int, list[str]]) -> dict[str, Any]:
    return {**query_object(), "Apps": [{"SessionId": i, "Name": n, "Title": ""} for i, ns in apps.items() for n in ns]}


def test_spare_busy_leaves_sessions_with_flagged_apps_and_says_why() -> None:
    fake = FakeConnection(with_apps({3: ["calc.exe", "WINWORD.EXE"], 4: ["calc.exe"]}))
    result = run(fake, command="logoff", selector=Selector(all=True), spare_busy=True, busy_apps=DEFAULT_BUSY_APPS)
    query_params = fake.calls[0][1]
    assert query_params["IncludeApps"] is True and "explorer" in query_params["IgnoreApps"]
    by_id = {a.id: a for a in result.actions}
    assert (by_id[3].outcome, by_id[3].detail) == (Outcome.SKIPPED, "open: WINWORD.EXE")
    assert by_id[4].outcome is Outcome.DONE
    sessions = {s.id: s for s in result.sessions}
    assert [a.to_dict() for a in sessions[3].apps] == [
        {"name": "WINWORD.EXE", "flagged": True},
        {"name": "calc.exe", "flagged": False},
    ]
    assert sessions[1].to_dict()["apps"] == []  # asked for, none open


def test_apps_are_not_asked_for_unless_wanted() -> None:
    fake = FakeConnection(query_object())
    result = run(fake, command="sessions")
    assert fake.calls[0][1] == {"IncludeWms": True}
    assert all("apps" not in s.to_dict() for s in result.sessions)


@pytest.mark.parametrize(
    ("name", "flagged"),
    [("WINWORD.EXE", True), ("winword.exe", True), ("chrome.exe", True), ("gimp-2.10.exe", True),
     ("soffice.bin", True), ("calc.exe", False), ("wordpad2.exe", False), ("explorer.exe", False)],
)  # fmt: skip
def test_default_flags(name: str, flagged: bool) -> None:
    assert is_flagged(name, DEFAULT_BUSY_APPS) is flagged


def test_busy_apps_option_replaces_or_adds() -> None:
    assert parse_busy_apps(None) == DEFAULT_BUSY_APPS
    assert parse_busy_apps("WINWORD, code") == ("WINWORD", "code")
    assert parse_busy_apps("+gimp*,+mygrades") == (*DEFAULT_BUSY_APPS, "gimp*", "mygrades")
    assert parse_busy_apps("") == ()
    for bad in ("a,,b", "a,+b", "C:\\x\\y.exe"):
        with pytest.raises(ValueError):
            parse_busy_apps(bad)


def test_retry_file_lists_unconfirmed_hosts_with_their_sessions(tmp_path: Path) -> None:
    down = " bo                                        4  Down         1:02  7/26/2018 8:01 PM"
    stuck = run(FakeConnection(query_object(), confirming({3: (True, ""), 4: (False, down)})), command="logoff",
                selector=Selector(all=True))  # fmt: skip
    fine = run(FakeConnection(query_object(), confirming({3: (True, ""), 4: (True, "")})), command="logoff",
               selector=Selector(all=True))  # fmt: skip
    fine.host = "mp-2"
    path = tmp_path / "retry.txt"
    assert write_retry_file(path, [stuck, fine]) == 1
    assert path.read_text() == "mp-1  # not confirmed: 4 stuck\n"
    assert read_retry_file(path) == [("mp-1", 1)]


@pytest.mark.parametrize(
    ("stage", "field", "words"),
    [
        ("{action: lock}", "stages[0].text", "a lock stage needs a text"),
        ("{action: unlock, text: hi}", "stages[0].text", "only message and lock stages take a text"),
        ("{action: message, text: hi, spare_busy: true}", "stages[0].spare_busy", "only lock, disconnect, logoff"),
        ("{action: logoff, spare_busy: yes please}", "stages[0].spare_busy", "true or false"),
        ("{action: lock, text: '" + "x" * 600 + "'}", "stages[0].text", "at most 512"),
    ],
)
def test_policy_lock_and_spare_busy_stages_are_validated(tmp_path: Path, stage: str, field: str, words: str) -> None:
    from mpremote.errors import InputFileError
    from mpremote.policy.load import load_policy

    path = tmp_path / "p.yaml"
    path.write_text(f"name: x\ntargets: t.yaml\ntimezone: UTC\nschedule: {{at: '17:00'}}\nstages:\n  - {stage}\n")
    with pytest.raises(InputFileError) as info:
        load_policy(path)
    assert (info.value.line, info.value.field) == (6, field) and words in info.value.problem


def test_policy_lock_stage_loads_with_its_text_and_spare_busy(tmp_path: Path) -> None:
    from mpremote.policy.load import load_policy

    path = tmp_path / "p.yaml"
    path.write_text(
        "name: x\ntargets: t.yaml\ntimezone: UTC\nschedule: {at: '17:00'}\nstages:\n"
        "  - {before: 2m, action: lock, text: 'Closing in {minutes} minutes', spare_busy: true}\n"
        "  - {action: logoff, spare_busy: true}\n  - {after: 1m, action: unlock}\n"
    )
    stages = load_policy(path).stages
    assert [(s.action, s.spare_busy, s.text) for s in stages] == [
        ("lock", True, "Closing in {minutes} minutes"),
        ("logoff", True, None),
        ("unlock", False, None),
    ]
