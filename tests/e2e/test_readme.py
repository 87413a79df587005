"""README's examples are real: the target list and the policy it shows load as written."""

from __future__ import annotations

import re
from pathlib import Path

from mpremote.policy.load import load_policy
from mpremote.targets import load_targets

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _yaml_blocks() -> list[str]:
    return [re.sub(r"^ {3}", "", b, flags=re.M) for b in re.findall(r"```yaml\n(.*?)```", README, re.S)]


def test_readme_gives_the_test_command_ci_runs() -> None:
    assert (ROOT / ".ci" / "test-command").read_text().strip() in README


def test_the_target_list_in_the_readme_loads(tmp_path: Path) -> None:
    block = next(b for b in _yaml_blocks() if "hosts:" in b and "schedule" not in b)
    path = tmp_path / "lab.yaml"
    path.write_text(block, encoding="utf-8")
    # ca_cert: school-ca.pem is checked when the file is read: it sits next to the list,
    # as in examples/ (a placeholder there).
    (tmp_path / "school-ca.pem").write_bytes((ROOT / "examples" / "school-ca.pem").read_bytes())
    inventory = load_targets(path)
    names = [h.name for h in inventory.hosts]
    assert len(names) == 13 and "library-rds" in names
    assert {h.name for h in inventory.limit("labs")} == {f"mp-101-{i:02d}.school.local" for i in range(1, 13)}


def test_the_policy_in_the_readme_is_valid(tmp_path: Path) -> None:
    block = next(b for b in _yaml_blocks() if "schedule" in b)
    block = block.replace("../examples/lab.yaml", str(ROOT / "examples" / "lab.yaml"))
    path = tmp_path / "end-of-day.yaml"
    path.write_text(block, encoding="utf-8")
    policy = load_policy(path)
    assert policy.name == "end-of-day"
