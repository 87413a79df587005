"""End-of-day policies: a policy file says *what* to do to a lab and *when*; ``policy run``
does what is due exactly once, the workstation's scheduler only calls it every minute.

Modules: :mod:`.model` (the validated :class:`~.model.Policy`), :mod:`.load` (file ->
Policy, every check), :mod:`.schedule` (scheduled instants and stage instants, DST
rules), :mod:`.state` (the locked, atomically written record of what already fired),
:mod:`.runner` (what is due now, fire once), :mod:`.install` (cron / systemd / Task
Scheduler entries). The Typer sub-app is :mod:`mpremote.cli.policy`; nothing here
imports Typer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpremote.policy.load import load_policy
    from mpremote.policy.model import Policy

__all__ = ["Policy", "load_policy"]


def __getattr__(name: str) -> Any:
    # Lazy: importing mpremote.cli.policy (every ``mpremote --help``) must not load YAML.
    if name == "Policy":
        from mpremote.policy import model

        return model.Policy
    if name == "load_policy":
        from mpremote.policy import load

        return load.load_policy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
