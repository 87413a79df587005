"""`mpremote watch` in a real terminal (tmux), the cases the big tmux test does not cover:
an 80-column terminal with very long user names, Ctrl-C inside the view, and a lock chosen
from the view.

Every wait polls the pane until a generous deadline; nothing sleeps a fixed time. The lab is
an exact lab file, so the sessions (ids, names) are known and nothing churns.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mpremote.lab.server import Lab
from tests.support.helpers import SECRET, journal, read_jsonl

from .test_watch_tmux import Pane, hosts_shown, open_shells

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

#: A NetBIOS-style name is at most 15 letters; a lab may use a longer one, and quser cuts
#: user names at 20: ``DOMAIN\user`` here is 51 cells, too wide for every column at 80.
DOMAIN = "CONTOSO-EDUCATION-NORTH-CAMPUS"
LONG_USER = "maximiliano.fernande"  # what quser prints of maximiliano.fernandez-de-la-cruz
LAB = f"""\
defaults: {{multipoint: true, domain: {DOMAIN}}}
hosts:
  - name: mp-lab-001
    sessions:
      - {{user: maximiliano.fernandez-de-la-cruz, id: 2, session: "rdp-tcp#1", idle: 0}}
      - {{user: bo, id: 3, session: "rdp-tcp#2", idle: 60}}
  - name: mp-lab-002
    sessions:
      - {{user: bo, id: 2, session: "rdp-tcp#1", idle: 300}}
      - {{user: carla, id: 3, session: "rdp-tcp#2", idle: 0}}
  - name: mp-lab-003
    sessions:
      - {{user: dee, id: 2, session: "rdp-tcp#1", idle: 0}}
