"""The ``mpremote`` command: a thin Typer layer over :mod:`mpremote.api` (no logic of its own).

Heavy modules (pypsrp, rich, the lab) are imported inside the commands, so ``mpremote --help``
costs little more than importing Typer.
"""

# No ``from __future__ import annotations`` here: Typer would evaluate every string
# annotation of every command on each start (about 5 ms of ``mpremote --help``).

from pathlib import Path
from typing import Annotated, Any

import typer

from mpremote.cli import options as o
from mpremote.cli.common import Common, common_options, selector_options
from mpremote.cli.errors import handles_errors
from mpremote.cli.options import ACT, examples

Selection = dict[str, Any] | None


class _RootGroup(typer.core.TyperGroup):
    """The top-level group: ``mpremote --help`` is drawn by Click's plain formatter.

    Typer's rich help loads rich, markdown-it and Typer's rich_utils (about as long as
    importing Typer itself) just to list eight commands; every subcommand's ``--help``
    keeps the rich layout with its option panels.
    """

    def format_help(self, ctx: Any, formatter: Any) -> None:
        mode, self.rich_markup_mode = self.rich_markup_mode, None
        try:
            super().format_help(ctx, formatter)
        finally:
            self.rich_markup_mode = mode

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from mpremote.cli.coercion import install

        install()  # pydantic only for values that need Typer's adapters (see the module)
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            # Typer's rich error handler prints nothing for "no arguments": rich help would
            # have printed itself while being formatted, the plain text must be echoed.
            typer.echo(ctx.get_help())
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="mpremote",
    cls=_RootGroup,
    help=(
        "End user sessions on a lab of Windows MultiPoint / Remote Desktop hosts over PowerShell Remoting.\n\n"
        "Start with 'mpremote demo' (an emulated lab, nothing real is touched), then "
        "'mpremote sessions lab.yaml' and 'mpremote logoff lab.yaml --all --dry-run'."
    ),
    epilog=(
        "\b\nEvery command has --help, with examples. 'mpremote --version': the version.\n"
        "Shell completion (bash, zsh, fish, PowerShell): mpremote --install-completion"
    ),
    no_args_is_help=True,
    # Typer's own completion: --install-completion / --show-completion (shellingham, ~1 ms).
    add_completion=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    # Tracebacks with local variables could show a password: unexpected errors are mapped by
    # mpremote.cli.errors to one redacted line (MPREMOTE_DEBUG=1 shows the plain traceback).
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from mpremote import __version__

        typer.echo(f"mpremote {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """mpremote: list, log off, disconnect and message user sessions on many hosts at once."""


def _run(
    command: str,
    targets: Path,
    limit: list[str] | None,
    sel: dict[str, Any] | None,
    common: Common,
    **kw: Any,
) -> int:
    from mpremote.cli.run import run_cli_command

    return run_cli_command(command, targets, limit, sel, common, **kw)


@app.command(
    short_help="List the user sessions on every host (read-only).",
    epilog=examples(
        "mpremote sessions lab.yaml",
        "mpremote sessions lab.yaml --limit room101 --state disconnected",
        "mpremote sessions lab.yaml --format json > sessions.json",
        "mpremote sessions lab.yaml --apps",
    ),
)
@handles_errors
@selector_options(listing=True)
@common_options
def sessions(
    targets: o.Targets,
    limit: o.Limit = None,
    sel: Selection = None,
    apps: o.Apps = False,
    busy_apps: o.BusyApps = None,
    common: Common | None = None,
) -> int:
    """List the user sessions on every host (read-only).

    The table shows one line per session and one line per host that could not be read,
    then one line of totals. With selectors it lists the sessions that an action with the
    same selectors would touch. Use --format json for scripts.
    """
    assert common is not None
    return _run("sessions", targets, limit, sel, common, apps=apps, busy_apps=busy_apps)


@app.command(
    short_help="Log off sessions (--all or selectors); asks first.",
    epilog=examples(
        "mpremote logoff lab.yaml --all --dry-run",
        "mpremote logoff lab.yaml --limit 'labs,&room101' --state disconnected",
        "mpremote logoff lab.yaml --all -x teacher --warn 'Closing!' --grace 5m",
        "mpremote logoff lab.yaml --all --spare-busy --yes --retry-file todo.txt",
    ),
)
@handles_errors
@selector_options()
@common_options
def logoff(
    targets: o.Targets,
    limit: o.Limit = None,
    sel: Selection = None,
    dry_run: o.DryRun = False,
    yes: o.Yes = False,
    warn: Annotated[
        str | None,
        typer.Option("--warn", metavar="TEXT", help="Message the sessions first with this text.", rich_help_panel=ACT),
    ] = None,
    grace: Annotated[
        str | None,
        typer.Option(
            "--grace", metavar="DURATION", help="With --warn: wait this long (5m), then log off.", rich_help_panel=ACT
        ),
    ] = None,
    confirm_wait: o.ConfirmWait = None,
    spare_busy: o.SpareBusy = False,
    busy_apps: o.BusyApps = None,
    common: Common | None = None,
) -> int:
    """Log off user sessions: --all, or chosen --user / --session / --state / --idle-over.

    Asks for confirmation on a terminal (and refuses when stdin is not one) unless --yes.
    Each session is re-checked on the host right before it is logged off; one whose id now
    belongs to someone else is left alone and reported as 'vanished'. Then the same remote
    call waits (--confirm-wait) until each session is gone: 'done' is verified; a session
    still logging off is 'pending', one hanging in the Down state 'stuck' (exit 4).
    """
    assert common is not None
    return _run(
        "logoff", targets, limit, sel, common, dry_run=dry_run, yes=yes, warn=warn, grace=grace,
        confirm_wait=confirm_wait, spare_busy=spare_busy, busy_apps=busy_apps,
    )  # fmt: skip


@app.command(
    short_help="Disconnect sessions (users can reconnect later).",
    epilog=examples(
        "mpremote disconnect lab.yaml --idle-over 2h --dry-run",
        "mpremote disconnect lab.yaml --user ana",
    ),
)
@handles_errors
@selector_options()
@common_options
def disconnect(
    targets: o.Targets,
    limit: o.Limit = None,
    sel: Selection = None,
    dry_run: o.DryRun = False,
    yes: o.Yes = False,
    confirm_wait: o.ConfirmWait = None,
    spare_busy: o.SpareBusy = False,
    busy_apps: o.BusyApps = None,
    common: Common | None = None,
) -> int:
    """Disconnect sessions (users keep their work and can reconnect later).

    'done' means the host was seen to list the session as disconnected (--confirm-wait).
    """
    assert common is not None
    return _run(
        "disconnect", targets, limit, sel, common, dry_run=dry_run, yes=yes,
        confirm_wait=confirm_wait, spare_busy=spare_busy, busy_apps=busy_apps,
    )  # fmt: skip


@app.command(
    short_help="Lock MultiPoint sessions with a message; asks first.",
    epilog=examples(
        "mpremote lock lab.yaml --all --text 'Eyes on the teacher'",
        "mpremote lock lab.yaml --limit room101 --all --spare-busy --text 'Break: 10 minutes'",
    ),
)
@handles_errors
@selector_options()
@common_options
def lock(
    targets: o.Targets,
    text: Annotated[
        str, typer.Option("--text", metavar="TEXT", help="The message shown on the locked screen.", show_default=False)
    ],
    limit: o.Limit = None,
    sel: Selection = None,
    dry_run: o.DryRun = False,
    yes: o.Yes = False,
    spare_busy: o.SpareBusy = False,
    busy_apps: o.BusyApps = None,
    common: Common | None = None,
) -> int:
    """Lock (block) sessions with a message: MultiPoint Lock-WmsSession. Undo with 'unlock'.

    Hosts without MultiPoint get a skipped row ("lock needs MultiPoint; use disconnect").
    Same safety as logoff: preview and confirmation (unless --yes), owner re-check, audit.
    """
    assert common is not None
    return _run(
        "lock", targets, limit, sel, common, dry_run=dry_run, yes=yes, text=text,
        spare_busy=spare_busy, busy_apps=busy_apps,
    )  # fmt: skip


@app.command(
    short_help="Unlock sessions locked with 'lock'; asks first.",
    epilog=examples("mpremote unlock lab.yaml --all", "mpremote unlock lab.yaml --session mp-lab-001:3 --yes"),
)
@handles_errors
@selector_options()
@common_options
def unlock(
    targets: o.Targets,
    limit: o.Limit = None,
    sel: Selection = None,
    dry_run: o.DryRun = False,
    yes: o.Yes = False,
    common: Common | None = None,
) -> int:
    """Unlock sessions locked with 'lock' (MultiPoint Unlock-WmsSession)."""
    assert common is not None
    return _run("unlock", targets, limit, sel, common, dry_run=dry_run, yes=yes)


@app.command(
    short_help="Send a pop-up message to sessions.",
    epilog=examples(
        "mpremote message lab.yaml --text 'Please save your work'",
        "mpremote message lab.yaml --user ana --text 'See me' --seconds 300",
    ),
)
@handles_errors
@selector_options()
@common_options
def message(
    targets: o.Targets,
    text: Annotated[
        str,
        typer.Option(
            "--text",
            metavar="TEXT",
            help="The message (at most 255 characters).",
            show_default=False,
            rich_help_panel=ACT,
        ),
    ],
    limit: o.Limit = None,
    sel: Selection = None,
    seconds: Annotated[
        int,
        typer.Option(
            "--seconds", min=1, max=86400, metavar="SECONDS", help="How long msg shows it.", rich_help_panel=ACT
        ),
    ] = 60,
    dry_run: o.DryRun = False,
    common: Common | None = None,
) -> int:
    """Send a pop-up message (msg) to sessions. Without selectors: every user session."""
    assert common is not None and sel is not None
    if not any(sel[k] for k in ("all", "users", "sessions", "state", "idle_over")):
        sel["all"] = True
    return _run("message", targets, limit, sel, common, dry_run=dry_run, yes=True, text=text, seconds=seconds)


@app.command(
    short_help="Check reachability, TLS, credentials, capabilities.",
    epilog=examples("mpremote check lab.yaml", "mpremote check lab.yaml --limit @failed.txt --format json"),
)
@handles_errors
@common_options
def check(targets: o.Targets, limit: o.Limit = None, common: Common | None = None) -> int:
    """Check every host: reachable, TLS valid, credentials accepted, quser readable, MultiPoint present."""
    assert common is not None
    return _run("check", targets, limit, None, common)


@app.command(
    short_help="Watch every host live: sessions, idle, changes.",
    epilog=examples("mpremote watch lab.yaml", "mpremote watch lab.yaml --format jsonl --count 3 > changes.jsonl"),
)
@handles_errors
@selector_options(listing=True)
@common_options
def watch(
    targets: o.Targets,
    limit: o.Limit = None,
    sel: Selection = None,
    interval: Annotated[
        str, typer.Option("--interval", "-i", metavar="DURATION", help="Time between refreshes (10s, 1m, 2.5s).")
    ] = "10s",
    count: Annotated[
        int | None, typer.Option("--count", "-n", metavar="N", min=1, help="Stop after N refreshes.")
    ] = None,
    common: Common | None = None,
) -> int:
    """Watch every host live: sessions by state, longest idle, changes as they happen.

    On a terminal: a full-screen view (q quit, / filter, s sort, r refresh, Enter expand,
    space select, L/D/M/K/U log off/disconnect/message/lock/unlock the selected sessions, always after
    a preview and a confirmation). With --format jsonl, or when stdout is not a terminal:
    one JSON object per host per refresh with the changes since the previous one.
    """
    assert common is not None
    from mpremote.cli.watch import run_watch

    return run_watch(targets, limit, sel, common, interval=interval, count=count)


@app.command(
    "targets",
    short_help="Validate a target list and show its hosts.",
    epilog=examples("mpremote targets lab.yaml --limit 'labs,!mp-101-01'", "mpremote targets lab.yaml --format json"),
)
@handles_errors
def targets_cmd(
    targets: o.Targets,
    limit: o.Limit = None,
    format: o.Format = "table",
) -> int:
    """Validate a target list and show the hosts it resolves to (nothing is contacted)."""
    from mpremote.cli.run import show_targets

    return show_targets(targets, limit, format)


@app.command(
    short_help="A self-contained demo on an emulated lab.",
    epilog=examples("mpremote demo", "mpremote demo --hosts 20 --keep"),
)
@handles_errors
def demo(
    hosts: Annotated[int, typer.Option("--hosts", min=1, max=500, metavar="N", help="Emulated hosts (1-500).")] = 4,
    keep: Annotated[bool, typer.Option("--keep", metavar="", help="Leave the lab's files in ./mpremote-demo.")] = False,
) -> int:
    """Start an emulated lab on loopback, list its sessions, log everyone off, show the report.

    Nothing real is contacted. It is the quickest way to see what mpremote does.
    """
    from mpremote.cli.demo import run_demo

    return run_demo(hosts=hosts, keep=keep)


def _main_command_names() -> set[str]:
    from typer.main import get_command_name

    return {info.name or get_command_name(info.callback.__name__) for info in app.registered_commands if info.callback}


def _mount_subapps(first_arg: str | None = None) -> None:
    """Mount the ``lab``, ``policy`` and ``credentials`` sub-apps and the compact help.

    ``first_arg``: the command line's first argument. When it names one of this app's own
    commands (``sessions``, ``logoff``...), the sub-apps are not needed to run it, nor to
    show its help: they are left out, which saves importing and building them (~8 ms of
    every command's start-up). Anything else (``--help``, a sub-app, a typo that deserves
    a "did you mean") gets the whole tree.
    """
    from mpremote.cli.help import use_compact_help

    if first_arg is None or first_arg not in _main_command_names():
        from mpremote.cli.credentials import app as credentials_app
        from mpremote.cli.lab import app as lab_app
        from mpremote.cli.policy import app as policy_app

        app.add_typer(lab_app, name="lab", help="The emulated MultiPoint lab (demos, tests, benchmarks).")
        app.add_typer(policy_app, name="policy", help="Scheduled end-of-day log-off policies.")
        app.add_typer(credentials_app, name="credentials", help="Store or remove passwords in the OS keyring.")
    use_compact_help(app)


def run() -> None:
    """Console-script entry: exit codes of DESIGN.md, never a traceback with secrets in it.

    Commands map their own errors (:mod:`mpremote.cli.errors`); this catches what escapes
    outside a command (Ctrl-C while Click parses, a bug in Typer glue) with the same mapping.
    """
    import sys

    from mpremote.cli.errors import report

    _mount_subapps(sys.argv[1] if len(sys.argv) > 1 else None)
    try:
        app()
    except (Exception, KeyboardInterrupt) as exc:
        sys.exit(int(report(exc)))
    finally:
        _quick_interpreter_exit()


def _quick_interpreter_exit() -> None:
    """Let the interpreter end without taking its whole object graph apart.

    Why: a run has imported pypsrp, requests, pyspnego, cryptography and Typer; on exit
    CPython clears every module and its garbage collector walks and frees the graph, which
    cost ~90 ms of wall and CPU per command on the 2-core machine, after the results were
    already written (6-8 % of a 100-host ``sessions``). ``gc.freeze()`` moves every live
    object out of the collector's reach, so that walk is skipped (~8 ms). Nothing else
    changes: ``atexit`` handlers (logging's flush, temporary files) still run, standard
    streams are still flushed, and mpremote closes its own files (results, audit log)
    itself; only objects held in reference cycles are left for the operating system to
    reclaim, as it reclaims all memory at exit anyway.
    """
    import gc

    gc.freeze()
