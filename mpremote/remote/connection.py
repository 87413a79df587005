"""One PSRP conversation with one host: open a runspace pool, run scripts, close it.

pypsrp is synchronous and not thread-safe, so a :class:`Connection` belongs to one thread
and one host. The pool is always closed (``with``), or wsmprovhost processes pile up on
the host. Only the connect phase (opening the pool) is ever retried: once a script that
acts has been sent, a timeout is not proof that nothing happened.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from mpremote.errors import ConnectError, HostError, UsageError
from mpremote.hosts import DEFAULT_PORTS, Host
from mpremote.remote import envproxies, fastpsrp, reqprotocols
from mpremote.remote.errors import translate
from mpremote.remote.scripts import script_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionSettings:
    """Timeouts and transport policy, shared by every host of a run."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    #: WSMan OperationTimeout; kept below the read timeout as pypsrp requires.
    operation_timeout: int = 20
    #: Extra attempts for the connect phase only (refused/reset before anything was sent).
    connect_retries: int = 1
    retry_backoff: float = 0.5
    #: Overrides from the command line (None = use the host's own setting).
    transport: str | None = None
    port: int | None = None
    auth: str | None = None
    ca_cert: str | None = None
    verify_tls: bool | None = None
    allow_insecure_basic: bool = False
    #: NTLM: send the NEGOTIATE token on the first request (one round trip fewer per
    #: connection; a server that answers it with a bare 401 gets the classic flow).
    preemptive_ntlm: bool = True


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect, after command-line overrides are applied to a Host."""

    address: str
    port: int
    transport: str
    auth: str
    cert_validation: bool | str  # False, True (system store) or a CA bundle path
    encryption: str
    #: Kerberos service principal ``spn_service/spn_host`` (None: pypsrp's ``host`` / the address).
    spn_host: str | None = None
    spn_service: str | None = None

    @property
    def is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            return self.address == "localhost"


def resolve_endpoint(host: Host, settings: ConnectionSettings) -> Endpoint:
    """Apply overrides and the transport-security rules; raise UsageError on unsafe combos."""
    transport = settings.transport or host.transport
    auth = settings.auth or host.auth
    port = settings.port or host.port
    if settings.port is None and settings.transport and "port" not in host.origins:
        # --transport http on hosts whose port was never written: use that transport's port.
        port = DEFAULT_PORTS[transport]
    verify = host.verify_tls if settings.verify_tls is None else settings.verify_tls
    ca_cert = settings.ca_cert or host.ca_cert
    cert_validation: bool | str = (ca_cert or True) if verify else False
    encryption = "auto"
    if transport == "http" and auth == "basic":
        if not (settings.allow_insecure_basic or host.allow_insecure_basic):
            raise UsageError(
                f"host {host.name}: Basic authentication over plain HTTP sends the password in clear; "
                "use --transport https or --auth ntlm/negotiate (or force it with --allow-insecure-basic)"
            )
        encryption = "never"
    return Endpoint(
        host.address,
        port,
        transport,
        auth,
        cert_validation,
        encryption,
        spn_host=spn_host_for(host),
        spn_service=host.spn_service,
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def spn_host_for(host: Host) -> str | None:
    """The host part of the Kerberos SPN, or None to let pypsrp use the address.

    A domain has service principals for names (``host/mp-101-01.school.local``), never for
    addresses, and pypsrp builds the SPN from the address it connects to. So: the target's
    ``spn_host`` when written; else, when the address is an IP, the host's name; else (the
    address is a name, as Windows' own client would use it) nothing to override.
    """
    if host.spn_host:
        return host.spn_host
    if _is_ip(host.address) and not _is_ip(host.name):
        return host.name
    return None


@dataclass
class ScriptResult:
    """What one pipeline produced; PowerShell's streams are kept, not flattened."""

    output: list[Any]
    errors: list[str] = field(default_factory=list)
    had_errors: bool = False


def properties(obj: Any) -> dict[str, Any]:
    """The properties of a PSCustomObject as pypsrp deserialised it (adapted + extended)."""
    if isinstance(obj, dict):
        return dict(obj)
    props: dict[str, Any] = {}
    props.update(getattr(obj, "adapted_properties", {}) or {})
    props.update(getattr(obj, "extended_properties", {}) or {})
    return props


_TLS_CONTEXTS: dict[str, Any] = {}
_TLS_LOCK = threading.Lock()
#: pypsrp's ``WSMan()`` calls ``ElementTree.register_namespace``, which iterates and rewrites
#: one process-wide dict: two hosts' threads constructing at once can fail with
#: "dictionary keys changed during iteration". Constructions take turns (microseconds).
_WSMAN_INIT_LOCK = threading.Lock()


