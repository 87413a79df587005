"""The lab's emulation of Windows PowerShell 5.1's ConvertTo-Json -Compress, quirk by quirk,
and the proof that what the scripts build fits their -Depth.

Expected texts come from the sources in docs/lab.md ("ConvertTo-Json in Windows PowerShell 5.1"):
PowerShell issues #5579 (value/Count), #9266 (depth 2 truncation), #7693 (\\u0027), the .NET
Framework's JavaScriptSerializer and HttpUtility.JavaScriptStringEncode, and the Stack
Overflow answers on piping 0- and 1-element arrays.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from importlib import resources

import pytest

from mpremote.lab import scripts_twin
from mpremote.lab.contract import CommandSpec
from mpremote.lab.hostmodel import EmulatedHost
from mpremote.lab.labfile import HostSpec, SessionSpec, system_sessions
from mpremote.lab.psjson51 import (
    Wrapped,
    convert_piped,
    convert_to_json,
    encode_string,
    format_double,
    max_depth,
)
from mpremote.lab.psobjects import custom_object
from tests.emulator.test_hostmodel_commands import LOGON


def test_nested_array_sent_through_the_pipeline_gets_value_and_count() -> None:
    # PowerShell issue #5579, on 5.1: $x = @(1,@(2,3),4); $x | ConvertTo-Json -Compress
    assert convert_piped([1, [2, 3], 4]) == '[1,{"value":[2,3],"Count":2},4]'


def test_piping_unrolls_one_and_none_but_input_object_keeps_the_array() -> None:
    # [array]@(1) | ConvertTo-Json -> 1; @() | ConvertTo-Json -> nothing; ConvertTo-Json @(1) -> [1]
    assert convert_piped([1]) == "1"
    assert convert_piped([]) is None
    assert convert_to_json([1]) == "[1]"
    assert convert_to_json([]) == "[]"
    assert convert_to_json([custom_object(Id=2)]) == '[{"Id":2}]'


def test_an_array_inside_a_psobject_wrapper_anywhere_gets_value_and_count() -> None:
    assert convert_to_json(custom_object(A=Wrapped([1, 2]))) == '{"A":{"value":[1,2],"Count":2}}'
    assert convert_to_json(Wrapped(5)) == "5"  # a scalar wrapper without notes changes nothing
    assert convert_to_json(Wrapped("x", {"PSPath": "C:\\a"})) == '{"value":"x","PSPath":"C:\\\\a"}'


def test_default_depth_2_silently_writes_deeper_values_as_strings() -> None:
    # PowerShell issue #9266 (5.1): the Email array at depth 3 became "onemail twomail threemail".
    value = {"Users": [{"isCertified": True, "Email": ["onemail", "twomail", "threemail"]}]}
    assert convert_piped(value) == '{"Users":[{"isCertified":true,"Email":"onemail twomail threemail"}]}'
    deep = custom_object(A=[custom_object(B=1, C=[1, 2])], H={"k": 1})
    assert convert_to_json(deep, depth=1) == '{"A":["@{B=1; C=System.Object[]}"],"H":{"k":1}}'
    assert convert_to_json(deep, depth=0) == '{"A":"@{B=1; C=System.Object[]}","H":"System.Collections.Hashtable"}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'def'", '"\\u0027def\\u0027"'),  # PowerShell issue #7693: 5.x escapes '
        ("<b> & </b>", '"\\u003cb\\u003e \\u0026 \\u003c/b\\u003e"'),  # & since .NET 4.5
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\r\n\t\b\f", '"\\r\\n\\t\\b\\f"'),
        ("\x00\x01\x1f", '"\\u0000\\u0001\\u001f"'),
        ("\u0085\u2028\u2029", '"\\u0085\\u2028\\u2029"'),
        ("maría josé ÉÀ €", '"maría josé ÉÀ €"'),  # non-ASCII stays as it is
        ("/Date(1)/", '"/Date(1)/"'),  # '/' is not escaped
    ],
)
def test_strings_escaped_as_javascriptstringencode_does(text: str, expected: str) -> None:
    assert encode_string(text) == expected


class Color(enum.IntEnum):
    Red = 1
    Blue = 4


def test_scalars_numbers_bools_null_enums_and_dates() -> None:
    value = custom_object(I=-3, B=True, F=False, N=None, E=Color.Blue, D=datetime(2025, 4, 28, 9, 58, tzinfo=UTC))
    assert convert_to_json(value) == '{"I":-3,"B":true,"F":false,"N":null,"E":4,"D":"\\/Date(1745834280000)\\/"}'


@pytest.mark.parametrize(
    ("x", "expected"),
    [(1.0, "1"), (0.1, "0.1"), (-2.5, "-2.5"), (1e15, "1E+15"), (1e14, "100000000000000"), (1e-5, "1E-05"),
     (0.0001, "0.0001"), (1 / 3, "0.33333333333333331"), (0.1 + 0.2, "0.30000000000000004")],
)  # fmt: skip
def test_doubles_in_dotnet_round_trip_format(x: float, expected: str) -> None:
    assert format_double(x) == expected


def test_property_order_is_the_objects_and_compress_has_no_spaces() -> None:
    assert convert_to_json(custom_object(Z=1, A=[1, 2], M="x y")) == '{"Z":1,"A":[1,2],"M":"x y"}'


# --- the scripts' own answers -------------------------------------------------------------------


def test_the_scripts_depth_is_the_twins() -> None:
    text = resources.files("mpremote.remote").joinpath("scripts", "result.ps1").read_text(encoding="utf-8")
    assert [int(d) for d in re.findall(r"ConvertTo-Json .*-Depth (\d+)", text)] == [scripts_twin.JSON_DEPTH]


def _deepest_answers() -> list[object]:
    """The objects the scripts build, at their deepest: a MultiPoint host with applications
    (query), and a log-off with confirmation (act)."""
    users = (
        SessionSpec("ana", 2, "active", "rdp-tcp#0", "LAB", 0, LOGON, apps=("WINWORD.EXE",)),
        SessionSpec("bo", 3, "active", "rdp-tcp#1", "LAB", 0, LOGON, apps=("EXCEL.EXE",)),
    )
    spec = HostSpec("mp-lab-001", sessions=(*system_sessions(True, "mp-lab-001"), *users))
    host = EmulatedHost(spec, lambda event: None)
    text = scripts_twin.script_text("query.ps1")
    params = [("IncludeApps", True), ("NoJson", True)]
    (query,) = host.run_pipeline([CommandSpec(text, True, params)], operator="LAB\\labadmin").output
    targets = [{"Id": 2, "UserName": "ana", "LogonText": "x"}]
    act_params = [("Action", "logoff"), ("Backend", "quser"), ("Targets", targets), ("ConfirmMs", 1), ("NoJson", True)]
    act = host.run_pipeline([CommandSpec(scripts_twin.script_text("act.ps1"), True, act_params)], operator="x").output
    return [query, list(act)]


def test_the_deepest_answer_the_scripts_build_fits_their_depth() -> None:
    query, act = _deepest_answers()
    assert query.WmsSessions and query.Apps  # the lists of objects are there
    assert max_depth(query) == 2 and max_depth(act) == 1
    for value in (query, act):
        assert max_depth(value) <= scripts_twin.JSON_DEPTH
        assert convert_to_json(value, scripts_twin.JSON_DEPTH) == convert_to_json(value, 100)
    assert convert_to_json(query, 1) != convert_to_json(query, 100)  # the check can fail


def test_the_scripts_answers_hold_no_dates() -> None:
    for value in _deepest_answers():
        assert "\\/Date(" not in convert_to_json(value, scripts_twin.JSON_DEPTH)
