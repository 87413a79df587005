"""The confirmation of `logoff`/`disconnect` on a terminal: every touched session is shown,
the count is stated, a large set asks for the number, and only what was shown is acted on."""

from __future__ import annotations

import json
import re

import pytest

from mpremote.confirm import TYPE_COUNT_OVER
from tests.support.terminal import run_with_terminal_stdin

from .conftest import journal_events

pytestmark = pytest.mark.lab


def _run_on_tty(args, answer: str, timeout: float = 90) -> tuple[int, str, str]:
    """The real CLI with stdin on a pseudo-terminal; ``answer`` is typed at the prompt."""
    return run_with_terminal_stdin([*args, "--no-progress"], answer, timeout=timeout, env={"COLUMNS": "80"})


def _shown(text: str) -> set[tuple[str, int, str]]:
    """(host, id, user) of every session row of the confirmation (host only on a group's first row)."""
    rows: set[tuple[str, int, str]] = set()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"host\s+id\s+user\s+state\s+idle", line))
    user_at, state_at = lines[start].index("user"), lines[start].index("state")
    host = ""
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        m = re.match(r"(\S*)\s+(\d+)  ", line)
        assert m, line
        host = m.group(1) or host
        rows.add((host, int(m.group(2)), line[user_at:state_at].strip().split("\\")[-1]))
    return rows


def _preview(cli, targets, *extra: str) -> set[tuple[str, int, str]]:
    res = cli("logoff", targets, "--all", "--dry-run", "--format", "json", *extra)
    return {(r["host"], a["id"], a["username"]) for r in res.json() for a in r["actions"] if a["outcome"] == "would_do"}


def test_the_confirmation_lists_every_session_and_asks_with_the_count(start_lab, cli) -> None:
    lab = start_lab(hosts=6, sessions_per_host=6, seed=7)
    plan = _preview(cli, lab.targets_path)
    assert 20 < len(plan) <= TYPE_COUNT_OVER  # more than the old "first 20", fewer than the typed-count case
    code, _, err = _run_on_tty(["logoff", lab.targets_path, "--all"], "n")
    assert code == 2 and "Nothing was done." in err
    # The dry run's JSON and the confirmation are the same plan, every session of it shown.
    assert _shown(err) == plan
    hosts = len({h for h, _, _ in plan})
    assert f"Log off {len(plan)} sessions on {hosts} hosts? [y/N]" in err
    assert "more" not in err
    assert journal_events(lab, "logoff") == []


def test_a_large_set_asks_for_the_number_and_y_is_not_enough(start_lab, cli) -> None:
    lab = start_lab(hosts=3, sessions_per_host=20, seed=5)
    plan = _preview(cli, lab.targets_path)
    assert len(plan) > TYPE_COUNT_OVER
    code, _, err = _run_on_tty(["logoff", lab.targets_path, "--all"], "y")
    assert code == 2, err
    assert f"Log off {len(plan)} sessions on 3 hosts? Type {len(plan)} to confirm:" in err
    assert "Nothing was done." in err and journal_events(lab, "logoff") == []

    code, out, err = _run_on_tty(["logoff", lab.targets_path, "--all", "--format", "json"], str(len(plan)))
    assert code == 0, err
    rows = json.loads(out)
    done = {(r["host"], a["id"], a["username"]) for r in rows for a in r["actions"] if a["outcome"] == "done"}
    assert done == plan == _shown(err)
    # The journal keeps the host's spelling; quser (and so the plan) prints names lower-cased.
    assert {(e["host"], e["id"], e["username"].lower()) for e in journal_events(lab, "logoff")} == plan


def test_disconnect_asks_with_its_own_verb(start_lab) -> None:
    lab = start_lab(hosts=1, sessions_per_host=3)
    code, _, err = _run_on_tty(["disconnect", lab.targets_path, "--all"], "")
    assert code == 2
    assert re.search(r"Disconnect \d+ sessions? on 1 host\? \[y/N\]", err), err
