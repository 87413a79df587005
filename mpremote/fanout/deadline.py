"""One host's wall-clock deadline (connect, query, act, close), on the monotonic clock."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from mpremote.errors import DeadlineError

__all__ = ["HARD_DEADLINE_MARGIN_S", "Deadline", "timeout_message"]

#: Extra time a job gets past its deadline to report its own, more precise, DeadlineError.
HARD_DEADLINE_MARGIN_S = 0.5


@dataclass
class Deadline:
    """Wall-clock deadline for one host's whole job (connect, query, act, close).

    Uses the monotonic clock, so a system clock change cannot stretch or cut it.
    """

    seconds: float
    started: float = field(default_factory=time.monotonic)
    cancel_event: threading.Event | None = None

    @property
    def at(self) -> float:
        """The deadline on the :func:`time.monotonic` clock."""
        return self.started + self.seconds

    def remaining(self) -> float:
        """Seconds left, never negative: pass it to socket / WSMan timeouts."""
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    @property
    def cancelled(self) -> bool:
        """True once the run is being interrupted: do not start an action now."""
        return self.cancel_event is not None and self.cancel_event.is_set()

    def check(self) -> None:
        """Raise :class:`~mpremote.errors.DeadlineError` when the deadline has passed."""
        if self.expired():
            raise DeadlineError(timeout_message(self.seconds))


def timeout_message(seconds: float) -> str:
    return f"no answer within {seconds:g}s"
