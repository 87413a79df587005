"""The glue between a policy stage and the library: the real ``execute`` for ``run_policy``.

Kept in one small module so the runner's decisions are tested with a fake ``execute`` and
this file is the only place that knows the library's call signatures. A logoff stage is an
ordinary ``run_command(..., "logoff", selector)``: it queries the hosts again at T and acts
only on sessions still present, still selected and not exempt, re-checking each session's
owner immediately before acting (act.ps1), exactly like an interactive ``mpremote logoff``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mpremote.errors import InputFileError, UsageError
from mpremote.hosts import Host
from mpremote.policy.model import Policy
from mpremote.policy.runner import StageCall, StageExecution


def policy_hosts(policy: Policy) -> list[Host]:
    """Hosts of the targets file, narrowed by ``limit``, minus exempt hosts and groups."""
    from mpremote.targets import load_targets

    inventory = load_targets(policy.targets)
    groups = getattr(inventory, "groups", {})
    _check_exemptions_name_something(inventory.hosts, policy, groups)
    try:
        hosts = inventory.limit(policy.limit) if policy.limit else inventory.limit()
    except UsageError as exc:
        if isinstance(exc, InputFileError) or not policy.limit:
            raise
        # Said of the file, not of a --limit option the user never typed.
        problem = re.sub(r"^--limit '.*?': ", "", str(exc), count=1)
        raise InputFileError(str(policy.path), policy.limit_line, "limit", problem) from None
    return exclude_exempt(hosts, policy, groups)


def exclude_exempt(hosts: Sequence[Host], policy: Policy, groups: dict[str, list[str]]) -> list[Host]:
    """Drop hosts named (or globbed) in ``exempt.hosts`` or belonging to ``exempt.groups``.

    Each entry is matched by the same rule as a ``--limit`` term
    (:func:`mpremote.targets.patterns.hosts_matching`: names, globs, ranges, case-insensitive).
    Done before calling the library so exempt hosts are not even contacted.
    """
    from mpremote.targets.patterns import hosts_matching

    names = [h.name for h in hosts]
    exempt: set[str] = set()
    for term in policy.exempt.hosts:
        exempt |= hosts_matching(term, names, groups)
    exempt_groups = {g.casefold() for g in policy.exempt.groups}
    for group in policy.exempt.groups:
        exempt |= hosts_matching(group, [], groups)  # no host names: the term matches groups only
    return [h for h in hosts if h.name not in exempt and not any(g.casefold() in exempt_groups for g in h.groups)]


def _check_exemptions_name_something(hosts: Sequence[Host], policy: Policy, groups: dict[str, list[str]]) -> None:
    """A typo in ``exempt.hosts`` (the teacher's PC) must not silently exempt nobody: every
    entry must match a host of the targets file (by the rule :func:`exclude_exempt` uses),
    every group must exist (as ``--limit '!name'`` already demands). Checked against the
    whole file, before ``limit``."""
    import difflib

    from mpremote.targets.patterns import hosts_matching

    def did_you_mean(word: str, choices: Sequence[str]) -> str:
        close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
        return f"; did you mean '{close[0]}'?" if close else ""

    all_names = [h.name for h in hosts]
    for pattern in policy.exempt.hosts:
        if not hosts_matching(pattern, all_names, groups):
            line = policy.exempt.lines.get(("hosts", pattern))
            raise InputFileError(
                str(policy.path),
                line,
                "exempt.hosts",
                f"'{pattern}' matches no host of {policy.targets}{did_you_mean(pattern, all_names)}",
            )
    known_groups = {g.casefold() for g in groups}
    for group in policy.exempt.groups:
        if group.casefold() not in known_groups:
            line = policy.exempt.lines.get(("groups", group))
            hint = did_you_mean(group, list(groups)) if groups else "; the targets file has no groups"
            raise InputFileError(
                str(policy.path), line, "exempt.groups", f"'{group}' is not a group of {policy.targets}{hint}"
            )


def policy_selector(policy: Policy) -> Any:
    """The library Selector for the policy's ``select`` with ``exempt.users`` excluded."""
    from mpremote.selection import Selector

    sel = policy.select
    try:
        return Selector(
            all=sel.all,
            users=sel.users,
            state=sel.state,
            idle_over=sel.idle_over,
            exclude_users=policy.exempt.users,
        )
    except ValueError as exc:
        raise UsageError(f"{policy.path}: select/exempt: {exc}") from None


def execute_stage(call: StageCall, *, options: Any = None, run: Any = None) -> StageExecution:
    """Carry out one stage against the lab through the library path the CLI uses:
    ``plan`` (every check, credentials found before any host is contacted) then ``execute``
    confirmed as is (unattended). ``options`` is a base ``mpremote.api.RunOptions``; ``run``
    an ``mpremote.api.RunContext`` (default: a fresh one, non-interactive)."""
    from mpremote.api import RunContext, RunOptions
    from mpremote.results import totals

    policy, stage = call.policy, call.instant.stage
    hosts = policy_hosts(policy)
    if not hosts:
        return StageExecution(0, "no hosts left after limit and exemptions")
    run = run if run is not None else RunContext()
    opts = replace(options or RunOptions(), dry_run=call.dry_run, spare_busy=stage.spare_busy)
    planned = run.plan(
        hosts, stage.action, policy_selector(policy), text=call.text, message_seconds=stage.seconds,
        options=opts, preview=False,
    )  # fmt: skip
    outcome = run.execute(planned, confirmed=True, options=opts)
    return StageExecution(
        exit_code=int(outcome.exit_code),
        summary=totals(outcome.results).line(),
        results=[r.to_dict() for r in outcome.results],
    )


def audit_sink(path: str | Path) -> Any:
    """A callable writing the policy's own records to the audit log (:class:`mpremote.audit.AuditLog`).

    Per-host and per-session records are written by the library itself
    (``RunOptions.audit_log``); this adds what only the policy knows: which stage fired,
    why a stage was missed or skipped, and the run's one summary line (``policy_run``).
    All records of one ``policy run`` share one ``run_id``.
    """
    from mpremote.audit import AuditLog, new_run_id

    log, run_id = AuditLog(path), new_run_id()

    def write(record: dict[str, Any]) -> None:
        fields = {k: v for k, v in record.items() if k != "event"}
        log.record(run_id, str(record.get("event", "policy")), sync=record.get("event") == "policy_run", **fields)

    return write
