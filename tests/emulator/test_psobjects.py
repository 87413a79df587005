"""custom_object builds exactly what PSCustomObject(**props) builds (the lab's wire fidelity)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from psrpcore.types import PSCustomObject, serialize

from mpremote.lab.psobjects import custom_object


def clixml(obj: Any) -> bytes:
    return ET.tostring(serialize(obj, None))


CASES: list[dict[str, Any]] = [
    {},
    {"ComputerName": "MP-LAB-001", "QuserExitCode": 0, "WmsAvailable": True, "WmsSessions": None},
    {"Id": 3, "UserName": "ana", "Outcome": "done", "Denied": False, "ExitCode": None, "Detail": "x < y & z"},
    {"PSTypeName": "Microsoft.MultiPoint.Management.WmsSession", "SessionId": 2, "IsAdmin": False},
    {"A": 1, "PSTypeName": "First.Type", "B": [1, "two", None], "C": {"k": "v"}},
]


@pytest.mark.parametrize("props", CASES)
def test_same_object_and_same_clixml(props: dict[str, Any]) -> None:
    nested = {"Inner": custom_object(**props)} if props else {}
    nested_ref = {"Inner": PSCustomObject(**props)} if props else {}
    ours, theirs = custom_object(**props, **nested), PSCustomObject(**props, **nested_ref)
    assert type(ours) is type(theirs)
    assert ours.PSObject.type_names == theirs.PSObject.type_names
    assert [p.name for p in ours.PSObject.extended_properties] == [p.name for p in theirs.PSObject.extended_properties]
    for name in (p.name for p in theirs.PSObject.extended_properties if p.name != "Inner"):
        assert getattr(ours, name) == getattr(theirs, name)
    assert clixml(ours) == clixml(theirs)


def test_twin_prop_reads_what_getattr_reads() -> None:
    from mpremote.lab.scripts_twin import prop

    obj = custom_object(
        PSTypeName="X.Y", SessionId=4, userName="ana", PSTypeNames="shadowed", Empty=None, Nested=custom_object(A=1)
    )
    for name in ("SessionId", "sessionid", "UserName", "PSTypeNames", "Empty", "Nested", "Missing"):
        expected = next(
            (getattr(obj, p.name) for p in obj.PSObject.extended_properties if p.name.lower() == name.lower()), None
        )
        assert prop(obj, name) is expected or prop(obj, name) == expected
    assert prop(obj, "PSTypeNames") == ["X.Y", "System.Management.Automation.PSCustomObject", "System.Object"]
