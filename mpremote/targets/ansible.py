"""Ansible inventory vars -> mpremote host fields.

Why a separate module: the mapping is a table of Ansible's spellings (``ansible_psrp_*``,
``ansible_winrm_*``, generic ``ansible_*``) with their own value vocabularies
(``cert_validation: ignore``, ``transport: plaintext``), and it is what changes when
Ansible adds a variable. Everything structural (groups, hosts, precedence, errors) stays
in :mod:`mpremote.targets`.

Rules:

* a connection var maps to a field; when several spellings of one field sit in the same
  vars mapping the most specific wins (``ansible_psrp_port`` over ``ansible_port``), as in
  Ansible's psrp plugin;
* ``mpremote_<field>`` sets any native field (``mpremote_password_env: LAB_PW``);
* every other var (``ansible_connection``, ``ansible_psrp_read_timeout``, ``room``) is
  kept in ``Host.vars`` untouched;
* a connection password may only be ``{{ lookup('env', 'NAME') }}`` (read as
  ``password_env: NAME``); literal passwords, other templates and ``!vault`` values are
  refused. A literal value under any password-like key (``ansible_become_pass``) is
  refused too, because ``Host.vars`` is printed by ``mpremote targets``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mpremote.targets.fields import FIELDS, LITERAL_PASSWORD, Scope, Val, did_you_mean, is_password_key
from mpremote.targets.yamlload import LineDict, LineList, VaultValue

__all__ = ["ANSIBLE_FIELDS", "CONNECTION_PASSWORD_KEYS", "AnsibleVarMapper"]

_ENV_LOOKUP = re.compile(
    r"""^\s*\{\{\s*lookup\(\s*['"](?:ansible\.builtin\.)?env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}\s*$"""
)

CONNECTION_PASSWORD_KEYS = frozenset(
    {"ansible_password", "ansible_pass", "ansible_psrp_password", "ansible_winrm_password", "ansible_ssh_pass"}
)


def _same(value: Any) -> Any:
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _port(value: Any) -> Any:
    # Ansible inventories often quote numbers; the value is still checked as a port.
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def _cert_validation(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    word = _lower(value)
    if word in ("ignore", "validate"):
        return word == "validate"
    raise ValueError(f"must be 'validate' or 'ignore', not {value!r}")


_AUTH_ALIASES = {"plaintext": "basic", "ssl": "basic"}


def _auth(value: Any) -> Any:
    if isinstance(value, list):  # ansible_winrm_transport may list several: the first is tried first
        value = value[0] if value else value
    if isinstance(value, str) and "," in value:
        value = value.split(",", 1)[0]
    word = _lower(value)
    if word == "certificate":
        raise ValueError("certificate authentication is not supported by mpremote")
    return _AUTH_ALIASES.get(word, word)


#: Ansible var -> (mpremote field, value converter, specificity: higher wins in one mapping).
ANSIBLE_FIELDS: dict[str, tuple[str, Callable[[Any], Any], int]] = {
    "ansible_host": ("address", _same, 0),
    "ansible_port": ("port", _port, 0),
    "ansible_user": ("username", _same, 0),
    "ansible_winrm_scheme": ("transport", _lower, 1),
    "ansible_winrm_transport": ("auth", _auth, 1),
    "ansible_winrm_user": ("username", _same, 1),
    "ansible_winrm_port": ("port", _port, 1),
    "ansible_winrm_server_cert_validation": ("verify_tls", _cert_validation, 1),
    "ansible_winrm_ca_trust_path": ("ca_cert", _same, 1),
    "ansible_winrm_kerberos_hostname_override": ("spn_host", _same, 1),
    "ansible_winrm_service": ("spn_service", _same, 1),
    "ansible_psrp_protocol": ("transport", _lower, 2),
    "ansible_psrp_auth": ("auth", _auth, 2),
    "ansible_psrp_user": ("username", _same, 2),
    "ansible_psrp_port": ("port", _port, 2),
    "ansible_psrp_cert_validation": ("verify_tls", _cert_validation, 2),
    "ansible_psrp_ca_cert": ("ca_cert", _same, 2),
    "ansible_psrp_cert_trust_path": ("ca_cert", _same, 2),
    "ansible_psrp_negotiate_hostname_override": ("spn_host", _same, 2),
    "ansible_psrp_negotiate_service": ("spn_service", _same, 2),
}
_NATIVE_PREFIX = "mpremote_"
_NATIVE_RANK = 3


class AnsibleVarMapper:
    """Turns one Ansible vars mapping into a :class:`~mpremote.targets.Scope`."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader  # targets._Reader: error() and checked()

    def scope(self, body: LineDict) -> Scope:
        scope = Scope()
        ranks: dict[str, int] = {}
        for key, value in body.items():
            line = body.line_of(key)
            if not isinstance(key, str):
                raise self._reader.error(line, str(key), "variable names must be text")
            if key in CONNECTION_PASSWORD_KEYS:
                self._password(scope, key, value, line, ranks)
            elif key.startswith(_NATIVE_PREFIX) and not is_password_key(key):
                self._native(scope, key, value, line, ranks)
            elif is_password_key(key) and _is_literal(value):
                raise self._reader.error(line, key, LITERAL_PASSWORD)
            elif key in ANSIBLE_FIELDS:
                fld, convert, rank = ANSIBLE_FIELDS[key]
                if isinstance(value, str) and "{{" in value:
                    raise self._reader.error(
                        line, key, "Jinja templates are not evaluated by mpremote; write the value"
                    )
                try:
                    converted = convert(value)
                except ValueError as exc:
                    raise self._reader.error(line, key, str(exc)) from None
                self._put(scope, fld, self._reader.checked(fld, converted, line, key), rank, ranks)
            else:
                scope.extras[key] = Val(_plain(value), line, key)
        return scope

    def _password(self, scope: Scope, key: str, value: Any, line: int, ranks: dict[str, int]) -> None:
        if value is None:
            return
        if isinstance(value, VaultValue):
            raise self._reader.error(line, key, "vault-encrypted passwords are not read; " + _ENV_HINT)
        match = _ENV_LOOKUP.match(value) if isinstance(value, str) else None
        if match:
            self._put(scope, "password_env", Val(match.group(1), line, key), _NATIVE_RANK - 1, ranks)
        elif isinstance(value, str) and "{{" in value:
            raise self._reader.error(
                line, key, "only the template {{ lookup('env', 'NAME') }} is understood; " + _ENV_HINT
            )
        else:
            raise self._reader.error(line, key, f"{LITERAL_PASSWORD} (or {{{{ lookup('env', 'NAME') }}}})")

    def _native(self, scope: Scope, key: str, value: Any, line: int, ranks: dict[str, int]) -> None:
        fld = key[len(_NATIVE_PREFIX) :]
        if fld not in FIELDS:
            choices = tuple(_NATIVE_PREFIX + f for f in FIELDS)
            raise self._reader.error(line, key, "unknown field" + did_you_mean(key, choices))
        self._put(scope, fld, self._reader.checked(fld, value, line, key), _NATIVE_RANK, ranks)

    @staticmethod
    def _put(scope: Scope, fld: str, val: Val, rank: int, ranks: dict[str, int]) -> None:
        if rank >= ranks.get(fld, -1):
            scope.fields[fld] = val
            ranks[fld] = rank


_ENV_HINT = "use {{ lookup('env', 'NAME') }}, mpremote_password_env: NAME, or the keyring"


def _is_literal(value: Any) -> bool:
    """A value that may be a real secret (not empty, not a template)."""
    if value is None or value == "":
        return False
    return not (isinstance(value, str) and "{{" in value)


def _plain(value: Any) -> Any:
    """Line-aware containers -> plain JSON-able values (vault blobs become a marker)."""
    if isinstance(value, VaultValue):
        return "<vault>"
    if isinstance(value, LineDict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, LineList):
        return [_plain(v) for v in value]
    return value
