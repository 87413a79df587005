"""The lab's Kerberos acceptor as a WinRM client meets it: raw HTTP handshakes, channel
binding, refusals that answer 401 on a connection that stays open, and ``lab serve``."""

from __future__ import annotations

import base64
import http.client
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REALM
from .helpers import mpremote
from .realm import MitRealm

pytestmark = [pytest.mark.kerberos, pytest.mark.lab]


def _https(lab: Any) -> http.client.HTTPSConnection:
    ctx = ssl.create_default_context(cafile=str(lab.ca_path))
    ctx.check_hostname = False  # the lab's certificate names mp-lab-*, we dial 127.0.0.1
    host = lab.hosts[0]
    return http.client.HTTPSConnection(host.address, host.port, context=ctx, timeout=30)


def _post(conn: http.client.HTTPConnection, token: bytes | None) -> http.client.HTTPResponse:
    headers = {"Content-Length": "0", "Connection": "Keep-Alive"}
    if token is not None:
        headers["Authorization"] = "Negotiate " + base64.b64encode(token).decode()
    conn.request("POST", "/wsman", body=b"", headers=headers)
    response = conn.getresponse()
    response.read()
    return response


def _binding(conn: http.client.HTTPSConnection) -> Any:
    """The tls-server-end-point binding of the certificate this connection sees (RFC 5929)."""
    import hashlib

    import spnego.channel_bindings

    cert = conn.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
    digest = hashlib.sha256(cert).digest()
    return spnego.channel_bindings.GssChannelBindings(application_data=b"tls-server-end-point:" + digest)


def _kerberos_token(host: str, bindings: Any = None) -> bytes:
    import spnego

    client = spnego.client(hostname=host, service="host", protocol="kerberos", channel_bindings=bindings)
    token = client.step()
    assert token
    return token


def test_a_wrong_channel_binding_is_answered_401_and_the_connection_stays_usable(
    realm: MitRealm, kerberos_lab: Any
) -> None:
    import spnego.channel_bindings

    lab = kerberos_lab(hosts=1, tls=True)
    conn = _https(lab)
    try:
        first = _post(conn, None)
        assert first.status == 401
        assert {"Negotiate", "Kerberos"} <= {c.strip() for c in first.getheader("WWW-Authenticate", "").split(",")}

        wrong = spnego.channel_bindings.GssChannelBindings(application_data=b"tls-server-end-point:" + b"\0" * 32)
        refused = _post(conn, _kerberos_token("mp-lab-001", wrong))
        assert refused.status == 401  # pyspnego raises AttributeError here: still a 401

        accepted = _post(conn, _kerberos_token("mp-lab-001", _binding(conn)))  # the same TCP connection
        assert accepted.status == 200
    finally:
        conn.close()


def test_a_client_that_sends_no_channel_binding_is_accepted_over_https(realm: MitRealm, kerberos_lab: Any) -> None:
    # What docs/lab.md states: MIT's acceptor (like Windows' default) only refuses a
    # binding that is wrong, not one that is absent.
    lab = kerberos_lab(hosts=1, tls=True)
    conn = _https(lab)
    try:
        assert _post(conn, _kerberos_token("mp-lab-001")).status == 200
    finally:
        conn.close()


def test_a_ticket_for_a_principal_missing_from_the_keytab_is_answered_401(
    realm: MitRealm, kerberos_lab: Any, tmp_path: Path
) -> None:
    # A principal the KDC knows but the lab's keytab does not hold.
    realm.add_service("host/elsewhere", keytab=tmp_path / "other.keytab")
    lab = kerberos_lab(hosts=1, tls=False)
    host = lab.hosts[0]
    conn = http.client.HTTPConnection(host.address, host.port, timeout=30)
    try:
        assert _post(conn, _kerberos_token("elsewhere")).status == 401
        assert _post(conn, b"\x60\x03garbage").status == 401
        assert _post(conn, _kerberos_token("mp-lab-001")).status == 200
    finally:
        conn.close()


