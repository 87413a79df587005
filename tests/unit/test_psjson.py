"""The client's reading of the scripts' answers: each Windows PowerShell 5.1 quirk, both forms.

The JSON texts below are what 5.1 prints (sources in docs/lab.md, "ConvertTo-Json in Windows
PowerShell 5.1"); ``tests/unit/test_psjson51.py`` checks that the lab prints the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pypsrp.complex_objects import GenericComplexObject

from mpremote.errors import ParseError
from mpremote.hostjob import _actions_from_output, interpret_query
from mpremote.hosts import Host
from mpremote.remote import psjson
from mpremote.results import Outcome
from mpremote.session import Session

QUSER = (
    " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME\n"
    " ana                   rdp-tcp#1           2  Active          .  4/28/2025 9:58 AM"
)


def PSCustomObject(**props: Any) -> GenericComplexObject:
    """A PSCustomObject as pypsrp deserialises one (note properties in extended_properties)."""
    obj = GenericComplexObject()
    obj.types = ["System.Management.Automation.PSCustomObject", "System.Object"]
    obj.extended_properties = dict(props)
    return obj


def host() -> Host:
    return Host(name="mp-1", address="127.0.0.1")


def test_array_wrapped_as_value_and_count_is_the_list_at_any_depth() -> None:
    # 5.1: an array inside a PSObject wrapper carries types.ps1xml's Count alias.
    assert psjson.decode('{"value":[1,2],"Count":2}') == [1, 2]
    assert psjson.decode('[1,{"value":[2,3],"Count":2},4]') == [1, [2, 3], 4]
    assert psjson.decode('{"A":{"value":[{"B":{"value":[],"Count":0}}],"Count":1}}') == {"A": [{"B": []}]}


def test_an_object_that_only_looks_similar_is_left_alone() -> None:
    assert psjson.decode('{"value":1,"Count":2}') == {"value": 1, "Count": 2}
    assert psjson.decode('{"value":[1],"Count":1,"X":0}') == {"value": [1], "Count": 1, "X": 0}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, []), ([], []), ({"Id": 2}, [{"Id": 2}]), ([{"Id": 2}], [{"Id": 2}]), ("x", ["x"]), ((1, 2), [1, 2])],
)
def test_lists_arrive_unrolled_as_one_value_or_none(value: Any, expected: list[Any]) -> None:
    assert psjson.as_list(value) == expected


def test_an_answer_unrolled_to_one_object_or_to_null_is_still_rows() -> None:
    assert psjson.rows(['{"Id":2}']) == [{"Id": 2}]
    assert psjson.rows(["null"]) == []
    assert psjson.rows(["[]"]) == []
    assert psjson.rows(['[{"Id":2},{"Id":3}]']) == [{"Id": 2}, {"Id": 3}]


def test_dates_in_5_1_form_become_datetimes() -> None:
    value = psjson.decode('{"At":"\\/Date(1745834280000)\\/","Name":"/Date(1)/ typed by a user"}')
    assert value["At"] == datetime(2025, 4, 28, 9, 58, tzinfo=UTC)
    assert value["Name"] == "/Date(1)/ typed by a user"  # not the whole string: left alone
    assert psjson.decode('["\\/Date(-1000)\\/"]') == [datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)]


def test_html_characters_escaped_by_5_1_read_back() -> None:
    assert psjson.decode('"o\\u0027neil \\u003cb\\u003e \\u0026 co"') == "o'neil <b> & co"
    assert psjson.decode('"mar\u00eda\\r\\n\\u0085"') == "mar\u00eda\r\n\u0085"


def test_not_json_is_a_parse_error_naming_the_start() -> None:
    with pytest.raises(ParseError, match="not JSON: 'USERNAME"):
        psjson.rows(["USERNAME  SESSIONNAME"])


def test_objects_from_a_host_without_convertto_json_pass_as_they_are() -> None:
    obj = PSCustomObject(Id=2)
    assert psjson.rows([obj]) == [obj]
    assert psjson.rows([obj, obj]) == [obj, obj]
    assert psjson.rows([]) == []


def _query_json(wms: str, apps: str = "null") -> str:
    return (
        '{"ComputerName":"MP-1","OperatorUser":"labadmin","OperatorDomain":"LAB","QuserStdout":'
        + psjson_string(QUSER)
        + ',"QuserStderr":"","QuserExitCode":0,"QuserCodePage":437,"QuserReadAs":"oem",'
        + f'"WmsAvailable":true,"WmsSessions":{wms},"Apps":{apps}}}'
    )


def psjson_string(text: str) -> str:
    from mpremote.lab.psjson51 import encode_string

    return encode_string(text)


@pytest.mark.parametrize(
    "wms",
    [
        '[{"SessionId":2,"UserName":"ana","DomainName":"SCHOOL","State":3,"StationId":1,"IsAdmin":false}]',
        '{"SessionId":2,"UserName":"ana","DomainName":"SCHOOL","State":3,"StationId":1,"IsAdmin":false}',
        '{"value":[{"SessionId":2,"UserName":"ana","DomainName":"SCHOOL","State":"Active"}],"Count":1}',
    ],
    ids=["list", "unrolled to one object", "value-count wrapper"],
)
def test_query_answer_in_every_5_1_shape_gives_the_same_sessions(wms: str) -> None:
    """The WmsSessions list as a list, unrolled to its one object, or wrapped; the state an
    enum's number: the sessions and their domains come out the same."""
    (row,) = psjson.rows([_query_json(wms)])
    q = interpret_query(host(), row)
    assert [(s.id, s.username, s.domain) for s in q.sessions] == [(2, "ana", "SCHOOL")]
    assert (q.computer_name, q.operator_user, q.wms_available, q.oem_codepage) == ("MP-1", "labadmin", True, 437)


