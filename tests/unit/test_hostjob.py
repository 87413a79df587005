"""The per-host job with an in-process fake of the remote layer: the rules that keep people safe."""

from __future__ import annotations

from typing import Any

import pytest

from mpremote.errors import DeadlineError
from mpremote.hosts import Host
from mpremote.results import HostStatus
from mpremote.selection import Selector
from tests.support.fakes import FakeConnection, acted_ids, query_object, run


def test_all_spares_wmsshell_and_the_operators_own_session() -> None:
    fake = FakeConnection(query_object())
    result = run(fake, command="logoff", selector=Selector(all=True))
    assert acted_ids(fake) == [3, 4]
    skipped = {a.id: a.detail for a in result.actions if a.outcome.value == "skipped"}
    assert set(skipped) == {1, 5}
    assert result.status is HostStatus.OK and result.acted == 2


def test_the_act_script_gets_the_user_and_logon_seen_by_the_query() -> None:
    fake = FakeConnection(query_object())
    run(fake, command="logoff", selector=Selector(users=("ana",)))
    ((_, params),) = [c for c in fake.calls if c[0] == "act.ps1"]
    assert params["Targets"] == [
        {"Id": 3, "UserName": "ana", "LogonText": "7/26/2018 7:29 PM", "SessionName": "rdp-tcp#3"}
    ]


def test_dry_run_sends_no_action() -> None:
    fake = FakeConnection(query_object())
    result = run(fake, command="logoff", selector=Selector(all=True), dry_run=True)
    assert [c[0] for c in fake.calls] == ["query.ps1"]
    assert sorted(a.id for a in result.actions if a.outcome.value == "would_do") == [3, 4]


def test_a_failure_after_sending_is_reported_unknown_and_never_retried() -> None:
    fake = FakeConnection(query_object(), act=DeadlineError("no answer"))
    result = run(fake, command="logoff", selector=Selector(all=True))
    assert [c[0] for c in fake.calls] == ["query.ps1", "act.ps1"]  # exactly one attempt
    assert result.status is HostStatus.FAILED
    assert "may have happened; not retried" in result.error.message
    assert {a.outcome.value for a in result.actions} == {"failed"}


def test_only_the_confirmed_plan_is_acted_on() -> None:
    fake = FakeConnection(query_object())
    result = run(fake, command="logoff", selector=Selector(all=True), confirmed=frozenset({("mp-1", 3, "ana")}))
    assert acted_ids(fake) == [3]
    assert any(a.id == 4 and a.detail == "appeared after you confirmed" for a in result.actions)


def test_disconnect_skips_sessions_already_disconnected() -> None:
    fake = FakeConnection(query_object())
    result = run(fake, command="disconnect", selector=Selector(all=True))
    assert acted_ids(fake) == [3]
    assert any(a.id == 4 and a.detail == "already disconnected" for a in result.actions)


def test_denied_actions_make_the_host_failed_with_kind_denied() -> None:
    def denied(params: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"Id": t["Id"], "Outcome": "failed", "Denied": True, "Detail": "Error [5]:Access is denied."}
                for t in params["Targets"]]  # fmt: skip

    result = run(FakeConnection(query_object(), act=denied), command="logoff", selector=Selector(all=True))
    assert result.status is HostStatus.FAILED and result.error.kind == "denied"
    assert result.error.message.startswith("2 of 2 logoff actions failed")


def test_vanished_is_ok_and_nothing_counted_as_done() -> None:
    def gone(params: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"Id": t["Id"], "Outcome": "vanished", "Denied": False, "Detail": ""} for t in params["Targets"]]

    result = run(FakeConnection(query_object(), act=gone), command="logoff", selector=Selector(all=True))
    assert result.status is HostStatus.OK and result.acted == 0


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        (query_object(["garbage that is not a quser row at all, 12345"]), "parse"),
        (query_object([], exit_code=1, stderr="No User exists for *"), None),
        (query_object([], exit_code=5, stderr="Error [5]: Access is denied."), "remote"),
    ],
)
def test_query_outcomes(query: dict[str, Any], kind: str | None) -> None:
    result = run(FakeConnection(query), command="sessions")
    assert (result.error.kind if result.error else None) == kind
    if kind is None:
        assert result.status is HostStatus.OK and result.sessions == []


def test_transport_override_moves_the_default_port_but_not_a_written_one() -> None:
    from mpremote.remote.connection import ConnectionSettings, resolve_endpoint

    plain = Host(name="a", address="10.0.0.1")  # port never written: 5986 by default
    written = Host(name="b", address="10.0.0.2", port=45001, origins={"port": "lab.yaml:3"})
    http = ConnectionSettings(transport="http")
    assert resolve_endpoint(plain, http).port == 5985
    assert resolve_endpoint(written, http).port == 45001
    assert resolve_endpoint(plain, ConnectionSettings(transport="http", port=8080)).port == 8080
