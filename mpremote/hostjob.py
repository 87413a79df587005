"""One host's whole job: connect, query, select, act, verify — and always one result row.

This module holds the per-host logic shared by every command (sessions, logoff,
disconnect, message, check). It uses :mod:`mpremote.remote` for the wire, :mod:`mpremote.quser`
to read what the host printed and :mod:`mpremote.selection` to decide; it never raises
for a host problem, it returns a :class:`HostResult`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mpremote.commands import ACTIONS, MSG_MAX_CHARS, Command
from mpremote.errors import DeadlineError, HostError, RemoteError
from mpremote.hosts import Host
from mpremote.remote import psjson
from mpremote.remote.connection import Connection, ConnectionSettings, Connector, properties
from mpremote.remote.scripts import ACT, QUERY
from mpremote.results import (
    UNCONFIRMED,
    ErrorInfo,
    HostResult,
    HostStatus,
    Outcome,
    SessionAction,
    status_for_error,
)
from mpremote.session import App, Session

if TYPE_CHECKING:
    from mpremote.selection import Selector

log = logging.getLogger(__name__)

__all__ = ["ACTIONS", "BACKENDS", "MSG_MAX_CHARS", "HostQuery", "JobSpec", "run_host_job"]

BACKENDS = ("auto", "quser", "wms")
#: Seconds kept back from the per-host deadline for reading act.ps1's answer and closing the
#: connection: 15 % of what is left, between 0.3 and 1.5 s.
CONFIRM_MARGIN_S = (0.3, 1.5)


@dataclass(frozen=True)
class HostQuery:
    """What the read-only query script found on a host."""

    sessions: list[Session]
    computer_name: str | None
    operator_user: str | None
    operator_domain: str | None
    wms_available: bool
    #: The host's OEM code page, as the query script reported it (None: not reported).
    oem_codepage: int | None = None


@dataclass(frozen=True)
class JobSpec:
    """What to do on every host of a run (the same for all hosts)."""

    command: Command
    selector: Selector | None = None  # which sessions (actions; listings with selectors)
    text: str | None = None
    message_seconds: int = 60
    dry_run: bool = False
    backend: str = "auto"
    settings: ConnectionSettings = field(default_factory=ConnectionSettings)
    #: When set, only these (host, id, username) may be acted on (the confirmed plan).
    confirmed: frozenset[tuple[str, int, str]] | None = None
    #: Seconds to wait, in the same remote call, for log-offs to complete (sessions gone) and
    #: disconnects to show; always cut to the host's deadline. 0: one read, no waiting.
    confirm_wait: float = 5.0
    #: Ask each host for every session's open applications (``sessions --apps``, previews).
    apps: bool = False
    #: Leave sessions with a flagged application alone (reported skipped, "open: ...").
    spare_busy: bool = False
    #: Glob patterns of applications that hold unsaved work (``mpremote.apps``).
    busy_apps: tuple[str, ...] = ()

    @property
    def wants_apps(self) -> bool:
        return self.apps or self.spare_busy

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", Command(self.command))  # a plain "logoff" is welcome


def _as_int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def interpret_query(host: Host, obj: Any, busy_apps: tuple[str, ...] | None = None) -> HostQuery:
    """Turn the query script's object into sessions; raise ParseError/RemoteError on nonsense.

    With ``busy_apps`` (the apps were asked for) every session gets its ``apps``, flagged
    by those patterns."""
    from mpremote.quser import is_no_sessions, parse_quser

    props = properties(obj)
    stdout = str(props.get("QuserStdout") or "")
    stderr = str(props.get("QuserStderr") or "")
    code = _as_int(props.get("QuserExitCode"), 0) or 0
    if code != 0 and not stdout.strip():
        if is_no_sessions(stderr, code):
            sessions: list[Session] = []
        else:
            raise RemoteError(f"quser failed (exit {code}): {stderr.strip()[:200] or 'no output'}")
    else:
        # The script reads quser in the OEM code page; if it could not, the parser repairs
        # OEM text read as cp1252 (second defence) with the code page the host reported.
        sessions = parse_quser(stdout, oem_codepage=_as_int(props.get("QuserCodePage")))
    wms_available = bool(props.get("WmsAvailable"))
    wms = psjson.as_list(props.get("WmsSessions"))
    if wms_available and wms:
        domains = {}
        for item in wms:
            p = properties(item)
            sid = _as_int(p.get("SessionId"))
            if sid is not None and p.get("DomainName"):
                domains[sid] = str(p["DomainName"])
        sessions = [replace(s, domain=domains.get(s.id, s.domain)) for s in sessions]
    if busy_apps is not None:
        sessions = _attach_apps(sessions, psjson.as_list(props.get("Apps")), busy_apps)
    return HostQuery(
        sessions=sessions,
        computer_name=str(props["ComputerName"]) if props.get("ComputerName") else None,
        operator_user=str(props["OperatorUser"]) if props.get("OperatorUser") else None,
        operator_domain=str(props["OperatorDomain"]) if props.get("OperatorDomain") else None,
        wms_available=wms_available,
        oem_codepage=_as_int(props.get("QuserCodePage")),
    )


def _attach_apps(sessions: list[Session], reported: list[Any], busy_apps: tuple[str, ...]) -> list[Session]:
    from mpremote.apps import is_flagged

    by_id: dict[int, list[App]] = {}
    for item in reported:
        p = properties(item)
        sid = _as_int(p.get("SessionId"))
        name = str(p.get("Name") or "").strip()
        if sid is None or not name:
            continue
        by_id.setdefault(sid, []).append(App(name, is_flagged(name, busy_apps), str(p.get("Title") or "")))
    return [
        replace(s, apps=tuple(sorted(by_id.get(s.id, []), key=lambda a: (not a.flagged, a.name.casefold()))))
        for s in sessions
    ]


def _confirmed_outcome(action: str, check: dict[str, Any]) -> tuple[Outcome, str]:
    """What act.ps1's confirmation read means: done (verified), pending or stuck."""
    from mpremote.errors import ParseError
    from mpremote.quser import is_last_session_gone, parse_quser

    code = _as_int(check.get("QuserExitCode"), 0) or 0
    stderr = str(check.get("QuserStderr") or "")
    if code != 0:
        # Only quser's own "No User exists for *" (a known text, docs/lab.md) proves that the
        # last session is gone; any other failure proves nothing either way.
        if not is_last_session_gone(stderr, code):
            return Outcome.PENDING, f"not verified: quser failed (exit {code}): {stderr.strip()[:150] or 'no output'}"
        if action == "logoff":
            return Outcome.DONE, "gone (verified)"
        return Outcome.PENDING, "no longer listed by quser (logged off?), not seen disconnected"
    if check.get("Confirmed") is True:
        return Outcome.DONE, "gone (verified)" if action == "logoff" else "disconnected (verified)"
    after = str(check.get("After") or "")
    if not after:
        return Outcome.PENDING, "no longer listed by quser (logged off?), not seen disconnected"
    try:
        rows = parse_quser(after)
    except (ParseError, ValueError):
        rows = []
    state = rows[0].state if rows else "unknown"
    if state == "down":
        return Outcome.STUCK, "still listed in the Down state when the wait ended"
    if action == "logoff":
        return Outcome.PENDING, f"still logging off when the wait ended (state {state})"
    return Outcome.PENDING, f"not disconnected yet when the wait ended (state {state})"


