"""Fast stand-ins for requests' runtime-checked ``SupportsRead`` / ``SupportsItems``.

Why: requests 2.34 checks request data, headers and hooks with ``isinstance(x,
SupportsRead)`` and ``isinstance(x, SupportsItems)``, which are ``typing`` runtime
protocols. On Python 3.11 each such check walks the protocol machinery and costs 6 to 18
microseconds (Python 3.12 made it much cheaper); a PSRP exchange makes 32 of them per
host, some 0.2 to 0.5 ms of client CPU per host, for an answer that is "does this
object have a non-None ``read`` (``items``) attribute". The stand-ins answer exactly that,
as ``typing`` does for a protocol whose only member is one method, in well under a
microsecond; ``tests/unit/test_reqprotocols.py`` compares both on a zoo of objects.

Only the module globals requests looks up at call time are replaced, only where they are
the runtime protocols this was checked against, and only on Python before 3.12.
``ENABLED = False`` (or ``benchmarks/ab.py``'s ``req-protocols`` variant) turns it off.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

__all__ = ["ENABLED", "install", "installed"]

#: Switch for measurements (``benchmarks/ab.py``): off, the stand-ins ask the originals.
ENABLED = True

_lock = threading.Lock()
_done = False
_installed = False


_MISSING = object()


class _HasMember(type):
    """``isinstance(obj, cls)`` as ``typing`` answers it for a runtime protocol whose one
    member is a method: the first class in ``type(obj).__mro__`` that defines the member
    defines it as something other than None, or else ``obj.<member>`` exists and is not
    None (an attribute set in ``__init__`` or served by ``__getattr__``)."""

    _member: str
    _original: Any

    def __instancecheck__(cls, instance: Any) -> bool:
        if not ENABLED:
            return isinstance(instance, cls._original)
        member = cls._member
        for base in type(instance).__mro__:
            found = base.__dict__.get(member, _MISSING)
            if found is not _MISSING:
                if found is not None:
                    return True
                break
        return getattr(instance, member, None) is not None


def stand_in(protocol: Any) -> Any:
    """A class whose ``isinstance`` matches ``protocol``, a one-method runtime protocol."""
    members = _protocol_members(protocol)
    if members is None or len(members) != 1:
        raise ValueError(f"{protocol!r} is not a one-method runtime protocol")
    (member,) = members
    namespace = {"_member": member, "_original": protocol, "__doc__": f"Stand-in for {protocol!r}."}
    return _HasMember(f"Fast{protocol.__name__}", (), namespace)


def _protocol_members(protocol: Any) -> set[str] | None:
    if not (getattr(protocol, "_is_protocol", False) and getattr(protocol, "_is_runtime_protocol", False)):
        return None
    from typing import _get_protocol_attrs  # type: ignore[attr-defined]

    members: set[str] = set(_get_protocol_attrs(protocol))
    if not all(callable(getattr(protocol, m, None)) for m in members):
        return None  # a data member: typing's rules differ, keep the original
    return members


def install() -> bool:
    """Swap the stand-ins into ``requests.models`` and ``requests.utils`` (once per process)."""
    global _done, _installed
    if _done:
        return _installed
    with _lock:
        if _done:
            return _installed
        _done = True
        if sys.version_info >= (3, 12):
            return False
        import requests.models
        import requests.utils

        swaps = [(requests.models, "_SupportsRead"), (requests.utils, "_SupportsItems")]
        for module, name in swaps:
            original = getattr(module, name, None)
            if original is None or _protocol_members(original) is None:
                return False  # another requests: leave it alone
        for module, name in swaps:
            setattr(module, name, stand_in(getattr(module, name)))
        _installed = True
        return True


def installed() -> bool:
    """Whether this process runs with the stand-ins."""
    return _installed
