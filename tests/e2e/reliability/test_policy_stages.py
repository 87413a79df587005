"""A policy stage is used up only by an error that may have reached a host.

What a user cares about: a wrong option in the scheduler entry, or a password variable not
set yet, must not make tonight's log-off "already done" once it is fixed; the console says
what went wrong; and a typo in ``exempt.hosts`` must not log the teacher off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpremote.lab.server import Lab
from tests.support.helpers import effects, invoke, start_lab

pytestmark = pytest.mark.lab

NOW = "2026-03-27T17:00Z"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = start_lab(tmp_path, hosts=2, sessions_per_host=3)
    try:
        yield lab
    finally:
        lab.stop()


def write(lab: Lab, tmp_path: Path, *, password_env: str = "MPREMOTE_PASSWORD", exempt: str = "") -> Path:
    hosts = "".join(f"  {h.name}: {{address: 127.0.0.1, port: {h.port}}}\n" for h in lab.hosts)
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"vars:\n  username: labadmin\n  password_env: {password_env}\n  ca_cert: {lab.ca_path}\n"
        f"hosts:\n{hosts}groups:\n  room1: {{hosts: [mp-lab-001]}}\n",
        encoding="utf-8",
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"name: eod\ntargets: {targets}\ntimezone: UTC\nschedule: {{cron: '0 17 * * *'}}\n"
        f"stages:\n  - {{action: logoff}}\nselect: {{all: true}}\ncatch_up: 10m\n{exempt}",
        encoding="utf-8",
    )
    return policy


def run(policy: Path, tmp_path: Path, *extra: str) -> object:
    return invoke("policy", "run", policy, "--now", NOW, "--state", tmp_path / "state.json", "--format", "json", *extra)


def logoffs(lab: Lab) -> set[tuple[str, str, int]]:
    return {e for e in effects(lab) if e[1] == "logoff"}


@pytest.mark.parametrize(
    ("options", "words"),
    [(["--timeout", "0"], "--timeout"), (["--concurrency", "0"], "--concurrency"), (["--timeout", "-5"], "--timeout")],
    ids=["timeout-0", "concurrency-0", "timeout-negative"],
)
def test_a_bad_option_does_not_use_the_stage_up(lab: Lab, tmp_path: Path, options: list[str], words: str) -> None:
    policy = write(lab, tmp_path)
    bad = run(policy, tmp_path, *options)
    assert bad.exit_code == 2, bad.stdout + bad.stderr
    assert words in bad.stderr and "internal error" not in bad.stderr
    assert lab.request_count() == 0 and logoffs(lab) == set()
    good = run(policy, tmp_path)
    report = json.loads(good.stdout)
    assert good.exit_code == 0, good.stderr
    assert [f["outcome"] for f in report["fired"]] == ["done"] and report["already_done"] == 0
    assert len(logoffs(lab)) == 6, "the log-off must happen once the option is fixed"


def test_a_missing_password_env_does_not_use_the_stage_up_and_says_so(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EOD_LAB_PW", raising=False)
    policy = write(lab, tmp_path, password_env="EOD_LAB_PW")
    bad = run(policy, tmp_path)
    report = json.loads(bad.stdout)
    assert bad.exit_code == 2
    (fired,) = report["fired"]
    assert fired["outcome"] == "failed" and "EOD_LAB_PW" in fired["detail"] and "not started" in fired["detail"]
    assert "EOD_LAB_PW" in report["summary"]  # on the console, not only in the audit
    assert lab.request_count() == 0
    table = invoke("policy", "run", policy, "--now", NOW, "--state", tmp_path / "state.json")
    assert table.exit_code == 2 and "EOD_LAB_PW" in table.stdout + table.stderr
    monkeypatch.setenv("EOD_LAB_PW", lab.options.password)
    good = run(policy, tmp_path)
    assert good.exit_code == 0, good.stdout + good.stderr
    assert [f["outcome"] for f in json.loads(good.stdout)["fired"]] == ["done"]
    assert len(logoffs(lab)) == 6


@pytest.mark.parametrize(
    ("exempt", "line", "field", "words"),
    [
        ("exempt:\n  hosts: [mp-lab-0001]\n", 10, "exempt.hosts", ["'mp-lab-0001' matches no host", "mp-lab-001"]),
        ("exempt:\n  hosts:\n    - mp-lab-002\n    - teacher-pc\n", 12, "exempt.hosts", ["'teacher-pc'"]),
        ("exempt:\n  hosts: ['lab-*']\n", 10, "exempt.hosts", ["'lab-*' matches no host"]),
        ("exempt:\n  groups: [room2]\n", 10, "exempt.groups", ["'room2' is not a group", "room1"]),
    ],
    ids=["host-typo", "second-host", "glob", "group"],
)
def test_exemptions_naming_nothing_are_errors(
    lab: Lab, tmp_path: Path, exempt: str, line: int, field: str, words: list[str]
) -> None:
    policy = write(lab, tmp_path, exempt=exempt)
    check = invoke("policy", "check", policy)
    # policy run reads the targets only when a stage is due: the stage then fails "not
    # started" with the same message on the console, and is not used up.
    due = invoke("policy", "run", policy, "--now", NOW, "--state", tmp_path / "state.json")
    for res, text in ((check, check.stderr), (due, due.stdout)):
        assert res.exit_code == 2, res.stdout + res.stderr
        assert f"{policy}:{line}: field '{field}'" in text
        for word in words:
            assert word in text
    assert lab.request_count() == 0 and logoffs(lab) == set()
    write(lab, tmp_path)  # the typo fixed (no exemption at all)
    fixed = run(policy, tmp_path)
    assert fixed.exit_code == 0 and [f["outcome"] for f in json.loads(fixed.stdout)["fired"]] == ["done"]


def test_exemptions_that_name_hosts_and_groups_still_work(lab: Lab, tmp_path: Path) -> None:
    policy = write(lab, tmp_path, exempt="exempt:\n  hosts: ['MP-LAB-00*']\n  groups: [room1]\n")
    res = run(policy, tmp_path)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "no hosts left" in json.loads(res.stdout)["fired"][0]["detail"]
    assert logoffs(lab) == set()
