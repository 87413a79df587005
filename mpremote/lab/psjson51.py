"""Windows PowerShell 5.1's ``ConvertTo-Json -Compress``, emulated for the lab's script twins.

A real host answers ``query.ps1``/``act.ps1`` with the JSON text 5.1 prints; the twins
(``scripts_twin.py``) must print the same text for the same objects, so the client is tested
against what Windows sends, quirks included. The rules, and where each comes from
(docs/lab.md, "ConvertTo-Json in Windows PowerShell 5.1", lists the sources):

* 5.1 first turns the object into dictionaries and lists (``ConvertToJsonCommand.ProcessValue``),
  then ``System.Web.Script.Serialization.JavaScriptSerializer`` writes them: no spaces with
  ``-Compress``; properties in the object's order; ``true``/``false``/``null``; integers as
  they are; doubles with .NET's round-trip format ``R``; enums as their number;
  ``DateTime`` as ``"\\/Date(ms since 1970 UTC)\\/"``.
* Strings go through ``HttpUtility.JavaScriptStringEncode``: ``"`` and ``\\`` and
  ``\\b \\t \\n \\f \\r`` escaped by name; other control characters, ``'``, ``<``, ``>``,
  ``&`` (since .NET 4.5), U+0085, U+2028 and U+2029 as ``\\u`` and four lower-case hex
  digits; everything else (accented letters too) as it is.
* ``-Depth`` (default 2): an object, list or hashtable deeper than that is written as the
  string PowerShell would make of it (a list joined by spaces, a PSCustomObject as
  ``@{A=1; B=x}``, a hashtable as its type name). No warning in 5.1.
* A value wrapped in a PSObject (as everything that went through a pipeline is) carries its
  extended members; for an array that is 5.1's ``Count`` alias from ``types.ps1xml``, so
  the array is written ``{"value":[...],"Count":n}``.
* Piped (``$x | ConvertTo-Json``), the pipeline unrolls a list: none gives no output at all,
  one gives that element alone, more give a list of (wrapped) elements.
  ``-InputObject $x`` keeps ``$x`` whole.

Python stands in for PowerShell values: ``None``, ``bool``, ``int``, ``float``, ``str``,
``datetime``, ``enum.Enum``, ``list``/``tuple`` (``object[]``), ``dict`` (a hashtable,
in its order), psrpcore ``PSObject``s (PSCustomObject: their note properties) and
:class:`Wrapped` (a value inside a PSObject wrapper).
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, final

from mpremote.lab.psobjects import psobject_of

#: ConvertTo-Json's default -Depth.
DEFAULT_DEPTH = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAMED = {"\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\", "\n": "\\n", "\b": "\\b", "\f": "\\f"}
_HEX = {"'", "<", ">", "&", "\u0085", "\u2028", "\u2029"}
#: The characters encode_string escapes: every _NAMED and _HEX one and all below a space.
_SPECIAL = re.compile("[\x00-\x1f\"\\\\'<>&\u0085\u2028\u2029]")


@final
@dataclass
class Wrapped:
    """``value`` inside a PSObject wrapper, with the instance note properties it carries."""

    value: Any
    notes: dict[str, Any] = field(default_factory=dict)


def encode_string(text: str) -> str:
    """``"`` + ``HttpUtility.JavaScriptStringEncode(text)`` + ``"`` (.NET Framework 4.5+)."""
    return f'"{_SPECIAL.sub(_escape, text)}"'


def _escape(match: re.Match[str]) -> str:
    """One character as JavaScriptStringEncode writes it: by name, else ``\\u`` and 4 hex digits."""
    c = match.group()
    return _NAMED.get(c) or f"\\u{ord(c):04x}"


def format_double(x: float) -> str:
    """.NET Framework's ``double.ToString("R", InvariantCulture)``: 15 significant digits
    when they round-trip, else 17; exponent form ``1E+15`` from 10^15 (10^17 with 17
    digits) and from 10^-5 down (``1E-05``)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    precision = 15
    text = f"{x:.14e}"
    if float(text) != x:
        precision = 17
        text = f"{x:.16e}"
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text)
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    if exponent >= precision or exponent < -4:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}E{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, frac = digits[: exponent + 1], digits[exponent + 1 :]
    whole = whole.ljust(exponent + 1, "0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def _custom_properties(obj: Any) -> list[tuple[str, Any]] | None:
    """A psrpcore PSObject's note properties in order (None: not such an object)."""
    ps = psobject_of(obj)
    if ps is None:
        return None
    props = list(ps.adapted_properties) + list(ps.extended_properties)
    return [(p.name, p.get_value(obj)) for p in props]


def _scalar(value: Any) -> str | None:
    """The JSON of a value JavaScriptSerializer writes directly, else None."""
    # issubclass on type(value), not isinstance: for a psrpcore PSObject that is not of the
    # class asked about, isinstance reads ``__class__`` through psrpcore's costly
    # ``__getattribute__``, which answers type(value) anyway.
    kind = type(value)
    if value is None:
        return "null"
    if issubclass(kind, bool):
        return "true" if value else "false"
    if issubclass(kind, enum.Enum):
        return str(int(value.value))
    if issubclass(kind, int):
        return str(value)
    if issubclass(kind, float):
        return format_double(value)
    if issubclass(kind, str):
        return encode_string(value)
    if issubclass(kind, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        ms = (moment - _EPOCH) // timedelta(milliseconds=1)
        return f'"\\/Date({ms})\\/"'
    return None


def to_ps_string(value: Any) -> str:
    """``[string]$value`` as LanguagePrimitives converts it (InvariantCulture)."""
    if isinstance(value, Wrapped):
        return to_ps_string(value.value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, list | tuple):
        return " ".join(to_ps_string(v) for v in value)  # $OFS, a space by default
    if isinstance(value, dict):
        return "System.Collections.Hashtable"
    props = _custom_properties(value)
    if props is not None:
        return "@{" + "; ".join(f"{k}={_in_object_string(v)}" for k, v in props) + "}"
    return str(value)


def _in_object_string(value: Any) -> str:
    """A property value inside ``@{...}``: arrays show their type name, not their items."""
    if isinstance(value, Wrapped):
        value = value.value
    if isinstance(value, list | tuple):
        return "System.Object[]"
    return to_ps_string(value)


def _process(value: Any, depth: int, limit: int) -> str:
    notes: dict[str, Any] = {}
    if type(value) is Wrapped:  # a final dataclass of this module
        notes = dict(value.notes)
        value = value.value
        if isinstance(value, list | tuple):  # 5.1's types.ps1xml: System.Array has an alias Count
            notes = {"Count": len(value), **notes}
    scalar = _scalar(value)
    if scalar is None and depth > limit:
        scalar = encode_string(to_ps_string(value))
    kind = type(value)  # issubclass, not isinstance: see _scalar
    if scalar is not None:
        body = scalar
        if not notes:
            return body
        members = [("value", body)]
    elif issubclass(kind, dict):
        members = [(str(k), _process(v, depth + 1, limit)) for k, v in value.items()]
    elif issubclass(kind, list | tuple):
        body = "[" + ",".join(_process(v, depth + 1, limit) for v in value) + "]"
        if not notes:
            return body
        members = [("value", body)]
    else:
        props = _custom_properties(value)
        if props is None:
            raise TypeError(f"no PowerShell equivalent for {type(value).__name__}")
        members = [(k, _process(v, depth + 1, limit)) for k, v in props]
    members += [(k, _process(v, depth + 1, limit)) for k, v in notes.items()]
    return "{" + ",".join(f"{encode_string(k)}:{v}" for k, v in members) + "}"


def convert_to_json(value: Any, depth: int = DEFAULT_DEPTH) -> str:
    """``ConvertTo-Json -Compress -Depth depth -InputObject value``."""
    return _process(value, 0, depth)


def convert_piped(value: Any, depth: int = DEFAULT_DEPTH) -> str | None:
    """``value | ConvertTo-Json -Compress -Depth depth``; None when nothing is written."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    inputs = [v if isinstance(v, Wrapped) else Wrapped(v) for v in items]
    if not inputs:
        return None
    if len(inputs) == 1:
        return _process(inputs[0], 0, depth)
    return _process(inputs, 0, depth)


def max_depth(value: Any, depth: int = 0) -> int:
    """The deepest level at which ``value`` holds an object, list or hashtable (what
    ``-Depth`` must reach for nothing to be cut); -1 for a scalar."""
    if isinstance(value, Wrapped):
        value = value.value
    if _scalar(value) is not None:
        return -1
    if isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, list | tuple):
        children = list(value)
    else:
        props = _custom_properties(value)
        children = [v for _, v in props or []]
    return max([depth] + [max_depth(c, depth + 1) for c in children])
