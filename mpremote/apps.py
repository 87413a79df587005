"""Which open applications put unsaved work at risk (``sessions --apps``, ``--spare-busy``).

A host reports each session's applications by image name (``WINWORD.EXE``): MultiPoint
through ``Get-WmsApp``, plain RDS through the processes of the session. This module decides
which of them to flag, from a list of glob patterns matched case-insensitively against the
name with or without its extension, and which processes are the desktop's own (never shown).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

#: Applications that commonly hold unsaved work: office suites, editors, drawing tools, and
#: browsers (half-filled forms, web mail). The default of ``--busy-apps``.
DEFAULT_BUSY_APPS: tuple[str, ...] = (
    # Microsoft Office
    "WINWORD", "EXCEL", "POWERPNT", "MSACCESS", "ONENOTE", "OUTLOOK", "MSPUB", "VISIO", "WINPROJ",
    # LibreOffice / OpenOffice (soffice.bin is the document process)
    "soffice", "soffice.bin", "swriter", "scalc", "simpress",
    # editors and IDEs
    "notepad", "notepad++", "wordpad", "write", "Code", "devenv", "sublime_text", "atom", "idea64", "pycharm64",
    "eclipse", "RStudio", "Rgui", "scratch*", "Arduino*", "thonny",
    # drawing, audio, video
    "mspaint", "PaintDotNet", "gimp*", "inkscape", "Photoshop", "Illustrator", "audacity", "blender", "krita",
    # browsers (forms, web mail, online editors)
    "chrome", "msedge", "firefox", "iexplore", "opera", "brave",
)  # fmt: skip

#: Processes every interactive session runs that are not the user's applications; they are
#: left out of the plain-RDS process listing (passed to the host as a parameter).
DESKTOP_PROCESSES: tuple[str, ...] = (
    "explorer", "sihost", "taskhostw", "ctfmon", "rdpclip", "rdpinput", "RuntimeBroker", "dwm", "csrss",
    "winlogon", "fontdrvhost", "LogonUI", "ShellExperienceHost", "StartMenuExperienceHost", "SearchUI",
    "SearchApp", "SearchHost", "TextInputHost", "dllhost", "conhost", "smartscreen", "SecurityHealthSystray",
    "ApplicationFrameHost", "SystemSettingsBroker", "LockApp", "backgroundTaskHost", "UserOOBEBroker",
    "svchost", "WmsShell", "WmsSessionAgent", "TabTip", "ctfmon", "OneDrive", "Widgets", "WidgetService",
    "PhoneExperienceHost", "msedgewebview2", "taskmgr", "mstsc", "userinit", "audiodg",
)  # fmt: skip


def stem(name: str) -> str:
    """``WINWORD.EXE`` -> ``WINWORD`` (only ``.exe`` is dropped: ``soffice.bin`` stays)."""
    return name[:-4] if name.lower().endswith(".exe") else name


def is_flagged(name: str, patterns: Iterable[str]) -> bool:
    """Whether image ``name`` matches one of ``patterns`` (globs, case-insensitive)."""
    candidates = {name.casefold(), stem(name).casefold()}
    return any(fnmatch.fnmatchcase(c, p.casefold()) for p in patterns for c in candidates)


def parse_busy_apps(text: str | None, default: Sequence[str] = DEFAULT_BUSY_APPS) -> tuple[str, ...]:
    """``--busy-apps``: a comma list that replaces the default, or ``+A,+B`` to add to it.

    ``""`` flags nothing. Raises ValueError on an empty item or a path.
    """
    if text is None:
        return tuple(default)
    items = [i.strip() for i in text.split(",")] if text.strip() else []
    if any(not i or i == "+" for i in items):
        raise ValueError("--busy-apps: empty name in the list")
    if any("\\" in i or "/" in i for i in items):
        raise ValueError("--busy-apps: give image names (WINWORD, chrome.exe), not paths")
    adds = [i[1:] for i in items if i.startswith("+")]
    plain = [i for i in items if not i.startswith("+")]
    if adds and plain:
        raise ValueError("--busy-apps: either replace the list (A,B) or add to it (+A,+B), not both")
    return (*default, *adds) if adds else tuple(plain)
