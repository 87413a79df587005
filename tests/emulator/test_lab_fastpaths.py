"""The lab's cheap paths answer exactly what the plain ones do (CPU work, never behaviour)."""

from __future__ import annotations

import enum
import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from psrpcore.types import PSCustomObject, PSInt, PSNoteProperty, PSObject, PSString, PSVersion

from mpremote.lab import psjson51, soap, wsman
from mpremote.lab.psobjects import custom_object, ps_attr, psobject_of, version_text

_ENVELOPE = (
    '<s:Envelope xmlns:s="{s}" xmlns:a="{wsa}" xmlns:w="{wsman}" xmlns:rsp="{rsp}" xmlns:p="{pwsh}">'
    "<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:1</a:MessageID>"
    "<w:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.PowerShell</w:ResourceURI>"
    '<w:SelectorSet><w:Selector Name="ShellId">{{abc}}</w:Selector></w:SelectorSet>'
    '<w:OptionSet><w:Option Name="A">1</w:Option><w:Option Name="B"> 2 </w:Option></w:OptionSet>'
    "<w:MaxEnvelopeSize>512000</w:MaxEnvelopeSize><w:OperationTimeout>PT20.5S</w:OperationTimeout></s:Header>"
    '<s:Body><rsp:Shell ShellId="x"><p:creationXml>AAAA</p:creationXml></rsp:Shell>'
    '<rsp:CommandLine CommandId="c"><rsp:Arguments>AA==</rsp:Arguments></rsp:CommandLine>'
    '<rsp:Send><rsp:Stream Name="stdin">AA==</rsp:Stream><rsp:Stream Name="pr">AQ==</rsp:Stream></rsp:Send>'
    '<rsp:Receive><rsp:DesiredStream CommandId="c">stdout</rsp:DesiredStream></rsp:Receive>'
    "<rsp:Signal><rsp:Code>x</rsp:Code></rsp:Signal></s:Body></s:Envelope>"
)


def test_clark_paths_find_what_prefixed_paths_find() -> None:
    root = ET.fromstring(_ENVELOPE.format(action="a", **soap.NS))
    paths = ["s:Header", "s:Body", "wsa:Action", "wsa:MessageID", "wsman:SelectorSet/wsman:Selector"]
    paths += ["wsman:OptionSet/wsman:Option", "wsman:MaxEnvelopeSize", "wsman:ResourceURI", "wsman:Nothing"]
    body = root.find("s:Body", soap.NS)
    assert body is not None
    for el, path in [(root, "s:Header"), (root, "s:Body")] + [(root[0], p) for p in paths[2:]]:
        assert el.find(soap.qname(path)) is el.find(path, soap.NS)
        assert list(el.iterfind(soap.qname(path))) == list(el.iterfind(path, soap.NS))
    # The body paths the endpoint reads: each finds its element in the sample body, as NS does.
    body_paths = ["rsp:Shell", "pwsh:creationXml", "rsp:CommandLine", "rsp:Arguments", "rsp:Send", "rsp:Stream"]
    body_paths += ["rsp:Receive/rsp:DesiredStream", "rsp:Signal", "rsp:Code"]
    consts = {v for k, v in vars(wsman).items() if k.startswith("_Q_")}
    assert consts == {soap.qname(p) for p in body_paths}
    for path in body_paths:
        found = [e for e in body.iter() if e.find(path, soap.NS) is not None]
        assert found and all(e.find(soap.qname(path)) is e.find(path, soap.NS) for e in found)
        assert all(list(e.iterfind(soap.qname(path))) == list(e.iterfind(path, soap.NS)) for e in found)


def test_parse_request_reads_every_header() -> None:
    req = soap.parse_request(_ENVELOPE.format(action=soap._SHELL + "Command", **soap.NS).encode())
    assert (req.action, req.message_id, req.shell_id) == ("Command", "uuid:1", "{abc}")
    assert req.options == {"A": "1", "B": "2"}
    assert (req.max_envelope_size, req.operation_timeout) == (512000, 20.5)
    assert req.resource_uri.endswith("Microsoft.PowerShell") and req.body is not None


