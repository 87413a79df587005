"""HTTP authentication and message encryption for the emulated lab, as WinRM does them.

* Basic: credentials on every request (``WWW-Authenticate: Basic realm="WSMAN"``).
* NTLM / Negotiate: connection-bound, like IIS/HTTP.sys. The 3-leg handshake runs on the
  first request of a TCP connection; later requests on that connection carry no header.
  One pyspnego ``negotiate`` acceptor serves both raw NTLM tokens (what pypsrp sends for
  ``auth="ntlm"``, under the ``Negotiate`` scheme) and SPNEGO-wrapped ones. A final token
  the acceptor produces rides on the 200 response, or a Negotiate client never completes.
* Message encryption over plain HTTP: ``multipart/encrypted`` bodies sealed with the NTLM
  session, replies (faults included) encrypted whenever the request was.
* Channel binding over HTTPS: the acceptor gets the ``tls-server-end-point`` data of the
  certificate the host presents; a client that binds to another certificate is refused.
  (MIT Kerberos, like Windows by default, accepts a client that sends no binding at all.)
* Kerberos (``kind="kerberos"``): the same pyspnego Negotiate acceptor, backed by GSSAPI and
  a keytab holding the hosts' service principals (``WSMAN/NAME``, ``HTTP/NAME``,
  ``host/NAME``: any principal in the keytab is accepted). The challenge names
  ``Negotiate`` and ``Kerberos``; NTLM is refused, as in a domain that restricts it. The
  account accepted is the whole principal ``USERNAME@REALM``: ``--username`` may name the
  realm; otherwise it is the default realm of the lab's krb5 profile (the realm the hosts
  are in). The user part is compared case-insensitively (as Windows does), the realm exactly,
  so the same user name from another realm (a trust, a second KDC) is refused.
  MIT's acceptor reads the keytab named by the process-wide ``KRB5_KTNAME``; like the
  NTLM file below, this module sets it while a Kerberos lab lives (one keytab per process).

pyspnego's NTLM acceptor only reads credentials from the file named by the process-wide
``NTLM_USER_FILE`` variable (here in its smbpasswd form: hashes, not passwords). Several
labs may live in one process (tests), so this module keeps one shared file listing every
live lab's user, and each lab additionally checks that the authenticated user is its own.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import re
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

import spnego
import spnego.channel_bindings
import spnego.exceptions
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1  # the acceptor's own hash functions

log = logging.getLogger(__name__)

AUTH_KINDS = ("basic", "ntlm", "negotiate", "kerberos")
SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"
_BOUNDARY = b"--Encrypted Boundary"
_ENCRYPTED_CONTENT_TYPE = f'multipart/encrypted;protocol="{SPNEGO_ENCRYPTED}";boundary="Encrypted Boundary"'
_SCHEME_RE = re.compile(r"^\s*(\w+)\s*(.*)$")


class AuthError(Exception):
    """A request that cannot be authenticated or decrypted (answered with 401/400)."""


# ---------------------------------------------------------------------------------------------
# The shared NTLM credential file
# ---------------------------------------------------------------------------------------------
class _NtlmUserFile:
    """The one ``NTLM_USER_FILE`` of this process: the union of every live lab's users."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, list[str]] = {}
        self._next = 1
        self._dir: str | None = None
        self._saved_env: str | None = None

    def add(self, username: str, password: str, domains: tuple[str, ...]) -> int:
        # smbpasswd-style lines carry precomputed LM/NT hashes: the acceptor would otherwise
        # derive them (DES, in pure Python) on every handshake, and no password sits on disk.
        # pypsrp sends an empty domain, so the bare user must be there; DOMAIN\user forms are
        # accepted for the lab's own domain and host names too.
        lm = base64.b16encode(lmowfv1(password)).decode()
        nt = base64.b16encode(ntowfv1(password)).decode()
        lines = [
            f"{name}:1000:{lm}:{nt}:[U]:LCT-00000000" for name in (username, *(f"{d}\\{username}" for d in domains))
        ]
        with self._lock:
            handle = self._next
            self._next += 1
            if not self._entries:
                self._saved_env = os.environ.get("NTLM_USER_FILE")
            self._entries[handle] = lines
            self._write()
        return handle

    def remove(self, handle: int) -> None:
        with self._lock:
            if self._entries.pop(handle, None) is None:
                return
            if self._entries:
                self._write()
                return
            if self._saved_env is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = self._saved_env

    def _write(self) -> None:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="mpremote-lab-ntlm-")
        path = os.path.join(self._dir, "users")
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for lines in self._entries.values():
                fh.write("\n".join(lines) + "\n")
        os.replace(tmp, path)  # atomic: a concurrent handshake never reads half a file
        os.environ["NTLM_USER_FILE"] = path


