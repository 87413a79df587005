"""Shared helpers of the reliability suite: labs with faults, the CLI as a user runs it, and
the places a secret could leak to.

Why these helpers exist:

* Labs start in-process (``Lab(LabOptions(...))`` costs a few tens of milliseconds), so every
  test that changes sessions gets its own lab and no test depends on another's leftovers.
  :func:`start_lab` is the only starter (the e2e ``start_lab`` fixture wraps it and stops
  its labs); only the lab's own tests (``tests/emulator``) build ``Lab`` objects by hand.
* The CLI runs as a real subprocess (``python -m mpremote``) wherever the exit code, a
  signal or "stdin is not a terminal" is the thing under test; elsewhere it runs in-process
  through Typer's ``CliRunner`` or :func:`mpremote.api.run_command`, which is cheaper.
* Every lab here uses :data:`SECRET` as its password: a string distinctive enough that
  finding it (or an escaped form of it) anywhere in an output proves a leak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpremote.lab.faults import FaultRule, parse_fault_rule
from mpremote.lab.server import Lab, LabOptions

#: The lab password. Distinctive on purpose: grepping for it must never hit by chance.
SECRET = "Xq7-Rel-Pa55w0rd"

#: One host per fault kind, in lab order; mp-lab-013 is healthy. ``slow`` is a healthy
#: host that answers late (well within the deadline): it must end ``ok``; so must
#: ``slow-logoff`` (its log-offs complete within the confirmation wait). On ``stuck`` a
#: log-off never completes: reported ``stuck``, never ``done``.
FAULT_HOSTS: dict[str, str] = {
    "mp-lab-001": "refuse",
    "mp-lab-002": "hang",
    "mp-lab-003": "slow:100",
    "mp-lab-004": "http500",
    "mp-lab-005": "wsman-fault",
    "mp-lab-006": "auth-fail",
    "mp-lab-007": "bad-cert",
    "mp-lab-008": "garbage-quser",
    "mp-lab-009": "no-sessions",
    "mp-lab-010": "access-denied",
    "mp-lab-011": "vanish",
    "mp-lab-012": "reuse",
    "mp-lab-014": "stuck",
    "mp-lab-015": "slow-logoff:200",
}
HEALTHY = "mp-lab-013"
LAB_HOSTS = 15

#: Generous slack for "a hung host does not hold the run" (CI runners have 2 busy cores; 3 s
#: was once exceeded by 0.06 s on a machine with a load average of 14). A run that waited for
#: the hung host would take its read timeout and the connect retry on top of the deadline.
MARGIN_S = 5.0


def fault_rules(mapping: dict[str, str] | None = None) -> list[Any]:
    return [parse_fault_rule(f"{host}={kind}") for host, kind in (mapping or FAULT_HOSTS).items()]


def start_lab(tmp: Path, *, faults: Sequence[str | FaultRule] = (), **options: Any) -> Lab:
    """The one way a test starts a lab: started, writing ``lab.yaml`` and ``journal.jsonl``
    under ``tmp`` (created), password :data:`SECRET`; ``faults`` as ``"HOSTGLOB=KIND"`` text or
    parsed rules; any other ``LabOptions`` field as a keyword (its default otherwise). The
    caller stops it (``with start_lab(...) as lab:`` or the e2e ``start_lab`` fixture)."""
    tmp.mkdir(parents=True, exist_ok=True)
    opts: dict[str, Any] = {"password": SECRET, "write_targets": tmp / "lab.yaml", "journal": tmp / "journal.jsonl"}
    opts.update(options)
    rules = [parse_fault_rule(f) if isinstance(f, str) else f for f in faults]
    return Lab(LabOptions(faults=rules, **opts)).start()


# -- the CLI as a subprocess --------------------------------------------------------------


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    elapsed: float


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPREMOTE_")}
    env.update({"MPREMOTE_PASSWORD": SECRET, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "200"})
    env.update(extra)
    return env


def mpremote_argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "mpremote", *map(str, args)]


def run_cli(
    *args: str | Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> CliRun:
    """Run ``mpremote ARGS`` as a user would (stdin is a pipe, not a terminal)."""
    start = time.monotonic()
    proc = subprocess.run(
        mpremote_argv(*args),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env or cli_env(),
        timeout=timeout,
        cwd=cwd,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


# -- reading what happened ----------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line must be one JSON object: a half-written line fails the test here.

    Split on "\n" only: JSON text may hold U+2028 or U+0085 raw, which ``splitlines`` breaks.
    """
    lines = path.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


def journal(lab: Lab) -> list[dict[str, Any]]:
    path = lab.options.journal
    assert path is not None, "this lab writes no journal"
    return read_jsonl(path)


def effects(lab: Lab, host: str | None = None) -> set[tuple[str, str, int]]:
    """(host, event, id) of every logoff/disconnect/message the lab's hosts really played."""
    return {
        (e["host"], e["event"], e["id"])
        for e in journal(lab)
        if e["event"] in ("logoff", "disconnect", "message") and (host is None or e["host"] == host)
    }


def secret_forms(secret: str = SECRET) -> list[str]:
    """The forms a leaked password takes: as is, escaped, URL-encoded, in Basic's header."""
    import base64
    from urllib.parse import quote

    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe="")}
    for user in ("labadmin", ""):
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode().rstrip("="))
    return sorted(forms)


def assert_no_secret(where: str, *texts: str | bytes | None, secret: str = SECRET) -> None:
    for text in texts:
        if text is None:
            continue
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for form in secret_forms(secret):
            assert form not in text, f"the password leaked into {where}"


def assert_files_have_no_secret(paths: Sequence[Path], secret: str = SECRET) -> None:
    for path in paths:
        if path.is_file():
            assert_no_secret(str(path), path.read_bytes(), secret=secret)


# -- the CLI in-process -------------------------------------------------------------------

_mounted = False


def invoke(*args: str | Path, stdin: str | None = None) -> Any:
    """Run the Typer app in-process (cheaper than a subprocess; stdin is not a terminal).

    Returns click's ``Result`` (``exit_code``, ``stdout``, ``stderr``).
    """
    global _mounted
    from typer.testing import CliRunner

    from mpremote.cli import app as cli

    if not _mounted:
        cli._mount_subapps()
        _mounted = True
    runner = CliRunner()
    return runner.invoke(cli.app, [str(a) for a in args], input=stdin, catch_exceptions=False)


def lab_credentials(host: Any) -> tuple[str | None, str | None]:
    """Credentials for in-process runs, passed explicitly as the CLI does.

    Not a resolver reading ``MPREMOTE_PASSWORD``: another test's lab password must not leak in.
    """
    return "labadmin", SECRET
