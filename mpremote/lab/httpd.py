"""HTTP/1.1 for one emulated host: keep-alive connections, authentication, transport faults.

One asyncio event loop serves every host of a lab. The per-request work (XML, NTLM, PSRP
serialisation) is CPU-bound Python either way; a single loop avoids paying GIL hand-offs
between hundreds of server threads, makes ``--latency-ms`` and the ``hang`` fault free
(sleeping coroutines cost nothing) and still lets 500 hosts listen on 500 ports.

Transport faults played here: ``hang`` (read the request, never answer), ``slow:MS``
(extra delay on every response), ``http500`` (plain 500 before authentication) and
``auth-fail`` (correct credentials, still 401). ``wsman-fault`` is the endpoint's;
``refuse`` and ``bad-cert`` are decided when the lab binds its sockets.

Over plain HTTP with NTLM/Negotiate every message must be sealed (Windows' default
``AllowUnencrypted=false``): an unencrypted body is answered 400. Basic over HTTP is
accepted, as on a host configured with ``AllowUnencrypted=true`` (the only way it works).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mpremote.lab.auth import Authenticator, AuthError, ConnectionAuth, is_encrypted, unwrap_body, wrap_body
from mpremote.lab.wsman import WSManEndpoint

log = logging.getLogger(__name__)

#: Largest request body accepted: a 512000-byte envelope plus encryption framing.
MAX_BODY = 600_000
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}
_SOAP = "application/soap+xml;charset=UTF-8"


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One request off a keep-alive connection; None when the client closed it cleanly."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequest(400, "truncated request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise _BadRequest(400, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, "bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(400, "bad header line")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            if len(chunks) + size > MAX_BODY:
                raise _BadRequest(413, "body too large")
            chunks += await reader.readexactly(size)
            await reader.readexactly(2)
        return _Request(parts[0], parts[1], headers, bytes(chunks))
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _BadRequest(411, "bad Content-Length") from None
    if length > MAX_BODY:
        raise _BadRequest(413, "body too large")
    body = await reader.readexactly(length) if length else b""
    return _Request(parts[0], parts[1], headers, body)


def _response(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", "Server: Microsoft-HTTPAPI/2.0"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class HostFaults:
    """The transport faults of one host, as flags the connection loop checks."""

    hang: bool = False
    http500: bool = False
    auth_fail: bool = False
    slow_ms: int = 0


class HostServer:
    """The HTTP side of one emulated host; call :meth:`serve` for each accepted connection."""

    def __init__(
        self,
        name: str,
        endpoint: WSManEndpoint,
        authenticator: Authenticator,
        *,
        faults: HostFaults,
        latency_ms: int,
        channel_binding: bytes | None,
        journal: Callable[[dict[str, Any]], None],
        require_encryption: bool = False,
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self.auth = authenticator
        self.faults = faults
        self._delay = (latency_ms + faults.slow_ms) / 1000.0
        self._cbt = channel_binding
        self._journal = journal
        #: Plain HTTP with NTLM/Negotiate: like Windows' default AllowUnencrypted=false.
        self._require_encryption = require_encryption
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Every HTTP request answered (auth legs included): the benchmark's POST count.
        self.requests = 0

    async def close_connections(self) -> None:
        """Close every client connection and wait for their handlers to finish."""
        for writer in list(self._writers):
            writer.transport.abort()  # not close(): a TLS close waits for the peer's close_notify
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = ConnectionAuth()
        try:
            while True:
                try:
                    req = await _read_request(reader)
                except _BadRequest as exc:
                    writer.write(_response(exc.status, [("Connection", "close")], b""))
                    await writer.drain()
                    break
                if req is None:
                    break
                if self.faults.hang:
                    # Accepted, read, never answered; swallow whatever follows until the client
                    # gives up (or the lab stops and aborts the connection): no task leaks.
                    while await reader.read(65536):
                        pass
                    break
                status, headers, body = await self._answer(req, conn)
                self.requests += 1
                if self._delay:
                    await asyncio.sleep(self._delay)
                close = req.headers.get("connection", "").lower() == "close"
                if close:
                    headers.append(("Connection", "close"))
                writer.write(_response(status, headers, body))
                await writer.drain()
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            pass  # the client went away mid-request; nothing to answer
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _answer(self, req: _Request, conn: ConnectionAuth) -> tuple[int, list[tuple[str, str]], bytes]:
        path = req.path.split("?", 1)[0].rstrip("/").lower()
        if req.method == "GET" and path == "/lab/status":
            status = {"host": self.name, "open_shells": self.endpoint.open_shells, "requests": self.requests}
            return 200, [("Content-Type", "application/json")], json.dumps(status).encode()
        if path != "/wsman":
            return 404, [], b""
        if req.method != "POST":
            return 405, [("Allow", "POST")], b""
        if self.faults.http500:
            # Not XML on purpose: the client must see an HTTP failure, not a WSMan fault.
            return 500, [("Content-Type", "text/plain")], b"Internal Server Error: the WinRM service failed."

        result = self.auth.check(
            conn, req.headers.get("authorization"), channel_binding=self._cbt, refuse=self.faults.auth_fail
        )
        if result.user is None:
            return 401, [("WWW-Authenticate", c) for c in result.challenge], b""
        headers: list[tuple[str, str]] = []
        if result.final_header:
            headers.append(("WWW-Authenticate", result.final_header))

        encrypted = is_encrypted(req.headers.get("content-type", ""))
        try:
            plain = unwrap_body(conn, req.body) if encrypted else req.body
        except AuthError as exc:
            log.debug("%s: %s", self.name, exc)
            return 400, headers, b""
        if not plain:
            return 200, headers, b""  # the empty POST that sets up an encrypted session
        if self._require_encryption and not encrypted:
            log.debug("%s: unencrypted message over HTTP refused", self.name)
            return 400, headers, b""

        reply = await self.endpoint.handle(plain, result.user)
        self._journal({"event": "http", "action": reply.action, "bytes": len(plain), "status": reply.status})
        if encrypted and conn.context is not None:
            content_type, body = wrap_body(conn, reply.body)
        else:
            content_type, body = _SOAP, reply.body
        headers.append(("Content-Type", content_type))
        return reply.status, headers, body
