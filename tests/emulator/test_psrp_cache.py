"""The lab's caching runspace pool: same events as psrpcore's, repeated messages decoded once."""

from __future__ import annotations

import hashlib
import inspect
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import psrpcore._base
import pytest
from psrpcore import ClientPowerShell, ClientRunspacePool, ServerPipeline, ServerRunspacePool
from psrpcore.types import serialize

from mpremote.lab import psrp_cache

#: psrpcore 0.3.1's RunspacePool._process_message, which CachingServerRunspacePool repeats.
PROCESS_MESSAGE_SHA256 = "6fe12be7b3a9de7b6ce4d46ef76dc54eab2c80ffd4e6836e78505d09c4797017"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    psrp_cache.clear()
    yield
    psrp_cache.clear()


def test_psrpcore_step_is_the_one_repeated() -> None:
    source = inspect.getsource(psrpcore._base.RunspacePool._process_message)
    assert hashlib.sha256(source.encode()).hexdigest() == PROCESS_MESSAGE_SHA256, (
        "psrpcore changed RunspacePool._process_message: re-check mpremote/lab/psrp_cache.py"
    )
    assert psrp_cache.ENABLED


def _conversation(server: ServerRunspacePool, script: str) -> tuple[list[Any], Any]:
    """Open a pool and create one pipeline from a psrpcore client; the server's events."""
    client = ClientRunspacePool()
    client.open()
    events = []
    while (payload := client.data_to_send()) is not None:
        server.receive_data(payload)
        while (event := server.next_event()) is not None:
            events.append(event)
    while (payload := server.data_to_send()) is not None:
        client.receive_data(payload)
        while client.next_event() is not None:
            pass
    ps = ClientPowerShell(client)
    ps.add_script(script)
    ps.add_parameter("IncludeWms", True)
    ps.start()
    pipeline = ServerPipeline(server, ps.pipeline_id)
    while (payload := client.data_to_send()) is not None:
        server.receive_data(payload)
        while (event := server.next_event()) is not None:
            events.append(event)
    return events, pipeline


def _clixml(obj: Any) -> bytes:
    return ET.tostring(serialize(obj, None))


def test_same_events_as_psrpcore_and_shared_after_the_second_time() -> None:
    plain_events, plain_pipe = _conversation(ServerRunspacePool(), "Get-Thing")
    runs = [_conversation(psrp_cache.CachingServerRunspacePool(), "Get-Thing") for _ in range(3)]
    for events, pipe in runs:
        assert [type(e) for e in events] == [type(e) for e in plain_events]
        assert [_clixml(e._ps_object) for e in events] == [_clixml(e._ps_object) for e in plain_events]
        assert [c.command_text for c in pipe.metadata.commands] == ["Get-Thing"]
        assert pipe.metadata.commands[0].parameters == plain_pipe.metadata.commands[0].parameters
    first, second, third = (r[0] for r in runs)
    # The first sighting is only remembered, the second is stored, the third shares it.
    assert all(a._ps_object is not b._ps_object for a, b in zip(first, second, strict=True))
    assert all(b._ps_object is c._ps_object for b, c in zip(second, third, strict=True))
    # The pools' own state is still their own.
    assert runs[1][1].metadata is not runs[2][1].metadata


def test_different_bytes_are_different_entries() -> None:
    for _ in range(2):
        _conversation(psrp_cache.CachingServerRunspacePool(), "Get-Thing")
    _, other = _conversation(psrp_cache.CachingServerRunspacePool(), "Get-Other")
    assert [c.command_text for c in other.metadata.commands] == ["Get-Other"]


def test_secure_strings_are_never_cached() -> None:
    class Message:
        message_type = psrp_cache.PSRPMessageType.CreatePipeline
        data = bytearray(b"<Obj><SS>secret</SS></Obj>")

    seen: list[Any] = []

    class Pool(psrp_cache.CachingServerRunspacePool):
        def _process_message(self, message: Any) -> Any:
            return super()._process_message(message)

    pool = Pool()
    original = ServerRunspacePool._process_message
    try:
        ServerRunspacePool._process_message = lambda self, m: seen.append(m)  # type: ignore[method-assign]
        pool._process_message(Message())
    finally:
        ServerRunspacePool._process_message = original  # type: ignore[method-assign]
    assert len(seen) == 1 and not psrp_cache._seen


def test_new_pool_ids_are_independent() -> None:
    a, b = psrp_cache.new_pool(), psrp_cache.new_pool()
    assert isinstance(a, psrp_cache.CachingServerRunspacePool)
    assert a is not b


#: psrpcore 0.3.1's RunspacePool.prepare_message, whose tail CachingServerRunspacePool repeats.
PREPARE_MESSAGE_SHA256 = "e23b407916d8d95a31507c5f15ba882856975a2d565c3a0b8a27beb4f489b0a4"


def test_psrpcore_prepare_message_is_the_one_repeated() -> None:
    source = inspect.getsource(psrpcore._base.RunspacePool.prepare_message)
    assert hashlib.sha256(source.encode()).hexdigest() == PREPARE_MESSAGE_SHA256, (
        "psrpcore changed RunspacePool.prepare_message: re-check mpremote/lab/psrp_cache.py"
    )


