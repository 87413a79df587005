"""``mpremote demo``: the first thing a new user runs.

Starts an emulated MultiPoint lab on loopback (NTLM over HTTPS, certificates validated
against the lab's own CA), lists its sessions, previews and then performs ``logoff --all``,
lists what is left (console and WMSshell are always spared), and stops the lab. It goes
through the same library calls as the real commands; nothing outside this machine is touched.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from mpremote.results import ExitCode


def run_demo(*, hosts: int = 4, keep: bool = False) -> int:
    from rich.console import Console
    from rich.rule import Rule

    from mpremote import api, report
    from mpremote.cli.lab import next_steps
    from mpremote.lab.server import Lab, LabOptions
    from mpremote.selection import Selector
    from mpremote.targets import load_targets

    console = Console(highlight=False)
    workdir = Path("mpremote-demo").resolve() if keep else Path(tempfile.mkdtemp(prefix="mpremote-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    targets_path = workdir / "lab.yaml"
    options = LabOptions(
        hosts=hosts,
        sessions_per_host=6,
        seed=2026,
        auth="ntlm",
        tls=True,
        write_targets=targets_path,
        journal=workdir / "journal.jsonl",
    )
    try:
        with Lab(options) as lab:
            password = options.password
            console.print(Rule("mpremote demo"))
            console.print(
                f"Started an emulated MultiPoint lab: {hosts} hosts on 127.0.0.1 "
                f"(ports {lab.hosts[0].port}-{lab.hosts[-1].port}), NTLM over HTTPS, "
                f"certificates checked against the lab's CA.\nTarget list: {targets_path}\n"
            )
            inventory = load_targets(targets_path)
            run_options = api.RunOptions(credentials=lambda h: (h.username, password), per_host_timeout=30)

            console.print(Rule("$ mpremote sessions lab.yaml"))
            listed = api.run_command(inventory.hosts, "sessions", options=run_options)
            report.render_sessions_table(listed.results, console)

            everyone = Selector(all=True)
            console.print(Rule("$ mpremote logoff lab.yaml --all --dry-run"))
            preview = api.run_command(inventory.hosts, "logoff", everyone, options=replace(run_options, dry_run=True))
            report.render_table(preview.results, console, command="logoff")

            console.print(Rule("$ mpremote logoff lab.yaml --all --yes"))
            done = api.run_command(inventory.hosts, "logoff", everyone, options=run_options)
            report.render_table(done.results, console, command="logoff")

            console.print(Rule("$ mpremote sessions lab.yaml   (what is left)"))
            after = api.run_command(inventory.hosts, "sessions", options=run_options)
            report.render_sessions_table(after.results, console)
            console.print("\nConsole and WMSshell sessions (and your own) are never logged off.", highlight=False)
            console.print("Next, try it yourself: in one terminal run", highlight=False)
            console.print("  mpremote lab serve --write-targets lab.yaml", markup=False, highlight=False)
            console.print("and in another terminal:", highlight=False)
            for line in next_steps("lab.yaml", None)[2:-1]:
                console.print(line, markup=False, highlight=False)
            console.print("(README.md has more.)", highlight=False)
            return int(done.exit_code)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
