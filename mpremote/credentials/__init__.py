"""Credentials: where a password comes from (:mod:`~mpremote.credentials.resolver`), and keeping it
out of every output (``Secret``, ``redact``, ``RedactingFilter``)."""

from __future__ import annotations

from mpremote.credentials.resolver import (
    ENV_PASSWORD,
    KEYRING_SERVICE,
    MASK,
    Credential,
    CredentialResolver,
    RedactingFilter,
    Secret,
    delete_from_keyring,
    install_redaction,
    read_password_stdin,
    redact,
    redact_known,
    store_in_keyring,
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
