"""The twins of query.ps1 and act.ps1: same shape as the PowerShell, and act's re-verification.

The twins answer as the scripts do (Write-Result): one JSON string; :func:`answer` reads it
into rows whose keys keep the JSON's order, so the tests check names, order and values.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from psrpcore.types import PSCustomObject

from mpremote.lab import scripts_twin
from mpremote.lab.contract import CommandSpec, PipelineResult
from mpremote.lab.hostmodel import EmulatedHost
from mpremote.quser import parse_quser
from tests.emulator.test_hostmodel_commands import ids, make_host

ACT_FIELDS = ["Id", "UserName", "Outcome", "Denied", "ExitCode", "Detail"]


class Row(dict[str, Any]):
    """A JSON object with attribute access (``o.Outcome``), in the JSON's key order."""

    def __getattr__(self, name: str) -> Any:
        return self[name]


def names(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return list(obj)
    return [p.name for p in obj.PSObject.extended_properties]


def answer(r: PipelineResult) -> Any:
    """The one JSON string a script twin answers with, decoded."""
    assert len(r.output) == 1 and isinstance(r.output[0], str), r.output
    return json.loads(r.output[0], object_hook=Row)


def query(host: EmulatedHost, **params: Any) -> Any:
    text = scripts_twin.script_text("query.ps1").replace("\n", "\r\n")  # CRLF as a Windows checkout
    r = host.run_pipeline([CommandSpec(text, True, list(params.items()))], operator="LAB\\labadmin")
    assert not r.errors and r.failure is None
    return answer(r)


def targets_of(host: EmulatedHost, *wanted: int) -> list[dict[str, Any]]:
    rows = parse_quser(query(host).QuserStdout)
    return [{"Id": s.id, "UserName": s.username, "LogonText": s.logon_text} for s in rows if s.id in wanted]


class Acted:
    """act.ps1's answer: its rows (``output``, decoded from the one JSON string) and errors."""

    def __init__(self, r: PipelineResult) -> None:
        self.failure = r.failure
        self.errors = r.errors
        self.output: list[Any] = answer(r) if r.failure is None else []


def act(host: EmulatedHost, action: str, backend: str, targets: list[Any], **more: Any) -> Acted:
    params = [("Action", action), ("Backend", backend), ("Targets", targets), *more.items()]
    r = host.run_pipeline([CommandSpec(scripts_twin.script_text("act.ps1"), True, params)], operator="labadmin")
    return Acted(r)


def test_query_twin_shape() -> None:
    host, _ = make_host()
    o = query(host)
    assert names(o) == [
        "ComputerName",
        "OperatorUser",
        "OperatorDomain",
        "QuserStdout",
        "QuserStderr",
        "QuserExitCode",
        "QuserCodePage",
        "QuserReadAs",
        "WmsAvailable",
        "WmsSessions",
        "Apps",
    ]
    assert o.Apps is None  # only with IncludeApps
    assert (o.ComputerName, o.OperatorUser, o.OperatorDomain) == ("MP-LAB-001", "labadmin", "LAB")
    assert o.QuserExitCode == 0 and o.QuserStderr == "" and o.WmsAvailable is True
    assert (o.QuserCodePage, o.QuserReadAs) == (437, "oem")  # en-US hosts print in cp437
    assert [s.id for s in parse_quser(o.QuserStdout)] == [1, 2, 3, 117]
    assert names(o.WmsSessions[0]) == ["SessionId", "UserName", "DomainName", "State", "StationId", "IsAdmin"]
    assert query(host, IncludeWms=False).WmsSessions is None


def test_query_twin_no_sessions_and_plain_host() -> None:
    host, _ = make_host("no-sessions", multipoint=False)
    o = query(host)
    assert (o.QuserStdout, o.QuserStderr, o.QuserExitCode) == ("", "No User exists for *", 1)
    assert o.WmsAvailable is False and o.WmsSessions is None


def test_act_logoff_done() -> None:
    host, events = make_host()
    r = act(host, "logoff", "quser", targets_of(host, 3, 117))
    assert [names(o) for o in r.output] == [ACT_FIELDS, ACT_FIELDS]
    assert [(o.Id, o.Outcome, o.Denied, o.ExitCode, o.Detail) for o in r.output] == [
        (3, "done", False, 0, ""),
        (117, "done", False, 0, ""),
    ]
    assert ids(host) == [2] and [e["id"] for e in events] == [3, 117]


@pytest.mark.parametrize("fault", ["vanish", "reuse"])
@pytest.mark.parametrize(("action", "backend"), [("logoff", "quser"), ("disconnect", "wms"), ("message", "quser")])
def test_act_reports_vanished_and_does_nothing(fault: str, action: str, backend: str) -> None:
    host, events = make_host(fault)
    targets = targets_of(host, 2, 117)
    r = act(host, action, backend, targets, Text="bye")
    assert [(o.Id, o.Outcome, o.ExitCode) for o in r.output] == [(2, "vanished", None), (117, "vanished", None)]
    assert events == [] and host.messages == []
    if fault == "reuse":  # the ids now belong to other users, who were left alone
        assert {s.id for s in host.sessions() if s.username not in ("ana", "van der Berg")} >= {2, 117}


def test_act_access_denied_is_failed_and_denied() -> None:
    host, events = make_host("access-denied", locale="fr-FR")
    r = act(host, "logoff", "quser", targets_of(host, 2))
    o = r.output[0]
    assert (o.Outcome, o.Denied, o.ExitCode) == ("failed", True, 1)
    # act.ps1 runs '& logoff 2>&1': its OEM text reaches PowerShell read as cp1252.
    assert o.Detail.endswith("Erreur [5]:AccŠs refus‚.")
    r = act(host, "logoff", "wms", targets_of(host, 117))
    o = r.output[0]
    assert (o.Outcome, o.Denied, o.ExitCode) == ("failed", True, -1) and "E_ACCESSDENIED" in o.Detail
    assert events == []


def test_act_message_goes_through_stdin() -> None:
    host, events = make_host()
    r = act(host, "message", "quser", targets_of(host, 2), Text="Closing in 5 minutes", MessageSeconds=30)
    assert r.output[0].Outcome == "done"
    assert [(m.id, m.text, m.seconds) for m in host.messages] == [(2, "Closing in 5 minutes", 30)]
    assert events == [{"event": "message", "id": 2, "username": "ana", "text": "Closing in 5 minutes"}]


def test_act_checks_logon_text_and_whole_user_name() -> None:
    host, events = make_host()
    t = targets_of(host, 2, 3)
    wrong_logon = [{**t[0], "LogonText": "4/28/2025 9:59 AM"}]
    other_user = [{**t[1], "UserName": "ana"}]
    r = act(host, "logoff", "quser", wrong_logon + other_user)
    assert [o.Outcome for o in r.output] == ["vanished", "vanished"] and events == []


def test_act_owner_check_compares_the_whole_user_name_column() -> None:
    """A target "van" must not match the row of "van der Berg", and an empty logon text
    matches nothing: the owner check compares the whole USERNAME column (act.ps1 and twin)."""
    host, events = make_host()
    r = act(host, "logoff", "quser", [{"Id": 117, "UserName": "van", "LogonText": ""}])
    assert r.output[0].Outcome == "vanished" and events == []
    real = targets_of(host, 117)[0]
    r = act(host, "logoff", "quser", [{**real, "UserName": "van"}])
    assert r.output[0].Outcome == "vanished" and events == []
    r = act(host, "logoff", "quser", [real])
    assert r.output[0].Outcome == "done" and events[0]["username"] == "van der Berg"


def test_act_wms_backend_on_plain_host_is_vanished_with_error() -> None:
    host, events = make_host(multipoint=False)
    r = act(host, "logoff", "wms", targets_of(host, 2))
    assert r.output[0].Outcome == "vanished"
    assert r.errors[0].fully_qualified_error_id == "CommandNotFoundException" and events == []


def test_act_targets_as_psobjects_and_case_insensitive_keys() -> None:
    host, _ = make_host()
    t = targets_of(host, 2)[0]
    r = act(host, "LOGOFF", "Quser", [PSCustomObject(Id=str(t["Id"]), UserName="ANA", LogonText=t["LogonText"])])
    assert r.output[0].Outcome == "done"


def test_act_parameter_binding_errors_fail_the_pipeline() -> None:
    host, _ = make_host()
    r = act(host, "reboot", "quser", [])
    assert r.failure is not None and "ValidateSet" in r.failure.message
    r = host.run_pipeline(
        [CommandSpec(scripts_twin.script_text("act.ps1"), True, [("Action", "logoff")])], operator="labadmin"
    )
    assert r.failure is not None and "mandatory" in r.failure.message


def test_unrecognised_script_is_interpreted_not_twinned() -> None:
    host, _ = make_host()
    text = scripts_twin.script_text("query.ps1") + "\n# edited"
    assert scripts_twin.match([CommandSpec(text, True)]) is None
    r = host.run_pipeline([CommandSpec(text, True)], operator="labadmin")  # answered, never a crash
    assert r.errors and not any(isinstance(o, PSCustomObject) for o in r.output)
    assert scripts_twin.match([CommandSpec(scripts_twin.script_text("act.ps1") + "\r\n", True)]) is not None


@pytest.mark.parametrize("locale", ["es-ES", "fr-FR", "de-DE", "it-IT"])
def test_non_ascii_names_survive_query_and_act_reads_them_the_same_way(locale: str) -> None:
    # query.ps1 reads quser in the OEM code page, so "maría josé" arrives intact; act.ps1's
    # owner re-check reads it the same way, so the name the query reported matches.
    host, events = make_host(locale=locale)
    rows = parse_quser(query(host).QuserStdout)
    assert "maría josé" in [s.username for s in rows]
    r = act(host, "logoff", "quser", targets_of(host, 3))
    assert [(o.Id, o.Outcome) for o in r.output] == [(3, "done")]
    assert [e["username"] for e in events if e["event"] == "logoff"] == ["maría josé"]


def test_raw_quser_over_remoting_is_damaged_and_the_parser_repairs_it() -> None:
    # What a naive client (or the script's '& quser' fallback) gets: OEM bytes read as cp1252.
    host, _ = make_host(locale="es-ES")
    raw = host.run_pipeline([CommandSpec("quser", False, [])], operator="labadmin").output
    assert "NOMBRE SESIàN" in raw[0] and any("mar¡a jos‚" in line for line in raw)
    assert "maría josé" in [s.username for s in parse_quser("\n".join(raw), oem_codepage=850)]


# --- Write-Result: JSON as Windows PowerShell 5.1 prints it, or objects without ConvertTo-Json ---


def test_act_answer_is_one_compressed_json_array_escaped_as_5_1_does() -> None:
    host, _ = make_host()
    params = [("Action", "logoff"), ("Backend", "quser"), ("Targets", [{"Id": 2, "UserName": "o'neil <&>"}])]
    r = host.run_pipeline([CommandSpec(scripts_twin.script_text("act.ps1"), True, params)], operator="labadmin")
    assert r.output == [
        '[{"Id":2,"UserName":"o\\u0027neil \\u003c\\u0026\\u003e","Outcome":"vanished","Denied":false,'
        '"ExitCode":null,"Detail":"session no longer belongs to this user; left alone"}]'
    ]


def test_act_refuses_an_empty_target_list_as_powershell_binds_it() -> None:
    """Targets is a mandatory object[] without [AllowEmptyCollection()]: an empty list never
    reaches the script (the client sends act.ps1 only with targets)."""
    host, events = make_host()
    r = act(host, "logoff", "quser", [])
    assert r.failure is not None and "empty array" in r.failure.message and events == []


@pytest.mark.parametrize("how", ["fault", "parameter"])
def test_without_convertto_json_the_twins_answer_with_the_objects(how: str) -> None:
    """A host without ConvertTo-Json (``no-json``), or a caller passing -NoJson, gets the
    objects as before: the same names, order and values as the JSON, one object per row."""
    host, _ = make_host("no-json") if how == "fault" else make_host()
    more = [("NoJson", True)] if how == "parameter" else []
    json_host, _ = make_host()
    text = scripts_twin.script_text("query.ps1")
    objects = host.run_pipeline([CommandSpec(text, True, more)], operator="LAB\\labadmin").output
    as_json = answer(json_host.run_pipeline([CommandSpec(text, True)], operator="LAB\\labadmin"))
    assert len(objects) == 1 and isinstance(objects[0], PSCustomObject)
    assert names(objects[0]) == names(as_json)
    assert objects[0].QuserStdout == as_json.QuserStdout
    assert [names(w) for w in objects[0].WmsSessions] == [names(w) for w in as_json.WmsSessions]
    targets = targets_of(json_host, 2, 3)
    params = [("Action", "logoff"), ("Backend", "quser"), ("Targets", targets), *more]
    rows = host.run_pipeline([CommandSpec(scripts_twin.script_text("act.ps1"), True, params)], operator="labadmin")
    assert [(o.Id, o.Outcome) for o in rows.output] == [(2, "done"), (3, "done")]


def test_confirmation_after_logoff_is_not_proof_when_quser_fails_otherwise() -> None:
    """``quser-fails-after-logoff``: after the log-off quser fails with an RPC error, not "No
    User exists": the session is not confirmed gone (the client reports it unconfirmed)."""
    host, events = make_host("quser-fails-after-logoff")
    r = act(host, "logoff", "quser", targets_of(host, 2), ConfirmMs=1000)
    done, check = r.output
    assert (done.Id, done.Outcome) == (2, "done") and [e["id"] for e in events] == [2]
    assert (check.Check, check.Id, check.Confirmed, check.QuserExitCode) == ("confirm", 2, False, 1)
    assert "RPC" in check.QuserStderr


def _uncached_name(text: str) -> str | None:
    """What match() answered before it remembered texts: compose and compare every time."""
    normalised = scripts_twin.normalise(text)
    return next((n for n in ("query.ps1", "act.ps1") if normalised == scripts_twin.script_text(n)), None)


def test_recognised_texts_are_what_composing_each_time_says() -> None:
    query, act = scripts_twin.script_text("query.ps1"), scripts_twin.script_text("act.ps1")
    texts = [
        query,
        act,
        query.replace("\n", "\r\n"),
        "\ufeff" + act + "\n\n  ",
        query + "\n# edited",
        act[:-1],
        "quser",
        "",
        query,  # the second time from memory
        act.replace("\n", "\r\n"),
        query + " " * 70000,  # recognised, too long to be remembered
        "x" * 70000,
    ]
    recognised = scripts_twin._Recognised()
    for _ in range(2):
        for text in texts:
            assert recognised.name_of(text) == _uncached_name(text), text[:40]
    assert max(len(t) for t in recognised._texts) <= recognised._MAX_TEXT_CHARS
    assert [scripts_twin.match([CommandSpec(t, True)]) for t in texts[:3]] == [
        scripts_twin.run_query,
        scripts_twin.run_act,
        scripts_twin.run_query,
    ]
    assert scripts_twin.match([CommandSpec(query, False)]) is None
    assert scripts_twin.match([CommandSpec(query, True), CommandSpec("Out-Null", False)]) is None


def test_recognised_texts_follow_edited_script_files(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edited script or fragment file is composed again: old answers are forgotten."""
    import os

    files = {n: tmp_path / n for n in ("query.ps1", "quser.ps1")}
    for n, f in files.items():
        f.write_text(f"# {n} v1\n")
    monkeypatch.setattr(scripts_twin, "_script_paths", lambda: tuple(str(f) for f in files.values()))
    monkeypatch.setattr(
        scripts_twin, "script_text", lambda n: files["query.ps1"].read_text().strip() if n == "query.ps1" else "act"
    )
    recognised = scripts_twin._Recognised()
    assert recognised.name_of("# query.ps1 v1") == "query.ps1"
    assert recognised.name_of("# query.ps1 v2") is None
    files["query.ps1"].write_text("# query.ps1 v2\n")
    assert recognised.name_of("# query.ps1 v2") == "query.ps1"
    assert recognised.name_of("# query.ps1 v1") is None
    # A fragment's edit (same size, later time) also starts over.
    before = os.stat(files["quser.ps1"]).st_mtime_ns
    files["quser.ps1"].write_text("# quser.ps1 v2\n")
    os.utime(files["quser.ps1"], ns=(before + 10**9, before + 10**9))
    calls: list[str] = []
    monkeypatch.setattr(scripts_twin, "script_text", lambda n: calls.append(n) or "other")
    assert recognised.name_of("# query.ps1 v2") is None
    assert calls == ["query.ps1", "act.ps1"]
    # Not plain files (a zipped package): nothing remembered, composed each call.
    monkeypatch.setattr(scripts_twin, "_script_paths", lambda: None)
    recognised = scripts_twin._Recognised()
    calls.clear()
    assert recognised.name_of("other") == "query.ps1"
    assert recognised.name_of("other") == "query.ps1"
    assert calls == ["query.ps1", "query.ps1"]
