"""Every real capture in tests/unit/data/captures parses to exactly the sessions its manifest lists.

The captures are real quser/qwinsta output copied from public sources (the manifest names
each one's source and how it was read); the expected sessions were written from reading the
captures, not from running the parser.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mpremote.quser import parse_quser, parse_qwinsta, parse_qwinsta_rows
from mpremote.session import Session

CAPTURES = Path(__file__).parent / "data" / "captures"
MANIFEST = json.loads((CAPTURES / "manifest.json").read_text(encoding="utf-8"))["captures"]


def capture_text(entry: dict[str, Any]) -> str:
    return (CAPTURES / entry["file"]).read_bytes().decode("utf-8")


def as_dict(s: Session, command: str) -> dict[str, Any]:
    if command == "qwinsta":
        return {
            "session_name": s.session_name,
            "username": s.username,
            "id": s.id,
            "state": s.state,
            "current": s.current,
        }
    return {
        "username": s.username,
        "session_name": s.session_name,
        "id": s.id,
        "state": s.state,
        "idle_seconds": s.idle_seconds,
        "logon_text": s.logon_text,
        "current": s.current,
    }


def expected(entry: dict[str, Any]) -> list[dict[str, Any]]:
    keep = ("session_name", "username", "id", "state", "current")
    if entry["command"] == "quser":
        keep += ("idle_seconds", "logon_text")
    return [{k: s[k] for k in keep} for s in entry["sessions"]]


def test_every_capture_file_is_in_the_manifest_with_a_source() -> None:
    files = {p.name for p in CAPTURES.glob("*.txt")}
    assert files == {e["file"] for e in MANIFEST}
    for e in MANIFEST:
        assert e["source"] and e["language"] and e["command"] in ("quser", "qwinsta")


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_capture_parses_exactly(entry: dict[str, Any]) -> None:
    text = capture_text(entry)
    if entry.get("fragment"):
        rows = [(no, line) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
        got = parse_qwinsta_rows(rows)
    elif entry["command"] == "quser":
        got = parse_quser(text)
    else:
        got = parse_qwinsta(text)
    assert [as_dict(s, entry["command"]) for s in got] == expected(entry)


def test_captures_cover_the_languages_and_damage_the_issue_names() -> None:
    languages = {e["language"].split("-")[0] for e in MANIFEST}
    assert {"en", "es", "fr", "de", "it"} <= languages
    assert {e["lab"]["read_as"] for e in MANIFEST if e.get("lab")} >= {"oem", "ansi", "utf8"}
