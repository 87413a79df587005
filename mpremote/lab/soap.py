"""WSMan SOAP envelopes for the emulated lab: parse requests, build replies and faults.

Replies are string templates rather than ElementTree trees: the lab is also the benchmark
load generator and formatting a few hundred bytes of XML by hand is several times cheaper.
Everything the client echoes or compares is preserved exactly: ``RelatesTo`` carries the
request's ``MessageID`` text verbatim, GUIDs are upper case as Windows writes them.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from mpremote.errors import WSMAN_OPERATION_TIMEOUT as _WSMAN_OPERATION_TIMEOUT

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "pwsh": "http://schemas.microsoft.com/powershell",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}


def qname(path: str) -> str:
    """An ElementPath of ``prefix:name`` steps in Clark notation (``{uri}name``): what
    ``find(path, NS)`` looks up, without ElementTree re-reading ``NS`` on every call."""
    steps = []
    for step in path.split("/"):
        prefix, _, local = step.rpartition(":")
        steps.append(f"{{{NS[prefix]}}}{local}" if prefix else step)
    return "/".join(steps)


_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
#: wsa:Action URI -> short name used in the journal and for dispatch.
ACTIONS = {
    _TRANSFER + "Create": "Create",
    _TRANSFER + "Delete": "Delete",
    _TRANSFER + "Get": "Get",
    _SHELL + "Command": "Command",
    _SHELL + "Send": "Send",
    _SHELL + "Receive": "Receive",
    _SHELL + "Signal": "Signal",
}
RESPONSE_ACTIONS = {
    "Create": _TRANSFER + "CreateResponse",
    "Delete": _TRANSFER + "DeleteResponse",
    "Get": _TRANSFER + "GetResponse",
    "Command": _SHELL + "CommandResponse",
    "Send": _SHELL + "SendResponse",
    "Receive": _SHELL + "ReceiveResponse",
    "Signal": _SHELL + "SignalResponse",
}
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
POWERSHELL_URI_PREFIX = "http://schemas.microsoft.com/powershell/"
SIGNAL_TERMINATE = _SHELL + "signal/terminate"
SIGNAL_PS_CTRL_C = "powershell/signal/crtl_c"  # sic: the misspelling is the protocol's
COMMAND_STATE_DONE = _SHELL + "CommandState/Done"
COMMAND_STATE_RUNNING = _SHELL + "CommandState/Running"

# WSMan fault codes (named once; pypsrp compares the integer).
#: Receive had nothing to report within the OperationTimeout: the client simply polls again
#: (the one spelling lives in mpremote.errors, which the client reads too).
WSMAN_OPERATION_TIMEOUT = _WSMAN_OPERATION_TIMEOUT
#: The ShellId selector names no shell (closed, never existed, or the wrong host).
WSMAN_SHELL_NOT_FOUND = 2150858843
#: "This user is allowed a maximum number of N concurrent shells": the ``wsman-fault`` fault.
WSMAN_MAX_SHELLS_EXCEEDED = 2150859173
# The codes below are the lab's choice within the WSMan range (Windows uses several codes
# for these cases); clients should key on the ones above only.
#: The action or resource is not something this endpoint serves.
WSMAN_ACTION_NOT_SUPPORTED = 2150858771
#: The envelope exceeds MaxEnvelopeSize.
WSMAN_ENVELOPE_TOO_LARGE = 2150858812
#: Malformed request (not SOAP, missing headers).
WSMAN_INVALID_REQUEST = 2150858817
#: Failure inside the PowerShell plugin (PSRP data it cannot process).
WSMAN_PLUGIN_FAILED = 2150859046

#: The envelope size pypsrp moves to once the server reports protocol 2.2+ (500 KiB).
MAX_ENVELOPE_BYTES = 512000
_SELECTOR_RE = re.compile(r"(?i)^\{?([0-9a-f-]{36})\}?$")
_DURATION_RE = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


class SoapError(Exception):
    """A request that cannot be served; carries the WSMan fault to answer with."""

    def __init__(self, code: int, reason: str, subcode: str = "w:InternalError") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode


@dataclass
class Request:
    action: str  # short name ("Create", ...) or the raw URI when unknown
    message_id: str
    resource_uri: str
    shell_id: str | None
    operation_timeout: float
    max_envelope_size: int
    options: dict[str, str] = field(default_factory=dict)
    body: ET.Element | None = None


def new_guid() -> str:
    return str(uuid.uuid4()).upper()


def normalise_guid(text: str | None) -> str | None:
    if not text:
        return None
    m = _SELECTOR_RE.match(text.strip())
    return m.group(1).upper() if m else text.strip()


def parse_duration(text: str | None, default: float) -> float:
    """``PT20S`` / ``PT20.000S`` / ``PT1M`` -> seconds; default when absent or odd."""
    m = _DURATION_RE.match((text or "").strip())
    if not m:
        return default
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def parse_request(data: bytes) -> Request:
    """Parse a WSMan envelope; raise SoapError on anything that is not one."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SoapError(WSMAN_INVALID_REQUEST, f"The request is not valid XML: {exc}") from None
    header = root.find(_HEADER)
    if header is None:
        raise SoapError(WSMAN_INVALID_REQUEST, "The SOAP envelope has no Header.")

    def text(path: str) -> str:
        el = header.find(path)
        return (el.text or "").strip() if el is not None else ""

    action_uri = text(_ACTION)
    message_id = text(_MESSAGE_ID)
    if not action_uri or not message_id:
        raise SoapError(WSMAN_INVALID_REQUEST, "The request has no Action or MessageID header.")
    shell_id = None
    options: dict[str, str] = {}
    for sel in header.iterfind(_SELECTORS):
        if sel.get("Name") == "ShellId":
            shell_id = normalise_guid(sel.text)
    for opt in header.iterfind(_OPTIONS):
        options[opt.get("Name", "")] = (opt.text or "").strip()
    try:
        max_env = int(text(_MAX_ENVELOPE) or 153600)
    except ValueError:
        max_env = 153600
    return Request(
        action=ACTIONS.get(action_uri, action_uri),
        message_id=message_id,
        resource_uri=text(_RESOURCE_URI),
        shell_id=shell_id,
        operation_timeout=parse_duration(text(_OPERATION_TIMEOUT), 60.0),
        max_envelope_size=max_env,
        options=options,
        body=root.find(_BODY),
    )


