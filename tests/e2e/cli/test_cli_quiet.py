"""`-q`: one line per failed or unreachable host on stderr, and nothing else."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab


def test_quiet_prints_one_line_per_failed_or_unreachable_host_and_nothing_else(start_lab, cli) -> None:
    lab = start_lab(hosts=4, sessions_per_host=3, faults=["mp-lab-002=refuse", "mp-lab-003=access-denied"])
    res = cli("logoff", lab.targets_path, "--all", "--yes", "-q", "--timeout", "10")
    assert res.exit_code == 12, res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("mp-lab-002: unreachable: connect: ")
    assert lines[1].startswith("mp-lab-003: failed: ") and "denied" in lines[1]


def test_quiet_on_a_healthy_run_prints_nothing(start_lab, cli) -> None:
    lab = start_lab(hosts=2, sessions_per_host=2)
    res = cli("sessions", lab.targets_path, "-q")
    assert (res.exit_code, res.stdout, res.stderr) == (0, "", "")
