"""Credentials: the order of sources, caching, keyring, and secrets staying secret."""

from __future__ import annotations

import copy
import io
import logging
import pickle
import threading
from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.errors
import pytest

from mpremote.credentials import (
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
    store_in_keyring,
)
from mpremote.errors import UsageError
from mpremote.hosts import Host


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-memory keyring that counts lookups."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.lookups: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.lookups.append(username)
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        self.lookups.append(username)
        raise keyring.errors.KeyringLocked("locked")


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def _host(name: str = "mp-1", **kw: object) -> Host:
    kw.setdefault("username", "SCHOOL\\lab")
    kw.setdefault("auth", "ntlm")
    return Host(name=name, address=name, **kw)  # type: ignore[arg-type]


def _resolver(env: dict[str, str] | None = None, **kw: object) -> CredentialResolver:
    kw.setdefault("interactive", False)
    kw.setdefault("use_keyring", False)
    return CredentialResolver(environ=env or {}, **kw)  # type: ignore[arg-type]


# --- Secret ----------------------------------------------------------------------------------


def test_secret_never_prints() -> None:
    s = Secret("hunter2")
    assert repr(s) == str(s) == f"{s}" == f"{s!r}" == MASK
    assert s.reveal() == "hunter2"
    cred = Credential("ana", s, "stdin")
    assert "hunter2" not in repr(cred) and "hunter2" not in str(cred)
    assert copy.deepcopy(cred).password == s
    with pytest.raises(TypeError):
        pickle.dumps(s)
    assert cred.pair() == ("ana", "hunter2")
    assert Credential(None, None).pair() == (None, None)


def test_read_password_stdin_strips_one_newline() -> None:
    assert read_password_stdin(io.StringIO("pw\n")).reveal() == "pw"
    assert read_password_stdin(io.StringIO("pw\r\n")).reveal() == "pw"
    assert read_password_stdin(io.StringIO("pw \n\n")).reveal() == "pw \n"
    with pytest.raises(UsageError, match="empty"):
        read_password_stdin(io.StringIO(""))


# --- the order -------------------------------------------------------------------------------


def test_stdin_beats_everything(ring: MemoryKeyring) -> None:
    ring.store[(KEYRING_SERVICE, "SCHOOL\\lab")] = "from-ring"
    env = {ENV_PASSWORD: "from-env", "LAB_PW": "from-lab"}
    r = _resolver(env, password_override="from-stdin", use_keyring=True)
    cred = r.resolve(_host(password_env="LAB_PW"))
    assert (cred.password.reveal(), cred.source) == ("from-stdin", "stdin")  # type: ignore[union-attr]
    assert ring.lookups == []


def test_password_env_beats_mpremote_password() -> None:
    r = _resolver({ENV_PASSWORD: "global", "LAB_PW": "lab"})
    assert r.for_host_pair(_host(password_env="LAB_PW")) == ("SCHOOL\\lab", "lab")
    assert r.for_host_pair(_host("mp-2")) == ("SCHOOL\\lab", "global")


def test_unset_password_env_names_the_variable_not_a_value() -> None:
    r = _resolver({ENV_PASSWORD: "global-secret"})
    host = _host(password_env="LAB_PW", origins={"password_env": "lab.yaml:7"})
    with pytest.raises(UsageError) as info:
        r.resolve(host)
    assert "LAB_PW" in str(info.value) and "lab.yaml:7" in str(info.value)
    assert "global-secret" not in str(info.value)


def test_username_override_skips_the_files_password_env() -> None:
    r = _resolver({ENV_PASSWORD: "mine"}, username_override="SCHOOL\\other")
    assert r.for_host_pair(_host(password_env="LAB_PW")) == ("SCHOOL\\other", "mine")


def test_mpremote_password_beats_keyring(ring: MemoryKeyring) -> None:
    ring.store[(KEYRING_SERVICE, "SCHOOL\\lab")] = "from-ring"
    r = _resolver({ENV_PASSWORD: "from-env"}, use_keyring=True)
    assert r.resolve(_host()).source == f"env:{ENV_PASSWORD}"
    assert ring.lookups == []


def test_keyring_username_then_username_at_host(ring: MemoryKeyring) -> None:
    ring.store[(KEYRING_SERVICE, "SCHOOL\\lab@mp-2")] = "per-host"
    r = _resolver(use_keyring=True)
    cred = r.resolve(_host("mp-2"))
    assert (cred.password.reveal(), cred.source) == ("per-host", "keyring:SCHOOL\\lab@mp-2")  # type: ignore[union-attr]
    assert ring.lookups == ["SCHOOL\\lab", "SCHOOL\\lab@mp-2"]


def test_keyring_is_asked_once_for_500_hosts(ring: MemoryKeyring) -> None:
    ring.store[(KEYRING_SERVICE, "SCHOOL\\lab")] = "shared"
    r = _resolver(use_keyring=True)
    hosts = [_host(f"mp-{i:03}") for i in range(500)]
    creds = r.resolve_all(hosts)
    assert {c.password.reveal() for c in creds.values()} == {"shared"}  # type: ignore[union-attr]
    assert ring.lookups == ["SCHOOL\\lab"]


