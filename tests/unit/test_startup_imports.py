"""What a command imports, read from ``python -X importtime``: the start-up cuts stay cut.

* No pydantic (Typer's adapters) for command lines whose values need none of it
  (:mod:`mpremote.cli.coercion`): numbers, paths, repeated options and flags included.
* No sub-app (lab, policy, credentials), no lab or watch code for ``sessions``/``logoff``.
* ``mpremote --help`` imports neither pydantic nor rich.

The runs go to a closed loopback port, so they reach the connection code (pypsrp is
imported) and end with one failed row per host; nothing else is contacted.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.support.helpers import cli_env, start_lab

#: Modules a run of sessions/logoff must not import (prefixes).
NOT_FOR_A_RUN = (
    "pydantic",
    "pydantic_core",
    "typer._adapters",
    "mpremote.lab",
    "mpremote.policy",
    "mpremote.watch",
    "mpremote.cli.lab",
    "mpremote.cli.policy",
    "mpremote.cli.credentials",
    "mpremote.cli.watch",
    "psrpcore",
)

_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$")


def _imported(*args: str) -> tuple[int, Counter[str], str]:
    """Run ``mpremote ARGS`` under ``-X importtime``: exit code, how many times each module
    was listed (once per process that imported it, worker processes included), output."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mpremote", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    names = Counter(m.group(1) for line in proc.stderr.splitlines() if (m := _LINE.match(line)))
    return proc.returncode, names, proc.stdout + proc.stderr


def _hits(names: Iterable[str], prefixes: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)}


@pytest.fixture
def closed_port_targets(tmp_path: Path) -> Path:
    return closed_targets(tmp_path)


def closed_targets(tmp_path: Path) -> Path:
    """A target list of two hosts on loopback ports nobody listens on."""
    with socket.socket() as s1, socket.socket() as s2:
        s1.bind(("127.0.0.1", 0))
        s2.bind(("127.0.0.1", 0))
        ports = s1.getsockname()[1], s2.getsockname()[1]  # closed again when the block ends
    path = tmp_path / "t.yaml"
    path.write_text(
        "vars:\n  transport: http\n  auth: ntlm\n  username: labadmin\n  password_env: MPREMOTE_PASSWORD\n"
        f"hosts:\n  h1: {{address: 127.0.0.1, port: {ports[0]}}}\n  h2: {{address: 127.0.0.1, port: {ports[1]}}}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["sessions", "--format", "json", "--no-progress"],
        ["sessions", "--concurrency", "2", "--timeout", "20", "--user", "a*", "--user", "b*", "--format", "json"],
        ["logoff", "--all", "--yes", "--no-progress", "--timeout", "20", "--concurrency", "3"],
    ],
)
def test_a_run_imports_no_pydantic_and_no_unused_part(closed_port_targets: Path, args: list[str]) -> None:
    command, *options = args
    code, names, output = _imported(command, str(closed_port_targets), *options)
    assert "pypsrp.powershell" in names, output  # the run reached the connection code
    assert code not in (0, 2), output  # the hosts failed (closed port); the options were fine
    assert not _hits(names, NOT_FOR_A_RUN), output


def test_a_bad_number_still_gets_typers_error_through_pydantic(closed_port_targets: Path) -> None:
    code, names, output = _imported("sessions", str(closed_port_targets), "--concurrency", "+0")
    assert code == 2
    assert "Invalid value for '--concurrency'" in output
    assert "pydantic" in names  # the shortcut handed the unusual value to Typer


def test_subcommand_help_and_root_help_stay_light() -> None:
    code, names, output = _imported("sessions", "--help")
    assert code == 0 and "Usage:" in output
    assert not _hits(names, ("pydantic", "typer._adapters", "pypsrp", "requests"))
    code, names, output = _imported("--help")
    assert code == 0 and "sessions" in output
    assert not _hits(names, ("pydantic", "rich", "pypsrp", "requests", "mpremote.api"))


def _import_counts(targets: Path, processes: str) -> Counter[str]:
    args = ("sessions", str(targets), "--format", "json", "--no-progress", "--processes", processes)
    code, counts, output = _imported(*args)
    assert code == 0, output[-2000:]
    return counts


def test_worker_processes_import_the_client_libraries_once(tmp_path: Path) -> None:
    """With worker processes, pypsrp, requests and pyspnego are imported by the parent
    before it forks (about 125 ms of CPU), not again by every worker at its first host.
    ``-X importtime`` in a forked worker prints each module it imports itself; a few
    modules are listed twice by one process (circular imports re-enter). So a module
    listed more than once, and more often than in a threaded run, was imported by more
    than one process. The set checked includes mpremote's own modules and the codecs
    the quser parser uses."""
    with start_lab(tmp_path / "lab", hosts=4, sessions_per_host=1) as lab:
        threads = _import_counts(lab.targets_path, "1")
        workers = _import_counts(lab.targets_path, "2")
    client = ("pypsrp", "requests", "urllib3", "spnego", "cryptography", "mpremote", "encodings")
    assert _hits(set(workers), ("pypsrp.powershell", "spnego._ntlm")), "the run never reached NTLM"
    again = sorted(n for n in _hits(set(workers), client) if workers[n] > max(threads.get(n, 0), 1))
    assert not again, f"imported again in a worker: {again}"
    # A JSON run that went well has nothing to say on a console: rich (~45 ms of CPU after
    # the last host answered) is not imported at all.
    assert not _hits(set(threads) | set(workers), ("rich",))


def test_preload_survives_a_library_that_moved_its_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    """preload is a speed-up: a private module another release renamed must not fail a run."""
    import importlib

    from mpremote.remote import connection

    real = importlib.import_module
    asked: list[str] = []

    def moved(name: str, package: str | None = None) -> object:
        if name.startswith(("spnego._", "cryptography.hazmat.", "urllib3.util.")):
            asked.append(name)
            raise ImportError(f"No module named {name!r}")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", moved)
    connection.preload()
    assert asked, "preload no longer imports the libraries' internals: update this test"


def test_the_cli_leaves_the_object_graph_to_the_os_at_exit(tmp_path: Path) -> None:
    """Every command ends with the garbage collector's objects frozen (so the interpreter's
    exit skips freeing the whole graph, ~90 ms) and nothing it wrote is lost: an atexit
    hook still runs after the command and sees the freeze; a results file is complete."""
    out = tmp_path / "rows.json"
    argv = ["mpremote", "sessions", str(closed_targets(tmp_path)), "--format", "json", "-o", str(out), "--no-progress"]
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.stderr.write(f'frozen={gc.get_freeze_count() > 0}\\n'))\n"
        "from mpremote.__main__ import main\n"
        f"sys.argv = {argv!r}\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert proc.returncode not in (0, 2), proc.stderr  # the hosts failed (closed ports): a real run ended
    assert "frozen=True" in proc.stderr
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert [r["host"] for r in rows] == ["h1", "h2"]
