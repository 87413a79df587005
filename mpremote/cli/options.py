"""Option declarations shared by several commands, written once (Typer ``Annotated`` aliases).

Kept apart from ``cli.py`` so every command's signature reads like its ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: The help panels, the same names in every command (mpremote.cli.help draws them in this order).
SEL = "Selection"
ACT = "Action"
OUT = "Output"
CONN = "Connection"


def examples(*lines: str) -> str:
    """A command's epilog: ``Examples:`` and one ``$ command`` line each (kept under 76 columns)."""
    return "Examples:\n\n" + "\n".join(f"$ {line}" for line in lines)


Targets = Annotated[
    Path,
    typer.Argument(metavar="TARGETS", help="YAML target list (or an Ansible YAML inventory).", show_default=False),
]
Limit = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        "-l",
        metavar="PATTERN",
        help="Hosts/groups: 'a,b' either, 'a,&b' both, 'a,!b' not; globs; @FILE (retry file).",
        rich_help_panel=SEL,
    ),
]
Users = Annotated[
    list[str] | None,
    typer.Option(
        "--user",
        "-u",
        metavar="USER",
        help="Exact user name (any case, DOMAIN\\ optional); repeatable.",
        rich_help_panel=SEL,
    ),
]
SessionRefs = Annotated[
    list[str] | None,
    typer.Option("--session", metavar="HOST:ID", help="One session; repeatable.", rich_help_panel=SEL),
]
State = Annotated[
    str | None,
    typer.Option("--state", metavar="STATE", help="Only sessions active or disconnected.", rich_help_panel=SEL),
]
IdleOver = Annotated[
    str | None,
    typer.Option(
        "--idle-over",
        metavar="DURATION",
        help="Only sessions idle longer than this (90m, 2h, 1d); unknown idle never matches.",
        rich_help_panel=SEL,
    ),
]
Excludes = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude", "-x", metavar="USER", help="Never touch this user (exact); repeatable.", rich_help_panel=SEL
    ),
]
AllSessions = Annotated[
    bool,
    typer.Option(
        "--all",
        metavar="",
        help="Every user session (console, WMSshell and your own are always spared).",
        rich_help_panel=SEL,
    ),
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        "-n",
        metavar="",
        help="Connect and query, show what would happen, change nothing.",
        rich_help_panel=ACT,
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", metavar="", help="Do not ask for confirmation.", rich_help_panel=ACT)]

Format = Annotated[
    str,
    typer.Option("--format", "-f", metavar="FORMAT", help="table, json, jsonl or csv.", rich_help_panel=OUT),
]
Output = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="FILE", help="Write the results to this file, not stdout.", rich_help_panel=OUT
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        metavar="",
        help="Print only one line per failed or unreachable host (on stderr).",
        rich_help_panel=OUT,
    ),
]
NoProgress = Annotated[
    bool,
    typer.Option(
        "--no-progress", metavar="", help="No progress bar (shown only on a terminal anyway).", rich_help_panel=OUT
    ),
]
AuditLogOpt = Annotated[
    Path | None,
    typer.Option(
        "--audit-log",
        metavar="FILE",
        help="Append a JSONL record of every action to this file.",
        envvar="MPREMOTE_AUDIT_LOG",
        rich_help_panel=OUT,
    ),
]
RetryFile = Annotated[
    Path | None,
    typer.Option(
        "--retry-file",
        metavar="FILE",
        help="Write the hosts that did not end ok (rerun with --limit @FILE).",
        rich_help_panel=OUT,
    ),
]

Concurrency = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        "-c",
        min=1,
        max=1024,
        metavar="N",
        help="Hosts worked on at once, 1-1024 (default: up to 64).",
        rich_help_panel=CONN,
    ),
]
Processes = Annotated[
    int | None,
    typer.Option(
        "--processes",
        min=1,
        max=64,
        metavar="N",
        help="Worker processes (default: auto, one per CPU up to 4 for big runs on Linux). 1: threads only.",
        rich_help_panel=CONN,
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        "-t",
        min=1.0,
        metavar="SECONDS",
        help="Wall-clock deadline for each host's whole job.",
        rich_help_panel=CONN,
    ),
]
Username = Annotated[
    str | None,
    typer.Option(
        "--username", metavar="USER", help="Account to connect as (overrides the target file).", rich_help_panel=CONN
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", metavar="", help="Read the password from standard input (one line).", rich_help_panel=CONN
    ),
]
Auth = Annotated[
    str | None,
    typer.Option("--auth", metavar="METHOD", help="negotiate, ntlm, kerberos, basic or credssp.", rich_help_panel=CONN),
]
Transport = Annotated[
    str | None,
    typer.Option("--transport", metavar="SCHEME", help="https (the default) or http.", rich_help_panel=CONN),
]
Port = Annotated[
    int | None,
    typer.Option(
        "--port",
        min=1,
        max=65535,
        metavar="PORT",
        help="WinRM port (default: 5986 https, 5985 http).",
        rich_help_panel=CONN,
    ),
]
CaCert = Annotated[
    Path | None,
    typer.Option(
        "--ca-cert", metavar="FILE", help="PEM bundle to validate host certificates with.", rich_help_panel=CONN
    ),
]
NoVerifyTls = Annotated[
    bool,
    typer.Option(
        "--no-verify-tls", metavar="", help="Do not validate certificates (not recommended).", rich_help_panel=CONN
    ),
]
AllowInsecureBasic = Annotated[
    bool,
    typer.Option(
        "--allow-insecure-basic",
        metavar="",
        help="Allow Basic auth over plain HTTP (password sent in clear).",
        rich_help_panel=CONN,
    ),
]
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        metavar="BACKEND",
        help="auto (MultiPoint cmdlets where present), quser or wms.",
        rich_help_panel=CONN,
    ),
]
Serial = Annotated[
    bool,
    typer.Option("--serial", metavar="", help="One host at a time (debugging).", rich_help_panel=CONN, hidden=True),
]


ConfirmWait = Annotated[
    str | None,
    typer.Option(
        "--confirm-wait",
        metavar="DURATION",
        help="Wait this long (default 5s) for sessions to be gone or disconnected; else pending/stuck.",
        rich_help_panel=ACT,
        show_default=False,
    ),
]
SpareBusy = Annotated[
    bool,
    typer.Option(
        "--spare-busy",
        metavar="",
        help="Skip sessions with an app that may hold unsaved work ('open: WINWORD.EXE').",
        rich_help_panel=ACT,
    ),
]
BusyApps = Annotated[
    str | None,
    typer.Option(
        "--busy-apps",
        metavar="NAMES",
        help="Apps that may hold unsaved work: 'WINWORD,code' replaces the list, '+gimp' adds.",
        rich_help_panel=ACT,
        show_default=False,
    ),
]
Apps = Annotated[
    bool,
    typer.Option(
        "--apps",
        metavar="",
        help="Show each session's open apps; '!' marks those that may hold unsaved work.",
        rich_help_panel=OUT,
    ),
]
