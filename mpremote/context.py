"""What every run shares, whoever starts it (the CLI, ``policy run``, a Python caller).

``MPREMOTE_DEBUG`` is read here and only here: set and not ``""`` or ``"0"`` means on.
"""

from __future__ import annotations

import logging
import os
import sys

#: ``MPREMOTE_DEBUG=1``: DEBUG logs of mpremote, pypsrp and requests on stderr, and
#: tracebacks instead of the one-line "internal error".
DEBUG_ENV = "MPREMOTE_DEBUG"


def debug_enabled() -> bool:
    """True when ``MPREMOTE_DEBUG`` is set to anything but ``""`` or ``"0"``."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def debug_log_from_env() -> None:
    """Turn on a DEBUG trace on stderr when :func:`debug_enabled`.

    An environment variable rather than ``--verbose`` so every command (and a scheduled
    policy run) gets it without a new option. Call it after ``install_redaction``: the
    redaction hook sits in the log record factory, so every record of every logger
    (pypsrp's included) is scrubbed of known passwords before any handler sees it.
    """
    if not debug_enabled():
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
