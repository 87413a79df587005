"""Translate lower-layer exceptions (requests, urllib3, pypsrp, spnego, krb5, gssapi) to mpremote's kinds.

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

#: What every command says when the credentials were refused, whichever the mechanism (a
#: wrong Kerberos password reads exactly like a wrong NTLM one; ``check`` adds the hint).
BAD_CREDENTIALS = "authentication failed (wrong user name or password, or auth method)"

#: Top-level modules whose exceptions are authentication failures wherever they surface.
_AUTH_LIBRARIES = ("krb5", "gssapi", "spnego")

#: (pattern in MIT/Heimdal's own error text, message every command shows, hint for ``check``).
#: The texts are the com_err strings of the Kerberos libraries, stable across versions.
_KERBEROS_CAUSES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"Decrypt integrity check failed|Preauthentication failed|Password incorrect", re.I),
        BAD_CREDENTIALS,
        "Kerberos: the KDC refused the password{client}",
    ),
    (
        re.compile(r"Client(?: '?(?P<client>[^' ]+)'?)? not found in Kerberos database", re.I),
        BAD_CREDENTIALS,
        "Kerberos: the realm has no such user{client}",
    ),
    (
        re.compile(r"Clock skew too great", re.I),
        "authentication failed (Kerberos: clock skew too great)",
        "Kerberos: this machine's clock differs too much from the KDC's or the host's "
        "(5 minutes by default); synchronise the clocks (NTP)",
    ),
    (
        re.compile(r"Server(?: '?(?P<server>[^' ]+)'?)? not found in Kerberos database", re.I),
        "authentication failed (Kerberos: unknown service principal{server})",
        "Kerberos: the domain has no service principal{server}; the SPN is built from the host's "
        "name, not its address: set spn_host (and spn_service) in the target file to a name the "
        "domain knows (setspn -L COMPUTER lists them)",
    ),
    (
        re.compile(r"Ticket expired|credential has expired|credentials have expired", re.I),
        "authentication failed (Kerberos: the ticket has expired)",
        "Kerberos: the ticket in the cache has expired: run kinit again, or give a password",
    ),
    (
        re.compile(
            r"No Kerberos credentials available|No credentials were supplied|No credentials cache found"
            r"|credentials cache .*not found|Matching credential not found",
            re.I,
        ),
        "authentication failed (no Kerberos ticket)",
        "Kerberos: no ticket in the cache{ccache}: run kinit USER@REALM first, or give a password "
        "(MPREMOTE_PASSWORD, --password-stdin)",
    ),
    (
        re.compile(r"Cannot contact any KDC|Cannot find KDC|Cannot resolve network address for KDC", re.I),
        "authentication failed (Kerberos: no KDC reachable)",
        "Kerberos: no KDC of the realm answered: check the realm's kdc entries in krb5.conf "
        "(or DNS SRV records) and that this machine can reach them",
    ),
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


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc``, its causes and contexts, and pyspnego's wrapped ``base_error`` (breadth first)."""
    found: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is f for f in found):
            continue
        found.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "base_error", None)]
    return found


def _is_auth_library_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] in _AUTH_LIBRARIES


def kerberos_error(chain: list[BaseException]) -> AuthError:
    """The AuthError for a failure raised by pyspnego, krb5 or gssapi, with a hint for ``check``."""
    text = " | ".join(str(e) for e in chain)
    for pattern, message, hint in _KERBEROS_CAUSES:
        m = pattern.search(text)
        if m is None:
            continue
        groups = m.groupdict()
        client = re.search(r"Client '?([^' ]+@[^' ]+)'?", text)
        ccache = re.search(r"\(default cache: ([^)]+)\)|\(filename: ([^)]+)\)", text)
        values = {
            "client": f" of {client.group(1)}" if client else "",
            "server": f" {groups['server']}" if groups.get("server") else "",
            "ccache": f" ({next(g for g in ccache.groups() if g)})" if ccache else "",
        }
        if groups.get("client"):
            values["client"] = f": {groups['client']}"
        return AuthError(message.format(**values), hint=f"{hint.format(**values)} [{_short(text)}]")
    if any(type(e).__module__.split(".", 1)[0] in ("krb5", "gssapi") for e in chain):
        return AuthError(f"authentication failed (Kerberos: {_short(text)})", hint="Kerberos: " + _short(text))
    first = chain[0]
    detail = getattr(first, "message", None) or str(first) or type(first).__name__
    return AuthError(f"authentication failed: {_short(str(detail))}")


def _short(text: str, limit: int = 200) -> str:
    """The library's own words, without the GSSAPI major/minor code noise."""
    minor = re.findall(r"Minor \(\d+\): ([^|]+?)(?:, Context:|$| \|)", text)
    words = minor[-1] if minor else text.split(" | ", 1)[0]
    words = re.sub(r"\s+-?\d{6,}$", "", words.strip())  # krb5's trailing error code
    return words[:limit]


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
    if _is_auth_library_error(exc):  # raised by the auth hook itself, never wrapped by requests
        return kerberos_error(_exception_chain(exc))
    if isinstance(exc, AuthenticationError):
        return AuthError(BAD_CREDENTIALS)
    if isinstance(exc, ValueError) and "incompatible with the specified auth_provider" in str(exc):
        return AuthError(f"authentication failed: {exc}")
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
    if isinstance(exc, ssl.SSLError):
        return TlsError(f"TLS: {_ssl_reason(exc)}")
    if isinstance(exc, TimeoutError):
        return DeadlineError("timed out")
    if isinstance(exc, ConnectionError | OSError):
        return ConnectError(f"connection failed: {type(exc).__name__}")
    return RemoteError(f"unexpected {type(exc).__name__}: {exc}")