_HEADER = qname("s:Header")
_BODY = qname("s:Body")
_ACTION = qname("wsa:Action")
_MESSAGE_ID = qname("wsa:MessageID")
_SELECTORS = qname("wsman:SelectorSet/wsman:Selector")
_OPTIONS = qname("wsman:OptionSet/wsman:Option")
_MAX_ENVELOPE = qname("wsman:MaxEnvelopeSize")
_RESOURCE_URI = qname("wsman:ResourceURI")
_OPERATION_TIMEOUT = qname("wsman:OperationTimeout")


_ENVELOPE = (
    '<s:Envelope xml:lang="en-US" xmlns:s="{s}" xmlns:a="{wsa}" xmlns:x="{wst}" xmlns:w="{wsman}" '
    'xmlns:rsp="{rsp}" xmlns:p="{wsmv}">'
    "<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{mid}</a:MessageID>"
    "<a:To>{anon}</a:To><a:RelatesTo>{relates}</a:RelatesTo></s:Header>"
    "<s:Body>{body}</s:Body></s:Envelope>"
)


def envelope(action: str, relates_to: str, body: str) -> bytes:
    """A reply envelope for ``action`` (short name) answering the request ``relates_to``."""
    return _ENVELOPE.format(
        action=RESPONSE_ACTIONS.get(action, action),
        mid=new_guid(),
        anon=ANONYMOUS,
        relates=escape(relates_to),
        body=body,
        **NS,
    ).encode("utf-8")


def fault(relates_to: str | None, code: int, reason: str, machine: str, subcode: str = "w:InternalError") -> bytes:
    """A SOAP 1.2 fault with the WSManFault detail pypsrp turns into ``WSManFaultError``."""
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>{sub}</s:Value>"
        '</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason>'
        '<s:Detail><f:WSManFault xmlns:f="{f}" Code="{code}" Machine="{machine}">'
        "<f:Message>{reason}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    ).format(sub=escape(subcode), reason=escape(reason), code=code, machine=escape(machine), f=NS["f"])
    return envelope(FAULT_ACTION, relates_to or f"uuid:{new_guid()}", body)
