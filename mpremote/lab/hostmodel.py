"""One emulated Windows host: its sessions, and the native commands and cmdlets that act on them.

``EmulatedHost.run_pipeline`` is the seam with the lab's network layer (``contract.py``).
The project's own scripts are answered by Python twins (``scripts_twin.py``); everything else
is interpreted as PowerShell command lines (``interpreter.py``). Both call the primitives the
host is built from: its sessions and faults (``hoststate.py``), the native tools ``quser``,
``logoff``, ``tsdiscon``, ``msg``... (``native_tools.py``) and the MultiPoint cmdlets
``Get-WmsSession``... (``wms_cmdlets.py``).

Simplifications, stated once:
- ``$LASTEXITCODE`` is remembered per host, not per runspace.
- A whole pipeline runs under the host's lock, so one client's script is atomic with respect
  to another's; a real host interleaves them.
- Idle times do not tick; they stay as the lab spec says (unless the lab churns: ``churn.py``).
- Over PowerShell Remoting the caller runs in session 0, so quser marks no row with ``>``.
- Native commands print in the host's OEM code page; a remoting session reads that as cp1252
  (``read_over_remoting``), unless a project script reads it in the OEM code page itself.
- A log-off accepted on a ``slow-logoff:MS`` host completes MS later: the session stays
  listed (in its state) until then and is removed the next time anyone looks; on a ``stuck``
  host it never completes and the session stays, in the Down state, until the host is healed
  and it is logged off again.
"""

from __future__ import annotations

import logging

from mpremote.lab import contract, interpreter, scripts_twin
from mpremote.lab.native_tools import NativeTools
from mpremote.lab.wms_cmdlets import WmsCmdlets

_log = logging.getLogger(__name__)


class EmulatedHost(NativeTools, WmsCmdlets):
    """A Windows MultiPoint / RDS host as PowerShell Remoting sees it. Thread-safe.

    Its state and faults come from ``HostState``; ``NativeTools`` and ``WmsCmdlets`` add the
    two ways Windows offers to act on it; this class only adds the pipeline seam."""

    def run_pipeline(self, commands: list[contract.CommandSpec], *, operator: str) -> contract.PipelineResult:
        """Run one PSRP pipeline: a project script's twin, or command lines / cmdlets."""
        with self.lock:
            self.settle()
            try:
                twin = scripts_twin.match(commands)
                if twin is not None:
                    return twin(self, commands[0], operator or self.operator_user)
                return interpreter.Interpreter(self, operator or self.operator_user).run(commands)
            except Exception as exc:  # a lab bug must fail one pipeline, never the server thread
                _log.exception("host %s: pipeline crashed", self.name)
                return contract.PipelineResult(
                    failure=contract.ErrorSpec(
                        message=f"emulated host internal error: {type(exc).__name__}: {exc}",
                        fully_qualified_error_id="LabInternalError",
                    )
                )
