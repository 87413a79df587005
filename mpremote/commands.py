"""What a run can do: the one table of commands and everything the code needs to know about each.

Adding an action means one row here, its branch in ``remote/scripts/act.ps1`` (and the lab's
twin), and its Typer command in ``cli/app.py``. Everything else (validation, the per-host
job, confirmation, progress, table words, audit) reads this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: msg.exe refuses longer messages (the default for ``--text``; policies check it too).
MSG_MAX_CHARS = 255


@dataclass(frozen=True)
class CommandInfo:
    #: Changes sessions (needs selectors, sends ``act.ps1``); False: read-only.
    acts: bool = False
    #: Asks for confirmation on a terminal (and refuses without --yes off one).
    confirm: bool = False
    #: Needs ``--text`` (at most :attr:`text_max_chars` characters).
    needs_text: bool = False
    #: Does nothing to a session already in this state (skipped as "already <state>").
    noop_state: str | None = None
    #: Verb for people: "log off" ("About to log off ...", progress bar).
    verb: str = ""
    #: Past tense for tables: "logged off".
    done: str = ""
    #: The most characters ``--text`` may have (msg.exe: 255) and what the text is called.
    text_max_chars: int = MSG_MAX_CHARS
    text_name: str = "message"
    #: ``act.ps1`` re-reads quser after acting until the effect shows (``--confirm-wait``):
    #: done means verified, else pending or stuck.
    confirms_effect: bool = False
    #: Only MultiPoint can do it; elsewhere every selected session is skipped with this reason.
    multipoint_only: str | None = None


class Command(enum.StrEnum):
    """Every command a run can carry out (a ``str``: ``Command.LOGOFF == "logoff"``)."""

    SESSIONS = "sessions"
    CHECK = "check"
    LOGOFF = "logoff"
    DISCONNECT = "disconnect"
    MESSAGE = "message"
    LOCK = "lock"
    UNLOCK = "unlock"

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
    Command.LOGOFF: CommandInfo(acts=True, confirm=True, verb="log off", done="logged off", confirms_effect=True),
    Command.DISCONNECT: CommandInfo(
        acts=True, confirm=True, noop_state="disconnected", verb="disconnect", done="disconnected",
        confirms_effect=True,
    ),
    Command.MESSAGE: CommandInfo(acts=True, needs_text=True, verb="message", done="messaged"),
    # MultiPoint Lock-WmsSession documents no length limit; a longer lock screen is a mistake.
    Command.LOCK: CommandInfo(
        acts=True, confirm=True, needs_text=True, verb="lock", done="locked", text_max_chars=512,
        text_name="lock message", multipoint_only="lock needs MultiPoint; use disconnect",
    ),
    Command.UNLOCK: CommandInfo(
        acts=True, confirm=True, verb="unlock", done="unlocked", multipoint_only="unlock needs MultiPoint"
    ),
}  # fmt: skip

#: The commands that change sessions, in table order.
ACTIONS: tuple[Command, ...] = tuple(c for c in Command if c.acts)


def parse_command(name: str) -> Command:
    """``Command`` for a name, or ``ValueError`` naming the known ones."""
    try:
        return Command(name)
    except ValueError:
        raise ValueError(f"unknown command {name!r}; known: {', '.join(Command)}") from None