def test_lab_serve_kerberos_writes_a_ticket_only_targets_file(realm: MitRealm, tmp_path: Path) -> None:
    targets = tmp_path / "lab.yaml"
    serve = [sys.executable, "-m", "mpremote", "lab", "serve"]
    missing = subprocess.run([*serve, "--auth", "kerberos"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert "--keytab" in missing.stderr

    proc = subprocess.Popen(
        [*serve, "--auth", "kerberos", "--keytab", str(realm.keytab), "--hosts", "2", "--write-targets", str(targets)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        doc = yaml.safe_load(targets.read_text(encoding="utf-8"))
        assert doc["vars"]["auth"] == "kerberos"
        assert doc["vars"]["username"] == "labadmin"
        assert "password_env" not in doc["vars"]
        run = mpremote("sessions", targets, "--format", "json")  # the module's ticket, no password
        assert run.exit_code == 0, run.stdout + run.stderr
        assert {r["status"] for r in run.rows().values()} == {"ok"}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"@{REALM}" not in out


def test_a_keytab_without_host_principals_gets_a_targets_file_that_names_its_spns(
    realm: MitRealm, tmp_path: Path
) -> None:
    # Service principals as an administrator might have made them: another class, and a FQDN.
    from tests.support.helpers import start_lab

    keytab = tmp_path / "wsman.keytab"
    realm.add_service("WSMAN/mp-lab-001", keytab=keytab)
    realm.add_service("HTTP/mp-lab-002.lab.test", keytab=keytab)
    targets = tmp_path / "lab.yaml"
    with start_lab(tmp_path, hosts=2, auth="kerberos", keytab=keytab):
        hosts = yaml.safe_load(targets.read_text(encoding="utf-8"))["hosts"]
        assert (hosts["mp-lab-001"].get("spn_host"), hosts["mp-lab-001"]["spn_service"]) == (None, "WSMAN")
        assert (hosts["mp-lab-002"]["spn_host"], hosts["mp-lab-002"]["spn_service"]) == ("mp-lab-002.lab.test", "HTTP")
        run = mpremote("sessions", targets, "--format", "json")
        assert run.exit_code == 0, run.stdout + run.stderr
        assert {r["status"] for r in run.rows().values()} == {"ok"}


def test_the_lab_compares_the_whole_principal_so_the_same_user_of_another_realm_is_refused(
    realm: MitRealm, tmp_path: Path
) -> None:
    # A second realm with its own KDC, its own labadmin and its own key for host/mp-lab-001,
    # which the lab's keytab also holds: the ticket decrypts, so only the realm can refuse it.
    import shutil

    from tests.support.helpers import start_lab

    from .conftest import PASSWORD

    keytab = tmp_path / "two-realms.keytab"
    shutil.copy(realm.keytab, keytab)
    with MitRealm(tmp_path / "other", realm="OTHER.TEST", domain="other.test") as other:
        other.add_user("labadmin", PASSWORD)
        other.add_service("host/mp-lab-001", keytab=keytab)
        other.kinit("labadmin@OTHER.TEST", PASSWORD)
        with start_lab(tmp_path / "lab", hosts=1, auth="kerberos", keytab=keytab) as lab:
            assert lab.targets_path is not None
            own = mpremote("sessions", lab.targets_path, "--format", "json")
            assert own.exit_code == 0, own.stdout + own.stderr  # labadmin@LAB.TEST: accepted
            foreign = mpremote("sessions", lab.targets_path, "--format", "json", env=other.env())
        assert "host/mp-lab-001@OTHER.TEST" in (other.directory / "trace.log").read_text(errors="replace")
    row = foreign.rows()["mp-lab-001"]
    assert foreign.exit_code == 8, foreign.stdout + foreign.stderr
    assert row["status"] == "unreachable" and row["error"]["kind"] == "auth"


def test_a_lab_username_may_name_its_realm_and_then_only_that_realm_is_accepted() -> None:
    from mpremote.lab.auth import accepted_principal, same_principal

    assert accepted_principal("labadmin@LAB.TEST") == "labadmin@LAB.TEST"
    assert same_principal("LabAdmin@LAB.TEST", "labadmin@LAB.TEST")  # user part: any case
    assert not same_principal("labadmin@OTHER.TEST", "labadmin@LAB.TEST")
    assert not same_principal("labadmin@lab.test", "labadmin@LAB.TEST")  # realms are case-sensitive
    assert not same_principal("labadmin", "labadmin@LAB.TEST")