def _actions_from_output(
    action: str, output: list[Any], sent: list[Session], oem_codepage: int | None = None
) -> list[SessionAction]:
    """``oem_codepage``: act.ps1 runs logoff/tsdiscon/msg with '&', so their messages reach
    PowerShell as OEM text read as cp1252 (``AccŠs refus‚``); they are repaired here."""
    from mpremote.quser_lang import repair_if_damaged

    output = psjson.rows(output)
    by_id = {s.id: s for s in sent}
    actions: list[SessionAction] = []
    seen: set[int] = set()
    checks: dict[int, dict[str, Any]] = {}
    for obj in output:
        p = properties(obj)
        if p.get("Check") == "confirm":
            cid = _as_int(p.get("Id"))
            if cid is not None:
                checks[cid] = p
    for obj in output:
        p = properties(obj)
        if p.get("Check") is not None:
            continue
        sid = _as_int(p.get("Id"))
        if sid is None or sid not in by_id:
            continue
        seen.add(sid)
        outcome_text = str(p.get("Outcome") or "failed")
        outcome = {"done": Outcome.DONE, "vanished": Outcome.VANISHED}.get(outcome_text, Outcome.FAILED)
        denied = bool(p.get("Denied"))
        detail = repair_if_damaged(str(p.get("Detail") or ""), oem_codepage)
        if outcome is Outcome.DONE and sid in checks:
            outcome, verified = _confirmed_outcome(action, checks[sid])
            detail = f"{detail}; {verified}" if detail else verified
        actions.append(
            SessionAction(
                sid,
                by_id[sid].username,
                action,
                outcome,
                detail,
                error_kind="denied" if denied else ("remote" if outcome is Outcome.FAILED else None),
            )
        )
    for s in sent:
        if s.id not in seen:
            actions.append(
                SessionAction(s.id, s.username, action, Outcome.FAILED, "the host reported nothing for this session")
            )
    return actions


