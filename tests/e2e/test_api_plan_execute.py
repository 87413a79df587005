"""The one library path: ``api.plan`` says what each host would do; ``api.execute`` acts only on
what was confirmed; a ``RunContext`` owns credentials, redaction, audit and the retry file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mpremote import api
from mpremote.commands import Command
from mpremote.credentials import CredentialResolver
from mpremote.errors import UsageError
from mpremote.lab.server import Lab
from mpremote.results import Outcome
from mpremote.selection import Selector
from mpremote.targets import load_targets
from tests.support.helpers import SECRET, effects, journal, start_lab

pytestmark = pytest.mark.lab


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MPREMOTE_PASSWORD", SECRET)
    lab = start_lab(tmp_path, hosts=2, sessions_per_host=3)
    yield lab
    lab.stop()


def _hosts(lab: Lab) -> list:
    return load_targets(lab.targets_path).hosts


def test_plan_previews_without_acting_and_execute_acts_only_on_the_confirmed(lab: Lab) -> None:
    hosts = _hosts(lab)
    planned = api.plan(hosts, "logoff", Selector(all=True))
    would = planned.would_do()
    assert planned.command is Command.LOGOFF and would
    assert effects(lab) == set()  # the preview changed nothing
    one = min(would)
    outcome = api.execute(planned, confirmed=frozenset({one}))
    done = {(r.host, a.id) for r in outcome.results for a in r.actions or [] if a.outcome is Outcome.DONE}
    assert done == {(one[0], one[1])}
    assert {(h, i) for h, _, i in effects(lab)} == {(one[0], one[1])}


def test_execute_refuses_an_unconfirmed_plan(lab: Lab) -> None:
    planned = api.plan(_hosts(lab), "disconnect", Selector(all=True), preview=False)
    with pytest.raises(UsageError, match="not confirmed"):
        api.execute(planned, confirmed=False)
    assert effects(lab) == set()


def test_plan_refuses_bad_input_before_contacting_any_host(lab: Lab) -> None:
    hosts = _hosts(lab)
    with pytest.raises(UsageError):
        api.plan(hosts, "logoff", Selector())  # no selector: say which sessions
    with pytest.raises(UsageError):
        api.plan(hosts, "message", Selector(all=True), text="x" * 256)
    with pytest.raises(UsageError, match="unknown command"):
        api.plan(hosts, "reboot", Selector(all=True))
    assert [e for e in journal(lab) if e["event"] == "http"] == []  # no host was contacted


def test_run_context_redacts_checks_credentials_and_writes_audit_and_retry(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    audit, retry = tmp_path / "audit.jsonl", tmp_path / "retry.txt"
    with api.RunContext(CredentialResolver(interactive=False), audit_log=str(audit), retry_file=str(retry)) as run:
        options = run.options(per_host_timeout=30)
        planned = run.plan(_hosts(lab), "message", Selector(all=True), text="hello", options=options)
        outcome = run.execute(planned, confirmed=True, options=options)
        with caplog.at_level(logging.INFO):
            logging.getLogger("mpremote.test").info("password is %s", SECRET)
    assert int(outcome.exit_code) == 0
    assert SECRET not in caplog.text
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert {line["event"] for line in lines} >= {"run_start", "run_end"}
    assert retry.exists() and retry.read_text().strip() == ""  # nothing failed: nothing to retry
    monkeypatch.delenv("MPREMOTE_PASSWORD")
    with api.RunContext(CredentialResolver(interactive=False)) as run, pytest.raises(UsageError):
        run.plan(_hosts(lab), "sessions")  # no password anywhere: exit 2 before any host
