"""Where a password comes from, and keeping it out of every output.

Order, first that yields wins (per host):

1. ``--password-stdin`` (``password_override``): the operator typed it for this run.
2. the host's ``password_env: NAME`` from the target file, when the run connects as the
   file's account. A named variable that is unset or empty is an error naming the
   variable. It comes *before* ``MPREMOTE_PASSWORD`` because it is the more specific
   statement: a file whose groups use two accounts (``LAB_PW``, ``STAFF_PW``) must not
   send one global password to both. ``--username`` naming another account skips it,
   since the file's variable holds the file's account's password.
3. the environment variable ``MPREMOTE_PASSWORD``.
4. the OS keyring (optional ``keyring`` package), service ``mpremote``: key ``USERNAME``
   first, then ``USERNAME@HOSTNAME`` for a host with its own password.
5. an interactive prompt (getpass), only when interactive (stdin is a TTY), once per
   account; never for ``auth: kerberos``, nor for ``negotiate`` while a Kerberos ticket is
   in the cache (:func:`has_ticket`).
6. ``auth: negotiate`` / ``kerberos`` with no password: ``None``, so the Kerberos ticket
   cache is used. Any other auth with no password is an error (exit 2) telling where a
   password can come from.

Every lookup is cached per source key (one env read per variable, one keyring call per
keyring key, one prompt per account), so 500 hosts sharing an account cost one keyring
call. The resolver is thread-safe: fan-out workers may call it concurrently; prompts are
serialised. Call :meth:`CredentialResolver.resolve_all` before a run to surface every
credential problem as exit 2 before any host is contacted.

Secrets travel as :class:`Secret`, whose ``repr``/``str`` are ``********``; only
:meth:`Secret.reveal` gives the text, at the last moment (the connection). Every value
revealed is remembered so :func:`redact` / :class:`RedactingFilter` can scrub logs,
audit lines and error messages.
"""

from __future__ import annotations

import getpass
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from mpremote.credentials.keyring import (
    KEYRING_SERVICE,
    KeyringUnavailable,
    keyring_module,
)
from mpremote.credentials.secrets import (
    ENV_PASSWORD,
    RedactingFilter,
    Secret,
    redact,
)
from mpremote.errors import UsageError
from mpremote.hosts import Host
from mpremote.terminal import stdin_is_tty

__all__ = ["Credential", "CredentialResolver", "has_ticket"]

log = logging.getLogger(__name__)

#: Auth methods that can authenticate from a Kerberos ticket cache without a password.
TICKET_AUTHS = frozenset({"negotiate", "kerberos"})


@dataclass(frozen=True)
class Credential:
    """Who to connect as and with what; ``password`` None means "use the ticket cache"."""

    username: str | None
    password: Secret | None
    #: Where the password came from: stdin, env:NAME, keyring:KEY, prompt, ticket-cache.
    source: str = "none"

    def pair(self) -> tuple[str | None, str | None]:
        """``(username, password)`` in clear, for the connection layer only."""
        return self.username, self.password.reveal() if self.password is not None else None


