"""The PowerShell scripts mpremote sends, loaded once from package data.

Scripts are fixed text; every value (user names, ids, message text) travels as a PSRP
parameter, serialised as CLIXML by pypsrp, so nothing a user typed is ever parsed as code.
"""

from __future__ import annotations

import functools
from importlib import resources

QUERY = "query.ps1"
ACT = "act.ps1"


@functools.cache
def script_text(name: str) -> str:
    """The script's text with LF line endings (cached: read once per process)."""
    raw = resources.files("mpremote.remote").joinpath("scripts", name).read_text(encoding="utf-8")
    return raw.replace("\r\n", "\n")
