"""mpremote's client against Kerberos-only lab hosts and a real MIT KDC on loopback.

Every run is the real command line (``python -m mpremote``) with no ``MPREMOTE_*``
variable unless a test gives a password: a ticket in the cache is all it needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import OVERRIDE_SPN, PASSWORD, REALM
from .helpers import lab_vars, mpremote, service_tickets, write_targets
from .realm import MitRealm

pytestmark = [pytest.mark.kerberos, pytest.mark.lab]

WRONG = "Not-The-Pa55word-71"


def user_session_ids(lab: Any, host: str) -> list[int]:
    """The lab's ground truth: ids of the sessions quser lists with a user."""
    return sorted(
        s.id for s in lab.host(host).model.sessions() if s.username and not s.is_services and not s.is_listener
    )


@pytest.mark.parametrize("credential", ["ticket", "password"])
@pytest.mark.parametrize("tls", [False, True], ids=["http-encrypted", "https"])
def test_sessions_with_a_ticket_or_a_password(kerberos_lab: Any, tls: bool, credential: str) -> None:
    # Over plain HTTP the lab refuses any message that is not sealed with the Kerberos
    # session key, so listing sessions there proves message encryption worked.
    lab = kerberos_lab(tls=tls)
    env = {"MPREMOTE_PASSWORD": PASSWORD} if credential == "password" else {}
    run = mpremote("sessions", lab.targets_path, "--format", "json", env=env)
    assert run.exit_code == 0, run.stdout + run.stderr
    rows = run.rows()
    assert set(rows) == {h.name for h in lab.hosts}
    for h in lab.hosts:
        assert rows[h.name]["status"] == "ok"
        assert sorted(s["id"] for s in rows[h.name]["sessions"]) == user_session_ids(lab, h.name)