_USER_FILE = _NtlmUserFile()


class _AcceptorKeytab:
    """The process-wide ``KRB5_KTNAME`` while Kerberos labs live (one keytab at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._name: str | None = None
        self._saved: str | None = None

    def add(self, keytab: str) -> None:
        name = "FILE:" + os.path.abspath(keytab)
        with self._lock:
            if self._users and name != self._name:
                raise AuthError(f"another lab in this process already serves Kerberos from {self._name}")
            if not self._users:
                self._saved = os.environ.get("KRB5_KTNAME")
                self._name = name
                os.environ["KRB5_KTNAME"] = name
            self._users += 1

    def remove(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users:
                return
            if self._saved is None:
                os.environ.pop("KRB5_KTNAME", None)
            else:
                os.environ["KRB5_KTNAME"] = self._saved
            self._name = self._saved = None


_KEYTAB = _AcceptorKeytab()


#: Service classes a WinRM client may ask for, in the order the lab prefers them.
SPN_SERVICES = ("host", "HTTP", "WSMAN")


def keytab_principals(keytab: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """The ``(service, host)`` pairs of the two-part principals in a keytab (empty if unreadable)."""
    try:
        import krb5  # installed with gssapi by the ``kerberos`` extra
    except ImportError:
        return []
    found: list[tuple[str, str]] = []
    try:
        ctx = krb5.init_context()
        for entry in krb5.kt_resolve(ctx, b"FILE:" + os.fsencode(os.path.abspath(keytab))):
            parts = [c.decode("utf-8", "replace") for c in entry.principal.components]
            if len(parts) == 2 and (parts[0], parts[1]) not in found:
                found.append((parts[0], parts[1]))
    except Exception as exc:  # not a keytab: the acceptor will say so on the first request
        log.warning("cannot list the principals of %s: %s", keytab, exc)
    return found


def choose_spn(principals: list[tuple[str, str]], name: str, address: str) -> tuple[str, str] | None:
    """The ``(service, host)`` in the keytab a client should ask for to reach host ``name``.

    Host part, in order: the host's name, a longer name starting with it (its FQDN), the
    address, ``localhost``; service class: ``host``, ``HTTP``, ``WSMAN`` (any case). None
    when the keytab has nothing for this host.
    """
    by_host: dict[str, list[str]] = {}
    for service, host in principals:
        by_host.setdefault(host.lower(), []).append(service)
    fqdns = sorted(h for h in by_host if h.startswith(name.lower() + "."))
    for host in (name.lower(), *fqdns, address.lower(), "localhost"):
        services = by_host.get(host, [])
        for wanted in SPN_SERVICES:
            for service in services:
                if service.lower() == wanted.lower():
                    real_host = next(h for s, h in principals if h.lower() == host)
                    return service, real_host
    return None


def kerberos_unavailable() -> str | None:
    """Why this Python cannot do Kerberos (None when it can)."""
    try:
        import gssapi  # noqa: F401  (pyspnego's Kerberos backend)
    except ImportError:
        return "Kerberos needs the python gssapi package: pip install 'multipoint-remote[kerberos]'"
    return None


# ---------------------------------------------------------------------------------------------
# Per-connection state and the authenticator
# ---------------------------------------------------------------------------------------------
@dataclass
class ConnectionAuth:
    """What one TCP connection has proven so far (NTLM authenticates connections)."""

    user: str | None = None
    context: Any = None  # the spnego acceptor, kept for message encryption
    pending: Any = None  # an acceptor mid-handshake


@dataclass
class AuthResult:
    """``user`` is set when the request may proceed; otherwise answer 401 with ``challenge``."""

    user: str | None
    challenge: list[str] = field(default_factory=list)
    #: A final Negotiate token to send with the (successful) response.
    final_header: str | None = None


def default_realm() -> str:
    """The default realm of this process's krb5 profile (``KRB5_CONFIG``); "" if none."""
    import krb5  # installed with gssapi by the ``kerberos`` extra

    try:
        realm: bytes = krb5.get_default_realm(krb5.init_context())
        return realm.decode("utf-8")
    except krb5.Krb5Error:
        return ""


