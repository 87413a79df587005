"""Transport security and secrets: TLS verified by default, Basic over HTTP only when forced
(and then loudly), and the password absent from every output, log, audit line, row and trace.

What a user cares about: running mpremote cannot hand the lab's admin password to whoever
reads a terminal scroll-back, a CI log, an audit file or a bug report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mpremote.hostjob import JobSpec, run_host_job
from mpremote.lab.server import Lab
from mpremote.remote.connection import Connection
from mpremote.results import ExitCode
from mpremote.targets import load_targets
from tests.support.helpers import (
    SECRET,
    assert_files_have_no_secret,
    assert_no_secret,
    cli_env,
    fault_rules,
    journal,
    run_cli,
    start_lab,
)

pytestmark = pytest.mark.lab


def without_ca(lab: Lab, tmp_path: Path) -> Path:
    """The lab's targets file minus its ca_cert line: what a user has before adding the CA."""
    assert lab.targets_path is not None
    text = lab.targets_path.read_text(encoding="utf-8")
    path = tmp_path / "no-ca.yaml"
    path.write_text(re.sub(r"(?m)^\s*ca_cert:.*\n", "", text), encoding="utf-8")
    return path


def rows_by_host(stdout: str) -> dict[str, dict[str, Any]]:
    return {row["host"]: row for row in json.loads(stdout)}


def test_certificates_are_verified_by_default_and_ca_cert_fixes_it(tmp_path: Path) -> None:
    lab = start_lab(tmp_path, hosts=2, sessions_per_host=4, faults=fault_rules({"mp-lab-002": "bad-cert"}))
    try:
        plain = without_ca(lab, tmp_path)
        # No CA given: the lab's self-signed certificate is not trusted, so nobody is reached.
        res = run_cli("sessions", plain, "--format", "json", "--timeout", "5")
        assert res.code == ExitCode.HOST_UNREACHABLE
        assert {r["error"]["kind"] for r in rows_by_host(res.stdout).values()} == {"tls"}
        assert lab.open_shell_count() == 0 and not [e for e in journal(lab) if e["event"] == "pipeline"]

        # --ca-cert: the good host is verified and read; the bad-cert host still fails as tls.
        res = run_cli("sessions", plain, "--format", "json", "--timeout", "5", "--ca-cert", lab.ca_path)
        rows = rows_by_host(res.stdout)
        assert res.code == ExitCode.HOST_UNREACHABLE
        assert rows["mp-lab-001"]["status"] == "ok" and rows["mp-lab-001"]["sessions"]
        assert (rows["mp-lab-002"]["status"], rows["mp-lab-002"]["error"]["kind"]) == ("unreachable", "tls")

        # The operator can turn validation off explicitly, and only then is bad-cert reachable.
        res = run_cli("sessions", plain, "--format", "json", "--timeout", "5", "--no-verify-tls")
        assert res.code == ExitCode.OK, res.stderr
    finally:
        lab.stop()


def test_basic_over_http_is_refused_unless_forced_and_then_warned(tmp_path: Path) -> None:
    lab = start_lab(tmp_path, hosts=2, sessions_per_host=4, auth="basic", tls=False)
    try:
        res = run_cli("sessions", lab.targets_path, "--timeout", "5")
        assert res.code == ExitCode.USAGE
        assert "in clear" in res.stderr and "--allow-insecure-basic" in res.stderr
        assert lab.request_count() == 0, "the password was sent although the run was refused"

        res = run_cli("sessions", lab.targets_path, "--timeout", "5", "--allow-insecure-basic", "--format", "json")
        assert res.code == ExitCode.OK, res.stderr
        assert "WARNING" in res.stderr and "in clear" in res.stderr
        assert_no_secret("a forced Basic run's output", res.stdout, res.stderr)
    finally:
        lab.stop()


@pytest.mark.parametrize(
    ("auth", "tls", "extra"),
    [("ntlm", True, []), ("basic", False, ["--allow-insecure-basic"])],
    ids=["ntlm-https", "basic-http-forced"],
)
def test_password_is_absent_from_every_output_of_a_faulty_run(
    tmp_path: Path, auth: str, tls: bool, extra: list[str]
) -> None:
    """A run over every fault kind with the DEBUG trace on (MPREMOTE_DEBUG=1): grep everything."""
    lab = start_lab(tmp_path, hosts=13, sessions_per_host=4, auth=auth, tls=tls, faults=fault_rules())
    try:
        files = [tmp_path / "audit.jsonl", tmp_path / "out.json", tmp_path / "retry.txt"]
        res = run_cli(
            "logoff", lab.targets_path, "--all", "--yes", "--timeout", "2", "--audit-log", files[0],
            "--format", "json", "--output", files[1], "--retry-file", files[2], *extra,
            env=cli_env(MPREMOTE_DEBUG="1"),
        )  # fmt: skip
    finally:
        lab.stop()
    assert res.code == ExitCode.BOTH, res.stderr[-2000:]
    # The trace is real (pypsrp's own DEBUG records went through), so the grep has teeth.
    assert "pypsrp" in res.stderr and "DEBUG" in res.stderr
    assert all(f.is_file() for f in files)
    assert_no_secret("stdout or the DEBUG trace", res.stdout, res.stderr)
    assert_files_have_no_secret([*files, tmp_path / "lab.yaml", tmp_path / "journal.jsonl"])


def test_password_from_stdin_is_used_and_never_shown(small_lab: Lab, tmp_path: Path) -> None:
    env = cli_env(MPREMOTE_DEBUG="1")
    del env["MPREMOTE_PASSWORD"]
    res = run_cli(
        "sessions", small_lab.targets_path, "--password-stdin", "--format", "json", "--audit-log",
        tmp_path / "audit.jsonl", stdin=SECRET + "\n", env=env,
    )  # fmt: skip
    assert res.code == ExitCode.OK, res.stderr[-2000:]
    assert len(json.loads(res.stdout)) == len(small_lab.hosts)
    assert_no_secret("output", res.stdout, res.stderr)
    assert_files_have_no_secret([tmp_path / "audit.jsonl"])


def test_a_wrong_password_is_an_auth_error_and_is_not_echoed(small_lab: Lab) -> None:
    wrong = "Wrong-Pw-4417"
    res = run_cli("sessions", small_lab.targets_path, "--format", "json", env=cli_env(MPREMOTE_PASSWORD=wrong))
    assert res.code == ExitCode.HOST_UNREACHABLE
    assert {r["error"]["kind"] for r in json.loads(res.stdout)} == {"auth"}
    assert_no_secret("output", res.stdout, res.stderr, secret=wrong)


def test_an_unexpected_error_quoting_the_password_is_scrubbed_from_the_row(
    small_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lower layer that puts its inputs in an exception must not leak them into a result."""

    def boom(self: Connection, name: str, parameters: dict[str, Any], *, acting: bool = False) -> Any:
        raise RuntimeError(f"failed while using password={SECRET!r} and {SECRET}")

    monkeypatch.setattr(Connection, "run_script", boom)
    assert small_lab.targets_path is not None
    host = load_targets(small_lab.targets_path).limit_all([])[0]
    result = run_host_job(host, JobSpec(command="sessions"), credential=lambda h: ("labadmin", SECRET))
    assert result.error is not None and "RuntimeError" in result.error.message
    assert_no_secret("a result row", json.dumps(result.to_dict()))
    assert small_lab.open_shell_count() == 0