def _shared_tls_context(verify: str) -> Any:
    """One verifying SSLContext per CA bundle (file or directory), built once per process.

    requests/urllib3 would build a context and parse the CA file for every host (and
    stat the bundle on every request). The context is what urllib3 builds itself
    (``create_urllib3_context``: TLS 1.2+, no compression, hostname checked) with the
    same CA locations requests would pass; an SSLContext is safe to share across threads.
    """
    with _TLS_LOCK:
        ctx = _TLS_CONTEXTS.get(verify)
        if ctx is None:
            import os
            import ssl

            from urllib3.util.ssl_ import create_urllib3_context

            ctx = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            if os.path.isdir(verify):
                ctx.load_verify_locations(capath=verify)
            else:
                ctx.load_verify_locations(cafile=verify)
            _TLS_CONTEXTS[verify] = ctx
        return ctx


def _tls_adapter_class() -> Any:
    """An HTTPAdapter that hands urllib3 a shared, pre-loaded SSLContext (built lazily)."""
    global _TLS_ADAPTER
    if _TLS_ADAPTER is None:
        import requests.adapters

        class SharedTLSContextAdapter(requests.adapters.HTTPAdapter):
            ssl_context: Any = None

            def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
                host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
                if self.ssl_context is not None and pool_kwargs.get("cert_reqs") == "CERT_REQUIRED":
                    # The CA locations are already in the context: loading them again for
                    # every new connection is the cost this adapter exists to avoid.
                    pool_kwargs.pop("ca_certs", None)
                    pool_kwargs.pop("ca_cert_dir", None)
                    pool_kwargs["ssl_context"] = self.ssl_context
                return host_params, pool_kwargs

            def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
                if self.ssl_context is None or not verify:
                    super().cert_verify(conn, url, verify, cert)
                    return
                conn.cert_reqs = "CERT_REQUIRED"
                conn.ca_certs = None
                conn.ca_cert_dir = None

        _TLS_ADAPTER = SharedTLSContextAdapter
    return _TLS_ADAPTER


_TLS_ADAPTER: Any = None


_NTLM_HASHES: dict[str, Any] = {}


def _ntlm_credential(username: str, password: str) -> Any:
    """The NTLM credential for a password, its hashes computed once per process.

    pyspnego derives the LM and NT hashes from the password for every new context, and
    the LM hash is a pure-Python DES (about a millisecond per host). Hashes give the same
    NTLM messages and session keys. A password that already looks like ``LM:NT`` is left
    to pyspnego, which treats it as hashes itself.
    """
    from spnego import NTLMHash
    from spnego._ntlm_raw.crypto import is_ntlm_hash, lmowfv1, ntowfv1

    if is_ntlm_hash(password):
        return None
    with _TLS_LOCK:
        hashes = _NTLM_HASHES.get(password)
        if hashes is None:
            hashes = _NTLM_HASHES[password] = (lmowfv1(password).hex(), ntowfv1(password).hex())
    return NTLMHash(username=username, lm_hash=hashes[0], nt_hash=hashes[1])


def _prepare_session(wsman: Any, *, preemptive_ntlm: bool = True) -> None:
    """Build pypsrp's requests session now, with the per-host work taken out of it.

    * ``trust_env`` off once built: pypsrp has already merged the environment's proxy
      settings (and NO_PROXY) into ``session.proxies`` for this endpoint, but requests
      would scan the whole environment again on every request to find the same answer;
      that one look-up is memoised per endpoint and environment (:mod:`.envproxies`).
    * HTTPS with verification: the shared SSLContext of :func:`_shared_tls_context`.
    * NTLM: the password's hashes computed once (:func:`_ntlm_credential`), and the
      NEGOTIATE token sent on the first request (:mod:`mpremote.remote.preauth`).

    Anything unexpected (another pypsrp version) leaves pypsrp's own lazy session alone.
    """
    transport = getattr(wsman, "transport", None)
    build = getattr(transport, "_build_session", None)
    if transport is None or build is None or getattr(transport, "session", None) is not None:
        return
    envproxies.install()  # requests' environment proxy look-up, once per endpoint and environment
    reqprotocols.install()  # requests' runtime-protocol isinstance checks, ~0.2 ms/host on 3.11
    session = build()
    session.trust_env = False
    verify = session.verify
    if getattr(transport, "ssl", False) and isinstance(verify, str) and verify:
        old = session.adapters.get("https://")
        adapter = _tls_adapter_class()(max_retries=old.max_retries) if old is not None else None
        if adapter is not None and type(old).__name__ == "HTTPAdapter":
            # Keep pypsrp's connection hooks (it can forbid new connections mid-operation).
            adapter.poolmanager.pool_classes_by_scheme = old.poolmanager.pool_classes_by_scheme
            adapter.ssl_context = _shared_tls_context(verify)
            session.mount("https://", adapter)
            old.close()
    auth = session.auth
    if (
        getattr(auth, "auth_provider", None) == "ntlm"
        and isinstance(getattr(auth, "username", None), str)
        and isinstance(getattr(auth, "password", None), str)
    ):
        credential = _ntlm_credential(auth.username, auth.password)
        if credential is not None:
            auth.username, auth.password = credential, None
    if preemptive_ntlm:
        from mpremote.remote import preauth

        preauth.install(session)
    transport.session = session


