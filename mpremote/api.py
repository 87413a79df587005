"""The library entry points: every CLI command is one call here a Python user can make too.

from mpremote.api import RunOptions, run_command
from mpremote.selection import Selector
from mpremote.targets import load_targets

hosts = load_targets("lab.yaml").limit("lab1")
outcome = run_command(hosts, "logoff", Selector(state="disconnected"), options=RunOptions(dry_run=True))
for r in outcome.results: ...
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mpremote.commands import ACTIONS, Command, parse_command
from mpremote.errors import UsageError
from mpremote.hostjob import BACKENDS, MSG_MAX_CHARS, JobSpec, run_host_job
from mpremote.hosts import Host, endpoint_key, format_endpoint
from mpremote.remote.connection import ConnectionSettings, resolve_endpoint
from mpremote.results import ExitCode, HostResult, HostStatus, Outcome, exit_code, failed_hosts, totals
from mpremote.selection import Selector
from mpremote.session import Session

if TYPE_CHECKING:
    from mpremote.credentials import CredentialResolver
    from mpremote.fanout import ProgressEvent

log = logging.getLogger(__name__)

COMMANDS: tuple[Command, ...] = tuple(Command)
CredentialSource = Callable[[Host], tuple[str | None, str | None]]


@dataclass
class RunOptions:
    concurrency: int | None = None  # None: adaptive (see fanout.default_concurrency)
    per_host_timeout: float = 60.0  # wall-clock deadline for one host's whole job
    settings: ConnectionSettings = field(default_factory=ConnectionSettings)
    backend: str = "auto"
    dry_run: bool = False
    serial: bool = False
    #: Worker processes for the fan-out. None (default): automatic, see
    #: fanout.effective_processes (Linux, enough hosts and CPUs, and no other thread in
    #: this process, else threads). 1: threads only. docs/performance.md has the numbers.
    processes: int | None = None
    #: (host) -> (username, password); default: the host's username and MPREMOTE_PASSWORD/password_env.
    credentials: CredentialSource | None = None
    audit_log: str | None = None
    #: Called with each host's completion event (data sinks: jsonl writer, audit).
    on_event: Callable[[ProgressEvent], None] | None = None
    #: Called with every event, including the warning phase of logoff --warn (progress bars).
    on_progress: Callable[[ProgressEvent], None] | None = None
    #: Called on the calling thread every few tens of milliseconds while a run waits: a
    #: progress display redraws here, so it needs no thread of its own (see fanout).
    on_tick: Callable[[], None] | None = None
    #: Removes secrets from free text (audit lines, unexpected error messages).
    redact: Callable[[str], str] | None = None
    cancel: threading.Event | None = None
    operator: str | None = None
    argv: Sequence[str] = ()
    #: Only these (host, id, username) may be acted on: what the operator saw and confirmed.
    confirmed: frozenset[tuple[str, int, str]] | None = None
    #: ``logoff --warn``: called about once a second with the seconds left of the grace period.
    on_wait: Callable[[float], None] | None = None
    #: Seconds to wait (inside the per-host deadline) for log-offs to complete and
    #: disconnects to show; done means verified, else pending or stuck (exit 4).
    confirm_wait: float = 5.0
    #: Ask for each session's open applications (sessions --apps, previews).
    apps: bool = False
    #: Leave sessions with a flagged application alone (skipped, "open: WINWORD.EXE").
    spare_busy: bool = False
    #: Patterns of applications that hold unsaved work; None: mpremote.apps.DEFAULT_BUSY_APPS.
    busy_apps: tuple[str, ...] | None = None
    #: Leave the audit's ``run_end`` to the caller (``RunOutcome.end_run(code)``), who knows
    #: the process's real exit code (e.g. the results file could not be written).
    defer_run_end: bool = False


@dataclass
class RunOutcome:
    run_id: str
    command: str
    results: list[HostResult]
    interrupted: bool
    #: With ``RunOptions.defer_run_end``: writes the audit's ``run_end`` with the given exit
    #: code (once; later calls do nothing). None when there is nothing left to write.
    end_run: Callable[[int], None] | None = field(default=None, repr=False, compare=False)
    #: Why :class:`RunContext` could not write the retry file (its names are not lost: the
    #: results still say which hosts failed), or None.
    retry_error: str | None = field(default=None, compare=False)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.results, interrupted=self.interrupted)

    @property
    def failed_hosts(self) -> list[str]:
        """Hosts worth re-running (the retry file's rule: failed, unreachable, interrupted)."""
        return failed_hosts(self.results)


def check_text(command: str, text: str) -> str:
    """``--text`` of a command that needs one: not empty, not longer than the command takes
    (msg.exe: 255 characters; refused rather than cut silently)."""
    cmd = as_command(command)
    if cmd is Command.MESSAGE or not cmd.info.needs_text:
        return check_message(text)
    name, most = cmd.info.text_name, cmd.info.text_max_chars
    if not text.strip():
        raise UsageError(f"--text: the {name} is empty")
    if len(text) > most:
        raise UsageError(f"--text: the {name} has {len(text)} characters; at most {most}")
    return text


def check_message(text: str) -> str:
    """msg.exe takes at most 255 characters: refuse longer text rather than cut it silently."""
    if not text.strip():
        raise UsageError("--text: the message is empty")
    if len(text) > MSG_MAX_CHARS:
        raise UsageError(f"--text: the message has {len(text)} characters; msg accepts at most {MSG_MAX_CHARS}")
    return text


def as_command(name: str) -> Command:
    """The :class:`Command` for a name; an unknown name is a usage error."""
    try:
        return parse_command(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def preflight(hosts: Sequence[Host], command: str, selector: Selector | None, options: RunOptions) -> None:
    """Everything that can be refused before contacting any host (exit 2, nothing done)."""
    command = as_command(command)
    if options.backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}")
    if not options.per_host_timeout > 0:
        raise UsageError(f"--timeout must be more than 0 seconds, not {options.per_host_timeout:g}")
    if options.concurrency is not None and options.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {options.concurrency}")
    if options.processes is not None and options.processes < 1:
        raise UsageError(f"--processes must be at least 1, not {options.processes}")
    if not hosts:
        raise UsageError("no hosts to work on (check the target file and --limit)")
    if command in ACTIONS and (selector is None or getattr(selector, "is_empty", lambda: True)()):
        raise UsageError(f"{command}: say which sessions: --all, --user, --session, --state or --idle-over")
    _check_session_refs(hosts, selector)
    _check_distinct_endpoints(hosts, options)


def _check_session_refs(hosts: Sequence[Host], selector: object) -> None:
    """``--session HOST:ID`` must name a host of this run: otherwise it selects nothing,
    silently, after contacting every host."""
    import difflib

    names = {h.name.lower(): h.name for h in hosts}
    for host, sid in getattr(selector, "sessions", ()) or ():
        if host.lower() not in names:
            close = difflib.get_close_matches(host.lower(), list(names), n=1, cutoff=0.6)
            hint = f"; did you mean '{names[close[0]]}'?" if close else ""
            raise UsageError(f"--session {host}:{sid}: '{host}' is not among the hosts of this run{hint}")


def _check_distinct_endpoints(hosts: Sequence[Host], options: RunOptions) -> None:
    """Each host's endpoint after the command line's overrides (``--port``, ``--transport``);
    raises on unsafe combinations (Basic over HTTP) and on two hosts that became one
    address:port (the target file refuses that too, before overrides)."""
    seen: dict[tuple[str, int], str] = {}
    for host in hosts:
        endpoint = resolve_endpoint(host, options.settings)  # raises on Basic over HTTP etc.
        key = (endpoint_key(endpoint.address), endpoint.port)
        first = seen.setdefault(key, host.name)
        if first != host.name:
            raise UsageError(
                f"hosts '{first}' and '{host.name}' both connect to {format_endpoint(*key)} "
                "(check --port/--transport): their sessions would be counted and acted on twice"
            )


def fresh_credentials() -> CredentialSource:
    """A new resolver per run: a long-lived process sees a changed MPREMOTE_PASSWORD."""
    from mpremote.credentials import CredentialResolver

    return CredentialResolver().for_host_pair


def run_command(
    hosts: Sequence[Host],
    command: str,
    selector: Selector | None = None,
    *,
    text: str | None = None,
    message_seconds: int = 60,
    options: RunOptions | None = None,
) -> RunOutcome:
    """Run one command over many hosts; exactly one HostResult per host, in host order."""
    from mpremote.audit import AuditLog, local_operator, new_run_id
    from mpremote.fanout import Deadline, effective_processes, run_hosts

    options = options or RunOptions()
    if as_command(command).info.needs_text:
        text = check_text(command, text or "")
    preflight(hosts, command, selector, options)
    run_id = new_run_id()
    operator = options.operator or local_operator()
    audit = AuditLog(options.audit_log, redact=options.redact) if options.audit_log else None
    if audit:
        audit.record_run_start(run_id, operator, command, list(options.argv), len(hosts))
    spec = JobSpec(
        command=as_command(command),
        selector=selector,
        text=text,
        message_seconds=message_seconds,
        dry_run=options.dry_run,
        backend=options.backend,
        settings=options.settings,
        confirmed=options.confirmed,
        confirm_wait=options.confirm_wait,
        apps=options.apps,
        spare_busy=options.spare_busy,
        busy_apps=_busy_apps(options),
    )
    credentials = options.credentials or fresh_credentials()
    processes = effective_processes(
        len(hosts), options.processes, serial=options.serial, concurrency=options.concurrency
    )
    if processes > 1:
        # A forked worker must never prompt (it has no terminal) nor share the resolver's
        # lock with the parent: every answer is fetched here, the workers only look it up.
        credentials = _resolved_in_parent(credentials, hosts)
        from mpremote.remote.connection import preload

        preload()  # imported once here and shared by the workers, not once per worker

    def before_act(host: Host, sessions: list[Session]) -> None:
        # Runs in the host's thread, or in a forked worker (AuditLog re-makes its locks there).
        if audit:
            for s in sessions:
                audit.record_action(run_id, host.name, s.id, s.username, command, "sending", "")

    def job(host: Host, deadline: Deadline) -> HostResult:
        return run_host_job(
            host,
            spec,
            credential=credentials,
            deadline_remaining=deadline.remaining,
            before_act=before_act,
            cancelled=lambda: deadline.cancelled,
        )

    sinks: dict[str, Callable[[Any], None] | None] = {"on_event": options.on_event, "on_progress": options.on_progress}

    def on_event(event: ProgressEvent) -> None:
        result = getattr(event, "result", None)
        if audit and result is not None:
            audit.record_host(run_id, result)
            for a in result.actions or ():
                if a.outcome is not Outcome.SKIPPED or command in ACTIONS:
                    audit.record_action(run_id, result.host, a.id, a.username, a.action, a.outcome.value, a.detail)
        # A failing data sink or progress bar must not switch the audit off (the fan-out
        # drops a callback that raises): each is guarded, and only it is dropped.
        for name, sink in sinks.items():
            if sink is None:
                continue
            try:
                sink(event)
            except Exception:
                log.exception("%s callback failed; it gets no more events", name)
                sinks[name] = None

    def end_run(code: int) -> None:
        """The audit's last word on the run: outcome lines for anything sent and never
        answered, then ``run_end`` with the process's real exit code."""
        nonlocal audit
        if audit is None:
            return
        closing, audit = audit, None
        closing.settle_unanswered(run_id, command)
        closing.record_run_end(run_id, code, totals(fan_results))

    fan_results: list[HostResult] = []
    try:
        fan = run_hosts(
            list(hosts),
            job,
            concurrency=options.concurrency,
            per_host_timeout=options.per_host_timeout,
            on_event=on_event,
            serial=options.serial,
            cancel=options.cancel,
            redact=options.redact,
            processes=processes,
            on_tick=options.on_tick,
        )
    except BaseException as exc:  # a bug or a second Ctrl-C: the audit still ends the run
        end_run(ExitCode.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else ExitCode.INTERNAL)
        raise
    fan_results = fan.results
    outcome = RunOutcome(run_id, command, fan.results, fan.interrupted)
    if options.defer_run_end:
        outcome.end_run = end_run
    else:
        end_run(int(outcome.exit_code))
    return outcome


def _busy_apps(options: RunOptions) -> tuple[str, ...]:
    from mpremote.apps import DEFAULT_BUSY_APPS

    return tuple(DEFAULT_BUSY_APPS if options.busy_apps is None else options.busy_apps)


def _resolved_in_parent(credentials: CredentialSource, hosts: Sequence[Host]) -> CredentialSource:
    """Resolve every host's credential now; the returned source only looks answers up.

    A host whose credential cannot be found gets an ``auth`` row from its job, as it
    would if the threaded runner had asked the source itself (the CLI has already
    refused such a run with exit 2; this is for library callers).
    """
    from mpremote.errors import AuthError, HostError, MpremoteError

    answers: dict[str, tuple[str | None, str | None] | HostError] = {}
    for host in hosts:
        try:
            answers[host.name] = credentials(host)
        except HostError as exc:
            answers[host.name] = exc
        except MpremoteError as exc:  # the resolver's "no password for ..." names no secret
            answers[host.name] = AuthError(f"no credential: {exc}")
        except Exception as exc:  # a caller's source: its text might hold a secret
            answers[host.name] = AuthError(f"credential lookup failed: {type(exc).__name__}")

    def lookup(host: Host) -> tuple[str | None, str | None]:
        answer = answers.get(host.name)
        if answer is None:
            raise AuthError("no credential was resolved for this host before the run")
        if isinstance(answer, HostError):
            raise answer
        return answer

    return lookup


def logoff_with_warning(
    hosts: Sequence[Host],
    selector: Selector | None,
    *,
    warn_text: str,
    grace_seconds: float,
    options: RunOptions | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> RunOutcome:
    """Warn the selected sessions, wait, then log off those still there and still selected.

    The log-off phase queries again, so a user who logged off (or whose id was reused)
    during the grace period is left alone. Each host ends with one row combining both phases.
    """
    options = options or RunOptions()
    # The warning phase feeds progress only: data sinks (jsonl) get one merged row per host.
    warn_options = replace(options, on_event=None, defer_run_end=False)
    warn = run_command(
        hosts, "message", selector, text=warn_text, message_seconds=int(grace_seconds), options=warn_options
    )
    if warn.interrupted:
        return warn
    end = time.monotonic() + grace_seconds
    cancel = options.cancel
    while (left := end - time.monotonic()) > 0:
        if on_wait:
            on_wait(left)
        if cancel is not None and cancel.wait(min(1.0, left)):
            interrupted = RunOutcome(warn.run_id, "logoff", _mark_interrupted(warn.results), True)
            _audit_skipped_phase(options, "logoff", interrupted)
            return interrupted
        if cancel is None:
            time.sleep(min(1.0, left))
    warned = {w.host: w for w in warn.results}

    def merge(result: HostResult) -> HostResult:
        """One row per host: the warning's actions first, then the log-off's (idempotent)."""
        w = warned.get(result.host)
        if w is None or result.facts.get("warned"):
            return result
        result.actions = (w.actions or []) + (result.actions or [])
        result.facts = {**result.facts, "warned": True}
        if w.error is not None:
            result.facts["warning_error"] = w.error.to_dict()
        return result

    def forward(event: ProgressEvent) -> None:
        if event.result is not None:
            merge(event.result)
        if options.on_event:
            options.on_event(event)

    final = run_command(hosts, "logoff", selector, options=replace(options, on_event=forward))
    merged = [merge(r) for r in final.results]
    return RunOutcome(final.run_id, "logoff", merged, final.interrupted, end_run=final.end_run)


def _audit_skipped_phase(options: RunOptions, command: str, outcome: RunOutcome) -> None:
    """The audit log says the log-off phase was interrupted before it started (exit 130)."""
    if not options.audit_log:
        return
    from mpremote.audit import AuditLog, local_operator, new_run_id

    audit = AuditLog(options.audit_log, redact=options.redact)
    run_id = new_run_id()
    audit.record_run_start(run_id, options.operator or local_operator(), command, list(options.argv), 0)
    audit.record_run_end(run_id, int(ExitCode.INTERRUPTED), totals(outcome.results))


def _mark_interrupted(results: list[HostResult]) -> list[HostResult]:
    from mpremote.results import ErrorInfo

    for r in results:
        r.status = HostStatus.INTERRUPTED
        r.error = ErrorInfo("interrupted", "interrupted during the grace period; nobody was logged off")
        r.facts = {**r.facts, "warned": True}  # its message actions are warnings, not the log-off
    return results


# -- one library path: plan, then execute (the CLI and ``policy run`` both use it) ----------
def connection_settings(timeout: float, **overrides: Any) -> ConnectionSettings:
    """Connection timeouts that fit inside a per-host deadline of ``timeout`` seconds.

    Connect at most 10 s, a read at most 30 s (and a second over the deadline, so the
    deadline, not the read, decides), WSMan's OperationTimeout two seconds under the read.
    """
    read_timeout = min(30.0, timeout + 1)
    return ConnectionSettings(
        connect_timeout=min(10.0, timeout),
        read_timeout=read_timeout,
        operation_timeout=max(1, int(read_timeout) - 2),
        **overrides,
    )


@dataclass
class Plan:
    """What a run will do, decided before anything is changed.

    For an action the preview (a dry run) says, per host, which sessions would be acted on
    (``would_do``) and which are spared and why; :meth:`would_do` is the set an operator
    confirms. For a read-only command there is nothing to preview (``preview is None``).
    """

    command: Command
    hosts: list[Host]
    selector: Selector | None
    text: str | None = None
    message_seconds: int = 60
    #: ``logoff --warn TEXT --grace S``: message first, wait, then log off who is still there.
    warn_text: str | None = None
    grace_seconds: float | None = None
    preview: RunOutcome | None = None

    @property
    def interrupted(self) -> bool:
        return self.preview is not None and self.preview.interrupted

    def would_do(self) -> frozenset[tuple[str, int, str]]:
        """(host, id, username) of every session the preview would act on."""
        if self.preview is None:
            return frozenset()
        return frozenset(
            (r.host, a.id, a.username)
            for r in self.preview.results
            for a in (r.actions or [])
            if a.outcome is Outcome.WOULD_DO
        )


def plan(
    hosts: Sequence[Host],
    command: str,
    selector: Selector | None = None,
    *,
    text: str | None = None,
    message_seconds: int = 60,
    warn_text: str | None = None,
    grace_seconds: float | None = None,
    options: RunOptions | None = None,
    preview: bool = True,
) -> Plan:
    """Check everything that can be refused before contacting a host (``UsageError``: exit 2,
    nothing done), then, for an action and when ``preview``, query every host and say what
    would be done. The preview writes no audit line and changes nothing."""
    options = options or RunOptions()
    cmd = as_command(command)
    if cmd.info.needs_text:
        text = check_text(cmd, text or "")
    if (warn_text is None) != (grace_seconds is None):
        raise UsageError("--warn and --grace go together")
    if warn_text is not None:
        if cmd is not Command.LOGOFF:
            raise UsageError(f"{cmd}: --warn and --grace are for logoff")
        check_message(warn_text)
    preflight(hosts, cmd, selector, options)
    result = Plan(cmd, list(hosts), selector, text, message_seconds, warn_text, grace_seconds)
    if preview:
        _preview(result, options)
    return result


def _preview(plan: Plan, options: RunOptions) -> None:
    """Fill ``plan.preview`` for an action: a dry run without audit lines or data events."""
    if not plan.command.acts:
        return
    # The preview also asks for each session's open applications: the work at risk it shows.
    preview_options = replace(options, dry_run=True, audit_log=None, on_event=None, confirmed=None, apps=True)
    plan.preview = run_command(
        plan.hosts, plan.command, plan.selector, text=plan.text, message_seconds=plan.message_seconds,
        options=preview_options,
    )  # fmt: skip


def execute(
    plan: Plan, *, confirmed: bool | frozenset[tuple[str, int, str]], options: RunOptions | None = None
) -> RunOutcome:
    """Carry out a plan: act only on what was confirmed.

    ``confirmed`` is a set of (host, id, username), normally ``plan.would_do()`` as shown to
    an operator: sessions selected now but not in it are skipped ("appeared after you
    confirmed"). ``True`` confirms whatever is selected when each host is reached (``--yes``,
    a scheduled policy). ``False`` refuses (``UsageError``: nothing was done).
    """
    options = options or RunOptions()
    if confirmed is False:
        raise UsageError("not confirmed; nothing was done")
    if not isinstance(confirmed, bool):
        options = replace(options, confirmed=frozenset(confirmed))
    if plan.warn_text is not None and plan.grace_seconds is not None:
        return logoff_with_warning(
            plan.hosts,
            plan.selector,
            warn_text=plan.warn_text,
            grace_seconds=plan.grace_seconds,
            options=options,
            on_wait=options.on_wait,
        )
    return run_command(
        plan.hosts, plan.command, plan.selector, text=plan.text, message_seconds=plan.message_seconds, options=options
    )


def plan_warnings(hosts: Sequence[Host], settings: ConnectionSettings) -> list[str]:
    """What to tell the operator before a run: Basic over plain HTTP (forced with
    ``allow_insecure_basic``) sends the password in clear."""
    clear = [h.name for h in hosts if resolve_endpoint(h, settings).encryption == "never"]
    if not clear:
        return []
    names = ", ".join(clear[:5]) + (f" and {len(clear) - 5} more" if len(clear) > 5 else "")
    return [
        f"Basic authentication over plain HTTP: the password crosses the network in clear to "
        f"{len(clear)} host(s) ({names}). Use HTTPS or NTLM/Kerberos."
    ]


class RunContext:
    """What every run owns, whoever starts it: redaction of the run's secrets in every log
    record, the ``MPREMOTE_DEBUG`` trace, the audit log, the retry file, and the credential
    check before any host is contacted.

    ::

        with RunContext(CredentialResolver(), audit_log="audit.jsonl") as run:
            options = run.options(per_host_timeout=30)
            p = run.plan(hosts, "logoff", Selector(all=True), options=options)
            outcome = run.execute(p, confirmed=p.would_do(), options=options)
    """

    def __init__(
        self,
        resolver: CredentialResolver | None = None,
        *,
        audit_log: str | None = None,
        retry_file: str | None = None,
        argv: Sequence[str] = (),
    ) -> None:
        from mpremote.credentials import CredentialResolver

        self.resolver = resolver if resolver is not None else CredentialResolver(interactive=False)
        self.audit_log = audit_log
        self.retry_file = retry_file
        self.argv = [self.resolver.redact(a) for a in argv]
        #: What an operator should be told before the run (e.g. Basic over plain HTTP); also logged.
        self.warnings: list[str] = []
        self._uninstall: Callable[[], None] | None = None

    def start(self) -> RunContext:
        """Scrub this run's secrets from every log record; turn on the ``MPREMOTE_DEBUG`` trace."""
        from mpremote.context import debug_log_from_env
        from mpremote.credentials import install_redaction

        if self._uninstall is None:
            self._uninstall = install_redaction(self.resolver)
            debug_log_from_env()  # after the redaction hook: every record is scrubbed first
        return self

    def stop(self) -> None:
        """Undo :meth:`start`'s redaction hook (a long-lived caller ends its run)."""
        if self._uninstall is not None:
            self._uninstall()
            self._uninstall = None

    def __enter__(self) -> RunContext:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def options(self, **fields: Any) -> RunOptions:
        """:class:`RunOptions` carrying this run's credentials, redaction, audit log and argv."""
        base = RunOptions(
            credentials=self.resolver.for_host_pair,
            redact=self.resolver.redact,
            audit_log=self.audit_log,
            argv=self.argv,
        )
        return replace(base, **fields)

    def plan(self, hosts: Sequence[Host], command: str, selector: Selector | None = None, **kw: Any) -> Plan:
        """:func:`plan`, after every password is found (or prompted for): an unset
        ``password_env`` is a usage error, not 500 failed rows."""
        options: RunOptions = kw.pop("options", None) or self.options()
        preview = kw.pop("preview", True)
        checked = plan(hosts, command, selector, options=options, preview=False, **kw)
        for warning in plan_warnings(hosts, options.settings):
            if warning not in self.warnings:
                log.warning("%s", warning)
                self.warnings.append(warning)
        self.resolver.resolve_all(hosts)
        if preview:
            _preview(checked, options)
        return checked

    def execute(
        self, plan: Plan, *, confirmed: bool | frozenset[tuple[str, int, str]], options: RunOptions | None = None
    ) -> RunOutcome:
        """:func:`execute`, then the retry file (failed, unreachable and interrupted hosts)."""
        outcome = execute(plan, confirmed=confirmed, options=options or self.options())
        if self.retry_file:
            from mpremote.targets.retry import write_retry_file

            try:
                write_retry_file(self.retry_file, outcome.results)
            except OSError as exc:  # hosts were acted on: keep the outcome, say what failed
                outcome.retry_error = f"cannot write {self.retry_file}: {exc.strerror or exc}"
        return outcome
