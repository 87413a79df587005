"""End-of-day policies: a policy file says *what* to do to a lab and *when*; ``policy run``
does what is due exactly once, the workstation's scheduler only calls it every minute.

Modules: :mod:`.model` (file -> validated :class:`~.model.Policy`), :mod:`.schedule`
(scheduled instants and stage instants, DST rules), :mod:`.state` (the locked, atomically
written record of what already fired), :mod:`.runner` (what is due now, fire once),
:mod:`.install` (cron / systemd / Task Scheduler entries). The Typer sub-app is
:mod:`mpremote.cli.policy`; nothing here imports Typer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpremote.policy.model import Policy, load_policy

__all__ = ["Policy", "load_policy"]


def __getattr__(name: str) -> Any:
    # Lazy: importing mpremote.cli.policy (every ``mpremote --help``) must not load YAML.
    if name in __all__:
        from mpremote.policy import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