def test_query_answer_with_apps_unrolled_to_one_object() -> None:
    (row,) = psjson.rows([_query_json("null", '{"SessionId":2,"Name":"WINWORD.EXE","Title":"Word"}')])
    q = interpret_query(host(), row, busy_apps=("winword.exe",))
    assert [(a.name, a.flagged) for a in q.sessions[0].apps] == [("WINWORD.EXE", True)]


def test_query_answer_as_objects_reads_the_same() -> None:
    obj = PSCustomObject(
        ComputerName="MP-1", OperatorUser="labadmin", OperatorDomain="LAB", QuserStdout=QUSER, QuserStderr="",
        QuserExitCode=0, QuserCodePage=437, QuserReadAs="oem", WmsAvailable=False, WmsSessions=None, Apps=None,
    )  # fmt: skip
    q = interpret_query(host(), psjson.rows([obj])[0])
    assert [(s.id, s.username) for s in q.sessions] == [(2, "ana")]


def _sent() -> list[Session]:
    return [Session("ana", "rdp-tcp#1", 2, "active", None, "4/28/2025 9:58 AM")]


def test_act_answer_unrolled_to_one_object_is_read() -> None:
    out = ['{"Id":2,"UserName":"ana","Outcome":"done","Denied":false,"ExitCode":0,"Detail":""}']
    (a,) = _actions_from_output("logoff", out, _sent())
    assert (a.id, a.outcome) == (2, Outcome.DONE)


def test_act_answer_as_json_and_as_objects_read_the_same() -> None:
    row = {"Id": 2, "UserName": "ana", "Outcome": "failed", "Denied": True, "ExitCode": 1, "Detail": "Error [5]"}
    check = {"Check": "confirm", "Id": 2, "Confirmed": False, "After": "", "QuserExitCode": 0, "QuserStderr": ""}
    import json

    as_json = _actions_from_output("logoff", [json.dumps([row, check])], _sent())
    as_objects = _actions_from_output("logoff", [PSCustomObject(**row), PSCustomObject(**check)], _sent())
    assert as_json == as_objects
    assert [(a.outcome, a.error_kind) for a in as_json] == [(Outcome.FAILED, "denied")]