"""
HOSTS = {"mp-lab-001", "mp-lab-002", "mp-lab-003"}


@pytest.fixture
def lab(start_lab: Callable[..., Lab], tmp_path: Path) -> Lab:
    spec = tmp_path / "lab-spec.yaml"
    spec.write_text(LAB, encoding="utf-8")
    return start_lab(lab_file=spec)


@pytest.fixture
def narrow() -> Iterator[Pane]:
    p = Pane(width=80, height=24)
    yield p
    p.kill()


def watch(pane: Pane, lab: Lab, *extra: str, after: str = "") -> None:
    cmd = [sys.executable, "-m", "mpremote", "watch", str(lab.targets_path), *extra]
    env = {"MPREMOTE_PASSWORD": SECRET, "LANG": "C.UTF-8", "TERM": "xterm-256color"}
    pane.start(" ".join(shlex.quote(c) for c in cmd), env, after=after)


def every_host_ok(screen: str) -> bool:
    return all(re.search(rf"^[> ] [+-] {h}\s+ok\s", screen, re.M) for h in HOSTS)


def test_long_user_names_fit_80_columns_whole(lab: Lab, narrow: Pane) -> None:
    watch(narrow, lab, "--interval", "5s")
    narrow.wait("every host answering", every_host_ok)
    narrow.send("e")  # expand every host into its sessions
    screen = narrow.wait("the sessions", lambda s: LONG_USER in s and "carla" in s)
    lines = screen.rstrip().splitlines()
    # Nothing wrapped: the header, the status line and the key help keep their own rows.
    assert lines[0].startswith("mpremote watch  3 hosts: 3 ok")
    assert lines[1].startswith("filter: -")
    assert lines[-1].startswith("q quit")
    assert hosts_shown(screen) == HOSTS
    # The 51-cell name is whole on its row; the columns that gave way are the others.
    row = next(ln for ln in lines if LONG_USER in ln)
    assert re.match(rf"^\s+\[ \]\s+2  {re.escape(DOMAIN)}\\{LONG_USER}\s*$", row), row
    for user in ("bo", "carla", "dee"):
        assert any(re.match(rf"^\s+\[ \]\s+\d+  {DOMAIN}\\{user}\s*$", ln) for ln in lines), user
    # Under the cursor, the detail line has everything the row left out.
    narrow.send("g", "Down", "Down")  # past the WMSshell console (id 1)
    detail = narrow.wait("the detail line", lambda s: f"mp-lab-001  id 2  {DOMAIN}\\{LONG_USER}" in s)
    assert "rdp-tcp#1" in detail
    narrow.send("q")
    narrow.wait("exit", lambda s: "EXIT=" in s, whole=True)
    assert "EXIT=0" in narrow.text()


@pytest.mark.stress
def test_ctrl_c_in_the_view_exits_130_restores_the_terminal_and_closes_every_shell(
    start_lab: Callable[..., Lab], narrow: Pane
) -> None:
    # Slow hosts and a short interval: Ctrl-C lands while a refresh is in flight.
    lab = start_lab(hosts=6, sessions_per_host=3, faults=["mp-lab-*=slow:300"])
    watch(narrow, lab, "--interval", "1s", after="stty -a")
    narrow.wait("a refresh in flight", lambda s: "⟳" in s and "#2" in s)
    assert narrow.display("#{alternate_on}") == "1"
    narrow.send("C-c")
    text = narrow.wait("the exit and stty's report", lambda s: "EXIT=" in s and "icanon" in s, whole=True)
    assert "EXIT=130" in text, text
    # cbreak mode undone (canonical input and echo back on), the alternate screen left.
    modes = set(" ".join(text.split("EXIT=130", 1)[1].split()).split(" "))
    assert {"icanon", "echo", "isig"} <= modes and not {"-icanon", "-echo"} & modes
    assert narrow.display("#{alternate_on}") == "0"
    assert "Traceback" not in text
    assert open_shells(lab) == 0


def test_lock_from_the_view_locks_exactly_the_chosen_session_and_audits_it(
    lab: Lab, narrow: Pane, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    watch(narrow, lab, "--interval", "5s", "--audit-log", str(audit))
    narrow.wait("every host answering", every_host_ok)
    # Both mp-lab-001 and mp-lab-002 have a "bo": choose mp-lab-002's (id 2), not the other.
    narrow.type("/bo")
    narrow.send("Enter")
    narrow.wait("the filter", lambda s: hosts_shown(s) == {"mp-lab-001", "mp-lab-002"} and "filter: bo" in s)
    narrow.send("g", "Down", "Down", "Down")
    narrow.wait("the cursor on mp-lab-002's bo", lambda s: f"mp-lab-002  id 2  {DOMAIN}\\bo" in s)
    narrow.send("K")
    narrow.wait("the message prompt", lambda s: "Message text" in s, whole=True)
    text = "Eyes on the board, please"
    narrow.type(text)
    narrow.send("Enter")
    prompt = narrow.wait("the confirmation", lambda s: bool(re.search(r"\?( \[y/N\])?\s*$", s.rstrip())))
    assert "mp-lab-002" in prompt and "bo" in prompt
    assert not [e for e in journal(lab) if e.get("event") == "lock"]  # nothing before "y"
    narrow.type("y")
    narrow.send("Enter")
    narrow.wait("the lock's report", lambda s: "Press Enter to go back to the view." in s, whole=True)

    locks = [(e["host"], e["id"], e["username"], e["text"]) for e in journal(lab) if e.get("event") == "lock"]
    assert locks == [("mp-lab-002", 2, "bo", text)]
    assert lab.host("mp-lab-002").model.session(2).lock_message == text  # type: ignore[union-attr]
    assert lab.host("mp-lab-001").model.session(3).lock_message is None  # type: ignore[union-attr]
    acted = [e for e in read_jsonl(audit) if e["event"] == "action"]
    assert {(e["host"], e["session_id"], e["username"], e["action"]) for e in acted} == {
        ("mp-lab-002", 2, "bo", "lock")
    }
    assert acted[-1]["outcome"] == "done"

    narrow.send("Enter")
    narrow.wait("the view again", lambda s: "filter: bo" in s and "mpremote watch" in s)
    narrow.send("q")
    narrow.wait("exit", lambda s: "EXIT=" in s, whole=True)
    assert "EXIT=0" in narrow.text()
    assert open_shells(lab) == 0
