"""The emulated lab: many WSMan hosts on loopback ports in one process, one event loop.

Usable in-process (tests, ``mpremote demo``)::

    with Lab(LabOptions(hosts=3, auth="ntlm", tls=True, write_targets=tmp / "lab.yaml")) as lab:
        lab.hosts[0].name, lab.hosts[0].port      # mp-lab-001, 4xxxx
        lab.targets_path, lab.ca_path             # the targets file and the CA next to it
        lab.wsman_kwargs("mp-lab-001")            # ready for pypsrp.wsman.WSMan(**kwargs)
        lab.open_shell_count()                    # Create minus Delete, all hosts

and from ``mpremote lab serve`` (``cli.py``). Sockets are bound in :meth:`Lab.start` on the
caller's thread, so a busy port or a non-loopback ``bind`` fails there with a clear error;
the event loop then runs in a daemon thread until :meth:`Lab.stop`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpremote.errors import UsageError
from mpremote.lab import faults as faults_mod
from mpremote.lab import locales as locale_table
from mpremote.lab.auth import AUTH_KINDS, Authenticator, AuthError, choose_spn, keytab_principals
from mpremote.lab.build import BuildError, bind_sockets, build_specs, tls_material, write_targets
from mpremote.lab.contract import HostModel, JournalSink
from mpremote.lab.httpd import HostFaults, HostServer
from mpremote.lab.journal import Journal
from mpremote.lab.wsman import WSManEndpoint

log = logging.getLogger(__name__)

DEFAULT_USERNAME = "labadmin"
#: The lab's own, public password (README and lab serve's hint show it); never in the targets file.
DEFAULT_PASSWORD = "Lab-Pa55word!"
LOCALES = tuple(locale_table.LOCALES)
LISTEN_BACKLOG = 1024

#: Builds the host model of one host: (HostSpec, journal sink, operator user) -> HostModel.
ModelFactory = Callable[[Any, JournalSink, str], HostModel]


class LabError(UsageError):
    """The lab cannot start as asked (bad option, busy port, non-loopback address)."""


@dataclass
class LabOptions:
    hosts: int = 3
    sessions_per_host: int = 6
    seed: int = 1
    auth: str = "ntlm"
    tls: bool = True
    bind: str = "127.0.0.1"
    port_base: int = 0
    latency_ms: int = 0
    locale: str = "en-US"
    multipoint: bool = True
    faults: list[faults_mod.FaultRule] = field(default_factory=list)
    username: str = DEFAULT_USERNAME
    password: str = field(default=DEFAULT_PASSWORD, repr=False)
    write_targets: Path | None = None
    journal: Path | None = None
    lab_file: Path | None = None
    #: Session events per minute per host (logons, log-offs, disconnects...; ``churn.py``).
    churn: float = 0.0
    #: Which hosts churn (a glob on host names; the others keep their sessions still).
    churn_hosts: str = "*"
    #: Kerberos only: the keytab holding the hosts' service principals (WSMAN/NAME, HTTP/NAME, host/NAME).
    keytab: Path | None = None

    def validate(self) -> None:
        """Raise LabError naming the first bad option."""
        if self.auth not in AUTH_KINDS:
            raise LabError(f"--auth must be one of {', '.join(AUTH_KINDS)}, not {self.auth!r}")
        if self.lab_file is None and not 1 <= self.hosts <= 5000:
            raise LabError(f"--hosts must be between 1 and 5000, not {self.hosts}")
        if self.sessions_per_host < 0:
            raise LabError("--sessions-per-host must not be negative")
        if self.locale not in LOCALES:
            raise LabError(f"--locale must be one of {', '.join(LOCALES)}, not {self.locale!r}")
        if self.latency_ms < 0:
            raise LabError("--latency-ms must not be negative")
        if not 0 <= self.churn <= 6000:
            raise LabError("--churn must be between 0 and 6000 events per minute per host")
        if not 0 <= self.port_base <= 65535:
            raise LabError("--port-base must be a TCP port (0 picks free ports)")
        if not self.username or ":" in self.username:
            raise LabError("--username must be non-empty and contain no ':'")
        if not self.password:
            raise LabError("--password must not be empty")
        if self.auth == "kerberos" and self.keytab is None:
            raise LabError("--auth kerberos needs --keytab FILE (the hosts' service principals)")
        if self.keytab is not None and self.auth != "kerberos":
            raise LabError("--keytab is only used with --auth kerberos")
        check_loopback(self.bind)


def check_loopback(address: str) -> str:
    """Accept only 127.0.0.0/8 and ::1: the lab never listens where others can reach it."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise LabError(f"--bind must be a loopback IP address (127.0.0.1 or ::1), not {address!r}") from None
    if not ip.is_loopback:
        raise LabError(f"--bind {address}: the lab only listens on loopback (127.0.0.0/8 or ::1)")
    return str(ip)


