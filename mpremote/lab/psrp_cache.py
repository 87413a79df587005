"""A server runspace pool that decodes repeated client messages and encodes constant replies once.

Every host of a benchmark run receives byte-identical ``SESSION_CAPABILITY`` and
``INIT_RUNSPACEPOOL`` messages, and ``mpremote sessions`` sends every host the same
``CREATE_PIPELINE`` (query.ps1 with the same parameters). psrpcore turns each into a
``PSObject`` graph (the host information alone is dozens of nested objects), which cost
the lab about 2.5 ms of its ~6.5 ms of CPU per host. :class:`CachingServerRunspacePool`
keeps the deserialised object of a message whose exact bytes were already seen and hands
the same object to the next pool that receives those bytes.

What makes sharing safe (and what the tests pin down):

* Only three message types, whose objects are read, never changed, by psrpcore (it
  copies the capability fields, stores the host information and builds a fresh pipeline
  description with ``PowerShell.FromPSObjectForRemoting``) and by the lab (the host
  model reads parameter values; it never assigns into them).
* The key is the message type, the exact message bytes and both sides' capability
  versions (they may change how psrpcore deserialises). Messages carrying a SecureString
  (``<SS>``, decrypted with the pool's own session key) are never cached.
* An object is kept only the second time its bytes arrive (one-off messages, such as
  each host's own ``act.ps1`` targets, are never stored), in a bounded table.
* :meth:`_process_message` repeats psrpcore 0.3's ``RunspacePool._process_message``
  with the deserialisation looked up first; :data:`ENABLED` is false for any other
  psrpcore version (the plain pool is used), and ``tests/lab/test_psrp_cache.py`` fails
  if that psrpcore method's source changes.

The same pool also keeps the CLIXML of the server's constant replies (session capability,
empty or psrpcore's default application private data, pool and pipeline states without an
error record): they are the same bytes for every host, and serialising them cost ~0.4 ms
per host (the default private data alone, sent on every pool's opening, ~0.35 ms more).
:meth:`prepare_message` repeats the tail of psrpcore's (its source is pinned the same way).
"""

from __future__ import annotations

import logging
import threading
from importlib import metadata
from typing import Any
from xml.etree import ElementTree

from psrpcore import ServerRunspacePool
from psrpcore._events import PSRPEvent
from psrpcore._payload import PSRPMessage, StreamType, create_message
from psrpcore.types import (
    ApplicationPrivateData,
    PipelineState,
    PSPrimitiveDictionary,
    PSRPMessageType,
    RunspacePoolStateMsg,
    SessionCapability,
    deserialize,
    serialize,
)

from mpremote.lab.psobjects import ps_attr, psobject_of, version_text

#: psrpcore's own logger for this step (its debug trace stays the same).
_psrp_log = logging.getLogger("psrpcore._base")

_CACHEABLE = frozenset(
    {PSRPMessageType.SessionCapability, PSRPMessageType.InitRunspacePool, PSRPMessageType.CreatePipeline}
)
_MAX_OBJECTS = 64
_PRIMITIVE_DICT_TYPES = list(PSPrimitiveDictionary.PSObject.type_names)
_MAX_SEEN = 4096


def _psrpcore_supported() -> bool:
    try:
        return metadata.version("psrpcore").startswith("0.3.")
    except metadata.PackageNotFoundError:  # pragma: no cover - psrpcore is a dependency
        return False


ENABLED = _psrpcore_supported()

#: Guards the stores and evictions below (labs in one process run on different threads).
_lock = threading.Lock()
_objects: dict[tuple[Any, ...], Any] = {}
_seen: dict[tuple[Any, ...], None] = {}
#: CLIXML of the constant server messages (see :func:`_constant_key`).
_serialised: dict[tuple[Any, ...], bytes] = {}


def _capability_key(cap: Any) -> tuple[str, str, str] | None:
    if cap is None:
        return None
    return (
        version_text(ps_attr(cap, "PSVersion")),
        version_text(ps_attr(cap, "protocolversion")),
        version_text(ps_attr(cap, "SerializationVersion")),
    )


def clear() -> None:
    """Forget every cached object (tests)."""
    with _lock:
        _objects.clear()
        _seen.clear()
        _serialised.clear()


def _constant_key(message: Any) -> tuple[Any, ...] | None:
    """What fully determines the CLIXML of a server message that repeats, or None.

    Only four message types, and only in their plain form: a pool or pipeline state
    without an error record, the session capability without a time zone, empty
    application private data. Each of them serialises to the properties named here and
    nothing else (psrpcore 0.3's ``ToPSObjectForRemoting`` / note properties).
    """
    kind = type(message)
    if kind is PipelineState:
        if ps_attr(message, "ExceptionAsErrorRecord"):
            return None
        return ("PipelineState", int(ps_attr(message, "PipelineState")))
    if kind is RunspacePoolStateMsg:
        if ps_attr(message, "ExceptionAsErrorRecord"):
            return None
        return ("RunspacePoolState", int(ps_attr(message, "RunspaceState")))
    if kind is SessionCapability:
        if ps_attr(message, "TimeZone"):
            return None
        return ("SessionCapability", *(_capability_key(message) or ()))
    if kind is ApplicationPrivateData:
        data = ps_attr(message, "ApplicationPrivateData")
        if data is None or (isinstance(data, dict) and not data):
            return ("ApplicationPrivateData", data is None)
    return None


