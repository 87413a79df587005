"""Print a pip constraints file pinning every dependency to its lower bound in pyproject.toml.

CI installs the project once with the newest versions the bounds allow and once with these
(``pip install -c``), so a lower bound that no longer works is found by CI, not by a user.
Usage: python .ci/lower-bounds.py [EXTRA ...] > constraints.txt   (default extras: test)
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(.*)$")


def lower_bounds(extras: list[str]) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        specs += [s for s in optional.get(extra, []) if not s.startswith(project["name"])]
    pins: dict[str, str] = {}
    for spec in specs:
        match = REQ.match(spec.split(";")[0])
        if not match:
            continue
        name, rest = match.group(1).lower().replace("_", "-"), match.group(2)
        low = re.search(r">=\s*([0-9][^,\s]*)", rest)
        if low:
            pins[name] = max(pins.get(name, "0"), low.group(1), key=_version_key)
    return pins


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v))


if __name__ == "__main__":
    extras = sys.argv[1:] or ["test"]
    for name, version in sorted(lower_bounds(extras).items()):
        print(f"{name}=={version}")
