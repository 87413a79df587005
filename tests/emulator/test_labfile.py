"""Seeded lab generation and exact lab files (validation errors name file:line:field)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpremote.errors import InputFileError
from mpremote.lab.faults import Fault
from mpremote.lab.labfile import LISTENER_ID, generate_lab, load_lab_file, parse_idle

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lab-exact.yaml"


def test_generation_is_deterministic_and_seed_dependent() -> None:
    assert generate_lab(4, 10, seed=5) == generate_lab(4, 10, seed=5)
    assert generate_lab(4, 10, seed=5) != generate_lab(4, 10, seed=6)


def test_generated_hosts_are_realistic() -> None:
    lab = generate_lab(5, 12, seed=1, locale="de-DE")
    assert [h.name for h in lab.hosts] == [f"mp-lab-{i:03d}" for i in range(1, 6)]
    for host in lab.hosts:
        assert host.locale == "de-DE" and host.multipoint
        by_id = {s.id: s for s in host.sessions}
        assert len(by_id) == len(host.sessions)
        assert by_id[0].is_services and by_id[1].is_console and by_id[1].is_wmsshell
        assert by_id[LISTENER_ID].is_listener and by_id[LISTENER_ID].username is None
        users = [s for s in host.sessions if s.username and not s.is_console]
        assert len(users) == 12 and len({u.username for u in users}) == 12
        assert any(" " in u.username for u in users) and any(not u.username.isascii() for u in users)
        assert any(u.id >= 100 for u in users)
        for u in users:
            assert (u.session_name is None) == (u.state == "disconnected")
    every = [s for h in lab.hosts for s in h.sessions if s.username and not s.is_console]
    assert {s.state for s in every} == {"active", "disconnected"}
    assert any(s.idle_seconds is None for s in every)


def test_non_multipoint_hosts_have_no_wmsshell() -> None:
    lab = generate_lab(3, 3, seed=2, multipoint=False)
    assert not any(s.is_wmsshell for h in lab.hosts for s in h.sessions)


def test_unknown_locale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown locale"):
        generate_lab(1, 1, seed=0, locale="pt-BR")


def test_example_lab_file_loads() -> None:
    lab = load_lab_file(EXAMPLE)
    first = lab.host("mp-lab-001")
    assert [s.username for s in first.sessions if s.id >= 2 and not s.is_listener] == [
        "teacher",
        "maría josé",
        "van der Berg",
        "Zoë",
    ]
    zoe = next(s for s in first.sessions if s.username == "Zoë")
    assert zoe.id == 117 and zoe.idle_seconds is None
    es = lab.host("mp-lab-002")
    assert es.locale == "es-ES" and not es.multipoint and es.faults == (Fault("access-denied"),)
    assert any(s.username == "Administrador" and s.is_console for s in es.sessions)
    assert lab.host("mp-lab-004").date_format == "dd-MMM-yy"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90),
        ("45s", 45),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1:02", 3720),
        ("2+03:04", (2 * 1440 + 184) * 60),
        ("unknown", None),
        (None, None),
    ],
)
def test_parse_idle(value: object, seconds: int | None) -> None:
    assert parse_idle(value) == seconds


BAD_FILES = [
    ("hosts: []\n", 1, "hosts", "non-empty"),
    ("hosts:\n  - name: a\n    colour: red\n", 3, "hosts[0].colour", "unknown key"),
    ("hosts:\n  - locale: en-US\n", 2, "hosts[0]", "needs a 'name'"),
    ("hosts:\n  - name: a\n    locale: pt-BR\n", 3, "hosts[0].locale", "unknown locale"),
    ("hosts:\n  - name: a\n    faults: [explode]\n", 3, "hosts[0].faults", "unknown fault kind"),
    ("hosts:\n  - name: a\n  - name: a\n", 3, "hosts[1].name", "duplicate host name"),
    (
        "hosts:\n  - name: a\n    sessions:\n      - user: ana\n        id: 1\n",
        5,
        "hosts[0].sessions[0].id",
        "ids run from 2",
    ),
    (
        "hosts:\n  - name: a\n    sessions:\n      - {user: ana, id: 2, session: rdp-tcp#1}\n"
        "      - {user: bob, id: 2, session: rdp-tcp#2}\n",
        5,
        "hosts[0].sessions[1].id",
        "duplicate session id",
    ),
    (
        "hosts:\n  - name: a\n    sessions:\n      - {user: ana, id: 2, state: disconnected, session: x}\n",
        4,
        "hosts[0].sessions[0].session",
        "no session name",
    ),
    (
        "hosts:\n  - name: a\n    sessions:\n      - {user: ana, id: 2, state: active}\n",
        4,
        "hosts[0].sessions[0].state",
        "needs a 'session'",
    ),
    (
        "hosts:\n  - name: a\n    sessions:\n      - {user: ana, id: 2,\n         idle: soon}\n",
        5,
        "hosts[0].sessions[0].idle",
        "not a duration",
    ),
    ("hosts:\n  - name: a\n    sessions:\n      - {user: ana, id: two}\n", 4, "hosts[0].sessions[0].id", "int"),
    ("hosts:\n  - name: a\n    sessions:\n      - {id: 3}\n", 4, "hosts[0].sessions[0]", "needs a 'user'"),
    ("hosts:\n  - name: a\n    multipoint: maybe\n", 3, "hosts[0].multipoint", "bool"),
    ("hosts:\n  - name: a\n    name: b\n", 3, "name", "duplicate key"),
    ("hosts: [\n", 2, None, "malformed YAML"),
]


@pytest.mark.parametrize(("text", "line", "field", "problem"), BAD_FILES)
def test_lab_file_errors_name_line_and_field(
    tmp_path: Path, text: str, line: int, field: str | None, problem: str
) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        load_lab_file(path)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), line, field)
    assert problem in err.problem and str(err).startswith(f"{path}:{line}:")


def test_missing_lab_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        load_lab_file(tmp_path / "nope.yaml")
