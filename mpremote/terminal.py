"""Is this stream a terminal? The one answer the CLI and the credential prompt share.

Prompts, confirmations, colour and progress bars depend on it (httpie's and pyinfra's
manners): on a pipe mpremote never asks and never draws.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any


def is_tty(stream: IO[Any] | None) -> bool:
    """True when ``stream`` is an open terminal; False for pipes, files, closed or fake streams."""
    try:
        return stream is not None and os.isatty(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return False


def stdin_is_tty() -> bool:
    return is_tty(sys.stdin)


def stderr_is_tty() -> bool:
    return is_tty(sys.stderr)
