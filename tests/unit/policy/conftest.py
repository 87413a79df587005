"""Helpers for policy tests: write a policy file from a few overrides; a fake clock is
just an explicit ``now`` passed to the code under test (nothing here sleeps or reads time)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

BASE: dict[str, Any] = {
    "name": "eod",
    "targets": "lab.yaml",
    "timezone": "Europe/Madrid",
    "schedule": {"days": ["mon", "tue", "wed", "thu", "fri"], "at": "17:00"},
    "stages": [
        {"before": "15m", "action": "message", "text": "The lab closes in {minutes} minutes."},
        {"before": "5m", "action": "message", "text": "The lab closes in {minutes} minutes ({time})."},
        {"action": "logoff"},
    ],
    "select": {"all": True},
    "catch_up": "10m",
}


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    """write_policy(**overrides) -> path; a key set to None is removed."""

    def write(name: str = "policy.yaml", **overrides: Any) -> Path:
        doc = {**BASE, **overrides}
        doc = {k: v for k, v in doc.items() if v is not None}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    return write
