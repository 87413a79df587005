"""``mpremote lab serve``: run the emulated lab in the foreground until SIGINT/SIGTERM.

Only Typer is imported at module level; the lab (asyncio, cryptography, psrpcore, pyspnego)
is imported inside the command, so ``mpremote --help`` stays fast.

Contract with scripts and tests: stdout gets exactly one line, ``ready``, once every host
listens and the targets file is written; everything else goes to stderr, ending with how
to use the lab from another terminal (:func:`next_steps`). A password given with
``--password`` is never printed; the lab's default password is public (README) and the
hint spells it out, so a first run works by copy and paste. Bad options exit 2 with a message; a clean stop exits 0.
"""

# No ``from __future__ import annotations`` here: Typer would evaluate every string
# annotation of every command on each start (about 5 ms of ``mpremote --help``).

from pathlib import Path
from typing import Annotated

import typer

from mpremote.cli.errors import handles_errors
from mpremote.results import ExitCode

app = typer.Typer(
    help="The emulated MultiPoint lab: WSMan+PSRP hosts on loopback ports (demos, tests, benchmarks).",
    no_args_is_help=True,
    add_completion=False,
)

_AUTHS = ("basic", "ntlm", "negotiate", "kerberos")


@app.callback()
def _lab() -> None:
    """The emulated MultiPoint lab (a group, so ``serve`` is always spelled out)."""


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise typer.BadParameter(f"must be one of {', '.join(allowed)}", param_hint=option)
    return value


@app.command("serve")
@handles_errors
def serve(
    lab_file: Annotated[
        Path | None,
        typer.Argument(metavar="LAB.yaml", help="Lab file describing hosts, sessions, locales and faults."),
    ] = None,
    hosts: Annotated[int, typer.Option("--hosts", min=1, max=5000, help="Number of emulated hosts.")] = 3,
    sessions_per_host: Annotated[
        int, typer.Option("--sessions-per-host", min=0, max=500, help="User sessions on each host.")
    ] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated lab (same seed, same lab).")] = 1,
    auth: Annotated[str, typer.Option("--auth", help="basic, ntlm, negotiate or kerberos (with --keytab).")] = "ntlm",
    keytab: Annotated[
        Path | None,
        typer.Option(
            "--keytab",
            metavar="FILE",
            help="Kerberos: keytab of the hosts' principals (host/NAME, HTTP/NAME).",
        ),
    ] = None,
    tls: Annotated[bool, typer.Option("--tls/--no-tls", help="HTTPS with a lab CA (default) or plain HTTP.")] = True,
    bind: Annotated[str, typer.Option("--bind", help="Loopback address to listen on.")] = "127.0.0.1",
    port_base: Annotated[
        int, typer.Option("--port-base", min=0, max=65535, help="First port; 0 picks free ports.")
    ] = 0,
    latency_ms: Annotated[
        int, typer.Option("--latency-ms", min=0, max=600_000, help="Delay added to every HTTP response.")
    ] = 0,
    locale: Annotated[str, typer.Option("--locale", help="en-US, es-ES, de-DE, fr-FR or it-IT.")] = "en-US",
    multipoint: Annotated[
        bool, typer.Option("--multipoint/--no-multipoint", help="Hosts have the MultiPoint cmdlets.")
    ] = True,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault", metavar="HOSTGLOB=KIND", help="Inject a fault (repeatable), e.g. 'mp-lab-00[12]=hang'."
        ),
    ] = None,
    username: Annotated[
        str, typer.Option("--username", help="Account the hosts accept (Kerberos: USERNAME@REALM).")
    ] = "labadmin",
    password: Annotated[
        str,
        typer.Option(
            "--password", help="Its password (never printed; default: the public lab one).", show_default=False
        ),
    ] = "Lab-Pa55word!",
    write_targets: Annotated[
        Path | None, typer.Option("--write-targets", metavar="FILE", help="Write a targets file (and its CA).")
    ] = None,
    journal: Annotated[
        Path | None, typer.Option("--journal", metavar="FILE", help="Append every request and action as JSONL.")
    ] = None,
    churn: Annotated[
        float,
        typer.Option(
            "--churn",
            metavar="PER_MINUTE",
            min=0,
            max=6000,
            help="Logons, log-offs, disconnects, reconnects per host per minute (seeded).",
        ),
    ] = 0.0,
) -> ExitCode:
    """Run emulated hosts until interrupted; print 'ready' once they all listen."""
    _choice(auth, _AUTHS, "--auth")
    from mpremote.lab.locales import LOCALES  # light: strings and the quser tables

    _choice(locale, tuple(LOCALES), "--locale")
    from mpremote.lab.faults import parse_fault_rule

    rules = []
    for text in fault or []:
        try:
            rules.append(parse_fault_rule(text))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--fault") from None
    if lab_file is not None and not lab_file.is_file():
        raise typer.BadParameter(f"no such file: {lab_file}", param_hint="LAB.yaml")
    if auth == "kerberos" and keytab is None:
        raise typer.BadParameter("--auth kerberos needs the hosts' service principals", param_hint="--keytab")
    if keytab is not None and not keytab.is_file():
        raise typer.BadParameter(f"no such file: {keytab}", param_hint="--keytab")

    return _run(
        lab_file=lab_file,
        hosts=hosts,
        sessions_per_host=sessions_per_host,
        seed=seed,
        auth=auth,
        keytab=keytab,
        tls=tls,
        bind=bind,
        port_base=port_base,
        latency_ms=latency_ms,
        locale=locale,
        multipoint=multipoint,
        faults=rules,
        username=username,
        password=password,
        write_targets=write_targets,
        journal=journal,
        churn=churn,
    )


