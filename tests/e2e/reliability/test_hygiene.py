"""Remote hygiene: after 1,000 host jobs, no runspace pool (wsmprovhost) is left open.

What a user cares about: a nightly log-off over a big lab must not leave a shell behind on
every host it touched; on Windows each one is a wsmprovhost.exe process that counts against
the user's shell quota (MaxShellsPerUser) until WinRM's idle timeout reaps it, hours later.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mpremote.api import RunOptions, run_command
from mpremote.lab.server import Lab
from mpremote.remote.connection import ConnectionSettings
from mpremote.selection import Selector
from mpremote.targets import load_targets
from tests.support.helpers import fault_rules, lab_credentials, start_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = 100
#: Failing paths must close their pools too: faults that fail after the pool is open.
FAULTS = {
    "mp-lab-001": "garbage-quser",
    "mp-lab-002": "access-denied",
    "mp-lab-003": "vanish",
    "mp-lab-004": "reuse",
    "mp-lab-005": "http500",
    "mp-lab-006": "wsman-fault",
    "mp-lab-007": "auth-fail",
    "mp-lab-008": "no-sessions",
    "mp-lab-009": "refuse",
    "mp-lab-010": "slow:50",
}
#: Ten runs of 100 hosts: every command; four runs send action pipelines.
COMMANDS = [
    "sessions",
    "message",
    "disconnect",
    "sessions",
    "logoff",
    "check",
    "message",
    "sessions",
    "check",
    "sessions",
]


@pytest.fixture
def big_lab(tmp_path: Path) -> Iterator[Lab]:
    # Basic over plain HTTP (forced): the cheapest transport, so 1,000 jobs fit in seconds;
    # pool bookkeeping does not depend on the transport.
    lab = start_lab(
        tmp_path, hosts=HOSTS, sessions_per_host=3, auth="basic", tls=False, journal=None, faults=fault_rules(FAULTS)
    )
    try:
        yield lab
    finally:
        lab.stop()


def test_a_thousand_host_jobs_leave_no_shell_open(big_lab: Lab) -> None:
    assert big_lab.targets_path is not None
    hosts = load_targets(big_lab.targets_path).limit_all([])
    options = RunOptions(
        per_host_timeout=30,
        concurrency=24,
        settings=ConnectionSettings(allow_insecure_basic=True),
        credentials=lab_credentials,
    )
    jobs = 0
    for command in COMMANDS:
        selector = Selector(all=True) if command in ("logoff", "disconnect", "message") else None
        outcome = run_command(hosts, command, selector, text="Bye" if command == "message" else None, options=options)
        assert len(outcome.results) == HOSTS
        assert not outcome.interrupted
        jobs += len(outcome.results)
        assert big_lab.open_shell_count() == 0, f"pools left open after {command}"
    assert jobs == 1000
    # The healthy hosts really were worked on (not 1,000 instant failures).
    assert big_lab.request_count() > 5 * 1000
