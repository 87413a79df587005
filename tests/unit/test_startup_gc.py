"""The CLI's start-up pause of the garbage collector always ends where work begins.

What a user cares about: the pause makes every command start faster, but a long-running
command (``lab serve``, ``watch``, a policy waiting between stages, a 500-host run) must
never run with the collector off, or its memory would grow without bound; and a Python
program that switched the collector off itself must find it off after calling mpremote.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpremote import startup
from mpremote.fanout import run_hosts
from mpremote.fanout.gctune import relaxed_gc
from mpremote.hosts import Host
from mpremote.results import HostResult, HostStatus
from tests.support.helpers import start_lab


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    startup.resume()
    if was:
        gc.enable()
    else:
        gc.disable()


def test_a_run_resumes_the_collector_paused_for_start_up() -> None:
    startup.pause()
    assert not gc.isenabled() and startup.paused()
    seen: list[bool] = []

    def job(host: Host, deadline: object) -> HostResult:
        seen.append(gc.isenabled())
        return HostResult(host=host.name, address=host.address, status=HostStatus.OK)

    run_hosts([Host(name="a", address="10.0.0.1"), Host(name="b", address="10.0.0.2")], job, processes=1)
    assert seen == [True, True]
    assert gc.isenabled() and not startup.paused()


def test_a_lab_resumes_the_collector(tmp_path: Path) -> None:
    startup.pause()
    with start_lab(tmp_path, hosts=1, sessions_per_host=1):
        assert gc.isenabled()


def test_a_collector_the_caller_switched_off_stays_off() -> None:
    gc.disable()
    startup.resume()  # no pause of ours to undo
    with relaxed_gc():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_the_cli_pauses_the_collector_while_it_starts() -> None:
    code = (
        "import gc, sys\n"
        "import mpremote.cli.app as app\n"
        "def probe():\n"
        "    sys.stderr.write(f'collector during start-up: {gc.isenabled()}\\n')\n"
        "app._mount_subapps = (lambda real: lambda *a: (probe(), real(*a)))(app._mount_subapps)\n"
        "from mpremote.__main__ import main\n"
        "sys.argv = ['mpremote', '--version']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "collector during start-up: False" in proc.stderr, proc.stderr
