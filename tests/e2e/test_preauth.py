"""Pre-emptive NTLM (mpremote.remote.preauth) against the lab: both flows, channel
binding in the last message, the fall-back on a bare 401, and pypsrp's re-authentication."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mpremote.errors import AuthError
from mpremote.lab import auth as lab_auth
from mpremote.lab.server import Lab
from mpremote.remote import psjson
from mpremote.remote.connection import Connection, ConnectionSettings, properties
from mpremote.remote.scripts import QUERY
from mpremote.targets import load_targets
from tests.support.helpers import SECRET, start_lab

pytestmark = pytest.mark.lab


def _query(lab: Lab, *, preemptive: bool, password: str = SECRET) -> tuple[int, Any, Any]:
    """Open, run the query script, close; return (requests the host answered, first row, auth)."""
    assert lab.targets_path is not None
    host = load_targets(lab.targets_path).hosts[0]
    before = lab.request_count()
    settings = ConnectionSettings(preemptive_ntlm=preemptive, connect_retries=0)
    with Connection(host, username=host.username, password=password, settings=settings) as conn:
        out = conn.run_script(QUERY, {"IncludeWms": True}).output
        auth = conn._wsman.transport.session.auth
    return lab.request_count() - before, psjson.rows(out)[0], auth


def _computer_name(row: Any) -> str:
    return str(properties(row).get("ComputerName"))


@pytest.mark.parametrize(("tls", "saved_from", "saved_to"), [(True, 7, 6), (False, 8, 7)])
def test_preemptive_saves_one_request_and_the_401_flow_still_works(
    tmp_path: Path, tls: bool, saved_from: int, saved_to: int
) -> None:
    """HTTPS (channel binding) and HTTP with message encryption: same answer, one POST fewer."""
    with start_lab(tmp_path, hosts=1, auth="ntlm", tls=tls) as lab:
        classic, row_classic, auth_classic = _query(lab, preemptive=False)
        pre, row_pre, auth_pre = _query(lab, preemptive=True)
    assert (classic, pre) == (saved_from, saved_to)
    assert _computer_name(row_pre) == _computer_name(row_classic) != "None"
    assert type(auth_classic).__name__ == "HTTPNegotiateAuth"
    assert type(auth_pre).__name__ == "PreemptiveNTLMAuth" and auth_pre.preemptive_sent == 1


def test_channel_binding_is_in_the_authenticate_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab checks the binding: a pre-emptive client bound to another certificate is refused."""
    from pypsrp.negotiate import HTTPNegotiateAuth

    with start_lab(tmp_path, hosts=1, auth="ntlm", tls=True) as lab:
        monkeypatch.setattr(
            HTTPNegotiateAuth, "_get_cbt_data", staticmethod(lambda r: b"tls-server-end-point:" + b"\0" * 32)
        )
        with pytest.raises(AuthError):
            _query(lab, preemptive=True)
        monkeypatch.undo()
        requests, _row, _auth = _query(lab, preemptive=True)
        assert requests == 6


def test_wrong_password_is_an_auth_error(tmp_path: Path) -> None:
    with start_lab(tmp_path, hosts=1, auth="ntlm", tls=True) as lab, pytest.raises(AuthError) as info:
        _query(lab, preemptive=True, password="not-" + SECRET)
    assert SECRET not in str(info.value)


def test_bare_401_to_the_first_token_falls_back_to_the_401_flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that wants to send its own challenge first: the client starts over, and succeeds."""
    original = lab_auth.Authenticator._check_negotiate
    refused_first_tokens = []

    def challenge_first(self: Any, conn: Any, authorization: str | None, cbt: Any, refuse: bool) -> Any:
        if authorization and not getattr(conn, "challenged", False) and conn.user is None:
            conn.challenged = True
            refused_first_tokens.append(authorization.split()[0])
            return lab_auth.AuthResult(None, self.challenge)
        if not authorization:
            conn.challenged = True
        return original(self, conn, authorization, cbt, refuse)

    monkeypatch.setattr(lab_auth.Authenticator, "_check_negotiate", challenge_first)
    with start_lab(tmp_path, hosts=1, auth="ntlm", tls=True) as lab:
        requests, row, auth = _query(lab, preemptive=True)
    assert refused_first_tokens == ["Negotiate"]
    # The refused pre-emptive POST took the place of the classic flow's anonymous one.
    assert requests == 7
    assert _computer_name(row) != "None"
    assert auth.preemptive_sent == 1


def test_a_new_connection_mid_conversation_reauthenticates_through_pypsrp(tmp_path: Path) -> None:
    """Dropped keep-alive: the next request goes out bare, and pypsrp's 401 path re-authenticates."""
    with start_lab(tmp_path, hosts=1, auth="ntlm", tls=True) as lab:
        assert lab.targets_path is not None
        host = load_targets(lab.targets_path).hosts[0]
        with Connection(host, username=host.username, password=SECRET, settings=ConnectionSettings()) as conn:
            assert conn.run_script(QUERY, {"IncludeWms": True}).output
            session = conn._wsman.transport.session
            session.get_adapter("https://").close()  # the pooled, authenticated connection is gone
            before = lab.request_count()
            assert conn.run_script(QUERY, {"IncludeWms": True}).output
            # anonymous -> 401, NEGOTIATE -> challenge, AUTHENTICATE + Command, then Receive
            assert lab.request_count() - before == 4
            assert session.auth.preemptive_sent == 1
