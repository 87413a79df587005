"""Option declarations shared by several commands, written once (Typer ``Annotated`` aliases).

Kept apart from ``cli.py`` so every command's signature reads like its ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CONN = "Connection"
OUT = "Output"
SEL = "Selecting sessions"

Targets = Annotated[
    Path,
    typer.Argument(help="YAML target list (or an Ansible YAML inventory).", show_default=False),
]
Limit = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        "-l",
        help="Hosts or groups: names, globs, comma lists, '!' to exclude, @FILE for a retry file. Repeat to intersect.",
        rich_help_panel=SEL,
    ),
]
Users = Annotated[
    list[str] | None,
    typer.Option(
        "--user",
        "-u",
        help="Exact user name (case-insensitive, DOMAIN\\ optional). Repeatable.",
        rich_help_panel=SEL,
    ),
]
SessionRefs = Annotated[
    list[str] | None,
    typer.Option("--session", help="HOST:ID of one session. Repeatable.", rich_help_panel=SEL),
]
State = Annotated[
    str | None,
    typer.Option("--state", help="Only sessions in this state: active or disconnected.", rich_help_panel=SEL),
]
IdleOver = Annotated[
    str | None,
    typer.Option(
        "--idle-over",
        help="Only sessions idle longer than this (90m, 2h, 1d). Unknown idle never matches.",
        rich_help_panel=SEL,
    ),
]
Excludes = Annotated[
    list[str] | None,
    typer.Option("--exclude", "-x", help="Never touch this user (exact). Repeatable.", rich_help_panel=SEL),
]
AllSessions = Annotated[
    bool,
    typer.Option(
        "--all",
        help="Every user session (console, WMSshell and your own are always spared).",
        rich_help_panel=SEL,
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", "-n", help="Connect and query, show what would happen, change nothing.")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

Format = Annotated[
    str,
    typer.Option("--format", "-f", help="table, json, jsonl or csv.", rich_help_panel=OUT),
]
Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the results to this file instead of stdout.", rich_help_panel=OUT),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only the totals line (and errors).", rich_help_panel=OUT)]
NoProgress = Annotated[
    bool,
    typer.Option("--no-progress", help="No progress bar (it is only shown on a terminal anyway).", rich_help_panel=OUT),
]
AuditLogOpt = Annotated[
    Path | None,
    typer.Option(
        "--audit-log",
        help="Append a JSONL record of every action to this file.",
        envvar="MPREMOTE_AUDIT_LOG",
        rich_help_panel=OUT,
    ),
]
RetryFile = Annotated[
    Path | None,
    typer.Option(
        "--retry-file",
        help="Write the names of hosts that did not end ok (use with --limit @FILE).",
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
        help="Hosts worked on at once (default: adaptive).",
        rich_help_panel=CONN,
    ),
]
Processes = Annotated[
    int | None,
    typer.Option(
        "--processes",
        min=1,
        max=64,
        help="Fork N worker processes sharing the hosts (Linux; for very large labs on a multi-core "
        "workstation; no progress bar then). Default 1: threads only.",
        rich_help_panel=CONN,
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        "-t",
        min=1.0,
        help="Wall-clock deadline in seconds for each host's whole job.",
        rich_help_panel=CONN,
    ),
]
Username = Annotated[
    str | None,
    typer.Option("--username", help="Account to connect as (overrides the target file).", rich_help_panel=CONN),
]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input (one line).", rich_help_panel=CONN),
]
Auth = Annotated[
    str | None,
    typer.Option("--auth", help="negotiate, ntlm, kerberos, basic or credssp.", rich_help_panel=CONN),
]
Transport = Annotated[str | None, typer.Option("--transport", help="https (default) or http.", rich_help_panel=CONN)]
Port = Annotated[int | None, typer.Option("--port", min=1, max=65535, help="WinRM port.", rich_help_panel=CONN)]
CaCert = Annotated[
    Path | None,
    typer.Option("--ca-cert", help="PEM bundle to validate host certificates with.", rich_help_panel=CONN),
]
NoVerifyTls = Annotated[
    bool,
    typer.Option("--no-verify-tls", help="Do not validate certificates (not recommended).", rich_help_panel=CONN),
]
AllowInsecureBasic = Annotated[
    bool,
    typer.Option(
        "--allow-insecure-basic",
        help="Allow Basic auth over plain HTTP (password sent in clear).",
        rich_help_panel=CONN,
    ),
]
Backend = Annotated[
    str,
    typer.Option("--backend", help="auto (MultiPoint cmdlets where present), quser or wms.", rich_help_panel=CONN),
]
Serial = Annotated[
    bool, typer.Option("--serial", help="One host at a time (debugging).", rich_help_panel=CONN, hidden=True)
]