_ENVELOPE_SIZES: dict[tuple[Any, ...], int] = {}
_WSMAN_CLASS: Any = None


def _wsman_class() -> Any:
    """pypsrp's ``WSMan``, or on pypsrp 0.9 a subclass that sizes envelopes once per shape.

    ``WSMan._calc_envelope_size`` builds and serialises a mock Send envelope (ElementTree)
    to learn how many payload bytes fit in ``MaxEnvelopeSize``, once in ``WSMan()`` and
    again when the server's protocol version raises the limit: ~0.11 ms per host. The
    result depends only on the length of that envelope, and the only per-host text in it
    is the endpoint URL (``wsa:To``), XML-escaped; session ids are fixed-length GUIDs. So the
    answer is kept per (requested size, current size, locales, operation timeout,
    escaped endpoint length) and computed by pypsrp itself on a miss.
    ``tests/test_connection_session.py`` compares it with pypsrp's own for many endpoints
    and sizes, and any other pypsrp version gets the plain class.
    """
    global _WSMAN_CLASS
    if _WSMAN_CLASS is None:
        from xml.sax.saxutils import escape

        from pypsrp.wsman import WSMan

        if not fastpsrp.supported():  # pypsrp 0.9.x, looked up once per process
            _WSMAN_CLASS = WSMan
            return WSMan

        class SizedWSMan(WSMan):
            def _calc_envelope_size(self, max_envelope_size: int) -> int:
                key = (
                    max_envelope_size,
                    self.max_envelope_size,
                    self.locale,
                    self.data_locale,
                    str(self.operation_timeout),
                    len(escape(self.transport.endpoint).encode("utf-8")),
                )
                size = _ENVELOPE_SIZES.get(key)
                if size is None:
                    size = _ENVELOPE_SIZES[key] = super()._calc_envelope_size(max_envelope_size)
                return size

        _WSMAN_CLASS = SizedWSMan
    return _WSMAN_CLASS