class _Colour(enum.Enum):
    RED = 3


class _Plain:
    """Not a PSObject, with a PSObject attribute of its own."""

    PSObject = "mine"


def test_psobject_of_is_getattr() -> None:
    values: list[Any] = [PSCustomObject(A=1), custom_object(B=2), PSString("x"), PSInt(3), PSObject()]
    values += [_Plain(), "text", 4, None, {"a": 1}, [1]]
    for value in values:
        assert psobject_of(value) is getattr(value, "PSObject", None)


def _isinstance_scalar(value: Any) -> str | None:
    """psjson51._scalar as written with isinstance (the reference)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(int(value.value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return psjson51.format_double(value)
    if isinstance(value, str):
        return psjson51.encode_string(value)
    if isinstance(value, datetime):
        return psjson51._scalar(value)
    return None


_SCALAR_CASES: list[Any] = [None, True, 0, -5, 2.5, "a\"<b>'\u2028", "", _Colour.RED, PSString("s"), PSInt(7)]
_SCALAR_CASES += [datetime(2025, 4, 28, tzinfo=UTC), PSCustomObject(A=1), [1, 2], {"k": "v"}]
_SCALAR_CASES += [psjson51.Wrapped([1], {"N": 1})]


@pytest.mark.parametrize("value", _SCALAR_CASES)
def test_scalars_are_classified_as_isinstance_would(value: Any) -> None:
    assert psjson51._scalar(value) == _isinstance_scalar(value)


def test_encode_string_matches_the_escaping_loop() -> None:
    """JavaScriptStringEncode's rules as a per-character loop (the reference) and as encode_string."""

    def loop(text: str) -> str:
        out = ['"']
        for c in text:
            named = psjson51._NAMED.get(c)
            out.append(named if named else f"\\u{ord(c):04x}" if c < " " or c in psjson51._HEX else c)
        return "".join(out) + '"'

    for code in range(0x3000):  # every character the rules name lies below U+3000
        text = chr(code)
        assert psjson51.encode_string(text) == loop(text)
        assert psjson51.encode_string("ab" + text + "é") == loop("ab" + text + "é")
    rng = random.Random(5)
    alphabet = [chr(c) for c in range(0x90)] + ["é", "\u2028", "\u2029", "\U0001f600", "\ud800"]
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert psjson51.encode_string(text) == loop(text)


def _messages() -> list[Any]:
    """The constant messages psrp_cache keeps, plus an error, a name clash between note and
    adapted properties, a session row and a plain string."""
    from tests.emulator.test_psrp_cache import _constant_messages

    constant = _constant_messages()
    error = constant[-1].ExceptionAsErrorRecord
    clash = PSCustomObject(A=1)
    clash.PSObject.adapted_properties.append(PSNoteProperty("A", value=2))
    clash.PSObject.adapted_properties.append(PSNoteProperty("OnlyAdapted", value=3))
    return [*constant, error, clash, custom_object(SessionId=3, UserName="ana"), PSString("x")]


_NAMES = ["PSVersion", "protocolversion", "SerializationVersion", "TimeZone", "ApplicationPrivateData"]
_NAMES += ["RunspaceState", "PipelineState", "ExceptionAsErrorRecord", "A", "OnlyAdapted", "SessionId"]
_NAMES += ["UserName", "Missing", "PSObject", "upper", "__class__"]


def test_ps_attr_is_getattr() -> None:
    for obj in _messages():
        for name in _NAMES:
            try:
                expected = getattr(obj, name)
            except AttributeError:
                with pytest.raises(AttributeError):
                    ps_attr(obj, name)
                continue
            got = ps_attr(obj, name)
            assert got is expected or (callable(got) and got == expected), (type(obj).__name__, name)


def test_version_text_is_str() -> None:
    for text in ["2.0", "2.3", "1.1.0.1", "10.0.17763", "0.0", "5.1.19041.1"]:
        assert version_text(PSVersion(text)) == str(PSVersion(text))
    assert version_text(PSVersion(major=4, minor=0, build=1)) == "4.0.1"
    assert version_text("2.2") == "2.2" and version_text(None) == "None"