def accepted_principal(username: str) -> str:
    """``labadmin`` -> ``labadmin@DEFAULT.REALM``; ``labadmin@REALM`` as it is."""
    if "@" in username:
        return username
    realm = default_realm()
    if not realm:
        raise AuthError(f"--username {username}: no default realm in the krb5 profile; name it as {username}@REALM")
    return f"{username}@{realm}"


def same_principal(principal: str, accepted: str) -> bool:
    """The user part case-insensitively, the realm exactly (Kerberos realms are case-sensitive)."""
    user, _, realm = principal.rpartition("@")
    want_user, _, want_realm = accepted.rpartition("@")
    return bool(user) and user.lower() == want_user.lower() and realm == want_realm


def _user_part(principal: str) -> str:
    """``DOMAIN\\user`` / ``user@domain`` / ``user`` -> ``user``."""
    return principal.rsplit("\\", 1)[-1].split("@", 1)[0]


class Authenticator:
    """One lab's authentication policy: which scheme, whose credentials, which certificate."""

    def __init__(
        self,
        kind: str,
        username: str,
        password: str,
        *,
        domains: tuple[str, ...] = (),
        keytab: str | os.PathLike[str] | None = None,
    ) -> None:
        if kind not in AUTH_KINDS:
            raise ValueError(f"unknown auth {kind!r}; valid: {', '.join(AUTH_KINDS)}")
        self.kind = kind
        self.username = username
        self._password = password
        self._handle: int | None = None
        self._keytab = False
        #: Kerberos only: the one client principal accepted (``USER@REALM``).
        self.principal: str | None = None
        if kind == "kerberos":
            if keytab is None:
                raise AuthError("--auth kerberos needs --keytab FILE (the hosts' service principals)")
            if not os.path.isfile(keytab):
                raise AuthError(f"--keytab {keytab}: no such file")
            why = kerberos_unavailable()
            if why:
                raise AuthError(why)
            self.principal = accepted_principal(username)
            _KEYTAB.add(os.fspath(keytab))
            self._keytab = True
        elif kind != "basic":
            self._handle = _USER_FILE.add(username, password, domains)

    def close(self) -> None:
        if self._handle is not None:
            _USER_FILE.remove(self._handle)
            self._handle = None
        if self._keytab:
            _KEYTAB.remove()
            self._keytab = False

    @property
    def challenge(self) -> list[str]:
        if self.kind == "basic":
            return ['Basic realm="WSMAN"']
        if self.kind == "kerberos":
            return ["Negotiate", "Kerberos"]
        return ["Negotiate"]

    def check(
        self,
        conn: ConnectionAuth,
        authorization: str | None,
        *,
        channel_binding: bytes | None = None,
        refuse: bool = False,
    ) -> AuthResult:
        """Decide about one request. ``refuse`` plays the ``auth-fail`` fault (right password, 401)."""
        if self.kind == "basic":
            return self._check_basic(authorization, refuse)
        return self._check_negotiate(conn, authorization, channel_binding, refuse)

    def _check_basic(self, authorization: str | None, refuse: bool) -> AuthResult:
        m = _SCHEME_RE.match(authorization or "")
        if not m or m.group(1).lower() != "basic":
            return AuthResult(None, self.challenge)
        try:
            user, _, password = base64.b64decode(m.group(2), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(None, self.challenge)
        ok = _user_part(user).lower() == self.username.lower() and hmac.compare_digest(
            password.encode(), self._password.encode()
        )
        if not ok or refuse:
            log.debug("basic authentication refused for %r", user)
            return AuthResult(None, self.challenge)
        return AuthResult(self.username)

    def _check_negotiate(
        self, conn: ConnectionAuth, authorization: str | None, cbt: bytes | None, refuse: bool
    ) -> AuthResult:
        m = _SCHEME_RE.match(authorization or "")
        if not m or m.group(1).lower() not in ("negotiate", "ntlm", "kerberos") or not m.group(2):
            if conn.user is not None:
                return AuthResult(conn.user)  # an authenticated connection
            return AuthResult(None, self.challenge)
        scheme = m.group(1)
        try:
            token = base64.b64decode(m.group(2), validate=True)
        except binascii.Error:
            return AuthResult(None, self.challenge)
        if self.kind == "kerberos" and token.startswith(b"NTLMSSP\x00"):
            log.debug("NTLM refused: this lab accepts Kerberos only")
            conn.pending = None
            return AuthResult(None, self.challenge)
        # A first-leg token (NTLM NEGOTIATE, a SPNEGO init, or a raw Kerberos AP-REQ, which is
        # GSS-framed like SPNEGO) starts a new handshake and replaces whatever this
        # connection had proven or half-proven before.
        if conn.pending is None or token.startswith((b"NTLMSSP\x00\x01", b"\x60")):
            bindings = spnego.channel_bindings.GssChannelBindings(application_data=cbt) if cbt else None
            conn.user = None
            conn.context = None
            conn.pending = spnego.server(protocol="negotiate", channel_bindings=bindings)
        ctx = conn.pending
        try:
            out = ctx.step(token)
            complete = ctx.complete
            mechanism = ctx.negotiated_protocol if complete else None
            principal = str(ctx.client_principal or "") if complete else ""
        except Exception as exc:
            # Any failure of the handshake is a refusal, not a dropped connection: pyspnego
            # raises SpnegoError for most, but AttributeError and others for a Kerberos
            # token it cannot use (a key missing from the keytab, a wrong channel binding).
            log.debug("negotiate authentication failed: %s: %s", type(exc).__name__, exc)
            conn.pending = None
            return AuthResult(None, self.challenge)
        out_header = f"{scheme} {base64.b64encode(out).decode()}" if out else None
        if not complete:
            return AuthResult(None, [out_header] if out_header else self.challenge)
        conn.pending = None
        wrong_mech = self.kind == "kerberos" and mechanism != "kerberos"
        if self.principal is not None:
            wrong_user = not same_principal(principal, self.principal)
        else:
            wrong_user = _user_part(principal).lower() != self.username.lower()
        if refuse or wrong_mech or wrong_user:
            log.debug("negotiate authentication refused for %r (%s)", principal, mechanism)
            return AuthResult(None, self.challenge)
        conn.user = self.username
        conn.context = ctx
        return AuthResult(self.username, final_header=out_header)


# ---------------------------------------------------------------------------------------------
# HTTP message encryption (multipart/encrypted, as WinRM frames it)
# ---------------------------------------------------------------------------------------------
def is_encrypted(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/encrypted")


def unwrap_body(conn: ConnectionAuth, body: bytes) -> bytes:
    """Decrypt one ``multipart/encrypted`` request body with the connection's NTLM session.

    Layout: boundary, a header block naming the protocol and the plaintext length, boundary,
    ``Content-Type: application/octet-stream``, then ``<u32 LE sig length><signature>
    <sealed bytes>`` and the closing boundary.
    """
    if conn.context is None:
        raise AuthError("encrypted message on a connection that has not authenticated")
    marker = b"\tContent-Type: application/octet-stream\r\n"
    head, sep, rest = body.partition(marker)
    if not sep:
        raise AuthError("malformed multipart/encrypted body")
    m = re.search(rb"Length=(\d+)", head)
    if not m:
        raise AuthError("multipart/encrypted body without Length")
    expected = int(m.group(1))
    trailer = _BOUNDARY + b"--\r\n"
    if rest.endswith(trailer):
        rest = rest[: -len(trailer)]
    if len(rest) < 4:
        raise AuthError("truncated multipart/encrypted body")
    (sig_len,) = struct.unpack("<I", rest[:4])
    signature, sealed = rest[4 : 4 + sig_len], rest[4 + sig_len :]
    try:
        plain = conn.context.unwrap_winrm(signature, sealed)
    except Exception as exc:  # SpnegoError, or a GSSAPI error pyspnego did not wrap
        raise AuthError(f"cannot decrypt message: {exc}") from None
    if len(plain) != expected:
        raise AuthError(f"decrypted length {len(plain)} != declared {expected}")
    return bytes(plain)


def wrap_body(conn: ConnectionAuth, plain: bytes) -> tuple[str, bytes]:
    """Seal a response for a connection whose request was encrypted: (content type, body)."""
    header, sealed, padding = conn.context.wrap_winrm(plain)
    head = b"\r\n".join(
        [
            _BOUNDARY,
            f"\tContent-Type: {SPNEGO_ENCRYPTED}".encode(),
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(plain) + padding}".encode(),
            _BOUNDARY,
            b"\tContent-Type: application/octet-stream",
            b"",
        ]
    )
    body = head + struct.pack("<I", len(header)) + header + sealed + _BOUNDARY + b"--\r\n"
    return _ENCRYPTED_CONTENT_TYPE, body
