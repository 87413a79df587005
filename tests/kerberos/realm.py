"""A throw-away MIT Kerberos realm with its KDC on a free loopback port, for tests.

Everything lives in one temporary directory and is reached through environment
variables, so no root is needed at test time and nothing under ``/etc`` is read or
written: ``KRB5_CONFIG`` (the client profile naming the KDC), ``KRB5_KDC_PROFILE`` (the
KDC's own profile: database, stash, ports), ``KRB5_KTNAME`` (the service keytab),
``KRB5CCNAME`` (the ticket cache) and ``KRB5RCACHEDIR`` (the replay cache).

The KDC is ``krb5kdc -n`` (foreground), started with :class:`subprocess.Popen` and
stopped by that process only (terminate, wait). Setting up a realm takes well under a
second: ``kdb5_util create``, a few ``kadmin.local`` calls, one ``kinit``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Where Debian puts the KDC tools (``/usr/sbin`` is not on every user's PATH).
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kdestroy", "klist")


class RealmUnavailable(Exception):
    """The MIT KDC tools are not installed here."""


def find_tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))
    if found is None:
        raise RealmUnavailable(
            f"{name} not found (Debian: apt-get install krb5-kdc krb5-admin-server krb5-user libkrb5-dev)"
        )
    return found


def missing_tools() -> list[str]:
    missing = []
    for tool in TOOLS:
        try:
            find_tool(tool)
        except RealmUnavailable:
            missing.append(tool)
    return missing


def free_loopback_port() -> int:
    """A port nothing listens on now, for both TCP and UDP (the KDC listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise OSError("no free loopback port for the KDC")


@dataclass
class MitRealm:
    """One realm in ``directory``; :meth:`start` builds it and runs its KDC."""

    directory: Path
    realm: str = "LAB.TEST"
    domain: str = "lab.test"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _master: str = field(default="kdc-master-key", repr=False)

    # -- paths and environment ----------------------------------------------------------------
    @property
    def krb5_conf(self) -> Path:
        return self.directory / "krb5.conf"

    @property
    def kdc_conf(self) -> Path:
        return self.directory / "kdc.conf"

    @property
    def keytab(self) -> Path:
        return self.directory / "services.keytab"

    @property
    def ccache(self) -> Path:
        return self.directory / "ccache"

    @property
    def kdc_log(self) -> Path:
        return self.directory / "kdc.log"

    def env(self) -> dict[str, str]:
        """The variables that make every Kerberos library in a process use this realm only."""
        return {
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.kdc_conf),
            "KRB5_KTNAME": f"FILE:{self.keytab}",
            "KRB5CCNAME": f"FILE:{self.ccache}",
            "KRB5RCACHEDIR": str(self.directory / "rcache"),
            "KRB5_TRACE": str(self.directory / "trace.log"),
        }

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> MitRealm:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "rcache").mkdir(exist_ok=True)
        self.port = self.port or free_loopback_port()
        self._write_profiles()
        self._run(find_tool("kdb5_util"), "-r", self.realm, "create", "-s", "-P", self._master)
        kdc = find_tool("krb5kdc")
        log = self.kdc_log.open("ab")
        try:
            self.process = subprocess.Popen(
                [kdc, "-n", "-r", self.realm],
                env={**os.environ, **self.env()},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self._wait_listening()
        return self

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> MitRealm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- principals and tickets ---------------------------------------------------------------
    def add_user(self, name: str, password: str) -> str:
        self.kadmin(f"addprinc -pw {password} {name}")
        return f"{name}@{self.realm}"

    def add_service(self, principal: str, keytab: Path | None = None) -> Path:
        """A service principal (``WSMAN/host``) with a random key, exported to a keytab."""
        keytab = keytab or self.keytab
        self.kadmin(f"addprinc -randkey {principal}")
        self.kadmin(f"ktadd -k {keytab} {principal}")
        return keytab

    def kadmin(self, query: str) -> str:
        return self._run(find_tool("kadmin.local"), "-r", self.realm, "-q", query)

    def kinit(self, principal: str, password: str, ccache: Path | None = None) -> Path:
        ccache = ccache or self.ccache
        env = {**os.environ, **self.env(), "KRB5CCNAME": f"FILE:{ccache}"}
        proc = subprocess.run(
            [find_tool("kinit"), principal], input=password + "\n", text=True, capture_output=True, env=env
        )
        if proc.returncode != 0:
            raise RuntimeError(f"kinit {principal} failed: {proc.stderr.strip()}")
        return ccache

    def kdestroy(self, ccache: Path | None = None) -> None:
        ccache = ccache or self.ccache
        env = {**os.environ, **self.env(), "KRB5CCNAME": f"FILE:{ccache}"}
        subprocess.run([find_tool("kdestroy")], capture_output=True, env=env)

    # -- internals ----------------------------------------------------------------------------
    def _write_profiles(self) -> None:
        d = self.directory
        # The client profile names only this loopback KDC: no DNS lookups for KDCs or realms,
        # no reverse DNS, no canonicalisation (a test host name must reach the KDC as written).
        self.krb5_conf.write_text(
            f"""[libdefaults]
    default_realm = {self.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    kdc_timeout = 5s
    max_retries = 1
    default_ccache_name = FILE:{self.ccache}
    default_keytab_name = FILE:{self.keytab}

[realms]
    {self.realm} = {{
        kdc = 127.0.0.1:{self.port}
    }}

[domain_realm]
    .{self.domain} = {self.realm}
    {self.domain} = {self.realm}
""",
            encoding="utf-8",
        )
        self.kdc_conf.write_text(
            f"""[kdcdefaults]
    kdc_listen = 127.0.0.1:{self.port}
    kdc_tcp_listen = 127.0.0.1:{self.port}

[realms]
    {self.realm} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        kdc_listen = 127.0.0.1:{self.port}
        kdc_tcp_listen = 127.0.0.1:{self.port}
        max_life = 10h
        max_renewable_life = 1d
    }}

[logging]
    kdc = FILE:{self.kdc_log}
""",
            encoding="utf-8",
        )

    def _run(self, *argv: str) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **self.env()}, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def _wait_listening(self) -> None:
        """Until the KDC accepts a TCP connection (bounded; fails if the KDC exits)."""
        deadline = time.monotonic() + 20
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"krb5kdc exited with {self.process.returncode}: {self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"krb5kdc did not listen on 127.0.0.1:{self.port}: {self._log_tail()}") from None
                time.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            return self.kdc_log.read_text(encoding="utf-8", errors="replace")[-500:]
        except OSError:
            return ""
