"""What a CLI command does between parsing options and exiting: load, confirm, run, render.

Every problem the user can fix (bad file, bad option, declined confirmation) ends here
with a one-line message on stderr and exit code 2, before any host is contacted.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from mpremote.cli.common import Common, err_console
from mpremote.errors import UsageError
from mpremote.hosts import AUTH_METHODS, TRANSPORTS
from mpremote.results import ExitCode
from mpremote.terminal import stderr_is_tty, stdin_is_tty

#: Columns of ``mpremote targets`` (table and csv).
TARGET_COLUMNS = ("host", "address", "port", "transport", "auth", "groups")


def _load_hosts(targets: Path, limit: list[str] | None) -> list[Any]:
    from mpremote.targets import load_targets

    inventory = load_targets(targets)
    return inventory.limit_all(limit or [])


def _selector(sel: dict[str, Any] | None) -> Any:
    if sel is None:
        return None
    from mpremote.selection import Selector, parse_duration, parse_session_ref

    state = sel.get("state")
    if state is not None and state.lower() not in ("active", "disconnected"):
        raise UsageError(f"--state must be active or disconnected, not {state!r}")
    try:
        idle: timedelta | None = parse_duration(sel["idle_over"]) if sel.get("idle_over") else None
    except ValueError as exc:
        raise UsageError(f"--idle-over: {exc}") from None
    try:
        refs = tuple(parse_session_ref(r) for r in sel.get("sessions", []))
    except ValueError as exc:
        raise UsageError(f"--session: {exc}") from None
    try:
        return Selector(
            all=bool(sel.get("all")),
            users=tuple(sel.get("users", [])),
            sessions=refs,
            state=state.lower() if state else None,
            idle_over=idle,
            exclude_users=tuple(sel.get("exclude", [])),
        )
    except ValueError as exc:  # name the option, not the Selector field
        message = str(exc)
        for fld, option in (("exclude_users", "--exclude"), ("users", "--user"), ("sessions", "--session")):
            if message.startswith(f"{fld}:"):
                message = option + message[len(fld) :]
                break
        raise UsageError(message) from None


def _check_outputs(common: Common, targets: Path) -> None:
    """-o, --retry-file and --audit-log: writable, not a directory, their directory exists,
    none of them the target list or one another. Checked before any host is contacted."""
    from mpremote.checks import OutputFile, check_output_files

    outputs = [
        OutputFile("-o/--output", common.output),
        OutputFile("--retry-file", common.retry_file),
        OutputFile("--audit-log", common.audit_log),
    ]
    check_output_files(outputs, inputs=[targets])


def _error(con: Any, exc: BaseException | str) -> None:
    """``error: MESSAGE`` on stderr; the message is user text, never markup (``mp-[/]``)."""
    from rich.markup import escape

    con.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)


def _one_of(option: str, value: str | None, choices: tuple[str, ...]) -> None:
    """``--transport must be https or http, not 'htps' (did you mean 'https'?)``."""
    if value is None or value in choices:
        return
    import difflib

    spelled = ", ".join(choices[:-1]) + f" or {choices[-1]}"
    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise UsageError(f"{option} must be {spelled}, not {value!r}{hint}")


def _settings(common: Common) -> Any:
    from mpremote.api import connection_settings

    _one_of("--transport", common.transport, TRANSPORTS)
    _one_of("--auth", common.auth, AUTH_METHODS)
    if common.ca_cert and not common.ca_cert.is_file():
        raise UsageError(f"--ca-cert: no such file: {common.ca_cert}")
    if common.ca_cert and common.no_verify_tls:
        raise UsageError("--ca-cert and --no-verify-tls contradict each other")
    return connection_settings(
        common.timeout,
        transport=common.transport,
        port=common.port,
        auth=common.auth,
        ca_cert=str(common.ca_cert) if common.ca_cert else None,
        verify_tls=False if common.no_verify_tls else None,
        allow_insecure_basic=common.allow_insecure_basic,
    )


def _credentials(common: Common) -> Any:
    from mpremote.credentials import CredentialResolver, read_password_stdin

    try:
        password = read_password_stdin() if common.password_stdin else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    resolver = CredentialResolver(
        username_override=common.username,
        password_override=password,
        interactive=stdin_is_tty() and not common.password_stdin,
    )
    return resolver


@contextmanager
def _signals_as_cancel(cancel: threading.Event) -> Iterator[None]:
    """SIGTERM and a first Ctrl-C (SIGINT) end the run through ``cancel``: unfinished hosts
    get 'interrupted' rows, exit 130.

    Why not let Ctrl-C raise KeyboardInterrupt: it lands at an arbitrary bytecode of the
    coordinating thread, e.g. between a host's audit line and its action lines, or before
    its jsonl row is written, and that row would then be lost. The fan-out polls ``cancel``
    every few tens of milliseconds instead. A second Ctrl-C raises KeyboardInterrupt (the
    fan-out then stops waiting for running hosts at once).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous_term = signal.getsignal(signal.SIGTERM)
    previous_int = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


