"""The Host record: one resolved target, everything needed to connect to it.

Produced by :mod:`mpremote.targets` from YAML target lists (and by the emulated lab's
``--write-targets``); consumed by :mod:`mpremote.remote`. Holds no secret: only the
*name* of the environment variable that carries the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_PORTS = {"https": 5986, "http": 5985}
AUTH_METHODS = ("negotiate", "ntlm", "kerberos", "basic", "credssp")
TRANSPORTS = ("https", "http")


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    port: int = 5986
    transport: str = "https"  # https | http
    auth: str = "negotiate"
    username: str | None = None
    password_env: str | None = None
    ca_cert: str | None = None  # path to a PEM bundle; None = system store
    verify_tls: bool = True
    #: Allow Basic auth over plain HTTP (password in clear); only when forced by the user.
    allow_insecure_basic: bool = False
    #: Kerberos service principal ``SERVICE/HOST``: HOST defaults to the host's name (never
    #: its address: a domain has no principal for an IP), SERVICE to pypsrp's ``host``.
    spn_host: str | None = None
    spn_service: str | None = None
    groups: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: Where the host was defined ("file:line"), for error messages.
    source: str | None = field(default=None, compare=False)
    #: Where each field was set, ``{"auth": "lab.yaml:7"}``, so a run-time refusal (Basic
    #: over http, a missing CA file) can point at the line to fix. Not part of the JSON.
    origins: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``mpremote targets FILE --format json``."""
        spn = {k: v for k, v in (("spn_host", self.spn_host), ("spn_service", self.spn_service)) if v}
        return {
            "host": self.name,
            "address": self.address,
            "port": self.port,
            "transport": self.transport,
            "auth": self.auth,
            "groups": list(self.groups),
            "username": self.username,
            "password_env": self.password_env,
            "ca_cert": self.ca_cert,
            "verify_tls": self.verify_tls,
            "tags": list(self.tags),
            "vars": self.vars,
            "source": self.source,
            **spn,
        }


def endpoint_key(address: str) -> str:
    """The comparable form of an address: lower case, IPs normalised, IPv6 brackets dropped."""
    import ipaddress

    text = address.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.rstrip(".")


def format_endpoint(address: str, port: int) -> str:
    """``host:port``, with IPv6 addresses in brackets (``[::1]:5986``)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
