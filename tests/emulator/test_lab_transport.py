"""Unmodified pypsrp against the emulated lab: every auth/transport combination, wrong
credentials, every transport fault, shells closed, many clients at once.

What a user cares about: the lab answers the way a Windows host answers an ordinary PSRP
client, so mpremote tested against it behaves the same against real hosts.
"""

from __future__ import annotations

import json
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from mpremote.lab import faults
from mpremote.lab.server import Lab, LabOptions
from mpremote.lab.soap import WSMAN_MAX_SHELLS_EXCEEDED

pytestmark = pytest.mark.lab


#: pypsrp's WSMan() rewrites ElementTree's global namespace map: constructions take turns
#: (as in mpremote.remote.connection), or 200 threads at once can fail inside ElementTree.
_WSMAN_INIT = threading.Lock()


def run(lab: Lab, host: str, script: str, **overrides: object) -> list[object]:
    """Connect, run one script, close: the cycle every mpremote host job makes."""
    with _WSMAN_INIT:
        wsman = WSMan(**lab.wsman_kwargs(host, **overrides))
    with wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script(script)
        return ps.invoke()


def status(lab: Lab, host: str, timeout: float = 5) -> dict[str, object]:
    """GET /lab/status over HTTPS, verified with the lab's CA."""
    ctx = ssl.create_default_context(cafile=str(lab.ca_path))
    url = f"https://127.0.0.1:{lab.host(host).port}/lab/status"
    with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
        return dict(json.load(resp))


@pytest.mark.parametrize(
    ("auth", "tls"),
    [("basic", False), ("basic", True), ("ntlm", False), ("ntlm", True), ("negotiate", False), ("negotiate", True)],
)
def test_pypsrp_runs_commands_over_every_auth_and_transport(tmp_path: Path, auth: str, tls: bool) -> None:
    opts = LabOptions(hosts=2, auth=auth, tls=tls, write_targets=tmp_path / "lab.yaml")
    with Lab(opts) as lab:
        assert run(lab, "mp-lab-002", "hostname") == ["mp-lab-002"]
        quser = run(lab, "mp-lab-001", "quser")
        assert quser and "USERNAME" in str(quser[0])
        assert lab.open_shell_count() == 0


def test_ntlm_over_http_refuses_unencrypted_messages(tmp_path: Path) -> None:
    """Like Windows' default (AllowUnencrypted=false): NTLM over HTTP must seal every message."""
    with Lab(LabOptions(hosts=1, auth="ntlm", tls=False)) as lab:
        with pytest.raises(WinRMTransportError) as err:
            run(lab, "mp-lab-001", "hostname", encryption="never")
        assert err.value.code == 400
        assert run(lab, "mp-lab-001", "hostname") == ["mp-lab-001"]


def test_domain_qualified_user_name_is_accepted() -> None:
    with Lab(LabOptions(hosts=1, auth="ntlm", tls=False)) as lab:
        assert run(lab, "mp-lab-001", "hostname", username="mp-lab-001\\labadmin") == ["mp-lab-001"]


def test_pypsrp_client_execute_ps() -> None:
    with Lab(LabOptions(hosts=1, auth="ntlm", tls=True)) as lab:
        kw = lab.wsman_kwargs("mp-lab-001")
        client = Client(
            kw["server"],
            port=kw["port"],
            username=kw["username"],
            password=kw["password"],
            ssl=True,
            auth="ntlm",
            cert_validation=kw["cert_validation"],
            no_proxy=True,
        )
        output, _streams, had_errors = client.execute_ps("hostname")
        assert (output, had_errors) == ("mp-lab-001", False)
        assert lab.open_shell_count() == 0


@pytest.mark.parametrize(("auth", "tls"), [("basic", True), ("ntlm", False), ("ntlm", True), ("negotiate", True)])
def test_wrong_password_is_an_authentication_error(auth: str, tls: bool) -> None:
    with Lab(LabOptions(hosts=1, auth=auth, tls=tls)) as lab:
        with pytest.raises(AuthenticationError):
            run(lab, "mp-lab-001", "hostname", password="not-the-password")
        assert lab.open_shell_count() == 0


def test_custom_credentials_are_the_only_ones_accepted() -> None:
    with Lab(LabOptions(hosts=1, auth="ntlm", username="teacher", password="S3cret-lab")) as lab:
        assert run(lab, "mp-lab-001", "hostname") == ["mp-lab-001"]
        with pytest.raises(AuthenticationError):
            run(lab, "mp-lab-001", "hostname", username="labadmin", password="Lab-Pa55word!")


