"""The seam between the lab's network layer (server/wsman) and its host model.

The server turns each PSRP pipeline into ``CommandSpec`` objects, calls
``EmulatedHost.run_pipeline`` and writes the ``PipelineResult`` back through psrpcore.
Both sides import only this module from each other, so either can be replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Journal sink: the server adds "ts" and "host"; the host model emits
#: {"event": "logoff"|"disconnect"|"message", "id": ..., "username": ..., "text"?: ...}.
JournalSink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class CommandSpec:
    """One command of a PSRP pipeline as the client sent it.

    ``parameters`` keeps order; ``name`` is None for positional arguments. Values are
    what psrpcore deserialised (str/int/bool subclasses, lists, dicts, PSObjects).
    """

    text: str
    is_script: bool
    parameters: list[tuple[str | None, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ErrorSpec:
    """An ErrorRecord for the pipeline's error stream (a non-terminating error)."""

    message: str
    exception_type: str = "System.Management.Automation.RuntimeException"
    category: int = 0  # psrpcore.types.ErrorCategory value (0 NotSpecified)
    fully_qualified_error_id: str = "NativeCommandError"
    reason: str | None = None
    target: Any = None


def binding_error(message: str, fqid: str) -> ErrorSpec:
    """PowerShell's ParameterBindingException (category InvalidArgument), which every cmdlet
    and script of the lab raises alike for a parameter it cannot bind."""
    return ErrorSpec(
        message=message,
        exception_type="System.Management.Automation.ParameterBindingException",
        category=5,  # psrpcore.types.ErrorCategory.InvalidArgument
        fully_qualified_error_id=fqid,
    )


@dataclass
class PipelineResult:
    output: list[Any] = field(default_factory=list)
    errors: list[ErrorSpec] = field(default_factory=list)
    #: When set, the server reports it through the host's SetShouldExit call
    #: (what powershell.exe does for ``exit N``) before completing the pipeline.
    should_exit: int | None = None
    #: A terminating error: the pipeline ends in the Failed state with this reason.
    failure: ErrorSpec | None = None
    #: A script still running (e.g. act.ps1 waiting for log-offs to complete): the server
    #: calls ``resume`` ``resume_after`` seconds later, without blocking anything else, and
    #: writes its result instead; the output above stays unwritten.
    resume: Callable[[], PipelineResult] | None = None
    resume_after: float = 0.0

    def finish(self) -> PipelineResult:
        """The final result, waiting in this thread (in-process tests; the server does not)."""
        import time

        result = self
        while result.resume is not None:
            time.sleep(result.resume_after)
            result = result.resume()
        return result


class HostModel(Protocol):
    name: str

    def run_pipeline(self, commands: list[CommandSpec], *, operator: str) -> PipelineResult: ...


# -- what the host model's command interpreters share (interpreter.py, scripts_twin.py) --
@dataclass
class NativeResult:
    """What a native command printed, in order, and its exit code."""

    lines: list[tuple[str, str]] = field(default_factory=list)  # ("out"|"err", text)
    exit_code: int = 0

    def out(self, text: str) -> None:
        self.lines.append(("out", text))

    def err(self, text: str) -> None:
        self.lines.append(("err", text))

    @property
    def stdout(self) -> list[str]:
        return [t for s, t in self.lines if s == "out"]

    @property
    def stderr(self) -> list[str]:
        return [t for s, t in self.lines if s == "err"]


class CmdletError(Exception):
    """A cmdlet's error record; the caller decides whether it terminates (-ErrorAction)."""

    def __init__(self, spec: ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec
