"""Lab fixtures of the reliability suite (helpers live in ``helpers.py``).

Each lab is fresh per test: a lab starts in a few tens of milliseconds, and tests that log
people off must not see another test's leftovers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mpremote.lab.server import Lab
from tests.support.helpers import LAB_HOSTS, SECRET, fault_rules, start_lab


@pytest.fixture
def fault_lab(tmp_path: Path) -> Iterator[Lab]:
    """A fresh 15-host lab: every fault kind on its own host, and a healthy one."""
    lab = start_lab(tmp_path, hosts=LAB_HOSTS, sessions_per_host=5, faults=fault_rules())
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def small_lab(tmp_path: Path) -> Iterator[Lab]:
    """A fresh healthy 3-host lab (NTLM over verified HTTPS, as the lab writes it)."""
    lab = start_lab(tmp_path, sessions_per_host=4)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(autouse=True)
def _lab_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs find the password where a user puts it: ``MPREMOTE_PASSWORD``."""
    monkeypatch.setenv("MPREMOTE_PASSWORD", SECRET)
    monkeypatch.delenv("MPREMOTE_DEBUG", raising=False)