def _status_from_actions(actions: list[SessionAction]) -> tuple[HostStatus, ErrorInfo | None]:
    attempted = [a for a in actions if a.outcome is not Outcome.SKIPPED]
    failed = [a for a in attempted if a.outcome is Outcome.FAILED]
    unconfirmed = [a for a in attempted if a.outcome in UNCONFIRMED]
    if not failed and unconfirmed:
        # Accepted but not seen to happen: the host failed its job (exit 4, retry file).
        n = {o: sum(a.outcome is o for a in unconfirmed) for o in (Outcome.PENDING, Outcome.STUCK)}
        counts = ", ".join(f"{k} {o.value}" for o, k in n.items() if k)
        ids = ", ".join(str(a.id) for a in unconfirmed[:10])
        what = f"{len(unconfirmed)} of {len(attempted)} {unconfirmed[0].action} actions"
        msg = f"{what} not confirmed ({counts}): ids {ids}"
        return HostStatus.FAILED, ErrorInfo("unconfirmed", msg[:300])
    if not failed:
        return HostStatus.OK, None
    kind = "denied" if all(a.error_kind == "denied" for a in failed) else "remote"
    first = failed[0]
    msg = f"{len(failed)} of {len(attempted)} {first.action} actions failed: {first.detail or 'no detail'}"
    return HostStatus.FAILED, ErrorInfo(kind, msg[:300])


def choose_backend(requested: str, query: HostQuery) -> str:
    if requested == "auto":
        return "wms" if query.wms_available else "quser"
    return requested


def plan_actions(host: Host, spec: JobSpec, decisions: list[Any]) -> tuple[list[Session], list[SessionAction]]:
    """Which selected sessions to act on, and which to report as skipped (and why)."""
    chosen = [d.session for d in decisions if d.selected]
    skipped = [
        SessionAction(d.session.id, d.session.username, spec.command, Outcome.SKIPPED, d.reason)
        for d in decisions
        if d.spared
    ]

    def skip(sessions: list[Session], why: str) -> None:
        skipped.extend(SessionAction(s.id, s.username, spec.command, Outcome.SKIPPED, why) for s in sessions)

    noop = spec.command.info.noop_state
    if noop is not None:
        # tsdiscon on a disconnected session changes nothing: "done" would overstate the run.
        skip([s for s in chosen if s.state == noop], f"already {noop}")
        chosen = [s for s in chosen if s.state != noop]
    if spec.spare_busy:
        for s in [s for s in chosen if s.busy_apps]:
            skipped.append(
                SessionAction(s.id, s.username, spec.command, Outcome.SKIPPED, "open: " + ", ".join(s.busy_apps))
            )
        chosen = [s for s in chosen if not s.busy_apps]
    if spec.confirmed is not None:
        confirmed = spec.confirmed
        skip([s for s in chosen if (host.name, s.id, s.username) not in confirmed], "appeared after you confirmed")
        chosen = [s for s in chosen if (host.name, s.id, s.username) in confirmed]
    return chosen, skipped


