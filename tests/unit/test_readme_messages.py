"""README quotes what mpremote prints: each quoted message is produced here and must be in
README.md exactly as printed, and README quotes no error line that is not produced here."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from mpremote.cli.run import _one_of
from mpremote.confirm import Plan, PlanItem, render_plan
from mpremote.errors import UsageError
from mpremote.policy.execute import policy_hosts
from mpremote.policy.load import load_policy
from mpremote.targets import load_targets

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## What you see") : README.index("## Results and exit codes")]
CA_PLACEHOLDER = ROOT / "examples" / "school-ca.pem"


def _yaml_block(word: str) -> str:
    blocks = [re.sub(r"^ {3}", "", b, flags=re.M) for b in re.findall(r"```yaml\n(.*?)```", README, re.S)]
    return next(b for b in blocks if word in b)


def _error(exc: BaseException, tmp_path: Path) -> str:
    return "error: " + str(exc).replace(f"{tmp_path.resolve()}/", "").replace(f"{tmp_path}/", "")


@pytest.fixture
def readme_lab(tmp_path: Path) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(_yaml_block("hosts:"), encoding="utf-8")
    # Its ca_cert (school-ca.pem) is checked when the file is read: it sits next to the list.
    (tmp_path / "school-ca.pem").write_bytes(CA_PLACEHOLDER.read_bytes())
    return path


def _messages(tmp_path: Path, readme_lab: Path) -> list[str]:
    out = []
    bad = tmp_path / "bad" / "lab.yaml"
    bad.parent.mkdir()
    bad.write_text(readme_lab.read_text().replace("transport: https", "transport: htps", 1), encoding="utf-8")
    (bad.parent / "school-ca.pem").write_bytes(CA_PLACEHOLDER.read_bytes())
    with pytest.raises(UsageError) as exc:
        load_targets(bad)
    out.append(_error(exc.value, tmp_path / "bad"))
    with pytest.raises(UsageError) as exc:
        _one_of("--transport", "htps", ("https", "http"))
    out.append(_error(exc.value, tmp_path))
    with pytest.raises(UsageError) as exc:
        load_targets(readme_lab).limit_all(["labs&room101"])
    out.append(_error(exc.value, tmp_path))
    policy_text = _yaml_block("schedule").replace("../examples/lab.yaml", str(readme_lab))
    policy_text = policy_text.replace(f"targets: {readme_lab}\n", f'targets: {readme_lab}\nlimit: "room102"\n')
    policy_path = tmp_path / "end-of-day.yaml"
    policy_path.write_text(policy_text, encoding="utf-8")
    with pytest.raises(UsageError) as exc:
        policy_hosts(load_policy(policy_path))
    out.append(_error(exc.value, tmp_path))
    policy_path.write_text("- name: end-of-day\n- targets: lab.yaml\n", encoding="utf-8")
    with pytest.raises(UsageError) as exc:
        load_policy(policy_path)
    out.append(_error(exc.value, tmp_path))
    return out


def test_every_error_readme_quotes_is_what_mpremote_prints(tmp_path: Path, readme_lab: Path) -> None:
    produced = _messages(tmp_path, readme_lab)
    for message in produced:
        assert message in SECTION.splitlines(), message
    quoted = [line for line in SECTION.splitlines() if line.startswith("error: ")]
    assert sorted(quoted) == sorted(produced)
    # The sentence in "Using it on a real lab" quotes the first one too.
    assert f"`{produced[0].removeprefix('error: ')}`" in README.replace("\n   ", " ")


def test_readme_confirmation_is_what_the_renderer_draws() -> None:
    items = [
        ("mp-lab-001", 2, "sam lee", "active", None),
        ("mp-lab-001", 4, "łukasz", "active", 4 * 3600 + 35 * 60),
        ("mp-lab-001", 139, "priya", "active", 30 * 60),
        ("mp-lab-002", 4, "jgarcia", "active", None),
        ("mp-lab-002", 5, "j.müller", "active", 10),
        ("mp-lab-002", 128, "maría josé", "disconnected", 56 * 60),
    ]
    plan = Plan("logoff", [PlanItem(h, i, u, f"LAB\\{u}", st, idle) for h, i, u, st, idle in items])
    console = Console(file=io.StringIO(), width=80, no_color=True, highlight=False)
    render_plan(plan, console, "all sessions")
    drawn = console.file.getvalue() + plan.question().rstrip()  # type: ignore[attr-defined]
    block = re.search(r"```text\n(About to log off.*?)\n```", SECTION, re.S)
    assert block is not None
    assert block.group(1) == drawn
    big = Plan("logoff", [PlanItem(f"h{i % 8}", i, "u", "u", "active", 0) for i in range(120)])
    assert f"`{big.question().rstrip()}`" in SECTION


def test_readme_quiet_line_has_the_shape_quiet_prints() -> None:
    from mpremote.report import problem_lines
    from mpremote.results import ErrorInfo, HostResult, HostStatus

    message = "connection refused (is WinRM listening on that port?)"
    r = HostResult("mp-101-07.school.local", "10.0.0.7", HostStatus.UNREACHABLE, ErrorInfo("connect", message))
    assert problem_lines([r])[0] in SECTION.splitlines()
