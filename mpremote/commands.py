"""What a run can do: the one table of commands and everything the code needs to know about each.

Adding an action means one row here, its branch in ``remote/scripts/act.ps1`` (and the lab's
twin), and its Typer command in ``cli/app.py``. Everything else (validation, the per-host
job, confirmation, progress, table words, audit) reads this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandInfo:
    #: Changes sessions (needs selectors, sends ``act.ps1``); False: read-only.
    acts: bool = False
    #: Asks for confirmation on a terminal (and refuses without --yes off one).
    confirm: bool = False
    #: Needs ``--text`` (at most :data:`mpremote.hostjob.MSG_MAX_CHARS` characters).
    needs_text: bool = False
    #: Does nothing to a session already in this state (skipped as "already <state>").
    noop_state: str | None = None
    #: Verb for people: "log off" ("About to log off ...", progress bar).
    verb: str = ""
    #: Past tense for tables: "logged off".
    done: str = ""


class Command(enum.StrEnum):
    """Every command a run can carry out (a ``str``: ``Command.LOGOFF == "logoff"``)."""

    SESSIONS = "sessions"
    CHECK = "check"
    LOGOFF = "logoff"
    DISCONNECT = "disconnect"
    MESSAGE = "message"

    @property
    def info(self) -> CommandInfo:
        return _INFO[self]

    @property
    def acts(self) -> bool:
        return self.info.acts

    @property
    def verb(self) -> str:
        return self.info.verb or self.value

    @property
    def done(self) -> str:
        return self.info.done or f"{self.value} done"

    @property
    def would(self) -> str:
        return f"would {self.verb}"


_INFO: dict[Command, CommandInfo] = {
    Command.SESSIONS: CommandInfo(verb="list"),
    Command.CHECK: CommandInfo(verb="check"),
    Command.LOGOFF: CommandInfo(acts=True, confirm=True, verb="log off", done="logged off"),
    Command.DISCONNECT: CommandInfo(
        acts=True, confirm=True, noop_state="disconnected", verb="disconnect", done="disconnected"
    ),
    Command.MESSAGE: CommandInfo(acts=True, needs_text=True, verb="message", done="messaged"),
}

#: The commands that change sessions, in table order.
ACTIONS: tuple[Command, ...] = tuple(c for c in Command if c.acts)


def parse_command(name: str) -> Command:
    """``Command`` for a name, or ``ValueError`` naming the known ones."""
    try:
        return Command(name)
    except ValueError:
        raise ValueError(f"unknown command {name!r}; known: {', '.join(Command)}") from None
