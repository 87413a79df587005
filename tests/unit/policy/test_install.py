"""Scheduler entries: cron line fields, systemd units that parse, Task XML that is well-formed."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest

from mpremote.policy.install import TASK_NS, InstallSpec, plan_install, write_plan
from mpremote.policy.load import load_policy

NS = {"t": TASK_NS}


@pytest.fixture
def spec(write_policy, tmp_path: Path) -> InstallSpec:
    return InstallSpec(
        policy=load_policy(write_policy()),
        state=tmp_path / "state dir" / "eod.json",
        log=tmp_path / "eod.log",
        python="/opt/venv/bin/python",
    )


def test_cron_line(spec: InstallSpec) -> None:
    plan = plan_install(spec, "cron")
    lines = [ln for ln in plan.text.splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 1 and plan.files == []  # printed only: a crontab is never edited
    fields = lines[0].split(None, 5)
    assert fields[:5] == ["*", "*", "*", "*", "*"]
    words = shlex.split(fields[5])
    assert words[:4] == ["mkdir", "-p", str(spec.log.parent), "&&"]  # the log's directory, on a fresh machine
    assert words[4:7] == ["cd", str(spec.policy.path.parent), "&&"]
    assert words[7:13] == ["/opt/venv/bin/python", "-m", "mpremote", "policy", "run", str(spec.policy.path)]
    assert words[13:15] == ["--state", str(spec.state)]  # a path with a space survives quoting
    assert words[15:] == [">>", str(spec.log), "2>&1"]
    assert "crontab -e" in plan.next_steps


def test_cron_escapes_percent_and_writes_only_to_a_named_file(write_policy, tmp_path: Path) -> None:
    s = InstallSpec(load_policy(write_policy()), tmp_path / "s.json", tmp_path / "log-%Y.txt", python="py")
    out = tmp_path / "cron.d" / "mpremote"
    plan = plan_install(s, "cron", output=out, cron_user="labadmin")
    assert "log-\\%Y.txt" in plan.text and "* * * * * labadmin mkdir -p " in plan.text
    assert write_plan(plan) == [out] and out.read_text() == plan.text


def test_systemd_units_parse(spec: InstallSpec, tmp_path: Path) -> None:
    plan = plan_install(spec, "systemd", directory=tmp_path / "units")
    service, timer = (f.content for f in plan.files)
    svc, tmr = configparser.ConfigParser(interpolation=None), configparser.ConfigParser(interpolation=None)
    svc.optionxform = tmr.optionxform = str  # type: ignore[assignment,method-assign]
    svc.read_string(service)
    tmr.read_string(timer)
    assert svc["Service"]["Type"] == "oneshot"
    exec_start = shlex.split(svc["Service"]["ExecStart"])
    assert exec_start[:5] == ["/opt/venv/bin/python", "-m", "mpremote", "policy", "run"]
    assert exec_start[-4:] == ["--state", str(spec.state), "--log", str(spec.log)]
    assert svc["Service"]["WorkingDirectory"] == str(spec.policy.path.parent)  # absolute, never quoted
    assert tmr["Timer"]["OnCalendar"] == "minutely" and tmr["Timer"]["Persistent"] == "true"
    assert tmr["Timer"]["Unit"] == "mpremote-policy-eod.service"
    assert tmr["Install"]["WantedBy"] == "timers.target"
    assert [f.path.name for f in plan.files] == ["mpremote-policy-eod.service", "mpremote-policy-eod.timer"]
    assert write_plan(plan) == [f.path for f in plan.files] and plan.files[1].path.read_text() == timer
    assert "systemctl --user daemon-reload" in plan.next_steps


def test_task_scheduler_xml(spec: InstallSpec, tmp_path: Path) -> None:
    s = InstallSpec(spec.policy, spec.state, spec.log, python=r"C:\Python311\python.exe", run_as=r"SCHOOL\svc-mp")
    plan = plan_install(s, "schtasks", directory=tmp_path, start=datetime(2026, 3, 1, 12, 0))
    (xml_file,) = plan.files
    root = ET.fromstring(xml_file.content)
    assert root.tag == f"{{{TASK_NS}}}Task" and root.get("version") == "1.2"
    trigger = root.find("t:Triggers/t:TimeTrigger", NS)
    assert trigger is not None
    assert trigger.findtext("t:Repetition/t:Interval", namespaces=NS) == "PT1M"
    assert trigger.find("t:Repetition/t:Duration", NS) is None  # repeat indefinitely
    assert trigger.findtext("t:StartBoundary", namespaces=NS) == "2026-03-01T00:00:00"
    assert root.findtext("t:Principals/t:Principal/t:UserId", namespaces=NS) == r"SCHOOL\svc-mp"
    assert root.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert root.findtext("t:Settings/t:StartWhenAvailable", namespaces=NS) == "true"
    args = root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS) or ""
    assert root.findtext("t:Actions/t:Exec/t:Command", namespaces=NS) == r"C:\Python311\python.exe"
    assert args.startswith("-m mpremote policy run ") and args.endswith(f"--log {spec.log}")
    assert f'--state "{spec.state}"' in args  # the path with a space is quoted
    assert ">>" not in args  # no shell: run --log appends its own output
    assert 'schtasks /Create /TN "\\mpremote\\eod" /XML' in plan.text and "/SC MINUTE /MO 1" in plan.text
    (written,) = write_plan(plan)
    raw = written.read_bytes()
    assert raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with BOM, as schtasks /XML wants
    assert ET.fromstring(raw.decode("utf-16")).tag == root.tag


def test_unknown_target(spec: InstallSpec) -> None:
    with pytest.raises(ValueError):
        plan_install(spec, "at")


# -- the entries run as printed on a fresh machine ---------------------------------------------

FRESH_POLICY = {
    # Never due while the test runs (1 January, 03:00 UTC): a tick reads two files and exits.
    "timezone": "UTC",
    "schedule": {"cron": "0 3 1 1 *"},
    "stages": [{"action": "logoff"}],
}


@pytest.fixture
def fresh(tmp_path: Path, write_policy) -> InstallSpec:
    """A policy in a folder with a space, every output in folders that do not exist yet."""
    import sys

    home = tmp_path / "my policies"
    home.mkdir()
    (home / "lab.yaml").write_text("hosts:\n  mp-1: {address: 127.0.0.1}\n", encoding="utf-8")
    policy = write_policy(**FRESH_POLICY)
    moved = home / "eod 100%.yaml"
    moved.write_text(policy.read_text(encoding="utf-8"), encoding="utf-8")
    new = tmp_path / "not yet"
    return InstallSpec(
        policy=load_policy(moved),
        state=new / "state dir" / "eod.json",
        log=new / "log dir" / "eod.log",
        python=sys.executable,
        audit_log=new / "audit dir" / "audit.jsonl",
    )


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_cron_line_runs_as_printed_on_a_fresh_machine(fresh: InstallSpec, tmp_path: Path) -> None:
    line = next(ln for ln in plan_install(fresh, "cron").text.splitlines() if ln and not ln.startswith("#"))
    command = line.split(None, 5)[5].replace("\\%", "%")  # what cron hands to sh
    proc = subprocess.run(["sh", "-c", command], cwd="/", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    log = fresh.log.read_text(encoding="utf-8")
    assert "policy eod: nothing due" in log and "exit 0" in log
    assert fresh.state.is_file()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_pass_systemd_analyze_verify(fresh: InstallSpec, tmp_path: Path) -> None:
    plan = plan_install(fresh, "systemd", directory=tmp_path / "units")
    paths = write_plan(plan)
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "mpremote-policy-eod" in ln]
    assert proc.returncode == 0 and problems == [], proc.stdout + proc.stderr


def test_systemd_exec_start_runs_as_printed(fresh: InstallSpec, tmp_path: Path) -> None:
    """The ExecStart line, split as systemd splits it, in the WorkingDirectory it names."""
    service = plan_install(fresh, "systemd", directory=tmp_path / "units").files[0].content
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(service)
    argv = [a.replace("%%", "%") for a in shlex.split(unit["Service"]["ExecStart"])]
    workdir = unit["Service"]["WorkingDirectory"].replace("%%", "%")
    proc = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "nothing due" in fresh.log.read_text(encoding="utf-8")
