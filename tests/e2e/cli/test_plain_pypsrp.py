"""Issue 3's acceptance: a plain pypsrp script, given only what `mpremote targets --format json`
prints (plus the lab's password), runs quser, logs a session off and sees it gone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from mpremote.lab.server import DEFAULT_PASSWORD, DEFAULT_USERNAME
from tests.support.helpers import SECRET

from .conftest import run_subprocess

pytestmark = pytest.mark.lab


def _quser(pool: RunspacePool) -> list[str]:
    ps = PowerShell(pool)
    ps.add_script("quser")
    return [str(line) for line in ps.invoke()]


@pytest.mark.parametrize(("auth", "tls"), [("ntlm", True), ("basic", False)])
def test_plain_pypsrp_logs_a_session_off_using_only_the_targets_json(tmp_path: Path, auth: str, tls: bool) -> None:
    targets, journal = tmp_path / "t.yaml", tmp_path / "j.jsonl"
    lab = subprocess.Popen(
        [sys.executable, "-m", "mpremote", "lab", "serve", "--hosts", "3", "--auth", auth,
         "--tls" if tls else "--no-tls", "--write-targets", str(targets), "--journal", str(journal)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert lab.stdout is not None and lab.stdout.readline().strip() == "ready"
        listed = run_subprocess("targets", targets, "--format", "json")
        assert listed.exit_code == 0, listed.stderr
        hosts = json.loads(listed.stdout)
        assert [h["host"] for h in hosts] == ["mp-lab-001", "mp-lab-002", "mp-lab-003"]
        h = hosts[1]
        wsman = WSMan(
            h["address"], port=h["port"], username=h["username"], password=DEFAULT_PASSWORD,
            ssl=h["transport"] == "https", auth=h["auth"],
            cert_validation=h["ca_cert"] if h["transport"] == "https" else False,
            encryption="never" if h["auth"] == "basic" else "auto", no_proxy=True,
        )  # fmt: skip
        with wsman, RunspacePool(wsman) as pool:
            before = _quser(pool)
            # The last row: a real user session (quser sorts by id; WMSshell/console is first).
            victim_row = before[-1]
            victim_id = int(victim_row[23:44].split()[-1])
            ps = PowerShell(pool)
            ps.add_script(f"logoff {victim_id}")
            ps.invoke()
            assert not ps.had_errors
            after = _quser(pool)
        assert victim_row in before and victim_row not in after
        assert len(after) == len(before) - 1
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    logoffs = [e for e in events if e.get("event") == "logoff"]
    assert [(e["host"], e["id"]) for e in logoffs] == [("mp-lab-002", victim_id)]


def test_a_naive_client_sees_what_windows_remoting_gives_it(start_lab) -> None:
    """A plain `quser` over PSRP on a Spanish host: OEM bytes read as cp1252, as on Windows
    (`SESIàN`, `mar¡a`); mpremote's parser still reads the names right (second defence)."""
    from mpremote.quser import parse_quser

    lab = start_lab(hosts=1, sessions_per_host=6, seed=3, locale="es-ES", tls=False)
    h = lab.hosts[0]
    truth = {s.id: (s.username or "").lower() for s in h.spec.sessions if s.username and not s.is_wmsshell}
    wsman = WSMan(h.address, port=h.port, username=DEFAULT_USERNAME, password=SECRET, ssl=False,
                  auth="ntlm", encryption="auto", no_proxy=True)  # fmt: skip
    with wsman, RunspacePool(wsman) as pool:
        lines = _quser(pool)
    assert lines[0] == " NOMBRE USUARIO        NOMBRE SESIàN      ID. ESTADO  TIEMPO IN. TIEMPO SESIàN"
    parsed = {s.id: s.username for s in parse_quser("\n".join(lines)) if s.username != "wmsshell"}
    assert parsed == truth and any(not n.isascii() for n in parsed.values())