@dataclass
class LabHost:
    """One emulated host as the outside sees it."""

    name: str
    address: str
    port: int
    model: HostModel
    spec: Any
    faults: tuple[faults_mod.Fault, ...]
    endpoint: WSManEndpoint | None = None
    server: HostServer | None = None

    @property
    def listening(self) -> bool:
        return self.server is not None

    def has_fault(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.faults)


def _default_model_factory(spec: Any, journal: JournalSink, operator: str) -> HostModel:
    from mpremote.lab.hostmodel import EmulatedHost

    return EmulatedHost(spec, journal, operator)


class Lab:
    """Emulated MultiPoint hosts speaking WSMan+PSRP on loopback; a context manager."""

    def __init__(self, options: LabOptions | None = None, *, model_factory: ModelFactory | None = None) -> None:
        self.options = options or LabOptions()
        self._model_factory = model_factory or _default_model_factory
        self.hosts: list[LabHost] = []
        self.targets_path: Path | None = None
        self.ca_path: Path | None = None
        #: Kerberos: host name -> (service, host) of the keytab principal a client should ask for.
        self.spns: dict[str, tuple[str, str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._sockets: list[socket.socket] = []
        self._auth: Authenticator | None = None
        self._journal: Journal | None = None
        self._tmpdir: Any = None
        self._churn_task: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        if self._loop is None:  # ``with Lab(opts).start() as lab`` works too
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Lab:
        """Bind, listen, write the targets file; raise LabError on a bad option or busy port."""
        if self._loop is not None:
            raise LabError("this lab is already running")
        from mpremote.startup import resume

        resume()  # a long-running server: the CLI's start-up pause of the collector ends
        opts = self.options
        opts.validate()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        log.info("lab ready: %d hosts on %s", len(self.hosts), opts.bind)
        return self

    def _start(self) -> None:
        opts = self.options
        self._journal = Journal(opts.journal)
        specs = build_specs(opts)
        try:
            socks = bind_sockets(opts.bind, len(specs), opts.port_base)
        except BuildError as exc:
            raise LabError(str(exc)) from None
        self._sockets = socks  # closed in stop() whatever happens next
        address = check_loopback(opts.bind)
        domains = tuple(sorted({d for s in specs for d in (getattr(s, "domain", ""), _computer(s)) if d}))
        try:
            self._auth = Authenticator(opts.auth, opts.username, opts.password, domains=domains, keytab=opts.keytab)
        except AuthError as exc:  # no keytab, no gssapi, another keytab in this process
            raise LabError(str(exc)) from None
        certs, self.ca_path, self._tmpdir = tls_material(opts)

        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_exceptions)
        self._thread = threading.Thread(target=self._loop.run_forever, name="mpremote-lab", daemon=True)
        self._thread.start()

        to_listen: list[tuple[LabHost, socket.socket, Any]] = []
        for spec, sock in zip(specs, socks, strict=True):
            port = sock.getsockname()[1]
            sink = self._sink(spec.name)
            host = LabHost(spec.name, address, port, self._model_factory(spec, sink, opts.username), spec, spec.faults)
            self.hosts.append(host)
            if host.has_fault("refuse"):
                continue  # bound, never listening: connections are refused
            ctx, cbt = None, None
            if certs is not None:
                pair = certs.bad if host.has_fault("bad-cert") else certs.server
                ctx, cbt = pair.server_context(), pair.channel_binding_data()
            to_listen.append((host, sock, (ctx, cbt)))
        self._call(self._listen(to_listen))
        if opts.churn > 0:
            self._call(self._start_churn())
        if opts.keytab is not None:
            self.spns = self._kerberos_spns(opts.keytab)
        if opts.write_targets is not None:
            self.targets_path = write_targets(opts.write_targets, self.hosts, opts, self.ca_path, self.spns)

    def stop(self) -> None:
        """Close every listener and connection, forget shells, remove lab credentials. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
            except Exception:  # stopping must not fail half-way
                log.exception("lab shutdown")
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            loop.close()
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        if self._auth is not None:
            self._auth.close()
            self._auth = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    # -- queries ----------------------------------------------------------------------------
    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def open_shell_count(self, name: str | None = None) -> int:
        """Runspace pools created and not yet deleted (all hosts, or one)."""
        hosts = [self.host(name)] if name else self.hosts
        return sum(h.endpoint.open_shells for h in hosts if h.endpoint is not None)

    def request_count(self, name: str | None = None) -> int:
        """HTTP requests answered so far, authentication legs included."""
        hosts = [self.host(name)] if name else self.hosts
        return sum(h.server.requests for h in hosts if h.server is not None)

    def wsman_kwargs(self, name: str, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``pypsrp.wsman.WSMan`` that reach host ``name`` (password included)."""
        h = self.host(name)
        opts = self.options
        kwargs: dict[str, Any] = {
            "server": h.address,
            "port": h.port,
            "username": opts.username,
            "password": opts.password,
            "ssl": opts.tls,
            "auth": opts.auth,
            "cert_validation": str(self.ca_path) if opts.tls else False,
            "no_proxy": True,
        }
        if opts.auth == "basic" and not opts.tls:
            kwargs["encryption"] = "never"
        if opts.auth == "kerberos":
            # The ticket cache, and the keytab's SPN for the host's name (the address is 127.0.0.1).
            service, spn_host = self.spns.get(name, ("host", h.name))
            kwargs["password"] = None
            kwargs["negotiate_hostname_override"] = spn_host
            kwargs["negotiate_service"] = service
        kwargs.update(overrides)
        return kwargs

    # -- internals --------------------------------------------------------------------------
    def _kerberos_spns(self, keytab: Path) -> dict[str, tuple[str, str]]:
        principals = keytab_principals(keytab)
        spns: dict[str, tuple[str, str]] = {}
        for h in self.hosts:
            choice = choose_spn(principals, h.name, h.address)
            if choice is None:
                log.warning("%s: the keytab %s holds no host/, HTTP/ or WSMAN/ principal for it", h.name, keytab)
            else:
                spns[h.name] = choice
        return spns

    def _sink(self, host_name: str) -> JournalSink:
        journal = self._journal

        def sink(event: dict[str, Any]) -> None:
            if journal is not None:
                journal.write(host_name, event)

        return sink

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _listen(self, items: list[tuple[LabHost, socket.socket, Any]]) -> None:
        assert self._auth is not None
        for host, sock, (ctx, cbt) in items:
            fault_flags = HostFaults(
                hang=host.has_fault("hang"),
                http500=host.has_fault("http500"),
                auth_fail=host.has_fault("auth-fail"),
                slow_ms=sum(f.slow_ms for f in host.faults if f.kind == "slow"),
            )
            sink = self._sink(host.name)
            host.endpoint = WSManEndpoint(host.name, host.model, sink, refuse_shells=host.has_fault("wsman-fault"))
            host.server = HostServer(
                host.name,
                host.endpoint,
                self._auth,
                faults=fault_flags,
                latency_ms=self.options.latency_ms,
                channel_binding=cbt,
                journal=sink,
                require_encryption=not self.options.tls and self.options.auth != "basic",
            )
            tls_kwargs: dict[str, Any] = {"ssl": ctx, "ssl_handshake_timeout": 30} if ctx else {}
            server = await asyncio.start_server(host.server.serve, sock=sock, backlog=LISTEN_BACKLOG, **tls_kwargs)
            self._servers.append(server)

    async def _start_churn(self) -> None:
        from mpremote.lab.churn import TICK_S, Churn

        loop = asyncio.get_running_loop()
        import fnmatch

        models: list[Any] = [h.model for h in self.hosts if fnmatch.fnmatchcase(h.name, self.options.churn_hosts)]
        churn = Churn(models, self.options.churn, self.options.seed, start=loop.time())

        async def run() -> None:
            # On the loop thread, like every pipeline: events never interleave with a query.
            while True:
                await asyncio.sleep(TICK_S)
                try:
                    churn.tick(loop.time())
                except Exception:  # a churn bug must not stop the lab serving
                    log.exception("lab churn tick failed")

        self._churn_task = loop.create_task(run())

    async def _shutdown(self) -> None:
        if self._churn_task is not None:
            self._churn_task.cancel()
            self._churn_task = None
        for server in self._servers:
            server.close()
        for h in self.hosts:
            if h.endpoint is not None:
                h.endpoint.close_all()
        await asyncio.gather(*(h.server.close_connections() for h in self.hosts if h.server is not None))
        for server in self._servers:
            await server.wait_closed()
        self._servers = []


def _computer(spec: Any) -> str:
    return str(getattr(spec, "effective_computer_name", "") or "")


def _quiet_exceptions(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Clients that drop connections or fail TLS (``bad-cert``) are expected, not errors."""
    exc = context.get("exception")
    if isinstance(exc, ConnectionError | ssl.SSLError | TimeoutError):
        log.debug("connection error: %s", exc)
        return
    loop.default_exception_handler(context)
