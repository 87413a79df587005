"""The scripts' JSON answers through the real CLI: hosts without ConvertTo-Json still work,
and a log-off is counted gone only on quser's own "No User exists for *"."""

from __future__ import annotations

from typing import Any

from .conftest import journal_events, user_sessions


def _listed(row: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted((s["username"], s["id"]) for s in row["sessions"])


def test_a_host_without_convertto_json_is_read_and_acted_on_like_the_others(start_lab, cli) -> None:
    """``no-json``: ConvertTo-Json is not available (a constrained endpoint); the scripts
    answer with objects and the client reads them as it reads the JSON."""
    lab = start_lab(hosts=2, sessions_per_host=4, seed=5, faults=["mp-lab-002=no-json"])
    res = cli("sessions", lab.targets_path, "--format", "json", "--apps")
    assert res.exit_code == 0, res.stderr
    rows = {r["host"]: r for r in res.json()}
    for host in ("mp-lab-001", "mp-lab-002"):
        assert _listed(rows[host]) == sorted((s.username.lower(), s.id) for s in user_sessions(lab, host))
        assert rows[host]["sessions"] and all("apps" in s for s in rows[host]["sessions"])
    res = cli("logoff", lab.targets_path, "--all", "--yes", "--format", "json")
    assert res.exit_code == 0, res.stderr
    for row in res.json():
        done = sorted(a["id"] for a in row["actions"] if a["outcome"] == "done")
        logged = sorted(e["id"] for e in journal_events(lab, "logoff") if e["host"] == row["host"])
        assert done == logged and done, row


def test_quser_failing_otherwise_after_logoff_leaves_the_session_unconfirmed(start_lab, cli) -> None:
    """After the log-off quser fails with an RPC error, not "No User exists": the session is
    reported pending and the host failed (kind unconfirmed), never done."""
    lab = start_lab(hosts=2, sessions_per_host=3, seed=2, faults=["mp-lab-002=quser-fails-after-logoff"])
    target = sorted(s.id for s in user_sessions(lab, "mp-lab-002") if not s.is_console)[0]
    res = cli("logoff", lab.targets_path, "--session", f"mp-lab-002:{target}", "--yes", "--format", "json",
              "--confirm-wait", "1s")  # fmt: skip
    assert res.exit_code == 4, res.stderr
    (row,) = [r for r in res.json() if r["host"] == "mp-lab-002"]
    assert row["status"] == "failed" and row["error"]["kind"] == "unconfirmed"
    (action,) = [a for a in row["actions"] if a["id"] == target]
    assert action["outcome"] == "pending" and "not verified: quser failed" in action["detail"]
    assert [e["id"] for e in journal_events(lab, "logoff") if e["host"] == "mp-lab-002"] == [target]  # it was sent


def test_logging_off_the_last_session_is_verified_by_no_user_exists(start_lab, cli) -> None:
    """On an RDS host (no MultiPoint console user) the last log-off leaves quser with "No User
    exists for *": English, a sourced text, so the log-offs are done (verified). A German
    host's text has no source yet (docs/lab.md): its log-offs stay unconfirmed, not guessed."""
    en = start_lab(hosts=1, sessions_per_host=2, seed=3, multipoint=False)
    res = cli("logoff", en.targets_path, "--all", "--yes", "--format", "json")
    assert res.exit_code == 0, res.stderr
    (row,) = res.json()
    assert [s for s in user_sessions(en, "mp-lab-001") if s.username] == []
    assert {a["outcome"] for a in row["actions"]} == {"done"}
    de = start_lab(hosts=1, sessions_per_host=2, seed=3, multipoint=False, locale="de-DE")
    res = cli("logoff", de.targets_path, "--all", "--yes", "--format", "json", "--confirm-wait", "1s")
    assert res.exit_code == 4, res.stderr
    (row,) = res.json()
    assert [s for s in user_sessions(de, "mp-lab-001") if s.username] == []  # gone, in truth
    assert row["error"]["kind"] == "unconfirmed" and {a["outcome"] for a in row["actions"]} == {"pending"}


LAB = """\
defaults: {multipoint: true, domain: LAB}
hosts:
  - name: json-host
    sessions:
      - {user: "o'neil", id: 2, session: "rdp-tcp#1", idle: 0, logon: "2025-04-28 07:55"}
      - {user: "b&b", id: 3, state: disconnected, idle: 5m, logon: "2025-04-28 08:01"}
  - name: objects-host
    faults: [no-json]
    sessions:
      - {user: "o'neil", id: 2, session: "rdp-tcp#1", idle: 0, logon: "2025-04-28 07:55"}
      - {user: "b&b", id: 3, state: disconnected, idle: 5m, logon: "2025-04-28 08:01"}
"""


def test_a_lab_file_host_without_convertto_json_and_names_5_1_escapes(tmp_path, start_lab, cli) -> None:
    """A lab file can say a host lacks ConvertTo-Json; names with ' and & (which 5.1 writes
    as \\u0027 and \\u0026) come out the same from the JSON host and the objects host."""
    path = tmp_path / "lab-spec.yaml"
    path.write_text(LAB, encoding="utf-8")
    lab = start_lab(lab_file=path)
    res = cli("sessions", lab.targets_path, "--format", "json")
    assert res.exit_code == 0, res.stderr
    rows = {r["host"]: r for r in res.json()}
    expected = [("b&b", 3), ("o'neil", 2)]
    assert [x for x in _listed(rows["json-host"]) if x[1] in (2, 3)] == expected
    assert [x for x in _listed(rows["objects-host"]) if x[1] in (2, 3)] == expected
    res = cli("logoff", lab.targets_path, "--user", "o'neil", "--yes", "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert sorted((e["host"], e["username"]) for e in journal_events(lab, "logoff")) == [
        ("json-host", "o'neil"),
        ("objects-host", "o'neil"),
    ]
