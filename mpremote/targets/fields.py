"""The fields a target list may set, as one self-describing table, and their checks.

Why a table (pyinfra's connector settings do the same): validation, error messages,
``did you mean`` hints and the docs all read the same entries, so a new field is added
in exactly one place. Shared by :mod:`mpremote.targets` and
:mod:`mpremote.targets.ansible`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mpremote.hosts import AUTH_METHODS, TRANSPORTS

__all__ = [
    "FIELDS",
    "LITERAL_PASSWORD",
    "FieldSpec",
    "Scope",
    "Val",
    "check_address",
    "did_you_mean",
    "is_password_key",
]

LITERAL_PASSWORD = "literal passwords are not accepted; use password_env: NAME or the keyring"
_PASSWORD_KEY = re.compile(r"(?:^|_)(?:password|passwd|pass|pwd|secret)$", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_password_key(key: str) -> bool:
    """True for keys that carry a password (``password``, ``ansible_become_pass``, ...)."""
    return bool(_PASSWORD_KEY.search(key))


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else f"; expected one of: {', '.join(choices)}"


# --- the self-describing field table: drives validation, messages and docs ------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


#: One DNS label (NetBIOS names may carry ``_``); a name is labels joined by dots.
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def check_address(value: str) -> str:
    """A host name (``mp-101.school.local``), an IPv4 or an IPv6 address (``::1``,
    ``[::1]``, ``fe80::1%eth0``); raises ValueError otherwise. Returned as written.

    Anything else (``[/]``, ``1.2.3.4; rm -rf /``, ``mp 101``, ``10.0.0.300``) would
    only fail later, per host, at connect time: refuse it when the file is read.
    """
    import ipaddress

    text = value.strip()
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else None
    try:
        if inner is not None:
            if not isinstance(ipaddress.ip_address(inner), ipaddress.IPv6Address):
                raise ValueError
            return text
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if (
        inner is None
        and 0 < len(text) <= 253
        and all(_LABEL.match(label) for label in labels)
        and not all(label.isdigit() for label in labels)  # 10.0.0.300 is a bad IPv4, not a name
    ):
        return text
    raise ValueError(f"{value!r} is not a host name or IP address")


def _address(value: Any) -> str:
    return check_address(_text(value))


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in choices:
            close = difflib.get_close_matches(str(value).strip().lower(), choices, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"must be one of {', '.join(choices)}, not {value!r}{hint}")
        return value.strip().lower()

    return check


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"must be an integer from 1 to 65535, not {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {value!r}")
    return value


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ValueError("must be the NAME of an environment variable (letters, digits, underscore)")
    return value


_SPN_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_SPN_SERVICE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


def _spn_host(value: Any) -> str:
    if not isinstance(value, str) or not _SPN_HOST.match(value.strip()):
        raise ValueError(f"must be a host name as the domain knows it (mp-101.school.local), not {value!r}")
    return value.strip()


def _spn_service(value: Any) -> str:
    if not isinstance(value, str) or not _SPN_SERVICE.match(value.strip()):
        raise ValueError(f"must be a service class such as host, HTTP or WSMAN (no '/' or '@'), not {value!r}")
    return value.strip()


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise ValueError("must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class FieldSpec:
    """One settable field: what it means and how its value is checked/normalised."""

    description: str
    check: Callable[[Any], Any]
    host_only: bool = False


FIELDS: dict[str, FieldSpec] = {
    "address": FieldSpec("name or IP to connect to (default: the host's name)", _address, host_only=True),
    "transport": FieldSpec("https (default) or http", _choice(TRANSPORTS)),
    "port": FieldSpec("TCP port (default 5986 for https, 5985 for http)", _port),
    "auth": FieldSpec(f"authentication: {', '.join(AUTH_METHODS)}", _choice(AUTH_METHODS)),
    "username": FieldSpec("account, DOMAIN\\user or user@domain", _text),
    "password_env": FieldSpec("environment variable holding the password", _env_name),
    "ca_cert": FieldSpec("PEM bundle to verify TLS with, relative to this file", _text),
    "verify_tls": FieldSpec("verify the TLS certificate (default true)", _flag),
    "allow_insecure_basic": FieldSpec("allow Basic auth over plain http (password in clear)", _flag),
    "spn_host": FieldSpec(
        "Kerberos: the host name in the service principal (default: the host's name, never its address)",
        _spn_host,
        host_only=True,
    ),
    "spn_service": FieldSpec(
        "Kerberos: the service class of the principal (default host; or HTTP, WSMAN)", _spn_service
    ),
    "tags": FieldSpec("free labels; every level's tags are added together", _tags),
}


@dataclass
class Val:
    """A field value with the line and key spelling it came from."""

    value: Any
    line: int
    key: str


@dataclass
class Scope:
    """One vars mapping (top, group or host): native fields and free extras."""

    fields: dict[str, Val] = field(default_factory=dict)
    extras: dict[str, Val] = field(default_factory=dict)
