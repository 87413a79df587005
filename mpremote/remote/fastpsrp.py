"""Four per-host CPU cuts inside pypsrp, each a small shim with its own switch.

They change no byte on the wire and no value mpremote reads; they apply only to pypsrp
0.9 (the minor version they were checked against, pinned in pyproject.toml), and any other
version gets pypsrp's own classes. ``tests/unit/test_fastpsrp.py`` compares each with
pypsrp's own result and pins the pypsrp source they rely on.

* **No ``_xml`` copy of nested elements** (:data:`SKIP_NESTED_XML`). pypsrp's
  ``Serializer.deserialize`` re-serialises every nested CLIXML element it visits with
  ``ET.tostring`` (primitives included) only to keep it as ``_xml`` on complex objects:
  the same bytes are written once per nesting level. Top-level objects keep their
  ``_xml`` (it is the message text itself, no copy); nested complex objects get
  ``_xml = None`` (pypsrp's "not deserialised" value); an element of a type pypsrp does not
  know is still returned as its XML text, as pypsrp returns it.
* **Shallow copies in statement building** (:data:`SHALLOW_STATEMENTS`).
  ``Pipeline._get_statements`` deep-copies every command (and every parameter value) each
  time the pipeline is serialised, to guard against lxml moving elements between
  parents; ElementTree builds new elements from the objects, so a shallow copy of each
  command gives the same CLIXML when the parameter values are plain data (str, numbers,
  bools, None, lists, dicts): the only case mpremote sends. Anything else keeps the
  deep copy (a shared PSObject would otherwise be written as a ``<Ref>``).
* **Constant client messages built once** (:data:`CACHE_MESSAGES`). Every host gets the
  same SESSION_CAPABILITY and INIT_RUNSPACEPOOL, and ``sessions`` the same
  CREATE_PIPELINE (query.ps1 with the same parameters). The CLIXML is cached per
  process, keyed on the message's whole content (its pickle: class, every attribute,
  every value with its type); a message pickle cannot write is never cached.
  Byte-checked: the second time a
  key is seen the message is serialised again by pypsrp and compared; only a match is
  served from the cache from then on (a mismatch turns the cache off for good).
* **XML written to text, then encoded once** (:data:`FAST_TOSTRING`). pypsrp serialises
  every WSMan envelope (``wsman.py``) and PSRP message (``messages.py``) with
  ``ET.tostring(element, encoding="utf-8", method="xml")``. With a byte encoding,
  ElementTree writes through an ``io.TextIOWrapper`` in write-through mode, which encodes
  (and resets its encoder) on each of the ~80 small writes of an envelope: half the cost.
  :func:`utf8_tostring` writes to a string and encodes it once: the same bytes (no XML
  declaration for UTF-8 either way, no newline translation either way, and a character
  UTF-8 cannot carry, a lone surrogate, becomes the same character reference
  ``&#55296;`` as ElementTree's ``xmlcharrefreplace``). Any other arguments get
  ElementTree's own.
"""

from __future__ import annotations

import copy
import logging
import pickle
import threading
import types
from typing import Any

log = logging.getLogger(__name__)

#: Switches (read at call time; the A/B benchmark and the tests flip them).
SKIP_NESTED_XML = True
SHALLOW_STATEMENTS = True
CACHE_MESSAGES = True
FAST_TOSTRING = True

_SKIPPED = "\x00mpremote: nested _xml not kept"
_local = threading.local()
_lock = threading.Lock()
_MESSAGES: dict[Any, bytes | None] = {}  # key -> verified bytes (None: seen once, not verified)
_MAX_MESSAGES = 64
_cache_broken = False
_SUPPORTED: bool | None = None
_CLASSES: tuple[Any, Any] | None = None


def supported() -> bool:
    """pypsrp 0.9.x: the version these shims were checked against."""
    global _SUPPORTED
    if _SUPPORTED is None:
        from importlib import metadata

        try:
            _SUPPORTED = metadata.version("pypsrp").startswith("0.9.")
        except metadata.PackageNotFoundError:  # pragma: no cover - pypsrp is a dependency
            _SUPPORTED = False
    return _SUPPORTED


def attach(pool: Any) -> bool:
    """Give a fresh pypsrp ``RunspacePool`` the fast serializer (before it is opened)."""
    if not supported() or type(pool._serializer).__name__ != "Serializer":
        return False
    serializer_cls, _pipeline_cls = _classes()
    fast = serializer_cls()
    pool._serializer = fast
    pool._fragmenter.serializer = fast
    return True


def attach_classes() -> None:
    """Build the fast serializer classes now (a parent does it once before forking workers)."""
    if supported():
        _classes()


def _classes() -> tuple[Any, Any]:
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _build_classes()
    return _CLASSES


