"""The confirmation of a destructive command: the plan, shown in full, and the question.

The plan is what the preview (a dry run) found: every session the action will touch,
grouped by host, with its id, user, state and idle time. All of it is shown, however
long (a confirmation that hides part of what it confirms is not one), and the run then
acts on exactly that set (:meth:`Plan.confirmed`), never on a session that was not shown.
``--dry-run --format json`` prints the same plan as data: its ``would_do`` actions.

Small plans end with ``Log off 6 sessions on 2 hosts? [y/N]``; above
:data:`TYPE_COUNT_OVER` sessions the operator types the number of sessions instead of
``y`` (as ``gh repo delete`` asks for the repository's name): a reflexive ``y`` cannot
log off a whole building.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mpremote.results import HostResult, HostStatus, Outcome

if TYPE_CHECKING:
    from rich.console import Console

#: Above this many sessions the operator must type the count, not ``y``.
TYPE_COUNT_OVER = 50


def _verb(command: str) -> str:
    """How the question names an action: ``Command``'s verb ("log off"); a name it does not know as is."""
    from mpremote.commands import Command

    return Command(command).verb if command in set(Command) else command


@dataclass(frozen=True)
class PlanItem:
    host: str
    id: int
    username: str
    user: str  # as shown: DOMAIN\name when the host said the domain
    state: str
    idle_seconds: int | None
    #: Open applications that may hold unsaved work (the work at risk), when known.
    busy: tuple[str, ...] = ()


@dataclass
class Plan:
    """What a confirmed run will touch, from the preview's ``would_do`` actions."""

    command: str
    items: list[PlanItem] = field(default_factory=list)
    #: Hosts the preview could not read: they will not be touched by this run.
    unread: list[HostResult] = field(default_factory=list)

    @property
    def hosts(self) -> list[str]:
        return list(dict.fromkeys(i.host for i in self.items))

    def confirmed(self) -> frozenset[tuple[str, int, str]]:
        """(host, id, username) of every shown session: the only ones the run may act on."""
        return frozenset((i.host, i.id, i.username) for i in self.items)

    @property
    def needs_typed_count(self) -> bool:
        return len(self.items) > TYPE_COUNT_OVER

    def question(self) -> str:
        """``Log off 33 sessions on 6 hosts? [y/N] `` or, for a large plan, ask for the count."""
        verb = _verb(self.command).capitalize()
        what = f"{verb} {_plural(len(self.items), 'session')} on {_plural(len(self.hosts), 'host')}?"
        if self.needs_typed_count:
            return f"{what} Type {len(self.items)} to confirm: "
        return f"{what} [y/N] "

    def accepts(self, answer: str) -> bool:
        answer = answer.strip().lower()
        if self.needs_typed_count:
            return answer == str(len(self.items))
        return answer in ("y", "yes")


def plan_from_preview(command: str, results: Iterable[HostResult]) -> Plan:
    """The sessions a preview marked ``would_do``, with the state and idle time it saw."""
    plan = Plan(command)
    for r in results:
        if r.status is not HostStatus.OK:
            plan.unread.append(r)
            continue
        sessions = {s.id: s for s in r.sessions}
        for a in r.actions or ():
            if a.outcome is not Outcome.WOULD_DO:
                continue
            s = sessions.get(a.id)
            same = s is not None and s.username.lower() == a.username.lower()
            plan.items.append(
                PlanItem(
                    host=r.host,
                    id=a.id,
                    username=a.username,
                    user=f"{s.domain}\\{a.username}" if same and s is not None and s.domain else a.username,
                    state=s.state if same and s is not None else "?",
                    idle_seconds=s.idle_seconds if same and s is not None else None,
                    busy=tuple(s.busy_apps) if same and s is not None else (),
                )
            )
    return plan


def plan_lines(plan: Plan) -> list[str]:
    """The plan as aligned text lines: one per session, the host named on its first row.

    When any session has an application that may hold unsaved work, a last column
    ``work at risk`` names them on that session's own row.
    """
    from rich.cells import cell_len

    from mpremote.report import format_idle

    with_risk = any(item.busy for item in plan.items)
    header = ("host", "id", "user", "state", "idle", *(("work at risk",) if with_risk else ()))
    rows = []
    previous = None
    for item in plan.items:
        rows.append(
            (item.host if item.host != previous else "", str(item.id), item.user, item.state,
             format_idle(item.idle_seconds), *((", ".join(item.busy),) if with_risk else ()))
        )  # fmt: skip
        previous = item.host
    widths = [max(cell_len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {1, 4}

    def line(row: tuple[str, ...]) -> str:
        cells = []
        for i, text in enumerate(row):
            pad = " " * (widths[i] - cell_len(text))
            cells.append(pad + text if i in right else text + pad)
        return "  ".join(cells).rstrip()

    return [line(header), *(line(r) for r in rows)]


def render_plan(plan: Plan, console: Console, description: str = "") -> None:
    """Print the whole plan (never an "... and N more") and what will not be touched."""
    verb = _verb(plan.command)
    about = f" ({description})" if description else ""
    if not plan.items:
        console.print(f"Nothing to {verb}: no session matches{about}.", markup=False, highlight=False)
    else:
        console.print(
            f"About to {verb} {_plural(len(plan.items), 'session')} on {_plural(len(plan.hosts), 'host')}{about}:",
            markup=False,
            highlight=False,
        )
        console.print()
        lines = plan_lines(plan)
        console.print(lines[0], style="bold", markup=False, highlight=False)
        for text in lines[1:]:
            console.print(text, markup=False, highlight=False, soft_wrap=True)
        at_risk = sum(1 for i in plan.items if i.busy)
        if at_risk:
            console.print()
            console.print(
                f"Work at risk: {_plural(at_risk, 'session')} with applications that may hold unsaved work "
                "(--spare-busy leaves them alone).",
                markup=False,
                highlight=False,
                soft_wrap=False,
            )
    if plan.unread:
        from mpremote.report import host_detail

        console.print()
        console.print(
            f"Not read now, so not touched ({_plural(len(plan.unread), 'host')}):", markup=False, highlight=False
        )
        for r in plan.unread:
            console.print(
                f"  {r.host}: {r.status.value}: {host_detail(r)}", markup=False, highlight=False, soft_wrap=False
            )
    console.print()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
