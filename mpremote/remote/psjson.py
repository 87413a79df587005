"""Reading the scripts' answers: one JSON string, or (older or constrained hosts) objects.

``query.ps1`` and ``act.ps1`` end with ``Write-Result`` (``scripts/result.ps1``): the answer
as one ``ConvertTo-Json -Compress`` string, which costs the client a ``json.loads`` instead
of deserialising nested CLIXML objects. Where ``ConvertTo-Json`` is not available the
scripts send the objects as before, and :func:`rows` hands both forms on alike: dicts or
pypsrp objects that :func:`mpremote.remote.connection.properties` reads the same way.

Windows PowerShell 5.1 writes JSON with quirks, each handled here (docs/lab.md lists the
sources; ``tests/unit/test_psjson.py`` has a test for each):

* an array inside a PSObject wrapper comes as ``{"value":[...],"Count":n}`` (5.1's
  ``System.Array`` type data): turned back into the list, at any depth;
* a list may come as a single value, or as ``null``, or not at all (the pipeline unrolls
  lists of one or none): read lists through :func:`as_list`;
* ``DateTime`` comes as ``"\\/Date(ms)\\/"``: turned into an aware ``datetime`` (the scripts
  send no dates; this keeps a future field from arriving as a puzzling string);
* ``<``, ``>``, ``&``, ``'`` come as ``\\u003c`` etc.: plain JSON escapes, ``json`` reads them;
* enums come as numbers: fields are read with ``str()``/``int()`` by their users, never
  compared with enum names.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from mpremote.errors import ParseError

#: Ask for JSON answers (the default). False sends ``-NoJson``: the scripts answer with
#: objects, as on a host without ConvertTo-Json (``benchmarks/ab.py json`` measures both).
JSON_ANSWERS = True

_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _unwrap(obj: dict[str, Any]) -> Any:
    """json's object hook: ``{"value":[...],"Count":n}`` is the list itself."""
    if len(obj) == 2 and isinstance(obj.get("value"), list) and "Count" in obj:
        return obj["value"]
    return obj


def _dates(value: Any) -> Any:
    if isinstance(value, str):
        m = _DATE.fullmatch(value)
        return _EPOCH + timedelta(milliseconds=int(m.group(1))) if m else value
    if isinstance(value, list):
        return [_dates(v) for v in value]
    if isinstance(value, dict):
        return {k: _dates(v) for k, v in value.items()}
    return value


def decode(text: str) -> Any:
    """One JSON answer, with 5.1's wrappers and dates undone. ParseError when it is not JSON."""
    try:
        value = json.loads(text, object_hook=_unwrap)
    except ValueError:
        raise ParseError(f"the host's answer is not JSON: {text[:80]!r}") from None
    if "\\/Date(" in text:  # only 5.1 writes this escape: a cheap test before a walk
        value = _dates(value)
    return value


def as_list(value: Any) -> list[Any]:
    """A value that should be a list: None (or absent) is none, a single value is one."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    return [value]


def rows(output: list[Any]) -> list[Any]:
    """A script's answer as a list of rows: the JSON string decoded (a list, or one object
    made a list), or the objects a host without ConvertTo-Json sent, as they are."""
    if len(output) == 1 and isinstance(output[0], str):
        return as_list(decode(output[0]))
    return list(output)
