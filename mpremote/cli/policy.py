"""``mpremote policy check|next|run|install``: a thin Typer layer over the policy package.

Only Typer is imported at module level: ``policy run`` is started every minute by the
scheduler and mostly finds nothing due, so it must not pay for the network stack then.
Bad input exits 2 with ``file:line: field 'x': problem`` on stderr.
"""

# No ``from __future__ import annotations`` here: Typer would evaluate every string
# annotation of every command on each start (about 5 ms of ``mpremote --help``).

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mpremote.cli.errors import handles_errors
from mpremote.errors import UsageError
from mpremote.results import ExitCode

app = typer.Typer(
    help="Scheduled end-of-day policies: warn, then log off, every evening, exactly once.",
    no_args_is_help=True,
    add_completion=False,
)

PolicyArg = Annotated[Path, typer.Argument(metavar="POLICY", help="Policy file (YAML).", show_default=False)]
FormatOpt = Annotated[str, typer.Option("--format", help="table or json.")]


def _load(path: Path) -> Any:
    from mpremote.policy.load import load_policy

    return load_policy(path)


def _instant(text: str | None, policy: Any, option: str) -> Any:
    from datetime import UTC, datetime

    from mpremote.policy.schedule import parse_instant

    if text is None:
        return datetime.now(UTC)
    try:
        return parse_instant(text, policy)
    except ValueError:
        # A time without an offset is read in the policy's zone (parse_instant).
        raise UsageError(
            f"{option}: expected ISO 8601 such as 2026-03-27T16:45 or 2026-03-27T16:45+01:00, got {text!r}"
        ) from None


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise UsageError(f"--format must be table or json, not {fmt!r}")


@app.command("check")
@handles_errors
def check_cmd(policy_file: PolicyArg, fmt: FormatOpt = "table") -> None:
    """Validate a policy (and its targets file) and describe the plan in words."""
    from mpremote.policy.describe import describe_policy
    from mpremote.policy.execute import policy_hosts, policy_selector

    _check_format(fmt)
    policy = _load(policy_file)
    hosts = policy_hosts(policy)
    policy_selector(policy)
    host_line = f"{len(hosts)} after limit and exemptions: " + ", ".join(h.name for h in hosts[:8])
    host_line += " ..." if len(hosts) > 8 else ""
    if fmt == "json":
        import json

        from mpremote.policy.schedule import upcoming

        typer.echo(
            json.dumps(
                {
                    "policy": policy.name,
                    "valid": True,
                    "hosts": [h.name for h in hosts],
                    "description": describe_policy(policy, hosts=host_line),
                    "next": [si.to_dict() for si in upcoming(policy, _instant(None, policy, ""), len(policy.stages))],
                },
                indent=2,
            )
        )
        return
    typer.echo("\n".join(describe_policy(policy, hosts=host_line)))
    typer.echo("OK: policy is valid")


@app.command("next")
@handles_errors
def next_cmd(
    policy_file: PolicyArg,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start instant, ISO 8601 (no offset: the policy's zone).")
    ] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=10000, help="How many stage instants.")] = 10,
    fmt: FormatOpt = "table",
) -> None:
    """Upcoming stage instants, in the policy's zone and in UTC, in time order."""
    from datetime import UTC

    from mpremote.policy.schedule import upcoming

    _check_format(fmt)
    policy = _load(policy_file)
    rows = upcoming(policy, _instant(from_, policy, "--from"), count)
    if fmt == "json":
        import json

        typer.echo(json.dumps([si.to_dict() for si in rows], indent=2))
        return
    typer.echo(f"{'AT (' + policy.timezone + ')':<27} {'UTC':<17} {'STAGE':<8} {'ACTION':<10} FOR T")
    for si in rows:
        typer.echo(
            f"{si.at.isoformat(timespec='minutes'):<27} {si.at.astimezone(UTC).strftime('%Y-%m-%d %H:%M'):<17} "
            f"{si.stage.label:<8} {si.stage.action:<10} {si.scheduled.strftime('%Y-%m-%d %H:%M')}"
        )
    if not rows:
        typer.echo("(no upcoming instants)")


@app.command("run")
@handles_errors
def run_cmd(
    policy_file: PolicyArg,
    now: Annotated[str | None, typer.Option("--now", help="Pretend it is this instant (ISO 8601).")] = None,
    state: Annotated[Path | None, typer.Option("--state", help="State file (default: user state dir).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Query but change nothing.")] = False,
    audit_log: Annotated[Path | None, typer.Option("--audit-log", help="Append JSONL audit records here.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Per-host deadline, seconds.")] = 60.0,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Hosts at once.")] = None,
    lock_timeout: Annotated[float, typer.Option("--lock-timeout", help="Wait this long for another run.")] = 600.0,
    log: Annotated[Path | None, typer.Option("--log", help="Also append the output to this file.")] = None,
    fmt: FormatOpt = "table",
) -> ExitCode:
    """Run what is due now (idempotent; the scheduler calls this every minute)."""
    from datetime import UTC, datetime

    from mpremote.errors import MpremoteError
    from mpremote.policy.runner import run_policy
    from mpremote.policy.state import default_state_path

    _check_format(fmt)
    policy = _load(policy_file)
    instant = _instant(now, policy, "--now")
    state_path = state or default_state_path(policy.path, policy.name)
    audit_path = audit_log or policy.audit_log
    _check_run_options(timeout, concurrency, policy, state_path, audit_path, log)
    execute = _real_execute(audit_path, timeout, concurrency)
    audit = None
    if audit_path:
        from mpremote.policy.execute import audit_sink

        audit = audit_sink(audit_path)
    try:
        report = run_policy(
            policy, instant, state_path, execute=execute, dry_run=dry_run, audit=audit, lock_timeout=lock_timeout
        )
    except MpremoteError as exc:
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as fh:
                fh.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} policy {policy.name}: error: {exc}\n")
        raise
    if fmt == "json":
        import json

        lines = [json.dumps(report.to_dict(), indent=2)]
    else:
        lines = [
            f"  {r.stage} {r.action} for {r.scheduled.isoformat(timespec='minutes')}: {r.outcome} ({r.detail})"
            for r in report.interrupted + report.missed + report.skipped
        ]
        lines.append(report.summary_line())
    _output(lines, log)
    return ExitCode(report.exit_code)


