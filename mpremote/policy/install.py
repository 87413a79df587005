"""Scheduler entries for a policy: a crontab line, systemd units, Task Scheduler XML.

Strategy: **the scheduler runs ``mpremote policy run`` every minute** and the policy decides
what is due. Why not one entry per stage time:

* cron and Task Scheduler use the *machine's* time zone while the policy carries its own
  (a workstation in UTC can run a Europe/Madrid policy); only ``run`` applies the policy's
  zone, its DST rules and its skip dates.
* Catch-up is free: a tick lost to a reboot or a slow run is made up by the next one inside
  ``catch_up``, and never doubled, because ``run`` is idempotent (state file + lock).
* Editing the policy (new times, a holiday) needs no reinstall.

A tick with nothing due reads two small files and exits without touching the network.
Everything here only *renders* text; :func:`write_plan` writes files, and only when asked
(``--write``). A crontab is never edited: the user pastes the line (``crontab -e``) or
names a file to write it to.
"""

from __future__ import annotations

import shlex
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mpremote.policy.model import Policy

TARGETS = ("cron", "systemd", "schtasks")
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


@dataclass(frozen=True)
class InstallSpec:
    """Everything the entries need; absolute paths, resolved by the caller."""

    policy: Policy
    state: Path
    log: Path
    python: str = field(default_factory=lambda: sys.executable)
    audit_log: Path | None = None
    run_as: str | None = None  # schtasks: DOMAIN\\account the task runs as

    @property
    def unit_name(self) -> str:
        return f"mpremote-policy-{self.policy.name}"

    def argv(self) -> list[str]:
        """The command every target runs (``python -m mpremote``: no PATH needed)."""
        args = [self.python, "-m", "mpremote", "policy", "run", str(self.policy.path), "--state", str(self.state)]
        if self.audit_log:
            args += ["--audit-log", str(self.audit_log)]
        return args


@dataclass(frozen=True)
class InstallFile:
    path: Path  # where --write puts it
    content: str
    encoding: str = "utf-8"


@dataclass(frozen=True)
class InstallPlan:
    target: str
    text: str  # what is printed
    files: list[InstallFile]
    next_steps: str


# --------------------------------------------------------------------------- cron


def cron_line(spec: InstallSpec, *, user: str | None = None) -> str:
    """One crontab line; ``user`` adds the user field of /etc/cron.d files."""
    cmd = " ".join(shlex.quote(a) for a in spec.argv())
    workdir = shlex.quote(str(spec.policy.path.parent))
    # The shell opens the log before mpremote starts: on a fresh machine its directory must
    # be made first, or cron fails every minute with nothing to show for it.
    logdir = shlex.quote(str(spec.log.parent))
    line = f"mkdir -p {logdir} && cd {workdir} && {cmd} >> {shlex.quote(str(spec.log))} 2>&1"
    line = line.replace("%", "\\%")  # cron turns a bare % into a newline
    who = f"{user} " if user else ""
    return f"* * * * * {who}{line}"


def render_cron(spec: InstallSpec, *, user: str | None = None) -> str:
    return (
        f"# mpremote policy '{spec.policy.name}' ({spec.policy.timezone}): every minute; "
        "'policy run' decides what is due\n" + cron_line(spec, user=user) + "\n"
    )


# --------------------------------------------------------------------------- systemd