class CredentialResolver:
    """Resolves and caches credentials per host; see the module docstring for the order."""

    def __init__(
        self,
        *,
        username_override: str | None = None,
        password_override: Secret | str | None = None,
        interactive: bool | None = None,
        environ: Mapping[str, str] | None = None,
        use_keyring: bool = True,
        prompt: Callable[[str], str] | None = None,
    ) -> None:
        if isinstance(password_override, str):
            password_override = Secret(password_override)
        self._username_override = username_override
        self._stdin_password = password_override
        self._interactive = stdin_is_tty() if interactive is None else interactive
        self._environ = os.environ if environ is None else environ
        self._use_keyring = use_keyring
        self._prompt = prompt or getpass.getpass
        self._lock = threading.RLock()
        self._memo: dict[tuple[str, str], Secret | None] = {}
        self._seen: set[Secret] = set() if password_override is None else {password_override}

    # -- public -------------------------------------------------------------------------------

    def resolve(self, host: Host) -> Credential:
        """The credential for ``host``; raises UsageError naming what is missing (never a value)."""
        with self._lock:
            credential = self._resolve(host)
            if credential.password is not None:
                self._seen.add(credential.password)
            return credential

    def for_host_pair(self, host: Host) -> tuple[str | None, str | None]:
        """``(username, password)`` in clear for the connection layer (hostjob's callback)."""
        return self.resolve(host).pair()

    def resolve_all(self, hosts: Iterable[Host]) -> dict[str, Credential]:
        """Resolve every host now (prompting at most once per account), before a run starts."""
        return {host.name: self.resolve(host) for host in hosts}

    def secrets(self) -> list[Secret]:
        """Every secret this resolver has handed out (for redaction)."""
        with self._lock:
            return list(self._seen)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets())

    def log_filter(self) -> RedactingFilter:
        return RedactingFilter(self.secrets)

    # -- the order ----------------------------------------------------------------------------

    def _resolve(self, host: Host) -> Credential:
        username = self._username_override or host.username
        if self._stdin_password is not None:
            return Credential(username, self._stdin_password, "stdin")
        own_account = self._username_override is None or self._username_override == host.username
        if host.password_env and own_account:
            value = self._env(host.password_env)
            if value is None:
                raise UsageError(
                    f"host {host.name}: the environment variable {host.password_env} named by "
                    f"password_env{_at(host, 'password_env')} is not set (or empty)"
                )
            return Credential(username, value, f"env:{host.password_env}")
        value = self._env(ENV_PASSWORD)
        if value is not None:
            return Credential(username, value, f"env:{ENV_PASSWORD}")
        if username is None:
            if host.auth in TICKET_AUTHS:
                return Credential(None, None, "ticket-cache")
            raise UsageError(
                f"host {host.name}: auth {host.auth} needs a username; set username in the target "
                "file or pass --username"
            )
        for key in (username, f"{username}@{host.name}"):
            value = self._keyring(key)
            if value is not None:
                return Credential(username, value, f"keyring:{key}")
        if self._interactive and host.auth != "kerberos" and not (host.auth in TICKET_AUTHS and has_ticket()):
            value = self._ask(username)
            if value is not None:
                return Credential(username, value, "prompt")
        if host.auth in TICKET_AUTHS:
            return Credential(username, None, "ticket-cache")
        raise UsageError(
            f"host {host.name}: no password for {username} (auth {host.auth}); use --password-stdin, "
            f"{ENV_PASSWORD}, password_env in the target file, or store it with "
            f"'mpremote credentials set {username}'"
        )

    # -- cached sources -----------------------------------------------------------------------

    def _cached(self, key: tuple[str, str], fetch: Callable[[], Secret | None]) -> Secret | None:
        if key not in self._memo:
            self._memo[key] = fetch()
        return self._memo[key]

    def _env(self, name: str) -> Secret | None:
        def fetch() -> Secret | None:
            value = self._environ.get(name)
            return Secret(value) if value else None

        return self._cached(("env", name), fetch)

    def _keyring(self, key: str) -> Secret | None:
        if not self._use_keyring:
            return None

        def fetch() -> Secret | None:
            try:
                value = keyring_module().get_password(KEYRING_SERVICE, key)
            except KeyringUnavailable as exc:
                log.debug("keyring not used: %s", exc)
                self._use_keyring = False
                return None
            except Exception as exc:  # no backend, locked store, D-Bus trouble: not fatal
                log.warning("keyring lookup failed (%s); not using the keyring for this run", type(exc).__name__)
                self._use_keyring = False
                return None
            return Secret(value) if value else None

        return self._cached(("keyring", key), fetch)

    def _ask(self, username: str) -> Secret | None:
        def fetch() -> Secret | None:
            try:
                value = self._prompt(f"Password for {username}: ")
            except (EOFError, KeyboardInterrupt):
                raise UsageError("no password entered") from None
            return Secret(value) if value else None

        return self._cached(("prompt", username), fetch)


_TICKET: list[bool] = []


def has_ticket() -> bool:
    """True when a Kerberos ticket (TGT) that has not expired is in the default cache.

    Asked once per process, and only before prompting for a ``negotiate`` password: with a
    ticket, Negotiate uses it and a prompt would only be in the way. False without the
    ``kerberos`` extra.
    """
    if not _TICKET:
        try:
            import gssapi

            _TICKET.append(gssapi.Credentials(usage="initiate").lifetime > 0)
        except Exception:  # no gssapi, no cache, an expired ticket: no ticket
            _TICKET.append(False)
    return _TICKET[0]


def _at(host: Host, field: str) -> str:
    origin = getattr(host, "origins", {}).get(field)
    return f" ({origin})" if origin else ""
