"""The per-process sharing in mpremote.remote.connection: one SSLContext per CA bundle,
NTLM hashes computed once, no environment scan per request (behaviour stays pypsrp's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpremote.lab.server import DEFAULT_PASSWORD, Lab, LabOptions
from mpremote.remote.connection import Connection, ConnectionSettings
from mpremote.remote.scripts import QUERY
from mpremote.targets import load_targets

pytestmark = pytest.mark.lab


def test_hosts_share_one_tls_context_and_ntlm_hashes(tmp_path: Path) -> None:
    from spnego import NTLMHash

    opts = LabOptions(hosts=2, auth="ntlm", tls=True, write_targets=tmp_path / "lab.yaml")
    with Lab(opts) as lab:
        assert lab.targets_path is not None
        hosts = load_targets(lab.targets_path).hosts
        contexts = []
        for host in hosts:
            with Connection(
                host, username=host.username, password=DEFAULT_PASSWORD, settings=ConnectionSettings()
            ) as conn:
                assert conn.run_script(QUERY, {"IncludeWms": True}).output
                session = conn._wsman.transport.session
                assert session.trust_env is False
                assert isinstance(session.auth.username, NTLMHash)
                assert session.auth.password is None
                contexts.append(session.get_adapter("https://").ssl_context)
        assert contexts[0] is not None and contexts[0] is contexts[1]
        assert contexts[0].check_hostname and contexts[0].verify_mode.name == "CERT_REQUIRED"