def _build_classes() -> tuple[Any, Any]:
    import xml.etree.ElementTree as ET

    from pypsrp import messages as messages_module
    from pypsrp import serializer as serializer_module
    from pypsrp import wsman as wsman_module
    from pypsrp.complex_objects import ComplexObject, Pipeline
    from pypsrp.messages import CreatePipeline, InitRunspacePool, SessionCapability
    from pypsrp.serializer import Serializer

    _install_tostring_switch(serializer_module, ET)
    for namespace in (vars(wsman_module), vars(messages_module)):
        if not getattr(namespace["ET"], "_mpremote_utf8", False):
            namespace["ET"] = _et_proxy(namespace["ET"], utf8_tostring)
    cached_types = (SessionCapability, InitRunspacePool, CreatePipeline)

    class ShallowPipeline(Pipeline):
        def _get_statements(self) -> list[list[Any]]:
            commands: list[Any] = self.commands or []
            if not (SHALLOW_STATEMENTS and all(_plain_args(c) for c in commands)):
                deep: list[list[Any]] = super()._get_statements()
                return deep
            statements = []
            current_statement = []
            commands[-1].end_of_statement = True
            for command in commands:
                current_statement.append(copy.copy(command))
                if command.end_of_statement:
                    statements.append(current_statement)
                    current_statement = []
            return statements

    class FastSerializer(Serializer):
        def deserialize(self, element: Any, metadata: Any = None, clear: bool = True) -> Any:
            if isinstance(element, str) or not SKIP_NESTED_XML:
                return super().deserialize(element, metadata, clear)
            outer = getattr(_local, "skip", False)
            _local.skip = True
            try:
                obj = super().deserialize(element, metadata, clear)
            finally:
                _local.skip = outer
            if isinstance(obj, str) and obj == _SKIPPED:
                # A type pypsrp does not know: it returns the element's XML text.
                return utf8_tostring(element, encoding="utf-8", method="xml").decode("utf-8")
            if isinstance(obj, ComplexObject) and obj._xml == _SKIPPED:
                obj._xml = None
            return obj

        def serialize(self, value: Any, metadata: Any = None, parent: Any = None, clear: bool = True) -> Any:
            key = None
            constant_kind = isinstance(value, cached_types) and parent is None and metadata is None and clear
            if CACHE_MESSAGES and constant_kind and not _cache_broken:
                key = _message_key(value)
            known: Any = ...
            if key is not None:
                with _lock:
                    known = _MESSAGES.get(key, ...)
                if isinstance(known, bytes):
                    return known
            if isinstance(value, CreatePipeline) and type(value.pipeline) is Pipeline:
                value.pipeline.__class__ = ShallowPipeline  # same object, shallow statement copies
            element = super().serialize(value, metadata, parent, clear)
            if key is None:
                return element
            data = utf8_tostring(element, encoding="utf-8", method="xml")
            _remember(key, known, data)
            return data

    return FastSerializer, ShallowPipeline


def _remember(key: Any, known: Any, data: bytes) -> None:
    """First sight: note the key. Second: keep the bytes if pypsrp made the same again."""
    global _cache_broken
    with _lock:
        if known is ...:
            if len(_MESSAGES) >= _MAX_MESSAGES:
                # Full of one-off messages (each host's own act pipeline): forget those.
                for stale in [k for k, v in _MESSAGES.items() if v is None]:
                    del _MESSAGES[stale]
                    _FIRST_BYTES.pop(stale, None)
            if len(_MESSAGES) < _MAX_MESSAGES:
                _MESSAGES[key] = None
                _FIRST_BYTES[key] = data
            return
        first = _FIRST_BYTES.pop(key, None)
        if first == data:
            _MESSAGES[key] = data
        else:
            log.debug("constant PSRP message serialised differently twice; message cache off")
            _cache_broken = True
            _MESSAGES.clear()
            _FIRST_BYTES.clear()


_FIRST_BYTES: dict[Any, bytes] = {}


def clear_cache() -> None:
    """Forget every cached message (tests)."""
    global _cache_broken
    with _lock:
        _MESSAGES.clear()
        _FIRST_BYTES.clear()
        _cache_broken = False


_real_tostring: Any = None


def utf8_tostring(element: Any, encoding: Any = None, method: Any = None, **kwargs: Any) -> Any:
    """``ET.tostring``; for ``encoding="utf-8"`` (method xml, nothing else) written to a
    string and encoded once, which gives the same bytes in about half the time."""
    import xml.etree.ElementTree as ET

    if FAST_TOSTRING and encoding == "utf-8" and method in (None, "xml") and not kwargs:
        text: str = ET.tostring(element, encoding="unicode", method="xml")
        return text.encode("utf-8", "xmlcharrefreplace")
    return ET.tostring(element, encoding=encoding, method=method, **kwargs)


def _et_proxy(et: Any, tostring: Any) -> Any:
    """A copy of the ``xml.etree.ElementTree`` module namespace with another ``tostring``,
    for one pypsrp module's ``ET`` name (nobody else sees it)."""
    proxy = types.ModuleType(et.__name__)
    proxy.__dict__.update(et.__dict__)
    proxy.tostring = tostring  # type: ignore[attr-defined]
    proxy._mpremote_utf8 = True  # type: ignore[attr-defined]
    return proxy


def _install_tostring_switch(serializer_module: Any, et: Any) -> None:
    """pypsrp's serializer module gets an ``ET`` whose ``tostring`` skips the ``_xml`` copy
    only while this thread is inside :class:`FastSerializer`'s deserialisation of an element
    (every other caller, and every other thread, gets ElementTree's own)."""
    global _real_tostring
    _real_tostring = et.tostring
    if getattr(serializer_module.ET, "_mpremote_switch", False):
        return

    def tostring(element: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_local, "skip", False):
            return _SKIPPED.encode("utf-8")
        return utf8_tostring(element, *args, **kwargs)

    proxy = _et_proxy(et, tostring)
    proxy._mpremote_switch = True
    serializer_module.ET = proxy


_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if depth > 8:
        return False
    if isinstance(value, (list, tuple)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _plain_args(command: Any) -> bool:
    return all(_plain(getattr(arg, "value", None)) for arg in (command.args or ()))


def _message_key(value: Any) -> bytes | None:
    """A key that determines the message's CLIXML, or None when the object cannot give one.

    The pickle of the object: its class, every attribute and every value with its type
    (``True`` and ``1`` differ), written by C code (a structural walk in Python cost 5x
    more). Two pickles are equal only for equal content; equal content pickled with other
    sharing of sub-objects merely misses the cache.
    """
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an object pickle cannot write: serialise it each time
        return None
