"""The emulated host's command lines: effects, exit codes, errors, content faults."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest

from mpremote.lab.contract import CommandSpec, PipelineResult
from mpremote.lab.faults import Fault
from mpremote.lab.hostmodel import EmulatedHost
from mpremote.lab.labfile import HostSpec, SessionSpec, system_sessions

LOGON = datetime(2025, 4, 28, 8, 1)


def make_host(
    *faults: str, locale: str = "en-US", multipoint: bool = True
) -> tuple[EmulatedHost, list[dict[str, Any]]]:
    users = (
        SessionSpec("ana", 2, "active", "rdp-tcp#0", "LAB", 0, LOGON),
        SessionSpec("maría josé", 3, "disconnected", None, "LAB", 300, LOGON),
        SessionSpec("van der Berg", 117, "active", "rdp-tcp#7", "LAB", 3720, LOGON, station_id=1),
    )
    spec = HostSpec(
        "mp-lab-001",
        locale=locale,
        multipoint=multipoint,
        sessions=(*system_sessions(multipoint, "mp-lab-001"), *users),
        faults=tuple(Fault(f) for f in faults),
    )
    events: list[dict[str, Any]] = []
    return EmulatedHost(spec, events.append), events


def script(host: EmulatedHost, text: str) -> PipelineResult:
    return host.run_pipeline([CommandSpec(text, True)], operator="labadmin")


def ids(host: EmulatedHost) -> list[int]:
    return [s.id for s in host.sessions() if s.username and not s.is_console]


def test_quser_outputs_lines_and_sets_lastexitcode() -> None:
    host, _ = make_host()
    r = script(host, "quser; $LASTEXITCODE")
    assert r.output[0].startswith(" USERNAME") and r.output[-1] == 0
    # quser lower-cases names; remoting reads its cp437 bytes as cp1252 (é -> ‚, í -> ¡).
    assert [line[1:].split("  ")[0] for line in r.output[2:-1]] == ["ana", "mar¡a jos‚", "van der berg"]
    assert not r.errors and r.should_exit is None


def test_quser_by_id_and_name() -> None:
    host, _ = make_host()
    assert len(script(host, "quser 117").output) == 2
    assert script(host, "quser 'maría josé'").output[1].startswith(" mar¡a jos‚ ")  # read as cp1252
    r = script(host, "query user 999; $LASTEXITCODE")
    assert r.output == [1]
    assert r.errors[0].message == "No User exists for 999"
    assert r.errors[0].fully_qualified_error_id == "NativeCommandError"


def test_add_cmdlet_form_runs_native_command() -> None:
    host, _ = make_host()
    r = host.run_pipeline([CommandSpec("quser", False, [(None, 117)])], operator="labadmin")
    assert len(r.output) == 2 and r.output[1].startswith(" van der berg ")  # quser lower-cases


@pytest.mark.parametrize(
    ("locale", "text"), [("en-US", "No User exists for *"), ("de-DE", "Kein Benutzer vorhanden f\x81r *")]
)  # stderr too is OEM text read as cp1252 (ü -> U+0081)
def test_no_sessions_fault(locale: str, text: str) -> None:
    host, _ = make_host("no-sessions", locale=locale)
    r = script(host, "quser; exit $LASTEXITCODE")
    assert r.output == [] and [e.message for e in r.errors] == [text] and r.should_exit == 1


def test_logoff_removes_session_and_journals() -> None:
    host, events = make_host()
    r = script(host, "logoff 117 /v; $LASTEXITCODE")
    assert r.output == ["Logging off session ID 117", 0]
    assert ids(host) == [2, 3]
    assert events == [{"event": "logoff", "id": 117, "username": "van der Berg"}]


def test_logoff_missing_id_fails_with_exit_1() -> None:
    host, events = make_host()
    r = script(host, "logoff 55 2>&1; exit $LASTEXITCODE")
    assert r.should_exit == 1 and "Error [7022]" in r.output[-1]
    assert events == []


@pytest.mark.parametrize("sid", [0, 1, 65536])
def test_services_console_and_listener_cannot_be_logged_off(sid: int) -> None:
    host, events = make_host()
    r = script(host, f"logoff {sid}; $LASTEXITCODE")
    assert r.output == [1] and r.errors[-1].message == "Error [5]:Access is denied."
    assert len(host.sessions()) == 6 and events == []


@pytest.mark.parametrize(
    ("locale", "line"),
    [
        ("en-US", "Error [5]:Access is denied."),
        ("es-ES", "Error [5]:Acceso denegado."),
        ("de-DE", "Fehler [5]:Zugriff verweigert"),
        ("fr-FR", "Erreur [5]:AccŠs refus‚."),  # OEM text read as cp1252
    ],
)
def test_access_denied_fault(locale: str, line: str) -> None:
    host, events = make_host("access-denied", locale=locale)
    for cmd in ("logoff 2", "tsdiscon 2"):
        r = script(host, f"{cmd}; $LASTEXITCODE")
        assert r.output == [1] and r.errors[-1].message == line
    r = script(host, "Close-WmsSession -SessionId 2")
    assert "E_ACCESSDENIED" in r.errors[0].message
    assert events == [] and ids(host) == [2, 3, 117]


def test_tsdiscon_blanks_session_name() -> None:
    host, events = make_host()
    assert script(host, "tsdiscon 2; $LASTEXITCODE").output == [0]
    s = host.session(2)
    assert s is not None and s.state == "disconnected" and s.session_name is None
    assert events == [{"event": "disconnect", "id": 2, "username": "ana"}]
    row = script(host, "quser 2").output[1]
    assert row[23:40].strip() == "" and row[46:].startswith("Disc")


def test_msg_from_pipeline_and_arguments() -> None:
    host, events = make_host()
    assert script(host, "'Save your work' | msg 2 /time:30; $LASTEXITCODE").output == [0]
    script(host, "msg * The lab closes")
    script(host, "msg 'maría josé' hola")
    assert [(m.id, m.text, m.seconds) for m in host.messages] == [
        (2, "Save your work", 30),
        (1, "The lab closes", None),
        (2, "The lab closes", None),
        (3, "The lab closes", None),
        (117, "The lab closes", None),
        (3, "hola", None),
    ]
    assert events[0] == {"event": "message", "id": 2, "username": "ana", "text": "Save your work"}
    script(host, "msg 2 " + "x" * 300)
    assert len(host.messages[-1].text) == 255  # msg's limit
    assert script(host, "msg 99 hi; $LASTEXITCODE").output == [1]


def test_hostname_and_computername() -> None:
    host, _ = make_host()
    assert script(host, "hostname\n$env:COMPUTERNAME").output == ["mp-lab-001", "MP-LAB-001"]


def test_unknown_command_is_command_not_found_and_script_goes_on() -> None:
    host, _ = make_host(locale="es-ES")
    r = script(host, "Get-Frobnicator -All; hostname")
    assert r.output == ["mp-lab-001"] and len(r.errors) == 1
    e = r.errors[0]
    assert e.message.startswith("El término 'Get-Frobnicator' no se reconoce")
    assert e.fully_qualified_error_id == "CommandNotFoundException" and e.category == 13
    assert e.exception_type.endswith("CommandNotFoundException")
    r = host.run_pipeline([CommandSpec("Get-Frobnicator", False)], operator="labadmin")
    assert r.failure is not None and r.failure.fully_qualified_error_id == "CommandNotFoundException"


def test_exit_sets_should_exit() -> None:
    host, _ = make_host()
    assert script(host, "exit 3").should_exit == 3
    assert script(host, "quser 42; exit $LASTEXITCODE").should_exit == 1
    r = script(host, "hostname; exit; hostname")
    assert r.should_exit == 0 and r.output == ["mp-lab-001"]


def test_wms_cmdlets_on_multipoint() -> None:
    host, events = make_host()
    objs = script(host, "Get-WmsSession -All").output
    assert [(o.SessionId, o.UserName, o.State, o.StationId) for o in objs] == [
        (2, "ana", "RemoteConnection", 0),
        (3, "maría josé", "Disconnected", 0),
        (117, "van der Berg", "ConnectedToStation", 1),
    ]
    assert objs[0].PSObject.type_names[0].startswith("Microsoft.MultiPoint")
    assert script(host, "Get-WmsSession -SessionId 117").output[0].UserName == "van der Berg"
    script(host, "Disconnect-WmsSession -SessionId 2 -Confirm:$false")
    script(host, "Close-WmsSession -SessionId 117")
    assert [e["event"] for e in events] == ["disconnect", "logoff"] and ids(host) == [2, 3]
    r = script(host, "Get-WmsSession -SessionId 55 -ErrorAction SilentlyContinue; hostname")
    assert r.output == ["mp-lab-001"] and not r.errors


def test_wms_cmdlets_missing_on_plain_rds_host() -> None:
    host, _ = make_host(multipoint=False)
    r = script(host, "Get-WmsSession -All -ErrorAction SilentlyContinue")
    assert r.errors[0].fully_qualified_error_id == "CommandNotFoundException"


def test_garbage_quser_fault() -> None:
    host, _ = make_host("garbage-quser")
    r = script(host, "quser; $LASTEXITCODE")
    assert r.output[-1] == 0 and "USERNAME" not in "".join(map(str, r.output))


def test_vanish_fault_makes_raw_logoff_fail() -> None:
    host, events = make_host("vanish")
    r = script(host, "logoff 2; $LASTEXITCODE")
    assert r.output == [1] and 2 not in ids(host) and events == []


def test_reuse_fault_makes_naive_logoff_hit_the_wrong_user() -> None:
    host, events = make_host("reuse")
    assert script(host, "logoff 2; $LASTEXITCODE").output == [0]
    assert len(events) == 1 and events[0]["id"] == 2 and events[0]["username"] != "ana"


def test_out_string_stream_as_pypsrp_client_sends() -> None:
    host, _ = make_host()
    r = host.run_pipeline(
        [
            CommandSpec("Invoke-Expression", False, [("Command", "quser 2")]),
            CommandSpec("Out-String", False, [("Stream", None)]),
        ],
        operator="labadmin",
    )
    assert len(r.output) == 2 and r.output[1].startswith(" ana ")


def test_native_output_is_read_as_a_remoting_session_reads_it() -> None:
    # OEM cp850 bytes decoded as cp1252, as Windows PowerShell remoting does.
    host, _ = make_host(locale="es-ES")
    assert "NOMBRE SESIàN" in script(host, "quser").output[0]
    assert "NOMBRE DE SESIàN" in script(host, "qwinsta").output[0]


def test_many_threads_on_one_host() -> None:
    import threading

    host, events = make_host()
    targets = [2, 3, 117] * 4  # every id asked for four times, concurrently
    threads = [threading.Thread(target=script, args=(host, f"logoff {sid}")) for sid in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ids(host) == [] and sorted(e["id"] for e in events) == [2, 3, 117]


def test_qwinsta_type_column_of_older_windows() -> None:
    host, _ = make_host()
    assert not any(line.endswith("rdpwd") for line in script(host, "qwinsta").output)
    host.spec = dataclasses.replace(host.spec, qwinsta_type=True)
    rows = [line for line in script(host, "qwinsta").output if line.endswith("rdpwd")]
    assert rows and all(line.index("rdpwd") == 56 and line[1:].startswith("rdp-tcp#") for line in rows)