@contextmanager
def _ctrl_c_raises() -> Iterator[None]:
    """At the confirmation prompt Ctrl-C must abort the read at once (the cancel handler
    would let ``readline`` resume and the prompt would ignore the key)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _confirm(command: str, preview: Any, selector: Any) -> frozenset[tuple[str, int, str]] | None:
    """Show the whole plan and ask; the confirmed (host, id, user) set, or None when declined.

    Only called on a TTY. The set returned is exactly what was shown: the run acts on
    nothing else (:mod:`mpremote.confirm`).
    """
    from mpremote.confirm import plan_from_preview, render_plan
    from mpremote.selection import describe

    plan = plan_from_preview(command, preview.results)
    con = err_console()
    render_plan(plan, con, describe(selector))
    if not plan.items:
        return None
    con.print(plan.question(), end="", markup=False, highlight=False)
    answer = sys.stdin.readline()
    if not plan.accepts(answer):
        if plan.needs_typed_count and answer.strip():
            con.print(f"The answer was not {len(plan.items)}.", markup=False, highlight=False)
        return None
    return plan.confirmed()


def run_cli_command(
    command: str,
    targets: Path,
    limit: list[str] | None,
    sel: dict[str, Any] | None,
    common: Common,
    *,
    dry_run: bool = False,
    yes: bool = False,
    warn: str | None = None,
    grace: str | None = None,
    text: str | None = None,
    seconds: int = 60,
    confirm_wait: str | None = None,
    apps: bool = False,
    spare_busy: bool = False,
    busy_apps: str | None = None,
) -> int:
    """Parse, call :mod:`mpremote.api` (plan, confirm, execute in a :class:`~mpremote.api.RunContext`), render."""
    from mpremote import api, report

    _one_of("--format", common.format, report.FORMATS)
    hosts = _load_hosts(targets, limit)
    selector = _selector(sel)
    _check_outputs(common, targets)
    settings = _settings(common)
    grace_s = None
    if grace is not None:
        from mpremote.selection import parse_duration

        try:
            grace_s = parse_duration(grace).total_seconds()
        except ValueError as exc:
            raise UsageError(f"--grace: {exc}") from None
    wait_s = _confirm_wait(confirm_wait)
    try:
        from mpremote.apps import parse_busy_apps

        busy_patterns = parse_busy_apps(busy_apps)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    cmd = api.as_command(command)
    needs_confirm = cmd.info.confirm and not yes and not dry_run
    cancel = threading.Event()
    run = api.RunContext(
        _credentials(common),
        audit_log=str(common.audit_log) if common.audit_log else None,
        retry_file=str(common.retry_file) if common.retry_file else None,
        argv=sys.argv[1:],
    )
    # Redaction stays on until the process ends: the error line printed after a failure
    # (cli.errors) must still scrub this run's passwords.
    run.start()
    options = run.options(
        concurrency=common.concurrency,
        processes=common.processes,
        per_host_timeout=common.timeout,
        settings=settings,
        backend=common.backend,
        dry_run=dry_run,
        serial=common.serial,
        cancel=cancel,
        confirm_wait=wait_s,
        apps=apps,
        spare_busy=spare_busy,
        busy_apps=busy_patterns,
        defer_run_end=True,  # run_end is written by _finish, with the exit code the process ends with
    )
    kw: dict[str, Any] = {"text": text, "message_seconds": seconds, "warn_text": warn, "grace_seconds": grace_s}
    checked = run.plan(hosts, cmd, selector, options=options, preview=False, **kw)
    for warning in run.warnings:
        from rich.markup import escape

        err_console().print(f"[bold yellow]WARNING:[/] {escape(warning)}", markup=True, highlight=False)
    if needs_confirm and not stdin_is_tty():
        raise UsageError(
            f"{command} needs confirmation and standard input is not a terminal: "
            "add --yes to run it unattended (or --dry-run to preview)"
        )
    reporter = report.Reporter(
        common.format,
        output=common.output,
        quiet=common.quiet,
        command=command,
        # The bar has no thread of its own (the run redraws it), so worker processes can fork.
        progress=not common.no_progress and stderr_is_tty() and not common.quiet,
    )
    with _signals_as_cancel(cancel):
        confirmed: bool | frozenset[tuple[str, int, str]] = True
        if needs_confirm:
            with reporter.progress(len(hosts), "checking") as progress:
                checking = replace(options, on_progress=progress.update, on_tick=progress.tick)
                planned = api.plan(hosts, cmd, selector, options=checking, **kw)
            assert planned.preview is not None
            if planned.interrupted:
                reporter.finish(planned.preview)
                return ExitCode.INTERRUPTED
            with _ctrl_c_raises():
                shown = _confirm(command, planned.preview, selector)
            if shown is None:
                err_console().print("Nothing was done.")
                return ExitCode.USAGE
            # Act only on what the operator just saw and confirmed.
            checked, confirmed = planned, shown
        with reporter.progress(len(hosts), cmd.verb) as progress:
            # Data sinks (jsonl) see each host's final row; the bar sees every phase.
            acting = replace(
                options,
                on_event=reporter.on_event,
                on_progress=progress.update,
                on_wait=progress.countdown,
                on_tick=progress.tick,
            )
            outcome = run.execute(checked, confirmed=confirmed, options=acting)
    return _finish(outcome, reporter)


def _finish(outcome: Any, reporter: Any) -> int:
    """Results, then the audit's ``run_end`` with the exit code the process really ends with.
    Hosts have been acted on by now: nothing here may lose the results. A results file or
    retry file that cannot be written sends its content to stderr, says so, and makes the
    exit code 1 (130 stays 130)."""
    from mpremote.results import RETRY_STATUSES

    code = int(outcome.exit_code)
    problems: list[str] = []
    try:
        reporter.finish(outcome)
        if reporter.output_error:
            problems.append(f"-o/--output: {reporter.output_error}; the results went to stderr above")
        if outcome.retry_error:
            names = [r.host for r in outcome.results if r.status in RETRY_STATUSES]
            sys.stderr.write("".join(f"{n}\n" for n in names))
            problems.append(f"--retry-file: {outcome.retry_error}; its {len(names)} host name(s) went to stderr above")
        for problem in problems:  # rich is imported only if there is something to say
            _error(err_console(), problem)
        if problems and code != ExitCode.INTERRUPTED:
            code = int(ExitCode.INTERNAL)
    finally:
        if outcome.end_run is not None:
            outcome.end_run(code)
    return code


#: ``--confirm-wait`` when not given: long enough for an ordinary log-off to finish.
DEFAULT_CONFIRM_WAIT = "5s"


def _confirm_wait(text: str | None) -> float:
    from mpremote.selection import parse_duration

    raw = DEFAULT_CONFIRM_WAIT if text is None else text.strip()
    if raw in ("0", "0s"):
        return 0.0
    try:
        return parse_duration(raw).total_seconds()
    except ValueError as exc:
        raise UsageError(f"--confirm-wait: {exc}") from None


def show_targets(targets: Path, limit: list[str] | None, fmt: str) -> int:
    import json

    from mpremote.report import FORMATS

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    hosts = _load_hosts(targets, limit)
    if fmt == "json":
        print(json.dumps([h.to_dict() for h in hosts], indent=2))
    elif fmt == "jsonl":
        for h in hosts:
            print(json.dumps(h.to_dict()))
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(TARGET_COLUMNS)
        for h in hosts:
            writer.writerow((h.name, h.address, h.port, h.transport, h.auth, ",".join(h.groups)))
    else:
        from rich.text import Text

        from mpremote.report import data_console
        from mpremote.tables import Column, print_fitted

        # Host names are never cut; on a narrow terminal the port goes, then the address; groups fold.
        columns = [Column("host"), Column("address", drop=2), Column("port", justify="right", drop=1),
                   Column("transport"), Column("auth"), Column("groups", fold=True)]  # fmt: skip
        rows = [
            [Text(h.name), Text(h.address), str(h.port), h.transport, h.auth, Text(",".join(h.groups))] for h in hosts
        ]
        print_fitted(data_console(), columns, rows, title=f"{len(hosts)} hosts from {targets}")
    return ExitCode.OK