def preload() -> None:
    """Import and build, in this process, what every connection needs.

    A parent calls it before forking worker processes: pypsrp, requests, urllib3 and
    pyspnego (about 125 ms of CPU), the quser parser's code-page tables and codecs (about
    20 ms), the WSMan subclass, the TLS adapter and the fast serializer are then made once
    and shared copy-on-write, instead of once per worker at its first host. Nothing here
    opens a socket, reads a secret or starts a thread.
    """
    import codecs
    import importlib

    import pypsrp.powershell  # noqa: F401  (RunspacePool, PowerShell)

    import mpremote.quser  # noqa: F401  (and the code-page tables of quser_lang)
    from mpremote.remote import preauth  # noqa: F401  (pre-emptive NTLM, at the first request)

    # Other libraries' internals (NTLM, the shared SSLContext, the OpenSSL bindings of the
    # TLS channel binding): a speed-up only, so a module another release moved is skipped.
    for name in ("spnego._ntlm", "urllib3.util.ssl_", "cryptography.hazmat.backends.openssl"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for codec in ("cp850", "cp437", "cp1252", "utf-16-le", "utf-16-be"):  # OEM text; NTLM; CLIXML
        codecs.lookup(codec)
    reqprotocols.install()
    _wsman_class()
    _tls_adapter_class()
    fastpsrp.attach_classes()


class RemoteSession(Protocol):
    """What a host job needs from an open connection (:class:`Connection`, or a test's fake)."""

    endpoint: Endpoint

    def run_script(self, name: str, parameters: dict[str, Any], *, acting: bool = False) -> ScriptResult: ...


class Connector(Protocol):
    """Makes a connection to one host: :class:`Connection` itself, or a test's in-process fake."""

    def __call__(
        self,
        host: Host,
        *,
        username: str | None,
        password: str | None,
        settings: ConnectionSettings,
        deadline_remaining: float | None = None,
    ) -> AbstractContextManager[RemoteSession]: ...


class Connection:
    """A context manager holding one WSMan transport and one runspace pool for one host."""

    def __init__(
        self,
        host: Host,
        *,
        username: str | None,
        password: str | None,
        settings: ConnectionSettings,
        deadline_remaining: float | None = None,
    ) -> None:
        self.host = host
        self.endpoint = resolve_endpoint(host, settings)
        self.settings = settings
        self._username = username
        self._password = password
        self._deadline_remaining = deadline_remaining
        self._wsman: Any = None
        self._pool: Any = None

    # -- lifecycle -------------------------------------------------------------------------
    def _timeouts(self) -> tuple[float, float, int]:
        connect_t, read_t = self.settings.connect_timeout, self.settings.read_timeout
        if self._deadline_remaining is not None:
            connect_t = max(0.5, min(connect_t, self._deadline_remaining))
            read_t = max(1.0, min(read_t, self._deadline_remaining + 1))
        op_t = max(1, min(self.settings.operation_timeout, int(read_t) - 1))
        return connect_t, read_t, op_t

    def _open_once(self) -> None:
        from pypsrp.powershell import RunspacePool

        connect_t, read_t, op_t = self._timeouts()
        ep = self.endpoint
        wsman_class = _wsman_class()
        with _WSMAN_INIT_LOCK:
            self._wsman = wsman_class(
                ep.address,
                port=ep.port,
                username=self._username,
                password=self._password,
                ssl=ep.transport == "https",
                auth=ep.auth,
                cert_validation=ep.cert_validation,
                connection_timeout=connect_t,
                read_timeout=read_t,
                operation_timeout=op_t,
                encryption=ep.encryption,
                no_proxy=ep.is_loopback,
                reconnection_retries=0,
                negotiate_hostname_override=ep.spn_host,
                negotiate_service=ep.spn_service,
            )
        _prepare_session(self._wsman, preemptive_ntlm=self.settings.preemptive_ntlm)
        self._pool = RunspacePool(self._wsman)
        fastpsrp.attach(self._pool)
        self._pool.open()

    def open(self) -> Connection:
        attempts = 1 + max(0, self.settings.connect_retries)
        for attempt in range(attempts):
            try:
                self._open_once()
                return self
            except Exception as exc:  # translated below; never leaks a secret
                err = translate(exc)
                self._close_quietly()
                retriable = isinstance(err, ConnectError) and attempt + 1 < attempts
                if not retriable:
                    raise err from None
                log.debug("%s: connect attempt %d failed (%s); retrying", self.host.name, attempt + 1, err)
                time.sleep(self.settings.retry_backoff * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def __enter__(self) -> Connection:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the runspace pool (one Delete) and the HTTP session; never raises."""
        self._close_quietly()

    def _close_quietly(self) -> None:
        pool, self._pool = self._pool, None
        wsman, self._wsman = self._wsman, None
        if pool is not None:
            try:
                pool.close()
            except Exception as exc:  # the host may be gone; the run goes on
                log.debug("%s: closing the runspace pool failed: %s", self.host.name, type(exc).__name__)
        if wsman is not None:
            with contextlib.suppress(Exception):  # closing a requests session
                wsman.close()

    # -- running ---------------------------------------------------------------------------
    def run_script(self, name: str, parameters: dict[str, Any], *, acting: bool = False) -> ScriptResult:
        """Run one of the package's scripts with named parameters (never spliced into text).

        ``acting`` marks scripts that change the host; the connection never retries a run
        (``reconnection_retries=0``), and the host job reports a failure after sending as
        possibly delivered.
        """
        from pypsrp.powershell import PowerShell

        if self._pool is None:
            raise ConnectError("not connected")
        ps = PowerShell(self._pool)
        ps.add_script(script_text(name))
        for key, value in parameters.items():
            ps.add_parameter(key, value)
        try:
            output = ps.invoke()
        except HostError:
            raise
        except Exception as exc:
            raise translate(exc) from None
        errors = [str(e) for e in ps.streams.error]
        return ScriptResult(output=list(output), errors=errors, had_errors=bool(ps.had_errors))
