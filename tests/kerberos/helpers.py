"""Running ``mpremote`` as a user does, with the realm's environment and no password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def rows(self) -> dict[str, dict[str, Any]]:
        """``--format json`` output by host name."""
        return {r["host"]: r for r in json.loads(self.stdout)}


def mpremote(*args: str | Path, env: dict[str, str] | None = None, stdin: str = "") -> Run:
    """``python -m mpremote ARGS`` in a subprocess; the environment is this process's (the
    realm's ``KRB5_*``) without any ``MPREMOTE_*`` variable, unless ``env`` adds some."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MPREMOTE_")}
    base.update({"NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    proc = subprocess.run(
        [sys.executable, "-m", "mpremote", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def write_targets(path: Path, hosts: dict[str, dict[str, Any]], **defaults: Any) -> Path:
    """A target file of our own (a name that differs from the lab's, spn fields, ...)."""
    path.write_text(yaml.safe_dump({"vars": defaults, "hosts": hosts}, sort_keys=False), encoding="utf-8")
    return path


def lab_vars(lab: Any) -> dict[str, Any]:
    """The connection settings the lab's own targets file gives every host."""
    assert lab.targets_path is not None
    doc = yaml.safe_load(lab.targets_path.read_text(encoding="utf-8"))
    v = dict(doc["vars"])
    if "ca_cert" in v:
        v["ca_cert"] = str((lab.targets_path.parent / v["ca_cert"]).resolve())
    return v


def service_tickets(ccache: Path) -> list[str]:
    """The service principals a ticket cache holds tickets for (``klist``)."""
    from .realm import find_tool

    proc = subprocess.run(
        [find_tool("klist"), "-c", f"FILE:{ccache}"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert proc.returncode == 0, proc.stderr
    found = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 5 and "/" in parts[-1] and "@" in parts[-1]:
            found.append(parts[-1])
    return found
