"""``mpremote lab serve`` as scripts use it: one ``ready`` line, a usable targets file with
its CA, no password anywhere, a clean exit on SIGTERM, exit 2 on bad options; and many
pypsrp clients at once against a lab running in its own process (as the benchmark runs it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan
from typer.testing import CliRunner

from mpremote.cli.lab import app
from mpremote.lab.server import LabError

pytestmark = pytest.mark.lab

PASSWORD = "Lab-Pa55word!"
SERVE = [sys.executable, "-c", "from mpremote.cli.lab import app; app()", "serve"]


def start(args: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(SERVE + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the lab listens (or dies)
    if line != "ready\n":
        proc.kill()
        raise AssertionError(f"no ready line: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


#: pypsrp's WSMan() rewrites ElementTree's global namespace map: never two at once.
_WSMAN_INIT = threading.Lock()


def run(targets: Path, name: str, script: str, doc: dict | None = None) -> list[object]:
    """Connect to ``name`` the way the targets file says, run ``script``, close."""
    doc = doc or yaml.safe_load(targets.read_text())
    host, v = doc["hosts"][name], doc["vars"]
    ca = str(targets.parent / v["ca_cert"]) if "ca_cert" in v else False
    with _WSMAN_INIT:
        wsman = WSMan(
            host["address"],
            port=host["port"],
            username=v["username"],
            password=os.environ.get(v["password_env"], PASSWORD),
            ssl=v["transport"] == "https",
            auth=v["auth"],
            cert_validation=ca,
            no_proxy=True,
            read_timeout=120,
        )
    with wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script(script)
        return ps.invoke()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM semantics")
def test_serve_prints_ready_writes_targets_and_stops_on_sigterm(tmp_path: Path) -> None:
    targets = tmp_path / "t.yaml"
    journal = tmp_path / "j.jsonl"
    proc = start(
        ["--hosts", "4", "--fault", "mp-lab-003=refuse", "--write-targets", str(targets), "--journal", str(journal)]
    )
    try:
        text = targets.read_text()
        doc = yaml.safe_load(text)
        assert text.startswith("# written by mpremote lab serve\n")
        assert doc["vars"] == {
            "transport": "https",
            "auth": "ntlm",
            "username": "labadmin",
            "password_env": "MPREMOTE_PASSWORD",
            "ca_cert": "t-ca.pem",
        }
        assert (tmp_path / "t-ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
        names = list(doc["hosts"])
        assert names == ["mp-lab-001", "mp-lab-002", "mp-lab-003", "mp-lab-004"]  # the refused one too
        ports = [doc["hosts"][n]["port"] for n in names]
        assert ports == sorted(ports) and all(doc["hosts"][n]["address"] == "127.0.0.1" for n in names)
        assert doc["groups"] == {"lab": {"hosts": names}}
        assert PASSWORD not in text

        assert run(targets, "mp-lab-004", "hostname") == ["mp-lab-004"]
    finally:
        code, out, err = stop(proc)
    assert (code, out) == (0, "")  # stdout carried "ready" and nothing else
    # First run: how to use the lab from another terminal, with its own (public) password.
    assert f"export MPREMOTE_PASSWORD='{PASSWORD}'" in err and f"mpremote sessions {targets}" in err
    assert '"action": "Create"' in journal.read_text()


def test_many_clients_against_a_lab_in_its_own_process(tmp_path: Path) -> None:
    """200 pypsrp clients at once (NTLM over HTTPS), one host each; every answer is right."""
    targets = tmp_path / "t.yaml"
    proc = start(["--hosts", "200", "--write-targets", str(targets)])
    try:
        doc = yaml.safe_load(targets.read_text())
        names = list(doc["hosts"])
        with ThreadPoolExecutor(len(names)) as pool:
            answers = list(pool.map(lambda n: run(targets, n, "hostname", doc), names))
        assert answers == [[n] for n in names]
    finally:
        code, _, _ = stop(proc)
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth", "kerberos"], "--auth"),
        (["--bind", "0.0.0.0"], "loopback"),
        (["--bind", "192.168.1.10"], "loopback"),
        (["--fault", "mp-lab-001=meltdown"], "unknown fault kind"),
        (["--fault", "no-equals-sign"], "HOSTGLOB=KIND"),
        (["--hosts", "0"], "--hosts"),
        (["--locale", "pt-BR"], "--locale"),
        (["missing-lab.yaml"], "no such file"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "ready" not in result.output


def test_help_lists_every_documented_option() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--hosts",
        "--sessions-per-host",
        "--seed",
        "--auth",
        "--tls",
        "--no-tls",
        "--bind",
        "--port-base",
        "--latency-ms",
        "--locale",
        "--multipoint",
        "--no-multipoint",
        "--fault",
        "--username",
        "--password",
        "--write-targets",
        "--journal",
    ):
        assert option in result.output
    assert PASSWORD not in result.output


def test_cli_module_imports_nothing_heavy() -> None:
    """CLI start-up speed: importing the sub-app must not drag in the lab."""
    heavy = ("asyncio", "psrpcore", "spnego", "cryptography", "mpremote.lab.server")
    code = f"import sys, mpremote.cli.lab; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_port_base_puts_hosts_on_consecutive_ports_in_name_order() -> None:
    from mpremote.lab.server import Lab, LabOptions

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    base = probe.getsockname()[1]
    probe.close()
    try:
        lab = Lab(LabOptions(hosts=1, port_base=base, auth="basic")).start()
    except LabError:
        pytest.skip("the probed port was taken again before the lab could use it")
    try:
        assert [(h.name, h.port) for h in lab.hosts] == [("mp-lab-001", base)]
    finally:
        lab.stop()


def test_a_busy_port_is_a_clear_error() -> None:
    from mpremote.lab.server import Lab, LabOptions

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LabError, match=f"cannot listen on 127.0.0.1:{port}"):
            Lab(LabOptions(hosts=2, port_base=port)).start()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM semantics")
def test_a_chosen_lab_password_is_never_printed_and_the_hint_says_so(tmp_path: Path) -> None:
    secret = "Only-Mine-7f3a"
    proc = start(["--hosts", "1", "--password", secret, "--write-targets", str(tmp_path / "t.yaml")])
    code, out, err = stop(proc)
    assert code == 0 and secret not in out + err
    assert "export MPREMOTE_PASSWORD='<your --password>'" in err