def test_concurrent_resolution_is_safe_and_cached(ring: MemoryKeyring) -> None:
    ring.store[(KEYRING_SERVICE, "SCHOOL\\lab")] = "shared"
    r = _resolver(use_keyring=True)
    results: list[tuple[str | None, str | None]] = []
    threads = [threading.Thread(target=lambda i=i: results.append(r.for_host_pair(_host(f"h{i}")))) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {("SCHOOL\\lab", "shared")} and len(results) == 32
    assert ring.lookups == ["SCHOOL\\lab"]


def test_broken_keyring_is_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    previous = keyring.get_keyring()
    broken = BrokenKeyring()
    keyring.set_keyring(broken)
    try:
        r = _resolver(use_keyring=True)
        with pytest.raises(UsageError, match="no password"):
            r.resolve(_host())
        with pytest.raises(UsageError):
            r.resolve(_host("mp-2"))
        assert broken.lookups == ["SCHOOL\\lab"]  # given up after the first failure
        assert "KeyringLocked" in caplog.text
    finally:
        keyring.set_keyring(previous)


def test_prompt_only_when_interactive_and_once_per_account() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "typed"

    r = _resolver(interactive=True, prompt=prompt)
    assert r.for_host_pair(_host("a")) == ("SCHOOL\\lab", "typed")
    assert r.for_host_pair(_host("b")) == ("SCHOOL\\lab", "typed")
    assert r.resolve(_host("c", username="other")).source == "prompt"
    assert asked == ["Password for SCHOOL\\lab: ", "Password for other: "]
    with pytest.raises(UsageError, match="no password for SCHOOL"):
        _resolver(prompt=prompt).resolve(_host())  # not a TTY: never prompts
    assert len(asked) == 2


def test_kerberos_and_negotiate_fall_back_to_ticket_cache() -> None:
    never = _resolver(interactive=True, prompt=lambda _: pytest.fail("prompted"))
    cred = never.resolve(_host(auth="kerberos"))
    assert (cred.password, cred.source) == (None, "ticket-cache")
    batch = _resolver()
    assert batch.resolve(_host(auth="negotiate")).source == "ticket-cache"
    assert batch.resolve(_host(auth="negotiate", username=None)) == Credential(None, None, "ticket-cache")
    interactive = _resolver(interactive=True, prompt=lambda _: "")  # an empty answer
    assert interactive.resolve(_host(auth="negotiate")).source == "ticket-cache"


def test_missing_username_for_ntlm_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="needs a username"):
        _resolver().resolve(_host(username=None, auth="ntlm"))


def test_interrupted_prompt_is_a_usage_error() -> None:
    def prompt(_: str) -> str:
        raise EOFError

    with pytest.raises(UsageError, match="no password entered"):
        _resolver(interactive=True, prompt=prompt).resolve(_host())


# --- keyring helpers -------------------------------------------------------------------------


def test_store_and_delete_in_keyring(ring: MemoryKeyring) -> None:
    assert store_in_keyring("SCHOOL\\lab", Secret("s1")) == "SCHOOL\\lab"
    assert store_in_keyring("SCHOOL\\lab", "s2", host="mp-9") == "SCHOOL\\lab@mp-9"
    assert ring.store == {(KEYRING_SERVICE, "SCHOOL\\lab"): "s1", (KEYRING_SERVICE, "SCHOOL\\lab@mp-9"): "s2"}
    assert _resolver(use_keyring=True).for_host_pair(_host()) == ("SCHOOL\\lab", "s1")
    assert delete_from_keyring("SCHOOL\\lab") is True
    assert delete_from_keyring("SCHOOL\\lab") is False
    with pytest.raises(UsageError, match="username"):
        store_in_keyring("", "x")


# --- redaction -------------------------------------------------------------------------------


def test_redact_replaces_every_form() -> None:
    secrets = [Secret("p@ss\\w0rd"), "tok"]
    text = "a p@ss\\w0rd b 'p@ss\\\\w0rd' c p%40ss%5Cw0rd d tok"
    out = redact(text, secrets)
    assert "w0rd" not in out and "tok" not in out and out.count(MASK) == 4
    assert redact("nothing here", []) == "nothing here"
    assert redact("x", [""]) == "x"


def test_resolver_redacts_what_it_handed_out() -> None:
    r = _resolver({"LAB_PW": "lab-secret"})
    r.resolve(_host(password_env="LAB_PW"))
    assert r.redact("failed with lab-secret") == f"failed with {MASK}"
    assert [str(s) for s in r.secrets()] == [MASK]


def test_logging_filter_scrubs_message_args_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(lambda: [Secret("hunter2")]))
    logger = logging.getLogger("mpremote.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("password=%s", "hunter2")
        try:
            raise RuntimeError("auth failed for hunter2")
        except RuntimeError:
            logger.exception("boom hunter2")
    finally:
        logger.removeHandler(handler)
    assert "hunter2" not in stream.getvalue()
    assert "password=********" in stream.getvalue() and "RuntimeError" in stream.getvalue()


def test_install_redaction_covers_every_logger() -> None:
    r = _resolver(password_override="s3cret-pw")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    other = logging.getLogger("somelib.http")
    other.addHandler(handler)
    other.setLevel(logging.DEBUG)
    other.propagate = False
    uninstall = install_redaction(r)
    try:
        other.debug("Authorization for %s", "s3cret-pw")
    finally:
        uninstall()
        other.removeHandler(handler)
    assert stream.getvalue() == f"Authorization for {MASK}\n"
