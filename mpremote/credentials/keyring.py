"""The OS keyring (optional ``keyring`` package): service ``mpremote``, key ``USER`` or
``USER@HOST``; where ``mpremote credentials set`` stores and the resolver looks."""

from __future__ import annotations

from typing import Any

from mpremote.credentials.secrets import Secret
from mpremote.errors import UsageError

__all__ = ["KEYRING_SERVICE", "KeyringUnavailable", "delete_from_keyring", "keyring_module", "store_in_keyring"]

KEYRING_SERVICE = "mpremote"


class KeyringUnavailable(Exception):
    pass


def keyring_module() -> Any:
    try:
        import keyring
    except ImportError:
        raise KeyringUnavailable("the keyring package is not installed") from None
    return keyring


def _keyring_key(username: str, host: str | None) -> str:
    if not username:
        raise UsageError("a username is needed to store a password in the keyring")
    return f"{username}@{host}" if host else username


def store_in_keyring(username: str, password: Secret | str, *, host: str | None = None) -> str:
    """Store a password in the OS keyring (``mpremote credentials set USER``); returns the key."""
    key = _keyring_key(username, host)
    secret = password if isinstance(password, Secret) else Secret(password)
    try:
        keyring_module().set_password(KEYRING_SERVICE, key, secret.reveal())
    except KeyringUnavailable as exc:
        raise UsageError(f"{exc}: pip install 'multipoint-remote[keyring]'") from None
    except Exception as exc:
        raise UsageError(f"the keyring refused to store the password ({type(exc).__name__})") from None
    return key


def delete_from_keyring(username: str, *, host: str | None = None) -> bool:
    """Remove a stored password; False when there was none."""
    key = _keyring_key(username, host)
    try:
        keyring = keyring_module()
        keyring.delete_password(KEYRING_SERVICE, key)
    except KeyringUnavailable as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:
        if type(exc).__name__ == "PasswordDeleteError":
            return False
        raise UsageError(f"the keyring refused to delete the password ({type(exc).__name__})") from None
    return True
