"""Spanish, French and German hosts with non-ASCII user names, driven through the real CLI.

The lab prints quser as those hosts do (real header lines, names lower-cased, OEM code page)
and reads native output as a remoting session does; the query script reads quser in the OEM
code page. ``sessions`` must show the names as the host meant them, and ``logoff --user``
must log off exactly the named sessions, never their ASCII look-alikes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mpremote.lab.server import Lab
from tests.e2e.cli.conftest import CliResult, journal_events

LAB = """\
defaults: {{multipoint: {multipoint}, domain: LAB}}
hosts:
  - name: aula-es
    locale: es-ES
    sessions:
      - {{user: "María José", id: 2, session: "rdp-tcp#1", idle: 0, logon: "2025-04-28 07:55"}}
      - {{user: josé, id: 3, state: disconnected, idle: 5m, logon: "2025-04-28 08:01"}}
      - {{user: jose, id: 4, session: "rdp-tcp#3", idle: 1h, logon: "2025-04-28 08:03"}}
      - {{user: Ñandú, id: 105, session: "rdp-tcp#4", idle: 0, logon: "2025-04-28 08:04"}}
  - name: salle-fr
    locale: fr-FR
    sessions:
      - {{user: hélène, id: 2, session: "rdp-tcp#1", idle: 0, logon: "2025-04-28 07:55"}}
      - {{user: helene, id: 3, state: disconnected, idle: 2m, logon: "2025-04-28 08:01"}}
      - {{user: François, id: 4, session: "rdp-tcp#2", idle: 3m, logon: "2025-04-28 08:02"}}
  - name: raum-de
    locale: de-DE
    sessions:
      - {{user: Jürgen, id: 2, session: "rdp-tcp#1", idle: 0, logon: "2025-04-28 07:55"}}
      - {{user: jurgen, id: 3, session: "rdp-tcp#2", idle: 0, logon: "2025-04-28 07:56"}}
      - {{user: weiß, id: 4, state: disconnected, idle: 1h, logon: "2025-04-28 08:00"}}
"""

#: What quser prints (lower-cased), per host: {id: name}.
EXPECTED = {
    "aula-es": {2: "maría josé", 3: "josé", 4: "jose", 105: "ñandú"},
    "salle-fr": {2: "hélène", 3: "helene", 4: "françois"},
    "raum-de": {2: "jürgen", 3: "jurgen", 4: "weiß"},
}


@pytest.fixture(params=[False, True], ids=["rds", "multipoint"])
def lab(request: pytest.FixtureRequest, tmp_path: Path, start_lab: Callable[..., Lab]) -> Lab:
    path = tmp_path / "lab-spec.yaml"
    path.write_text(LAB.format(multipoint=str(request.param).lower()), encoding="utf-8")
    return start_lab(lab_file=path)


def test_sessions_show_non_ascii_names_as_the_host_meant_them(lab: Lab, cli) -> None:
    res: CliResult = cli("sessions", lab.targets_path, "--format", "json")
    assert res.exit_code == 0, res.stderr
    got = {r["host"]: {s["id"]: s["username"] for s in r["sessions"]} for r in res.json()}
    assert {h: {i: n for i, n in m.items() if n != "wmsshell"} for h, m in got.items()} == EXPECTED
    table = cli("sessions", lab.targets_path, "--no-progress")
    for names in EXPECTED.values():
        for name in names.values():
            assert name in table.stdout


def test_logoff_by_non_ascii_name_logs_off_exactly_that_session(lab: Lab, cli) -> None:
    users = ["josé", "HÉLÈNE", "Jürgen", "WEIß", "ñandú"]  # any case, as --user promises
    args = [a for u in users for a in ("--user", u)]
    res: CliResult = cli("logoff", lab.targets_path, *args, "--yes", "--format", "json")
    assert res.exit_code == 0, res.stderr
    done = {(r["host"], a["id"], a["username"]) for r in res.json() for a in r["actions"] if a["outcome"] == "done"}
    want = {("aula-es", 3, "josé"), ("aula-es", 105, "ñandú"), ("salle-fr", 2, "hélène"), ("raum-de", 2, "jürgen"),
            ("raum-de", 4, "weiß")}  # fmt: skip
    assert done == want
    # The lab's journal (the host's own spelling) shows the same sessions and nothing else:
    # jose, helene and jurgen, their ASCII look-alikes, are untouched.
    logged_off = {(e["host"], e["id"], e["username"].lower()) for e in journal_events(lab, "logoff")}
    assert logged_off == want


def test_logoff_error_text_from_a_french_host_reads_as_windows_wrote_it(start_lab, cli) -> None:
    # act.ps1 runs '& logoff': its OEM message reaches PowerShell read as cp1252
    # ("AccŠs refus‚"); the client repairs it with the code page the host reported.
    lab = start_lab(hosts=1, sessions_per_host=2, locale="fr-FR", multipoint=False, faults=["mp-lab-001=access-denied"])
    res: CliResult = cli("logoff", lab.targets_path, "--all", "--yes", "--format", "json")
    assert res.exit_code == 4, res.stderr
    details = [a["detail"] for r in res.json() for a in r["actions"] if a["outcome"] == "failed"]
    assert details and all(d.endswith("Erreur [5]:Accès refusé.") for d in details), details
