"""`mpremote credentials set/delete` against an in-memory keyring backend."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from typer.testing import CliRunner

from mpremote.cli.credentials import app
from mpremote.credentials import CredentialResolver
from mpremote.hosts import Host


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.store:
            raise PasswordDeleteError("none")
        del self.store[(service, username)]


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_set_stores_where_the_resolver_looks_and_never_echoes(memory_keyring, monkeypatch) -> None:
    monkeypatch.delenv("MPREMOTE_PASSWORD", raising=False)
    res = CliRunner().invoke(app, ["set", "SCHOOL\\labadmin", "--password-stdin"], input="s3cret-Pw\n")
    assert res.exit_code == 0, res.output
    assert "s3cret-Pw" not in res.output
    host = Host(name="mp-1", address="127.0.0.1", username="SCHOOL\\labadmin")
    resolver = CredentialResolver(interactive=False, environ={})
    assert resolver.for_host_pair(host) == ("SCHOOL\\labadmin", "s3cret-Pw")


def test_delete_removes_and_reports_when_nothing_was_stored(memory_keyring) -> None:
    CliRunner().invoke(app, ["set", "ana", "--password-stdin"], input="x\n")
    assert CliRunner().invoke(app, ["delete", "ana"]).exit_code == 0
    assert memory_keyring.store == {}
    again = CliRunner().invoke(app, ["delete", "ana"])
    # Nothing to remove is the user's mistake (exit 2, one line), not a bug (exit 1).
    assert again.exit_code == 2 and "no stored password for ana" in again.output