def _constant_messages() -> list[Any]:
    from psrpcore.types import (
        ApplicationPrivateData,
        ErrorCategoryInfo,
        ErrorRecord,
        NETException,
        PipelineState,
        PSInvocationState,
        RunspacePoolState,
        RunspacePoolStateMsg,
    )

    error = ErrorRecord(Exception=NETException(Message="boom"), CategoryInfo=ErrorCategoryInfo())
    return [
        ServerRunspacePool().our_capability,
        ApplicationPrivateData(ApplicationPrivateData={}),
        ApplicationPrivateData(ApplicationPrivateData={"k": "v"}),  # not constant: serialised each time
        RunspacePoolStateMsg(RunspaceState=RunspacePoolState.Opened),
        RunspacePoolStateMsg(RunspaceState=RunspacePoolState.Broken, ExceptionAsErrorRecord=error),
        PipelineState(PipelineState=PSInvocationState.Completed),
        PipelineState(PipelineState=PSInvocationState.Stopped),
        PipelineState(PipelineState=PSInvocationState.Failed, ExceptionAsErrorRecord=error),
    ]


def test_constant_messages_queue_the_same_bytes_as_psrpcore() -> None:
    pool_id, pipe_id = uuid.uuid4(), uuid.uuid4()
    plain, cached = ServerRunspacePool(), psrp_cache.CachingServerRunspacePool()
    for pool in (plain, cached):
        pool.runspace_pool_id = pool_id
    for _ in range(2):  # the second round is served from the cache
        for msg in _constant_messages():
            for pid in (None, pipe_id):
                plain.prepare_message(msg, pipeline_id=pid)
                cached.prepare_message(msg, pipeline_id=pid)
                a, b = plain._send_buffer[-1], cached._send_buffer[-1]
                assert (a.message_type, a.pipeline_id, a.object_id, a.stream_type) == (
                    b.message_type,
                    b.pipeline_id,
                    b.object_id,
                    b.stream_type,
                )
                assert bytes(a.data) == bytes(b.data)
    assert len(psrp_cache._serialised) == 5  # capability, empty data, Opened, Completed, Stopped


def _private_data_bytes(pool: ServerRunspacePool, pool_id: uuid.UUID) -> bytes:
    from psrpcore.types import ApplicationPrivateData

    pool.runspace_pool_id = pool_id
    pool.prepare_message(ApplicationPrivateData(ApplicationPrivateData=pool.application_private_data))
    return bytes(pool._send_buffer[-1].data)


def _their_capability(protocol: str) -> Any:
    from psrpcore.types import PSVersion, SessionCapability

    return SessionCapability(
        PSVersion=PSVersion("2.0"), protocolversion=PSVersion(protocol), SerializationVersion=PSVersion("1.1.0.1")
    )


def test_default_private_data_queues_the_same_bytes_as_psrpcore() -> None:
    """psrpcore's default ``PSVersionTable`` private data, sent on every pool's opening, is
    serialised once per pair of capabilities and is still byte for byte psrpcore's."""
    from psrpcore.types import PSVersion

    pool_id = uuid.uuid4()
    for their in (None, "2.3", "2.2", "2.3"):
        for _ in range(2):  # the second pool is served from the cache
            plain, cached = ServerRunspacePool(), psrp_cache.CachingServerRunspacePool()
            if their is not None:
                plain.their_capability = _their_capability(their)
                cached.their_capability = _their_capability(their)
            assert _private_data_bytes(cached, pool_id) == _private_data_bytes(plain, pool_id)
    assert len(psrp_cache._serialised) == 3  # no capability, 2.3, 2.2

    # Anything but the untouched default is serialised each time, never from the cache.
    edits = [
        lambda d, cap: d["PSVersionTable"].__setitem__("PSVersion", PSVersion("5.1")),
        lambda d, cap: d.__setitem__("Extra", 1),
        lambda d, cap: d["PSVersionTable"].__setitem__("SerializationVersion", PSVersion("1.1.0.1")),
        lambda d, cap: d.__setitem__("PSVersionTable", dict(reversed(list(d["PSVersionTable"].items())))),
        lambda d, cap: setattr(cap, "protocolversion", PSVersion("2.2")),
    ]
    for edit in edits:
        plain, cached = ServerRunspacePool(), psrp_cache.CachingServerRunspacePool()
        for pool in (plain, cached):
            edit(pool.application_private_data, pool.our_capability)
        assert _private_data_bytes(cached, pool_id) == _private_data_bytes(plain, pool_id)
    assert len(psrp_cache._serialised) == 3


def test_capability_keys_follow_a_replaced_capability() -> None:
    pool = psrp_cache.CachingServerRunspacePool()
    first = pool._caps_key()
    assert first == (psrp_cache._capability_key(pool.our_capability), None)
    assert pool._caps_key() is first  # memoised for the same objects
    pool.their_capability = _their_capability("2.2")
    assert pool._caps_key() == (first[0], ("2.0", "2.2", "1.1.0.1"))
    pool.their_capability = _their_capability("2.3")
    assert pool._caps_key() == (first[0], ("2.0", "2.3", "1.1.0.1"))
