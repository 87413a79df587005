"""The lab prints, byte for byte, what the real hosts of the capture corpus printed.

For every capture in tests/unit/data/captures with a ``lab`` entry, the sessions its manifest
lists are given to the lab's renderer (the host's locale and date format), the text is read
the way the capture was read (correctly, as cp1252 like a remoting session, or as UTF-8),
and the result must equal the capture file exactly.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mpremote.lab.labfile import SessionSpec
from mpremote.lab.locales import get_locale, read_native, render_quser, render_qwinsta

CAPTURES = Path(__file__).parents[1] / "unit" / "data" / "captures"
MANIFEST = json.loads((CAPTURES / "manifest.json").read_text(encoding="utf-8"))["captures"]
REPRODUCED = [e for e in MANIFEST if e.get("lab")]

LOGON_PARSE = {
    "en-US": "%m/%d/%Y %I:%M %p",
    "de-DE": "%d.%m.%Y %H:%M",
    "fr-FR": "%d/%m/%Y %H:%M",
    "it-IT": "%d/%m/%Y %H:%M",
    "es-ES": "%d/%m/%Y %H:%M",
}
STATES = {"active": "active", "disconnected": "disconnected", "listening": "listen", "connected": "connected"}


def spec_of(s: dict[str, Any], date_format: str | None) -> SessionSpec:
    logon = datetime.strptime(s["logon_text"], LOGON_PARSE[date_format]) if s.get("logon_text") else None
    return SessionSpec(
        username=s["username"] or None,
        id=s["id"],
        state=STATES[s["state"]],
        session_name=s["session_name"],
        idle_seconds=s.get("idle_seconds", 0),
        logon=logon,
        is_console=s["session_name"] == "console",
        is_services=s["id"] == 0,
        is_listener=s["state"] == "listening",
    )


def lab_text(entry: dict[str, Any]) -> str:
    lab = entry["lab"]
    loc = get_locale(lab["locale"])
    specs = [spec_of(s, lab.get("date_format")) for s in entry["sessions"]]
    current = next((s["id"] for s in entry["sessions"] if s["current"]), None)
    if entry["command"] == "quser":
        lines = render_quser(specs, loc, date_format=lab["date_format"], current_id=current)
    else:
        lines = render_qwinsta(
            specs, loc, current_id=current, type_column=lab.get("qwinsta_type", False), header=lab.get("header", True)
        )
    read_as = lab["read_as"]
    lines = read_native(lines, loc, "ansi" if read_as == "ansi-c1-lost" else read_as)
    if read_as == "ansi-c1-lost":  # a copy into Markdown dropped the C1 control characters
        lines = ["".join(c for c in line if not 0x80 <= ord(c) <= 0x9F) for line in lines]
    return "".join(line + "\r\n" for line in lines)


@pytest.mark.parametrize("entry", REPRODUCED, ids=[e["file"] for e in REPRODUCED])
def test_lab_reproduces_the_capture_byte_for_byte(entry: dict[str, Any]) -> None:
    real = (CAPTURES / entry["file"]).read_bytes().decode("utf-8")
    assert lab_text(entry) == real


def test_every_capture_is_reproduced() -> None:
    assert len(REPRODUCED) == len(MANIFEST)
