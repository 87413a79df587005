"""Scheduler entries: cron line fields, systemd units that parse, Task XML that is well-formed."""

from __future__ import annotations

import configparser
import shlex
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
    assert words[:3] == ["cd", str(spec.policy.path.parent), "&&"]
    assert words[3:9] == ["/opt/venv/bin/python", "-m", "mpremote", "policy", "run", str(spec.policy.path)]
    assert words[9:11] == ["--state", str(spec.state)]  # a path with a space survives quoting
    assert words[11:] == [">>", str(spec.log), "2>&1"]
    assert "crontab -e" in plan.next_steps


def test_cron_escapes_percent_and_writes_only_to_a_named_file(write_policy, tmp_path: Path) -> None:
    s = InstallSpec(load_policy(write_policy()), tmp_path / "s.json", tmp_path / "log-%Y.txt", python="py")
    out = tmp_path / "cron.d" / "mpremote"
    plan = plan_install(s, "cron", output=out, cron_user="labadmin")
    assert "log-\\%Y.txt" in plan.text and "* * * * * labadmin cd " in plan.text
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
    assert exec_start[-2:] == ["--state", str(spec.state)]
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
