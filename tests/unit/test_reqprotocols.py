"""The stand-ins for requests' runtime protocols answer ``isinstance`` exactly as ``typing``.

What a user cares about: the speed-up changes no request. requests decides with these
checks whether a body is a file to stream, a mapping to encode or bytes to send as they
are; a wrong answer would send a different request. So the stand-in and the real
protocol are asked about the same zoo of objects, and a real request through requests
with the stand-ins installed carries the same body and headers.
"""

from __future__ import annotations

import io
import sys
from collections import OrderedDict
from typing import Any

import pytest
import requests
import requests.models
import requests.utils

from mpremote.remote import reqprotocols

pytestmark = pytest.mark.skipif(
    not hasattr(requests.models, "_SupportsRead") and not reqprotocols.installed(),
    reason="this requests has no runtime protocols",
)


class ReadsAttr:
    read = staticmethod(lambda n=-1: b"")


class ReadIsNone:
    read = None
    items = None


class ReadInInit:
    def __init__(self) -> None:
        self.read = lambda n=-1: b""


class ReadByGetattr:
    def __getattr__(self, name: str) -> Any:
        if name in ("read", "items"):
            return lambda *a: b""
        raise AttributeError(name)


class ReadPropertyRaises:
    @property
    def read(self) -> Any:
        raise AttributeError("no")

    @property
    def items(self) -> Any:
        raise AttributeError("no")


class ItemsSubclass(dict[str, str]):
    pass


ZOO: list[Any] = [
    b"body",
    "text",
    bytearray(b"x"),
    memoryview(b"x"),
    None,
    0,
    1.5,
    [("a", "b")],
    ("a",),
    {"a": "b"},
    OrderedDict(a="b"),
    ItemsSubclass(a="b"),
    requests.structures.CaseInsensitiveDict(a="b"),
    io.BytesIO(b"x"),
    io.StringIO("x"),
    ReadsAttr(),
    ReadsAttr,
    ReadIsNone(),
    ReadInInit(),
    ReadByGetattr(),
    ReadPropertyRaises(),
    object(),
    iter([b"a"]),
    (b for b in [b"a"]),
]


def originals() -> list[tuple[str, Any]]:
    from requests import _types

    return [("read", _types.SupportsRead), ("items", _types.SupportsItems)]


@pytest.mark.parametrize("index", range(len(ZOO)), ids=lambda i: type(ZOO[i]).__name__)
def test_stand_in_answers_like_typing(index: int) -> None:
    obj = ZOO[index]
    for _member, protocol in originals():
        fast = reqprotocols.stand_in(protocol)
        assert isinstance(obj, fast) == isinstance(obj, protocol), (obj, protocol)


def test_only_one_method_runtime_protocols_get_a_stand_in() -> None:
    from typing import Protocol, runtime_checkable

    class NotRuntime(Protocol):
        def read(self) -> bytes: ...

    @runtime_checkable
    class TwoMethods(Protocol):
        def read(self) -> bytes: ...
        def close(self) -> None: ...

    @runtime_checkable
    class DataMember(Protocol):
        name: str

    for protocol in (NotRuntime, TwoMethods, DataMember, dict):
        with pytest.raises(ValueError):
            reqprotocols.stand_in(protocol)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="installed only before Python 3.12")
def test_install_swaps_the_globals_requests_uses_and_requests_still_prepares_the_same() -> None:
    def prepared() -> list[tuple[Any, Any]]:
        out = []
        for data in ({"a": "1"}, b"raw", "text", io.BytesIO(b"stream"), [("k", "v")], None):
            req = requests.Request("POST", "http://127.0.0.1:1/wsman", data=data, headers={"X": "1"}).prepare()
            body = req.body.read() if hasattr(req.body, "read") else req.body
            out.append((body, dict(req.headers)))
        return out

    before = prepared()
    assert reqprotocols.install()
    assert reqprotocols.installed()
    assert type(requests.models._SupportsRead).__name__ == "_HasMember"
    assert type(requests.utils._SupportsItems).__name__ == "_HasMember"
    assert prepared() == before


def test_the_switch_off_asks_the_original_protocol() -> None:
    from requests import _types

    fast = reqprotocols.stand_in(_types.SupportsRead)
    odd = ReadPropertyRaises()
    try:
        reqprotocols.ENABLED = False
        assert isinstance(odd, fast) and isinstance(io.BytesIO(), fast) and not isinstance(b"x", fast)
    finally:
        reqprotocols.ENABLED = True
