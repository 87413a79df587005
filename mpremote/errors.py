"""The one exception tree of mpremote.

::

    MpremoteError                    root; never carries a secret in its message
    ├── UsageError                   bad option / bad file: exit 2, nothing done
    │   └── InputFileError           names file, line and field
    └── HostError                    one host's job failed; becomes that host's result row
        ├── ConnectError   kind=connect   refused, DNS, reset before the command was sent
        ├── TlsError       kind=tls       certificate validation / handshake
        ├── AuthError      kind=auth      401, bad credentials, no Kerberos ticket
        ├── DeadlineError  kind=timeout   per-host wall-clock deadline or read timeout
        ├── RemoteError    kind=remote    the host answered with a fault or a failed pipeline
        ├── ParseError     kind=parse     quser printed something that is not quser output
        └── DeniedError    kind=denied    the host refused the action (Error [5])

Lower layers' exceptions (requests, pypsrp, spnego) are translated to these in exactly one
place, :func:`mpremote.remote.errors.translate`. Exceptions become exit codes in exactly one
place too, :func:`exit_for` (the CLI's decorator and ``policy run`` both use it).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Stable exit codes (DESIGN.md section 3). 4 and 8 are bits: 12 means both."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    HOST_FAILED = 4
    HOST_UNREACHABLE = 8
    BOTH = 12
    INTERRUPTED = 130


class MpremoteError(Exception):
    """Root of every error mpremote raises on purpose."""


class UsageError(MpremoteError):
    """The command line or an input file is wrong; nothing was done (exit code 2)."""


class InputFileError(UsageError):
    """An input file is invalid. The message names the file, the line and the field."""

    def __init__(self, path: str, line: int | None, field: str | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {problem}")


class HostError(MpremoteError):
    """A failure confined to one host. ``kind`` is the JSON ``error.kind``."""

    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: A longer explanation of the cause (``mpremote check`` shows it), e.g. which
        #: Kerberos step failed and what to do about it. Never holds a secret.
        self.hint = hint


class ConnectError(HostError):
    kind = "connect"


class TlsError(HostError):
    kind = "tls"


class AuthError(HostError):
    kind = "auth"


class DeadlineError(HostError):
    kind = "timeout"


class RemoteError(HostError):
    kind = "remote"


class ParseError(HostError):
    kind = "parse"


class DeniedError(HostError):
    kind = "denied"


#: WSMan fault code "the operation timed out" (ERROR_WSMAN_OPERATION_TIMEDOUT, 0x80338029):
#: the lab sends it when a Receive has nothing within the OperationTimeout; the client reads
#: it as "poll again" or, from a real host, as a timeout. Named once, here.
WSMAN_OPERATION_TIMEOUT = 0x80338029

#: Error kinds that mean "we never got a usable conversation with the host" (exit bit 8).
UNREACHABLE_KINDS = frozenset({"connect", "tls", "auth", "timeout"})


def exit_for(exc: BaseException) -> tuple[ExitCode, str]:
    """The one mapping from an exception that ends a command to ``(ExitCode, message)``.

    ==========================  ====  ==================================================
    exception                   exit  message
    ==========================  ====  ==================================================
    ``KeyboardInterrupt``       130   ``interrupted``
    ``UsageError`` (and         2     ``error: <the message>`` (file:line: field 'x': ...)
    ``InputFileError``)
    other ``MpremoteError``     2     ``error: <the message>``: nothing was done (a busy
                                      lock, an audit log that cannot be written)
    anything else               1     ``internal error: <type>: <text>``: a bug
    ==========================  ====  ==================================================

    The message is plain text; whoever prints it redacts known secrets first.
    """
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED, "interrupted"
    if isinstance(exc, MpremoteError):
        return ExitCode.USAGE, f"error: {exc}"
    return ExitCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"
