"""Secrets and keeping them out of every output: :class:`Secret` (``repr`` is ``********``),
:func:`redact`, the log-record hook :func:`install_redaction`, and :func:`redact_known` for
the one error line printed after a failure."""

from __future__ import annotations

import hmac
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import IO, Any, Protocol, runtime_checkable
from urllib.parse import quote

from mpremote.errors import UsageError

__all__ = [
    "ENV_PASSWORD",
    "MASK",
    "HasSecrets",
    "RedactingFilter",
    "Secret",
    "SecretSource",
    "install_redaction",
    "read_password_stdin",
    "redact",
    "redact_known",
]

ENV_PASSWORD = "MPREMOTE_PASSWORD"
MASK = "********"


class Secret:
    """A password that prints as ``********`` everywhere; ``reveal()`` is the only way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds text")
        self._value = value

    def reveal(self) -> str:
        """The secret text, for the one place that must send it (the connection)."""
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    # Copies are the same secret; pickling would write it to disk in clear.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


def read_password_stdin(stream: IO[str] | None = None) -> Secret:
    """Read the password once from stdin; strip one trailing newline (``\\n`` or ``\\r\\n``)."""
    text = (stream or sys.stdin).read()
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise UsageError("--password-stdin: standard input was empty")
    return Secret(text)


def _variants(value: str) -> set[str]:
    """The forms a secret takes in text: as is, repr/JSON-escaped, URL-encoded."""
    forms = {value, repr(value)[1:-1], json.dumps(value)[1:-1], quote(value, safe="")}
    return {f for f in forms if f}


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """Replace every known secret value (and its escaped forms) in ``text`` with ``********``."""
    forms: set[str] = set()
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            forms |= _variants(value)
    for form in sorted(forms, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(form, MASK)
    return text


SecretSource = Callable[[], Iterable[Secret | str]]


@runtime_checkable
class HasSecrets(Protocol):
    """Anything that knows the secrets it handed out (a ``CredentialResolver``)."""

    def secrets(self) -> list[Secret]: ...


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs known secrets from the message, args and traceback.

    ``source`` is called for every record, so secrets learnt after the filter was
    installed (a late prompt) are scrubbed too.
    """

    def __init__(self, source: SecretSource) -> None:
        super().__init__()
        self._source = source
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = list(self._source())
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler's own error path
            return True
        record.msg, record.args = redact(message, secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


#: Secret sources registered by install_redaction, for redact_known() at the last boundary.
_ACTIVE_SOURCES: list[SecretSource] = []


def redact_known(text: str) -> str:
    """Scrub every secret this process knows (resolvers in use, MPREMOTE_PASSWORD) from text."""
    secrets: list[Secret | str] = []
    for source in list(_ACTIVE_SOURCES):
        secrets.extend(source())
    env_password = os.environ.get(ENV_PASSWORD)
    if env_password:
        secrets.append(env_password)
    return redact(text, secrets) if secrets else text


def install_redaction(source: HasSecrets | SecretSource) -> Callable[[], None]:
    """Scrub secrets from every log record of every logger (pypsrp, requests included).

    Hooks the log record factory rather than handlers, so handlers added later are
    covered too. Returns a function that undoes the hook.
    """
    secret_source: SecretSource = source.secrets if isinstance(source, HasSecrets) else source
    filt = RedactingFilter(secret_source)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        filt.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _ACTIVE_SOURCES.append(secret_source)

    def uninstall() -> None:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)
        if secret_source in _ACTIVE_SOURCES:
            _ACTIVE_SOURCES.remove(secret_source)

    return uninstall