# --------------------------------------------------------------------------- transport faults
@pytest.fixture(scope="module")
def faulty_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    rules = [
        faults.parse_fault_rule(r)
        for r in (
            "mp-lab-002=refuse",
            "mp-lab-003=hang",
            "mp-lab-004=http500",
            "mp-lab-005=wsman-fault",
            "mp-lab-006=auth-fail",
            "mp-lab-007=bad-cert",
            "mp-lab-008=slow:1200",
        )
    ]
    tmp = tmp_path_factory.mktemp("faulty")
    opts = LabOptions(hosts=8, auth="ntlm", tls=True, faults=rules, write_targets=tmp / "lab.yaml")
    with Lab(opts) as lab:
        yield lab


def test_healthy_host_next_to_faulty_ones_answers(faulty_lab: Lab) -> None:
    assert run(faulty_lab, "mp-lab-001", "hostname") == ["mp-lab-001"]


def test_refuse_means_connection_refused(faulty_lab: Lab) -> None:
    with pytest.raises(requests.exceptions.ConnectionError) as err:
        run(faulty_lab, "mp-lab-002", "hostname", connection_timeout=5)
    assert "refused" in str(err.value).lower()


def test_hang_means_the_client_read_times_out(faulty_lab: Lab) -> None:
    with pytest.raises(requests.exceptions.ReadTimeout):
        run(faulty_lab, "mp-lab-003", "hostname", read_timeout=1, operation_timeout=1)


def test_http500_is_a_transport_error(faulty_lab: Lab) -> None:
    with pytest.raises(WinRMTransportError) as err:
        run(faulty_lab, "mp-lab-004", "hostname")
    assert err.value.code == 500


def test_wsman_fault_is_a_wsman_fault_error(faulty_lab: Lab) -> None:
    with pytest.raises(WSManFaultError) as err:
        run(faulty_lab, "mp-lab-005", "hostname")
    assert err.value.code == WSMAN_MAX_SHELLS_EXCEEDED
    assert "concurrent shells" in str(err.value.reason)


def test_auth_fail_rejects_the_right_password(faulty_lab: Lab) -> None:
    with pytest.raises(AuthenticationError):
        run(faulty_lab, "mp-lab-006", "hostname")


def test_bad_cert_fails_tls_verification_with_the_lab_ca(faulty_lab: Lab) -> None:
    with pytest.raises(requests.exceptions.SSLError) as err:
        run(faulty_lab, "mp-lab-007", "hostname")
    assert "certificate verify failed" in str(err.value)


def test_good_cert_is_valid_for_loopback_names(faulty_lab: Lab) -> None:
    """The CA in the targets folder validates 127.0.0.1 and localhost alike."""
    assert run(faulty_lab, "mp-lab-001", "hostname", server="localhost") == ["mp-lab-001"]


def test_slow_host_answers_but_not_within_a_shorter_read_timeout(faulty_lab: Lab) -> None:
    with pytest.raises(requests.exceptions.ReadTimeout):
        run(faulty_lab, "mp-lab-008", "hostname", read_timeout=1, operation_timeout=1)
    # It does answer, later (one request: a whole NTLM cycle would take 7 x 1.2 s).
    assert status(faulty_lab, "mp-lab-008", timeout=10)["host"] == "mp-lab-008"


def test_faulty_hosts_leave_no_shells_open(faulty_lab: Lab) -> None:
    assert faulty_lab.open_shell_count() == 0


# --------------------------------------------------------------------------- shells and status
def test_open_shells_are_counted_until_the_pool_closes(tmp_path: Path) -> None:
    with Lab(LabOptions(hosts=2, auth="ntlm", tls=True, write_targets=tmp_path / "t.yaml")) as lab:
        wsman = WSMan(**lab.wsman_kwargs("mp-lab-001"))
        pool = RunspacePool(wsman)
        pool.open()
        assert (lab.open_shell_count(), lab.open_shell_count("mp-lab-001")) == (1, 1)

        answer = status(lab, "mp-lab-001")
        assert (answer["host"], answer["open_shells"]) == ("mp-lab-001", 1)

        pool.close()
        wsman.close()
        assert lab.open_shell_count() == 0


@pytest.mark.parametrize(("auth", "tls", "posts"), [("basic", True, 5), ("ntlm", True, 7), ("ntlm", False, 8)])
def test_one_cycle_costs_the_floor_number_of_posts(auth: str, tls: bool, posts: int) -> None:
    """connect + one pipeline + close: no extra round trips on top of what the protocol needs."""
    with Lab(LabOptions(hosts=1, auth=auth, tls=tls)) as lab:
        run(lab, "mp-lab-001", "hostname")
        assert lab.request_count() == posts


def test_many_concurrent_clients_all_get_their_own_host(tmp_path: Path) -> None:
    """200 pypsrp clients at once against 200 hosts (NTLM over HTTPS), in one lab process."""
    n = 200
    with Lab(LabOptions(hosts=n, auth="ntlm", tls=True, write_targets=tmp_path / "t.yaml")) as lab:
        names = [h.name for h in lab.hosts]
        with ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(lambda name: run(lab, name, "hostname", read_timeout=120), names))
        assert answers == [[name] for name in names]
        assert lab.open_shell_count() == 0
