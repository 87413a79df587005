"""The MultiPoint cmdlets as Microsoft's reference documents them (module MultiPoint):
Get-WmsSession -All | [-SessionId] <UInt32[]>, Close-/Disconnect-WmsSession with -WhatIf and
-Confirm, ItemNotFoundException for an unknown id, "You cannot close the cmdlet's session"."""

from __future__ import annotations

from typing import Any

from mpremote.lab.contract import CmdletError, PipelineResult
from mpremote.lab.wms_cmdlets import WMS_TYPE_NAME
from tests.emulator.test_hostmodel_commands import ids, make_host, script

DOCUMENTED_PROPERTIES = [
    "SessionId", "State", "IsOrchestratable", "IsAdmin", "IsMOGUser", "UserName", "StationId",
    "ComputerName", "ClientName", "DomainName", "IsRail",
]  # fmt: skip


def props(r: PipelineResult) -> list[list[str]]:
    return [[p.name for p in o.PSObject.extended_properties] for o in r.output]


def test_get_all_returns_the_documented_properties_and_states() -> None:
    host, _ = make_host()
    r = script(host, "Get-WmsSession -All")
    # The documented properties in the documented order, then the lab's IsBlocked (docs/lab.md).
    assert not r.errors and props(r) == [[*DOCUMENTED_PROPERTIES, "IsBlocked"]] * 3
    states = {o.SessionId: o.State for o in r.output}
    assert states == {2: "RemoteConnection", 3: "Disconnected", 117: "ConnectedToStation"}
    station = next(o for o in r.output if o.SessionId == 117)
    assert (station.StationId, station.ClientName) == (1, station.ComputerName)  # as in the reference example


def test_get_by_an_array_of_ids_and_an_unknown_id_is_item_not_found() -> None:
    host, _ = make_host()
    r = script(host, "Get-WmsSession -SessionId 2,117")
    assert [o.SessionId for o in r.output] == [2, 117] and not r.errors
    r = script(host, "Get-WmsSession 2,999")
    assert [o.SessionId for o in r.output] == [2]
    assert [e.exception_type for e in r.errors] == ["System.Management.Automation.ItemNotFoundException"]
    assert script(host, "Get-WmsSession -SessionId 999 -ErrorAction SilentlyContinue").errors == []


def test_get_without_a_parameter_set_is_a_binding_error() -> None:
    host, _ = make_host()
    for text in ("Get-WmsSession", "Get-WmsSession -All -SessionId 2"):
        r = script(host, text)
        assert r.output == [] and "ParameterBindingException" in r.errors[0].exception_type


def test_close_unknown_id_and_own_session() -> None:
    host, events = make_host()
    r = script(host, "Close-WmsSession -SessionId 999 -Confirm:$false")
    assert r.errors[0].exception_type == "System.Management.Automation.ItemNotFoundException"
    r = script(host, "Close-WmsSession -SessionId 0 -Confirm:$false")
    assert r.errors[0].message == "You cannot close the cmdlet's session."
    assert events == [] and ids(host) == [2, 3, 117]


def test_whatif_changes_nothing_and_confirm_false_acts() -> None:
    host, events = make_host()
    assert script(host, "Close-WmsSession -SessionId 2 -WhatIf").errors == [] and ids(host) == [2, 3, 117]
    r = script(host, "Close-WmsSession -SessionId 2 -Confirm")  # a remote pipeline cannot answer a prompt
    assert "NonInteractive" in r.errors[0].message and ids(host) == [2, 3, 117]
    assert script(host, "Close-WmsSession -SessionId 2,117 -Confirm:$false").errors == []
    assert ids(host) == [3] and [e["id"] for e in events] == [2, 117]


def test_disconnect_all() -> None:
    host, events = make_host()
    assert script(host, "Disconnect-WmsSession -All -Confirm:$false").errors == []
    assert {e["id"] for e in events if e["event"] == "disconnect"} == {2, 117}  # 3 was already disconnected
    assert all(s.state == "disconnected" for s in host.sessions() if s.id in (2, 3, 117))


def _cmdlet_error(call: Any) -> Any:
    try:
        call()
    except CmdletError as exc:
        return exc.spec
    raise AssertionError("no CmdletError")


def test_session_fields_are_the_objects_properties_and_errors() -> None:
    """What the script twins read (get_wms_session_fields) is Get-WmsSession's objects."""
    for faults in ((), ("no-sessions",)):
        host, _ = make_host(*faults)
        for sid in (None, *host.wms_session_ids()):
            objects, fields = host.get_wms_session(sid), host.get_wms_session_fields(sid)
            assert len(objects) == len(fields)
            for obj, row in zip(objects, fields, strict=True):
                props = obj.PSObject.extended_properties
                assert [p.name for p in props] == list(row)
                assert all(p.get_value(obj) is row[p.name] or p.get_value(obj) == row[p.name] for p in props)
                assert obj.PSObject.type_names[0] == WMS_TYPE_NAME
        for sid in (999, 0):
            assert _cmdlet_error(lambda: host.get_wms_session(sid)) == _cmdlet_error(  # noqa: B023
                lambda: host.get_wms_session_fields(sid)  # noqa: B023
            )
    plain, _ = make_host(multipoint=False)
    assert _cmdlet_error(lambda: plain.get_wms_session(None)) == _cmdlet_error(
        lambda: plain.get_wms_session_fields(None)
    )
