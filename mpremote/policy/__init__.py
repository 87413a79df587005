"""End-of-day policies: a policy file says *what* to do to a lab and *when*; ``policy run``
does what is due exactly once, the workstation's scheduler only calls it every minute.

Modules: :mod:`.model` (file -> validated :class:`~.model.Policy`), :mod:`.schedule`
(scheduled instants and stage instants, DST rules), :mod:`.state` (the locked, atomically
written record of what already fired), :mod:`.runner` (what is due now, fire once),
:mod:`.install` (cron / systemd / Task Scheduler entries), :mod:`.cli` (Typer sub-app).
Nothing here imports Typer except :mod:`.cli`.
"""

from __future__ import annotations

from mpremote.policy.model import Policy, load_policy

__all__ = ["Policy", "load_policy"]