def test_negotiate_picks_kerberos(kerberos_lab: Any, realm: MitRealm) -> None:
    # The lab refuses NTLM; with a password NTLM would be possible, so success means the
    # client chose Kerberos, and the KDC issued the service ticket for it.
    lab = kerberos_lab(hosts=1)
    before = realm.kdc_log.read_text(encoding="utf-8", errors="replace")
    run = mpremote(
        "sessions", lab.targets_path, "--auth", "negotiate", "--format", "json", env={"MPREMOTE_PASSWORD": PASSWORD}
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    assert run.rows()["mp-lab-001"]["status"] == "ok"
    issued = realm.kdc_log.read_text(encoding="utf-8", errors="replace")[len(before) :]
    assert f"for host/mp-lab-001@{REALM}" in issued


def test_ntlm_is_refused_by_a_kerberos_only_host(kerberos_lab: Any) -> None:
    lab = kerberos_lab(hosts=1)
    run = mpremote(
        "sessions", lab.targets_path, "--auth", "ntlm", "--format", "json", env={"MPREMOTE_PASSWORD": PASSWORD}
    )
    assert run.exit_code == 8
    assert run.rows()["mp-lab-001"]["error"]["kind"] == "auth"


def test_the_spn_names_the_host_while_the_connection_goes_to_127_0_0_1(
    kerberos_lab: Any, realm: MitRealm, tmp_path: Path
) -> None:
    lab = kerberos_lab(hosts=2)
    assert {h.address for h in lab.hosts} == {"127.0.0.1"}
    ccache = realm.kinit(f"labadmin@{REALM}", PASSWORD, ccache=tmp_path / "fresh-ccache")
    run = mpremote("sessions", lab.targets_path, "--format", "json", env={"KRB5CCNAME": f"FILE:{ccache}"})
    assert run.exit_code == 0, run.stdout + run.stderr
    # MIT stores a ticket got through a referral under the realm-less name "host/NAME@".
    services = {t.split("@", 1)[0] for t in service_tickets(ccache)}
    assert {"host/mp-lab-001", "host/mp-lab-002"} <= services
    assert not [s for s in services if "127.0.0.1" in s], services


def test_spn_host_and_spn_service_from_the_target_file(kerberos_lab: Any, tmp_path: Path) -> None:
    # desk-7 and desk-8 are names the realm does not know; desk-7's file names the principal
    # HTTP/spn-override.lab.test, which the lab's keytab holds.
    # Two lab hosts: one endpoint under two names is refused at load time (counted twice).
    lab = kerberos_lab(hosts=2)
    port7, port8 = lab.hosts[0].port, lab.hosts[1].port
    service, spn_host = OVERRIDE_SPN
    targets = write_targets(
        tmp_path / "desks.yaml",
        {
            "desk-7": {"address": "127.0.0.1", "port": port7, "spn_host": spn_host, "spn_service": service},
            "desk-8": {"address": "127.0.0.1", "port": port8},
        },
        **lab_vars(lab),
    )
    run = mpremote("sessions", targets, "--format", "json")
    rows = run.rows()
    assert rows["desk-7"]["status"] == "ok", rows["desk-7"]
    assert rows["desk-8"]["status"] == "unreachable"
    assert rows["desk-8"]["error"]["kind"] == "auth"
    assert f"host/desk-8@{REALM}" in rows["desk-8"]["error"]["message"]
    assert run.exit_code == 8

    check = mpremote("check", targets, "--format", "json").rows()
    assert check["desk-7"]["status"] == "ok"
    assert "spn_host" in check["desk-8"]["error"]["message"]


def test_a_wrong_kerberos_password_reads_exactly_like_a_wrong_ntlm_password(kerberos_lab: Any, tmp_path: Path) -> None:
    from tests.support.helpers import start_lab

    krb = kerberos_lab(hosts=1)
    with start_lab(tmp_path / "ntlm", hosts=1, auth="ntlm", password=PASSWORD) as ntlm:
        assert ntlm.targets_path is not None
        by_ntlm = mpremote("sessions", ntlm.targets_path, "--format", "json", env={"MPREMOTE_PASSWORD": WRONG})
    by_krb = mpremote("sessions", krb.targets_path, "--format", "json", env={"MPREMOTE_PASSWORD": WRONG})
    ntlm_row, krb_row = by_ntlm.rows()["mp-lab-001"], by_krb.rows()["mp-lab-001"]
    assert by_krb.exit_code == by_ntlm.exit_code == 8
    assert krb_row["status"] == ntlm_row["status"] == "unreachable"
    assert krb_row["error"] == ntlm_row["error"]
    assert krb_row["error"]["kind"] == "auth"
    assert WRONG not in by_krb.stdout + by_krb.stderr


@pytest.mark.parametrize(
    ("case", "explained"),
    [
        ("wrong-password", "the KDC refused the password"),
        ("wrong-principal", "no such user: nobody@LAB.TEST"),
        ("no-ticket", "run kinit"),
    ],
)
def test_each_kerberos_failure_is_an_auth_error_and_check_explains_it(
    kerberos_lab: Any, tmp_path: Path, case: str, explained: str
) -> None:
    lab = kerberos_lab(hosts=1)
    args: list[str] = []
    env: dict[str, str] = {}
    if case == "wrong-password":
        env["MPREMOTE_PASSWORD"] = WRONG
    elif case == "wrong-principal":
        args = ["--username", "nobody"]
        env["MPREMOTE_PASSWORD"] = PASSWORD
    else:
        env["KRB5CCNAME"] = f"FILE:{tmp_path / 'empty-ccache'}"
    run = mpremote("sessions", lab.targets_path, "--format", "json", *args, env=env)
    assert run.exit_code == 8, run.stdout + run.stderr
    row = run.rows()["mp-lab-001"]
    assert (row["status"], row["error"]["kind"]) == ("unreachable", "auth")
    assert "Traceback" not in run.stderr

    check = mpremote("check", lab.targets_path, "--format", "json", *args, env=env)
    assert check.exit_code == 8
    message = check.rows()["mp-lab-001"]["error"]["message"]
    assert explained in message
    assert message.startswith(row["error"]["message"])
    assert WRONG not in check.stdout + check.stderr


def test_sessions_then_logoff_through_the_cli_with_a_ticket_only(kerberos_lab: Any) -> None:
    lab = kerberos_lab(hosts=2)
    text = lab.targets_path.read_text(encoding="utf-8")
    assert "auth: kerberos" in text
    assert "password_env" not in text

    listed = mpremote("sessions", lab.targets_path)
    assert listed.exit_code == 0, listed.stdout + listed.stderr
    assert "2 hosts, 2 ok" in listed.stdout

    before = {h.name: user_session_ids(lab, h.name) for h in lab.hosts}
    assert all(before.values())
    done = mpremote("logoff", lab.targets_path, "--all", "--yes", "--format", "json")
    assert done.exit_code == 0, done.stdout + done.stderr
    for name, row in done.rows().items():
        assert row["status"] == "ok"
        acted = sorted(a["id"] for a in row["actions"] if a["outcome"] == "done")
        assert acted, row
        assert set(acted) <= set(before[name])
        # What is left on the host is only what mpremote never touches.
        assert not set(acted) & set(user_session_ids(lab, name))


def _libfaketime() -> str:
    """Debian's libfaketime (package ``faketime``, installed by .ci/kerberos.sh)."""
    import glob

    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    if not found:
        if os.environ.get("MPREMOTE_REQUIRE_KERBEROS") == "1":
            pytest.fail("MPREMOTE_REQUIRE_KERBEROS=1 but libfaketime is missing: apt-get install faketime")
        pytest.skip("libfaketime is missing: apt-get install faketime")
    return found[0]


def test_check_explains_real_clock_skew_from_the_kdc(realm: Any, kerberos_lab: Any, tmp_path: Path) -> None:
    # The client's clock runs two hours ahead (libfaketime in the client process only): its
    # ticket-granting ticket is still valid then, but the KDC refuses the request for the
    # host's service ticket with KRB_AP_ERR_SKEW, which check must explain as clock skew.
    lab = kerberos_lab(hosts=1)
    ccache = realm.kinit(f"labadmin@{realm.realm}", PASSWORD, ccache=tmp_path / "fresh-ccache")
    env = {
        "KRB5CCNAME": f"FILE:{ccache}",
        "LD_PRELOAD": _libfaketime(),
        "FAKETIME": "+2h",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # deadlines keep real time; only the clock lies
        "KRB5_TRACE": str(tmp_path / "skew-trace.log"),
    }
    check = mpremote("check", lab.targets_path, "--format", "json", env=env)
    assert check.exit_code == 8, check.stdout + check.stderr
    error = check.rows()["mp-lab-001"]["error"]
    assert error["kind"] == "auth"
    assert "clock skew" in error["message"].lower() and "synchronise the clocks" in error["message"]
    # The refusal came from the KDC, for real: its reply in the client's own trace.
    trace = (tmp_path / "skew-trace.log").read_text(errors="replace")
    assert "Clock skew too great" in trace and "TGS" in trace
    assert "Traceback" not in check.stderr