def _systemd_quote(arg: str) -> str:
    arg = arg.replace("%", "%%").replace("$", "$$")  # specifier and variable escapes of Exec lines
    if arg and all(c.isalnum() or c in "/._-+=:@," for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd_path(path: Path) -> str:
    """A path for a setting that takes one path, such as ``WorkingDirectory=``: written as
    is (no quotes: systemd would read them as part of a relative path), ``%`` escaped."""
    return str(path).replace("%", "%%")


def render_systemd(spec: InstallSpec) -> tuple[str, str]:
    """(service unit, timer unit). ``%E`` is /etc for system units, ~/.config for user units.

    Output goes to the journal and, through ``policy run --log``, to the log file: that
    creates its own directory, where ``StandardOutput=append:`` would fail on a fresh
    machine whose log directory does not exist yet.
    """
    name = spec.policy.name
    exec_start = " ".join(_systemd_quote(a) for a in [*spec.argv(), "--log", str(spec.log)])
    service = f"""[Unit]
Description=mpremote policy {name}: run the stages that are due ({spec.policy.timezone})
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
WorkingDirectory={_systemd_path(spec.policy.path.parent)}
# Credentials: MPREMOTE_PASSWORD=... in this file (mode 0600), or Kerberos / the keyring.
EnvironmentFile=-%E/mpremote/{name}.env
ExecStart={exec_start}
"""
    timer = f"""[Unit]
Description=Every minute: mpremote policy {name}

[Timer]
OnCalendar=minutely
AccuracySec=1s
Persistent=true
Unit={spec.unit_name}.service

[Install]
WantedBy=timers.target
"""
    return service, timer


# --------------------------------------------------------------------------- Task Scheduler


def _cmd_line(spec: InstallSpec) -> tuple[str, str]:
    """(program, arguments) for Windows. ``policy run --log`` appends its own output, so no
    cmd.exe redirection (and none of cmd's quoting rules) is involved."""

    def q(a: str) -> str:
        return f'"{a}"' if (not a or any(c in a for c in ' &^%"')) else a

    args = [*spec.argv()[1:], "--log", str(spec.log)]
    return spec.python, " ".join(q(a) for a in args)


def render_task_xml(spec: InstallSpec, *, start: datetime | None = None) -> str:
    """A Task Scheduler 1.2 task: starts at ``start``, repeats every minute indefinitely."""
    start = start or datetime.now()
    ET.register_namespace("", TASK_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        el = ET.SubElement(parent, f"{{{TASK_NS}}}{tag}")
        if text is not None:
            el.text = text
        return el

    task = ET.Element(f"{{{TASK_NS}}}Task", {"version": "1.2"})
    reg = sub(task, "RegistrationInfo")
    sub(reg, "Description", f"mpremote policy {spec.policy.name}: every minute, 'policy run' does what is due")
    sub(reg, "URI", f"\\mpremote\\{spec.policy.name}")
    trigger = sub(sub(task, "Triggers"), "TimeTrigger")
    rep = sub(trigger, "Repetition")
    sub(rep, "Interval", "PT1M")  # no Duration: repeat indefinitely
    sub(rep, "StopAtDurationEnd", "false")
    sub(trigger, "StartBoundary", start.strftime("%Y-%m-%dT00:00:00"))
    sub(trigger, "Enabled", "true")
    principal = sub(sub(task, "Principals"), "Principal", None)
    principal.set("id", "Author")
    if spec.run_as:
        sub(principal, "UserId", spec.run_as)
    sub(principal, "LogonType", "Password")  # run whether or not anyone is logged on
    sub(principal, "RunLevel", "LeastPrivilege")
    settings = sub(task, "Settings")
    for tag, value in (
        ("MultipleInstancesPolicy", "IgnoreNew"),  # a slow run is not doubled (the lock also guards)
        ("DisallowStartIfOnBatteries", "false"),
        ("StopIfGoingOnBatteries", "false"),
        ("AllowHardTerminate", "true"),
        ("StartWhenAvailable", "true"),  # a missed tick runs as soon as possible; catch_up decides
        ("RunOnlyIfNetworkAvailable", "false"),
        ("AllowStartOnDemand", "true"),
        ("Enabled", "true"),
        ("Hidden", "false"),
        ("RunOnlyIfIdle", "false"),
        ("WakeToRun", "false"),
        ("ExecutionTimeLimit", "PT30M"),
        ("Priority", "7"),
    ):
        sub(settings, tag, value)
    actions = sub(task, "Actions")
    actions.set("Context", "Author")
    exe = sub(actions, "Exec")
    program, arguments = _cmd_line(spec)
    sub(exe, "Command", program)
    sub(exe, "Arguments", arguments)
    sub(exe, "WorkingDirectory", str(spec.policy.path.parent))
    ET.indent(task, space="  ")
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + ET.tostring(task, encoding="unicode") + "\n"


def schtasks_commands(spec: InstallSpec, xml_path: Path) -> tuple[str, str]:
    """(register the XML, equivalent one-liner without XML)."""
    task = f"\\mpremote\\{spec.policy.name}"
    account = f' /RU "{spec.run_as}" /RP *' if spec.run_as else ' /RU "DOMAIN\\account" /RP *'
    with_xml = f'schtasks /Create /TN "{task}" /XML "{xml_path}"{account} /F'
    program, arguments = _cmd_line(spec)
    tr = f'"{program}" {arguments}'.replace('"', '\\"')
    one_liner = f'schtasks /Create /TN "{task}" /SC MINUTE /MO 1 /TR "{tr}"{account} /F'
    return with_xml, one_liner


# --------------------------------------------------------------------------- plans


def plan_install(
    spec: InstallSpec,
    target: str,
    *,
    directory: Path | None = None,
    output: Path | None = None,
    cron_user: str | None = None,
    start: datetime | None = None,
) -> InstallPlan:
    """Render the entries for ``target`` and say where ``--write`` would put them."""
    if target == "cron":
        text = render_cron(spec, user=cron_user)
        files = [InstallFile(output, text)] if output else []
        steps = f"wrote {output}" if output else "mpremote never edits a crontab: run 'crontab -e' and paste the line"
        return InstallPlan(target, text, files, steps)
    if target == "systemd":
        service, timer = render_systemd(spec)
        where = directory or Path.home() / ".config" / "systemd" / "user"
        svc, tmr = where / f"{spec.unit_name}.service", where / f"{spec.unit_name}.timer"
        user = "" if str(where).startswith("/etc/") else " --user"
        text = f"# {svc}\n{service}\n# {tmr}\n{timer}"
        steps = f"systemctl{user} daemon-reload && systemctl{user} enable --now {spec.unit_name}.timer"
        if user:
            steps += "\n(user units stop at logout unless you run 'loginctl enable-linger')"
        return InstallPlan(target, text, [InstallFile(svc, service), InstallFile(tmr, timer)], steps)
    if target == "schtasks":
        xml = render_task_xml(spec, start=start)
        xml_path = (directory or Path.cwd()) / f"{spec.unit_name}.xml"
        with_xml, one_liner = schtasks_commands(spec, xml_path)
        text = f"<!-- {xml_path} -->\n{xml}\nREM register it:\n{with_xml}\nREM or, without the XML:\n{one_liner}\n"
        steps = f"run in an elevated prompt: {with_xml}"
        return InstallPlan(target, text, [InstallFile(xml_path, xml, "utf-16")], steps)
    raise ValueError(f"unknown target {target!r}; use {', '.join(TARGETS)}")


def write_plan(plan: InstallPlan) -> list[Path]:
    """Write the plan's files (only called with ``--write``); returns what was written."""
    written = []
    for f in plan.files:
        f.path.parent.mkdir(parents=True, exist_ok=True)
        f.path.write_text(f.content, encoding=f.encoding)  # "utf-16" writes a BOM, as schtasks wants
        written.append(f.path)
    return written