def _default_private_data(data: Any, pool: ServerRunspacePool) -> bool:
    """Whether ``data`` (an ApplicationPrivateData message's) is psrpcore's untouched default.

    ``ServerRunspacePool()`` builds ``{"PSVersionTable": {"PSRemotingProtocolVersion": v1,
    "SerializationVersion": v2}}`` from the very version objects of the pool's own capability,
    and the message wraps it in a fresh ``PSPrimitiveDictionary`` holding that same inner
    dict: its CLIXML is then fixed by the capability key (part of the cache key), like the
    capability message's own.
    """
    own = pool.application_private_data
    cap = pool.our_capability
    if type(data) is not PSPrimitiveDictionary or type(own) is not dict or cap is None:
        return False
    table = own.get("PSVersionTable")
    if list(own) != ["PSVersionTable"] or type(table) is not dict or list(data) != ["PSVersionTable"]:
        return False
    if data["PSVersionTable"] is not table or list(table) != ["PSRemotingProtocolVersion", "SerializationVersion"]:
        return False
    if table["PSRemotingProtocolVersion"] is not ps_attr(cap, "protocolversion"):
        return False
    if table["SerializationVersion"] is not ps_attr(cap, "SerializationVersion"):
        return False
    ps = psobject_of(data)
    return not ps.adapted_properties and not ps.extended_properties and ps.type_names == _PRIMITIVE_DICT_TYPES


class CachingServerRunspacePool(ServerRunspacePool):
    """``ServerRunspacePool`` whose repeated client messages are deserialised once."""

    #: (our_capability, their_capability, their key): both objects are kept, so an identity
    #: match means the same objects (psrpcore replaces a capability, it never edits one).
    _caps_memo: tuple[Any, Any, tuple[Any, Any]] | None = None

    def _caps_key(self) -> tuple[Any, Any]:
        """Both sides' capability keys, computed once per pair of capability objects."""
        our, their = self.our_capability, self.their_capability
        memo = self._caps_memo
        if memo is not None and memo[0] is our and memo[1] is their:
            return memo[2]
        key = (_capability_key(our), _capability_key(their))
        self._caps_memo = (our, their, key)
        return key

    def _process_message(self, message: Any) -> Any:
        data = message.data
        mtype = message.message_type
        if mtype not in _CACHEABLE or not data or b"<SS" in data:
            return super()._process_message(message)
        if _psrp_log.isEnabledFor(logging.DEBUG):
            _psrp_log.debug(
                "Processing PSRP Message - MessageType: %s,  RPID: %s,  PID: %s,  OID: %s, Type: %s - '%s'",
                mtype.name,
                message.runspace_pool_id,
                message.pipeline_id or "''",
                message.object_id,
                message.stream_type.name,
                data.decode(),
            )
        key = (mtype, bytes(data), *self._caps_key())
        ps_object = _objects.get(key)
        if ps_object is None:
            ps_object = deserialize(
                ElementTree.fromstring(data),
                cipher=self._cipher,
                our_capability=self.our_capability,
                their_capability=self.their_capability,
            )
            with _lock:
                if key in _seen:
                    if len(_objects) >= _MAX_OBJECTS:
                        del _objects[next(iter(_objects))]
                    _objects[key] = ps_object
                else:
                    if len(_seen) >= _MAX_SEEN:
                        del _seen[next(iter(_seen))]
                    _seen[key] = None

        event = PSRPEvent.create(mtype, ps_object, message.runspace_pool_id, message.pipeline_id)
        process_func = getattr(self, f"_process_{mtype.name}", None)
        if process_func:
            process_func(event)
        else:  # pragma: no cover - the three cached types all have handlers
            _psrp_log.warning(f"Received {mtype.name} but could not process it")
        return event

    def prepare_message(
        self,
        message: Any,
        message_type: PSRPMessageType | None = None,
        pipeline_id: Any = None,
        stream_type: StreamType = StreamType.default,
    ) -> None:
        key = _constant_key(message) if message is not None else None
        if (
            key is None
            and type(message) is ApplicationPrivateData
            and _default_private_data(ps_attr(message, "ApplicationPrivateData"), self)
        ):
            key = ("ApplicationPrivateData", "default")
        if key is None:
            super().prepare_message(message, message_type, pipeline_id, stream_type)
            return
        key += self._caps_key()
        b_data = _serialised.get(key)
        if b_data is None:
            element = serialize(
                message, self._cipher, our_capability=self.our_capability, their_capability=self.their_capability
            )
            b_data = ElementTree.tostring(element, encoding="utf-8", method="xml")
            with _lock:
                _serialised[key] = b_data
        if message_type is None:
            message_type = PSRPMessageType.get_message_id(type(message))
        # From here on as psrpcore's RunspacePool.prepare_message.
        b_msg = create_message(self._is_client, message_type, b_data, self.runspace_pool_id, pipeline_id)
        object_id = self._fragment_counter
        psrp_message = PSRPMessage(
            message_type, bytearray(b_msg), self.runspace_pool_id, pipeline_id, object_id, stream_type
        )
        if _psrp_log.isEnabledFor(logging.DEBUG):
            _psrp_log.debug(
                "Queuing PSRP Message - MessageType: %s,  RPID: %s,  PID: %s,  OID: %s, Type: %s - '%s'",
                message_type.name,
                self.runspace_pool_id,
                pipeline_id or "''",
                object_id,
                stream_type.name,
                b_data.decode(),
            )
        self._send_buffer.append(psrp_message)


def new_pool() -> ServerRunspacePool:
    """The runspace pool the lab uses for a new shell."""
    return CachingServerRunspacePool() if ENABLED else ServerRunspacePool()
