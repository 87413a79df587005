"""`mpremote watch` in a real terminal (tmux): a churning lab of 30 hosts, one of them down.

Every wait polls the pane (or the journal) until a generous deadline; nothing sleeps a
fixed time. Hosts mp-lab-001..009 do not churn, so the session acted on cannot vanish
under the test; the others churn at 12 events per minute each.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mpremote.lab.churn import _NAMES
from mpremote.lab.server import Lab
from tests.support.helpers import SECRET

from .test_watch_jsonl import expected_changes, replay

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

DEADLINE_S = 90.0
CALM = "mp-lab-00[1-9]"  # hosts that keep their sessions still
CHURNING = "mp-lab-0[1-3]?"


class Pane:
    """One tmux session on a private server socket, 200 x 60 unless told otherwise."""

    def __init__(self, width: int = 200, height: int = 60) -> None:
        self.socket = f"mpremote-test-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, "-f", os.devnull, *args], capture_output=True, text=True, timeout=30
        )
        return out.stdout

    def start(self, command: str, env: dict[str, str], *, after: str = "") -> None:
        """Run ``command`` in the pane; then print ``EXIT=code`` and run ``after`` (a shell
        command that inspects what the program left behind, e.g. the terminal's modes)."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # No COLUMNS/LINES from the test's environment: the program must read the pane's size.
        script = f"env -u COLUMNS -u LINES {exports} {command}; echo EXIT=$?; {after or ':'}; sleep 600"
        self.tmux("new-session", "-d", "-s", "w", "-x", str(self.width), "-y", str(self.height), script)

    def display(self, fmt: str) -> str:
        """A tmux format for the pane, e.g. ``#{alternate_on}`` (1 while on the alternate screen)."""
        return self.tmux("display-message", "-p", "-t", "w", fmt).strip()

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", "w", "-S", "-200")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "w")

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "w", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "w", "-l", text)

    def wait(self, what: str, ok: Callable[[str], bool], *, whole: bool = False) -> str:
        end = time.monotonic() + DEADLINE_S
        while True:
            text = self.text() if whole else self.screen()
            if ok(text):
                return text
            if time.monotonic() > end:
                pytest.fail(f"waited {DEADLINE_S:g}s for {what}; the pane shows:\n{text}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def pane() -> Iterator[Pane]:
    p = Pane()
    yield p
    p.kill()


def open_shells(lab: Lab) -> int:
    """The lab's own count, asked the way an outsider would: GET /lab/status on every host."""
    ctx = ssl.create_default_context(cafile=str(lab.ca_path))
    ctx.check_hostname = False
    total = 0
    for h in lab.hosts:
        if not h.listening:
            continue
        with urllib.request.urlopen(f"https://{h.address}:{h.port}/lab/status", context=ctx, timeout=10) as r:
            total += json.load(r)["open_shells"]
    return total


def hosts_shown(screen: str) -> set[str]:
    return set(re.findall(r"^[> ] [+-] (mp-lab-\d{3}) ", screen, re.M))


def test_watch_in_a_real_terminal(start_lab, pane: Pane, tmp_path: Path) -> None:
    lab = start_lab(hosts=30, sessions_per_host=5, seed=2, churn=12, churn_hosts=CHURNING, faults=["mp-lab-004=refuse"])
    audit = tmp_path / "audit.jsonl"
    # "teacher" is no churn logon name: only the hosts that have it now can ever show it.
    user = "teacher"
    assert user not in {n.casefold() for n in _NAMES}
    has_user = sorted(h.name for h in lab.hosts if any(s.username == user for s in h.spec.sessions))
    target = has_user[0]
    assert target in ("mp-lab-003",) and "mp-lab-004" not in has_user  # seed 2: a calm host first
    calm_with_user = {n for n in has_user if n <= "mp-lab-009"}
    target_sid = next(s.id for s in lab.host(target).spec.sessions if s.username == user)

    cmd = [sys.executable, "-m", "mpremote", "watch", str(lab.targets_path), "--interval", "2s"]
    cmd += ["--audit-log", str(audit)]
    env = {"MPREMOTE_PASSWORD": SECRET, "LANG": "C.UTF-8", "TERM": "xterm-256color"}
    pane.start(" ".join(shlex.quote(c) for c in cmd), env)

    # Every host is shown, the down one with its error kind.
    names = {h.name for h in lab.hosts}
    screen = pane.wait(
        "every host after a full refresh", lambda s: hosts_shown(s) == names and "full refresh -" not in s
    )
    assert re.search(r"mp-lab-004\s+unreachable \(connect\)", screen)

    # '/' filters by user: only hosts that have the user, each with the user's session lines.
    pane.type("/" + user)
    pane.send("Enter")

    def filtered(s: str) -> bool:
        shown = hosts_shown(s)
        return bool(shown) and calm_with_user <= shown <= set(has_user) and f"filter: {user}" in s

    screen = pane.wait("the filter by user", filtered)
    sessions = [ln for ln in screen.splitlines() if re.match(r"^[> ]\s+\[[ x]\]", ln)]
    assert sessions and all(user in ln for ln in sessions)

    # Changes appear at the first refresh after they happen: filter to one churning host
    # and wait until the journal shows a change there; it must be listed under that refresh.
    watched = "mp-lab-017"
    pane.send("Escape")
    pane.type("/" + watched)
    pane.send("Enter")
    pane.wait("the filter by host", lambda s: hosts_shown(s) == {watched})
    first = max(1, len(replay(lab, watched)))  # a change from now on is among the newest listed
    end = time.monotonic() + DEADLINE_S
    while True:
        snaps = replay(lab, watched)
        changed = [k for k in range(first, len(snaps)) if expected_changes(snaps[k - 1], snaps[k])]
        if changed:
            break
        assert time.monotonic() < end, "the lab did not churn on the watched host"
        time.sleep(0.2)
    k = changed[0]
    want = expected_changes(snaps[k - 1], snaps[k])

    def listed(s: str) -> bool:
        rows = [ln for ln in s.splitlines() if re.match(rf"^\s+#{k + 1}\s+\S+\s+{watched}\s", ln)]
        return all(any(f"{kind} " in r and r.endswith(f"({sid})") for r in rows) for kind, sid, _ in want)

    pane.wait(f"refresh #{k + 1} to list {sorted(want)}", listed)

    # An action asks for confirmation, runs through the command's path and is audited.
    pane.send("Escape")
    pane.type("/" + user)
    pane.send("Enter")
    pane.wait("the filter by user again", filtered)
    pane.send("g", "Down", "Space")
    pane.wait("the selection", lambda s: "selected: 1" in s)
    pane.send("L")
    prompt = pane.wait("the confirmation prompt", lambda s: bool(re.search(r"\?( \[y/N\])?\s*$", s.rstrip())))
    assert user in prompt and target in prompt
    assert not audit.exists() or '"action"' not in audit.read_text()  # nothing before "y"
    pane.type("y")
    pane.send("Enter")
    pane.wait("the action's report", lambda s: "Press Enter to go back to the view." in s, whole=True)
    events = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    acted = [e for e in events if e["event"] == "action" and e["host"] == target and e["username"] == user]
    assert [e["outcome"] for e in acted] == ["sending", "done"]
    assert acted[0]["session_id"] == target_sid and acted[0]["action"] == "logoff"
    assert {e["event"] for e in events} >= {"run_start", "run_end"}
    assert not any(s.id == target_sid for s in lab.host(target).model.sessions())  # really logged off
    pane.send("Enter")
    pane.wait("the view again", lambda s: "filter: " in s and "mpremote watch" in s)

    # q exits 0, and every runspace pool the view kept open is closed.
    pane.send("q")
    pane.wait("exit", lambda s: "EXIT=" in s, whole=True)
    assert "EXIT=0" in pane.text()
    assert open_shells(lab) == 0
