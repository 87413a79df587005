"""Translate lower-layer exceptions (requests, urllib3, pypsrp, spnego) to mpremote's kinds.

This is the one place that knows the lower layers' exception types (httpx's
``map_httpcore_exceptions`` pattern). Messages are short, name no secret, and say what
the administrator can do about it.
"""

from __future__ import annotations

import re
import socket
import ssl

from mpremote.errors import (
    WSMAN_OPERATION_TIMEOUT,
    AuthError,
    ConnectError,
    DeadlineError,
    HostError,
    RemoteError,
    TlsError,
)


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while exc.__cause__ is not None or exc.__context__ is not None:
        nxt = exc.__cause__ or exc.__context__
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        exc = nxt
    return exc


def _ssl_reason(exc: BaseException) -> str:
    """The certificate problem in a few words (urllib3 nests it deep inside its message)."""
    text = str(_root_cause(exc)) or str(exc)
    match = re.search(r"certificate verify failed: ([^()\]]+)", text)
    if match:
        return "certificate verify failed: " + match.group(1).strip()
    if "hostname mismatch" in text or "doesn't match" in text:
        return "certificate name does not match the host"
    return "TLS handshake failed"


def translate(exc: BaseException) -> HostError:
    """Map any exception raised while talking to a host to a :class:`HostError`.

    Whether an action may already have reached the host is the host job's knowledge (it
    knows what it sent), not the error's: see :func:`mpremote.hostjob.run_host_job`.
    """
    if isinstance(exc, HostError):
        return exc

    import requests
    from pypsrp.exceptions import (
        AuthenticationError,
        WinRMError,
        WinRMTransportError,
        WSManFaultError,
    )

    if isinstance(exc, requests.exceptions.SSLError) or isinstance(_root_cause(exc), ssl.SSLError):
        return TlsError(f"TLS: {_ssl_reason(exc)}")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ConnectError("connection timed out")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return DeadlineError("no answer from the host within the read timeout")
    if isinstance(exc, requests.exceptions.ConnectionError):
        root = _root_cause(exc)
        if isinstance(root, ConnectionRefusedError):
            return ConnectError("connection refused (is WinRM listening on that port?)")
        if isinstance(root, socket.gaierror):
            return ConnectError(f"name resolution failed: {root.strerror}")
        if isinstance(root, TimeoutError | socket.timeout):
            return DeadlineError("no answer from the host within the read timeout")
        return ConnectError(f"connection failed: {type(root).__name__}")
    if isinstance(exc, AuthenticationError):
        return AuthError("authentication failed (wrong user name or password, or auth method)")
    if isinstance(exc, WSManFaultError):
        if exc.code is None and not (exc.reason or "").strip():
            return RemoteError("WinRM answered with an error the client could not read")
        reason = (exc.reason or "").strip() or f"code {exc.code}"
        if exc.code == WSMAN_OPERATION_TIMEOUT:
            return DeadlineError(f"WSMan operation timed out: {reason}")
        if exc.code in (5, 0x80070005):
            return AuthError(f"access denied by WinRM: {reason}")
        return RemoteError(f"WSMan fault: {reason}")
    if isinstance(exc, WinRMTransportError):
        code = getattr(exc, "code", "?")
        return RemoteError(f"HTTP {code} from WinRM")
    if isinstance(exc, WinRMError):
        return RemoteError(f"PSRP error: {exc}")
    try:
        import spnego.exceptions

        if isinstance(exc, spnego.exceptions.SpnegoError):
            return AuthError(f"authentication failed: {exc.message or type(exc).__name__}")
    except ImportError:  # pragma: no cover - pyspnego is a dependency of pypsrp
        pass
    if isinstance(exc, ssl.SSLError):
        return TlsError(f"TLS: {_ssl_reason(exc)}")
    if isinstance(exc, TimeoutError):
        return DeadlineError("timed out")
    if isinstance(exc, ConnectionError | OSError):
        return ConnectError(f"connection failed: {type(exc).__name__}")
    return RemoteError(f"unexpected {type(exc).__name__}: {exc}")