def _run(**kwargs: object) -> ExitCode:
    import signal
    import sys
    import threading

    from mpremote.lab.server import Lab, LabOptions

    options = LabOptions(**kwargs)  # type: ignore[arg-type]
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    lab = Lab(options)
    try:
        lab.start()  # LabError (a UsageError): bad option, busy port, invalid lab file: exit 2
        _describe(lab)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while not stop.wait(0.5):  # a timed wait keeps Ctrl-C responsive on every platform
            pass
        return ExitCode.OK
    finally:
        lab.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _describe(lab: object) -> None:
    """One summary on stderr (stdout carries only ``ready``)."""
    hosts = getattr(lab, "hosts", [])
    opts = getattr(lab, "options", None)
    listening = sum(1 for h in hosts if h.listening)
    ports = f"{hosts[0].port}-{hosts[-1].port}" if hosts else "-"
    scheme = "https" if getattr(opts, "tls", False) else "http"
    where = f"{scheme}://{getattr(opts, 'bind', '')}"
    msg = f"mpremote lab: {listening}/{len(hosts)} hosts listening on {where} ports {ports}"
    targets = getattr(lab, "targets_path", None)
    if targets is not None:
        msg += f"; targets: {targets}"
    typer.echo(msg, err=True)
    password = getattr(opts, "password", None)
    typer.echo("\n".join(next_steps(targets, password)), err=True)


def next_steps(targets: object, password: str | None) -> list[str]:
    """What to type in another terminal: the password export, then two commands."""
    import shlex

    from mpremote.lab.server import DEFAULT_PASSWORD

    secret = shlex.quote(DEFAULT_PASSWORD) if password in (None, DEFAULT_PASSWORD) else "'<your --password>'"
    path = shlex.quote(str(targets)) if targets is not None else "lab.yaml"
    lines = ["", "Use it from another terminal:", f"  export MPREMOTE_PASSWORD={secret}"]
    if targets is None:
        lines.append("  (restart with --write-targets lab.yaml to get a target list)")
    lines += [f"  mpremote sessions {path}", f"  mpremote logoff {path} --all --dry-run", "Stop it with Ctrl-C."]
    return lines