def confirm_ms(wait: float) -> int:
    """act.ps1's ConfirmMs: the wait after acting. At least 1: one read always happens."""
    return max(1, int(wait * 1000))


def deadline_ms(remaining: float | None) -> int:
    """act.ps1's DeadlineMs: from the script's start, when the confirmation wait must end
    so the whole job (acting, reading the answer, closing) ends inside the host's deadline.
    0: no deadline. At least 1 otherwise (the one read still happens)."""
    if remaining is None:
        return 0
    low, high = CONFIRM_MARGIN_S
    margin = min(high, max(low, 0.15 * remaining))
    return max(1, int((remaining - margin) * 1000))


def run_host_job(
    host: Host,
    spec: JobSpec,
    *,
    credential: Callable[[Host], tuple[str | None, str | None]],
    deadline_remaining: Callable[[], float] | None = None,
    before_act: Callable[[Host, list[Session]], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    connect: Connector = Connection,
) -> HostResult:
    """Do ``spec`` on one host and describe what happened. Never raises for host problems.

    ``connect`` makes the connection (a context manager with ``run_script`` and ``endpoint``);
    tests pass an in-process fake of the remote layer.

    ``before_act`` is called with the sessions about to be acted on, just before the action
    script is sent (the audit log records intent before anything can be delivered).
    """
    start = time.monotonic()
    result = HostResult(host=host.name, address=host.address, status=HostStatus.OK)
    in_flight: list[Session] = []  # sessions named in an action script that was sent
    password: str | None = None
    try:
        username, password = credential(host)
        remaining = deadline_remaining() if deadline_remaining else None
        with connect(
            host, username=username, password=password, settings=spec.settings, deadline_remaining=remaining
        ) as conn:
            query_params: dict[str, Any] = {"IncludeWms": spec.backend != "quser"}
            if not psjson.JSON_ANSWERS:
                query_params["NoJson"] = True
            if spec.wants_apps:
                from mpremote.apps import DESKTOP_PROCESSES

                query_params.update(IncludeApps=True, IgnoreApps=list(DESKTOP_PROCESSES))
            query_out = conn.run_script(QUERY, query_params)
            answer = psjson.rows(query_out.output)
            if not answer:
                raise RemoteError("the query script returned nothing: " + "; ".join(query_out.errors)[:200])
            query = interpret_query(host, answer[0], spec.busy_apps if spec.wants_apps else None)
            result.sessions = query.sessions
            backend = choose_backend(spec.backend, query)
            result.facts = {
                "computer_name": query.computer_name,
                "operator": query.operator_user,
                "multipoint": query.wms_available,
                "backend": backend,
                "transport": conn.endpoint.transport,
                "auth": conn.endpoint.auth,
            }
            from mpremote.selection import select

            wants_selection = spec.selector is not None and not spec.selector.is_empty()
            if spec.command not in ACTIONS and not wants_selection:
                result.elapsed_s = time.monotonic() - start
                return result
            # An action always has one: api.preflight refuses an action without selectors.
            assert spec.selector is not None, "an action needs a selector"
            decisions = select(
                host.name,
                query.sessions,
                spec.selector,
                operator_user=query.operator_user or username,
                operator_domain=query.operator_domain,
            )
            if spec.command not in ACTIONS:
                # A listing with selectors shows what an action with the same selectors would touch.
                result.sessions = [d.session for d in decisions if d.selected]
                result.elapsed_s = time.monotonic() - start
                return result
            chosen, skipped = plan_actions(host, spec, decisions)
            why = spec.command.info.multipoint_only
            if why is not None and backend != "wms":
                # Never a silent success: the operator learns this host cannot do it.
                result.actions = [SessionAction(s.id, s.username, spec.command, Outcome.SKIPPED, why) for s in chosen]
                result.actions += skipped
                result.status = HostStatus.SKIPPED
                result.error = ErrorInfo("unsupported", why)
                result.elapsed_s = time.monotonic() - start
                return result
            if spec.dry_run or not chosen:
                would = [SessionAction(s.id, s.username, spec.command, Outcome.WOULD_DO, "dry run") for s in chosen]
                result.actions = would + skipped
                result.elapsed_s = time.monotonic() - start
                return result
            if cancelled is not None and cancelled():
                result.status = HostStatus.INTERRUPTED
                result.error = ErrorInfo("interrupted", "interrupted before acting; nothing was done")
                result.actions = skipped
                result.elapsed_s = time.monotonic() - start
                return result
            if deadline_remaining is not None and deadline_remaining() <= 0.5:
                raise DeadlineError("per-host deadline reached before acting; nothing was sent")
            if before_act is not None:
                before_act(host, chosen)
            targets = [
                {"Id": s.id, "UserName": s.username, "LogonText": s.logon_text, "SessionName": s.session_name or ""}
                for s in chosen
            ]
            params: dict[str, Any] = {"Action": spec.command.value, "Backend": backend, "Targets": targets}
            if not psjson.JSON_ANSWERS:
                params["NoJson"] = True
            if spec.command.info.needs_text:
                params["Text"] = spec.text or ""
                params["MessageSeconds"] = int(spec.message_seconds)
            if spec.command.info.confirms_effect:
                params["ConfirmMs"] = confirm_ms(spec.confirm_wait)
                params["DeadlineMs"] = deadline_ms(deadline_remaining() if deadline_remaining else None)
            in_flight = chosen
            act_out = conn.run_script(ACT, params, acting=True)
            result.actions = _actions_from_output(spec.command, act_out.output, chosen, query.oem_codepage) + skipped
            result.status, result.error = _status_from_actions(result.actions)
    except HostError as exc:
        _fail(result, exc, in_flight, spec.command)
    except Exception as exc:  # a bug or an unexpected lower-layer error: still one row
        log.debug("%s: unexpected %s", host.name, type(exc).__name__, exc_info=True)
        _fail(result, exc, in_flight, spec.command)
    if password and result.error is not None:
        _scrub(result, password)
    result.elapsed_s = time.monotonic() - start
    return result


def _scrub(result: HostResult, password: str) -> None:
    """An unexpected lower-layer error's text may quote what it was given: never let the
    password into a result row (rows reach reports, audit lines and retry tooling)."""
    from mpremote.credentials import redact

    assert result.error is not None
    result.error = ErrorInfo(result.error.kind, redact(result.error.message, [password]))
    if result.actions:
        result.actions = [replace(a, detail=redact(a.detail, [password])) for a in result.actions]


def _fail(result: HostResult, exc: BaseException, in_flight: list[Session], action: str) -> None:
    """Record a host failure. After an action was sent its outcome is unknown: say so, never retry.

    ``check`` is where an administrator asks *why*: there the error's hint (which Kerberos
    step failed, what to do) follows the message that every command reports alike.
    """
    info = ErrorInfo.from_exception(exc)
    hint = getattr(exc, "hint", None)
    if action == "check" and hint:
        info = ErrorInfo(info.kind, f"{info.message}; {hint}")
    if not in_flight:
        result.status = status_for_error(exc)
        result.error = info
        return
    result.status = HostStatus.FAILED
    result.error = ErrorInfo(
        info.kind, f"{info.message} (after the action was sent: it may have happened; not retried)"
    )
    result.actions = [
        SessionAction(s.id, s.username, action, Outcome.FAILED, "outcome unknown: connection lost after sending")
        for s in in_flight
    ]
