"""The per-process sharing in mpremote.remote.connection: one SSLContext per CA bundle,
NTLM hashes computed once, no environment scan per request (behaviour stays pypsrp's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpremote.remote.connection import Connection, ConnectionSettings
from mpremote.remote.scripts import QUERY
from mpremote.targets import load_targets
from tests.support.helpers import SECRET, start_lab

pytestmark = pytest.mark.lab


def test_hosts_share_one_tls_context_and_ntlm_hashes(tmp_path: Path) -> None:
    from spnego import NTLMHash

    with start_lab(tmp_path, hosts=2, auth="ntlm", tls=True) as lab:
        assert lab.targets_path is not None
        hosts = load_targets(lab.targets_path).hosts
        contexts = []
        for host in hosts:
            with Connection(host, username=host.username, password=SECRET, settings=ConnectionSettings()) as conn:
                assert conn.run_script(QUERY, {"IncludeWms": True}).output
                session = conn._wsman.transport.session
                assert session.trust_env is False
                assert isinstance(session.auth.username, NTLMHash)
                assert session.auth.password is None
                contexts.append(session.get_adapter("https://").ssl_context)
        assert contexts[0] is not None and contexts[0] is contexts[1]
        assert contexts[0].check_hostname and contexts[0].verify_mode.name == "CERT_REQUIRED"


@pytest.mark.parametrize("max_size", [153600, 512000, 1048576])
def test_sized_wsman_matches_pypsrp_envelope_sizes(max_size: int) -> None:
    """The subclass's cached answer is pypsrp's own, for endpoints of every shape."""
    from pypsrp.wsman import WSMan

    from mpremote.remote import connection

    cls = connection._wsman_class()
    assert cls is not WSMan and issubclass(cls, WSMan), "pypsrp 0.9 should get the sizing subclass"
    servers = ["127.0.0.1", "host-a.example", "host-b.example", "::1", "a&b<c>.example", "hôte.example", "h" * 60]
    for server in servers:
        for port, ssl, timeout, locale in (
            (5986, True, 20, "en-US"),
            (5985, False, 7, "de-DE"),
            (40001, True, 120, "en-US"),
        ):
            kwargs = {"port": port, "ssl": ssl, "operation_timeout": timeout, "locale": locale, "auth": "ntlm"}
            ours = cls(server, username="u", password="p", **kwargs)
            theirs = WSMan(server, username="u", password="p", **kwargs)
            assert ours.max_payload_size == theirs.max_payload_size
            assert ours._calc_envelope_size(max_size) == WSMan._calc_envelope_size(theirs, max_size)
            ours.update_max_payload_size(max_size)
            theirs.update_max_payload_size(max_size)
            assert (ours.max_envelope_size, ours.max_payload_size) == (
                theirs.max_envelope_size,
                theirs.max_payload_size,
            )
