"""The PowerShell scripts mpremote sends, composed once from package data.

Scripts are fixed text; every value (user names, ids, message text) travels as a PSRP
parameter, serialised as CLIXML by pypsrp, so nothing a user typed is ever parsed as code.

What both scripts need (``Invoke-Quser``, ``Write-Result``) lives once, in fragment files
(``scripts/quser.ps1``, ``scripts/result.ps1``); a script names a fragment on a line of its
own, ``# mpremote:include quser.ps1``, and :func:`compose` puts the fragment's text in place
of that line. The marker is a comment, so each file on its own is still valid PowerShell.
The lab reads the scripts through the same :func:`compose`, so it recognises the text sent.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

QUERY = "query.ps1"
ACT = "act.ps1"
#: The scripts sent to hosts (fragments are not sent on their own).
SCRIPTS = (QUERY, ACT)

_INCLUDE = re.compile(r"^# mpremote:include ([A-Za-z0-9_-]+\.ps1)[ \t]*$", re.MULTILINE)


def _read(name: str) -> str:
    raw = resources.files("mpremote.remote").joinpath("scripts", name).read_text(encoding="utf-8")
    return raw.lstrip("\ufeff").replace("\r\n", "\n")


def compose(name: str) -> str:
    """The script's text with every include line replaced by its fragment (read each time).

    A fragment may not include another one: a marker left after composing is an error, as is
    a fragment that does not exist (both are packaging bugs, found by the tests)."""
    text = _read(name)

    def fragment(m: re.Match[str]) -> str:
        return _read(m.group(1)).rstrip("\n")

    composed = _INCLUDE.sub(fragment, text)
    if _INCLUDE.search(composed):
        raise ValueError(f"{name}: a fragment includes another fragment")
    return composed


def include_names(name: str) -> list[str]:
    """The fragments ``name`` includes, in order (read each time, as :func:`compose` does)."""
    return _INCLUDE.findall(_read(name))


@functools.cache
def script_text(name: str) -> str:
    """The composed script's text with LF line endings (cached: composed once per process)."""
    return compose(name)