def _check_run_options(
    timeout: float, concurrency: int | None, policy: Any, state: Path, audit: Path | None, log: Path | None
) -> None:
    """Refuse bad options and unwritable outputs before the state is touched: a refused run
    uses no stage up (exit 2, one line, nothing recorded, no host contacted).

    Unlike the interactive commands, ``policy run`` creates missing directories of its
    state, ``--log`` and audit log: a scheduler entry must work as printed on a fresh machine.
    """
    from mpremote.checks import OutputFile, check_output_files

    if not timeout > 0:
        raise UsageError(f"--timeout must be more than 0 seconds, not {timeout:g}")
    if concurrency is not None and concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {concurrency}")
    outputs = [OutputFile("--state", state), OutputFile("--audit-log", audit), OutputFile("--log", log)]
    check_output_files(outputs, inputs=[policy.path, policy.targets], make_dirs=True)


def _output(lines: list[str], log: Path | None) -> None:
    """Print, and append to ``--log`` (Task Scheduler has no shell redirection to rely on)."""
    for line in lines:
        typer.echo(line)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.writelines(line + "\n" for line in lines)


def _real_execute(audit_path: Path | None, timeout: float, concurrency: int | None) -> Any:
    """The library-backed execute: one :class:`~mpremote.api.RunContext` (redaction, debug
    trace, audit log, credentials checked before any host) made only when a stage fires."""

    def execute(call: Any) -> Any:
        from mpremote import api
        from mpremote.policy.execute import execute_stage

        run = api.RunContext(audit_log=str(audit_path) if audit_path else None, argv=sys.argv)
        run.start()  # kept until the process ends, like the CLI's: error lines are scrubbed too
        options = run.options(
            per_host_timeout=timeout, concurrency=concurrency, settings=api.connection_settings(timeout)
        )
        return execute_stage(call, options=options, run=run)

    return execute


@app.command("install")
@handles_errors
def install_cmd(
    policy_file: PolicyArg,
    target: Annotated[str, typer.Option("--target", help="cron, systemd or schtasks.")],
    write: Annotated[bool, typer.Option("--write", help="Write the files (default: print only).")] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="systemd unit / task XML directory for --write.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", help="cron: file to write the line to.")] = None,
    state: Annotated[Path | None, typer.Option("--state", help="State file the entry passes to run.")] = None,
    log: Annotated[Path | None, typer.Option("--log", help="Where the entry appends run output.")] = None,
    python: Annotated[str | None, typer.Option("--python", help="Python interpreter to run.")] = None,
    audit_log: Annotated[Path | None, typer.Option("--audit-log", help="Audit log the entry passes to run.")] = None,
    run_as: Annotated[str | None, typer.Option("--run-as", help="schtasks: DOMAIN\\account.")] = None,
    cron_user: Annotated[str | None, typer.Option("--cron-user", help="cron: add a user field (cron.d).")] = None,
) -> None:
    """Print (or with --write, write) the scheduler entry that runs the policy every minute."""
    from mpremote.policy.install import TARGETS, InstallSpec, plan_install, write_plan
    from mpremote.policy.state import default_state_path

    if target not in TARGETS:
        raise UsageError(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
    if target == "cron" and write and output is None:
        raise UsageError("cron: --write needs --output FILE; mpremote never edits a crontab (use 'crontab -e')")
    policy = _load(policy_file)
    state_path = (state or default_state_path(policy.path, policy.name)).absolute()
    log_path = (log or state_path.with_suffix(".log")).absolute()
    spec = InstallSpec(
        policy=policy,
        state=state_path,
        log=log_path,
        python=python or sys.executable,
        audit_log=audit_log.absolute() if audit_log else None,
        run_as=run_as,
    )
    plan = plan_install(
        spec, target, directory=directory.absolute() if directory else None, output=output, cron_user=cron_user
    )
    typer.echo(plan.text, nl=False)
    if write:
        for path in write_plan(plan):
            typer.echo(f"wrote {path}", err=True)
    elif plan.files:
        typer.echo("(printed only; add --write to write the files)", err=True)
    typer.echo(f"next: {plan.next_steps}", err=True)
