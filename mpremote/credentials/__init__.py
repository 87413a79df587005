"""Credentials: where a password comes from (:mod:`~mpremote.credentials.resolver`), keeping
it out of every output (:mod:`~mpremote.credentials.secrets`), and the OS keyring
(:mod:`~mpremote.credentials.keyring`)."""

from __future__ import annotations

from mpremote.credentials.keyring import KEYRING_SERVICE, delete_from_keyring, store_in_keyring
from mpremote.credentials.resolver import Credential, CredentialResolver
from mpremote.credentials.secrets import (
    ENV_PASSWORD,
    MASK,
    RedactingFilter,
    Secret,
    install_redaction,
    read_password_stdin,
    redact,
    redact_known,
)

__all__ = [
    "ENV_PASSWORD",
    "KEYRING_SERVICE",
    "MASK",
    "Credential",
    "CredentialResolver",
    "RedactingFilter",
    "Secret",
    "delete_from_keyring",
    "install_redaction",
    "read_password_stdin",
    "redact",
    "redact_known",
    "store_in_keyring",
]
