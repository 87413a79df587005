"""User names and message text that look like code reach hosts only as PSRP parameters.

What a user cares about: a student called ``a'; logoff 1 #`` or a message with ``$(...)`` in
it can never run anything on a host or change which session is acted on; text reaches the
host exactly as typed; a message longer than msg.exe accepts is refused before any host is
contacted, not cut silently.

The property tests run at the remote layer (one open connection, many pipelines): the lab
journals every pipeline's script text and parameters, so "only as parameters" is checked on
what the host received, not on what we think we sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpremote.api import MSG_MAX_CHARS
from mpremote.lab.server import Lab
from mpremote.remote import psjson
from mpremote.remote.connection import Connection, ConnectionSettings, properties
from mpremote.remote.scripts import ACT, script_text
from mpremote.targets import load_targets
from tests.support.helpers import SECRET, effects, invoke, journal, run_cli, start_lab

pytestmark = pytest.mark.lab

#: Fragments that break naive splicing into PowerShell, cmd or a quser column.
NASTY = [
    "'", '"', "`", "$(Stop-Computer -Force)", "${env:USERNAME}", "; logoff 1", "& calc", "| Out-Null", "\n",
    "\r\n", "@'\n", "'@", "#", "<#", "#>", "%USERNAME%", "\\", "\t", "Ünïcødé", "日本語", "🙂", "\u202e",
    "&lt;", "<![CDATA[", "]]>", "_x0000_", " ",
]  # fmt: skip
hostile_text = st.lists(
    st.one_of(st.sampled_from(NASTY), st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)),
    min_size=1,
    max_size=12,
).map("".join)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = start_lab(tmp_path_factory.mktemp("hostile"), hosts=1, sessions_per_host=3)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def conn(lab: Lab) -> Iterator[Connection]:
    assert lab.targets_path is not None
    host = load_targets(lab.targets_path).limit_all([])[0]
    with Connection(host, username="labadmin", password=SECRET, settings=ConnectionSettings()) as c:
        yield c


def last_pipeline(lab: Lab) -> dict[str, Any]:
    return [e for e in journal(lab) if e["event"] == "pipeline"][-1]


def a_user_session(lab: Lab) -> Any:
    return next(s for s in lab.hosts[0].model.sessions() if s.username and not s.is_console and not s.is_wmsshell)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=hostile_text, text=hostile_text)
def test_hostile_names_and_text_travel_as_parameters_only(lab: Lab, conn: Connection, user: str, text: str) -> None:
    """The host receives the package's script byte for byte and the values unchanged."""
    target = a_user_session(lab)
    before = len(lab.hosts[0].model.messages)
    params = {
        "Action": "message",
        "Backend": "wms",  # ownership by user name alone (quser also needs the logon text)
        "Targets": [{"Id": target.id, "UserName": user, "LogonText": ""}],
        "Text": text,
        "MessageSeconds": 5,
    }
    out = conn.run_script(ACT, params, acting=True)
    seen = last_pipeline(lab)
    assert seen["script"] == script_text(ACT)
    assert seen["parameters"]["Text"] == text
    assert seen["parameters"]["Targets"][0]["UserName"] == user
    rows = [properties(o) for o in psjson.rows(out.output)]
    # The name comes back exactly, through 5.1's JSON escaping (\u0027, \u003c...) and back.
    assert [r["UserName"] for r in rows] == [user]
    # A name that is not the session's owner never gets the session acted on.
    if user.strip().casefold() != target.username.casefold():
        assert [r["Outcome"] for r in rows] == ["vanished"]
        assert len(lab.hosts[0].model.messages) == before


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile_text.filter(lambda t: t.strip() and len(t) <= MSG_MAX_CHARS))
def test_a_hostile_message_reaches_the_user_exactly_as_typed(lab: Lab, conn: Connection, text: str) -> None:
    target = a_user_session(lab)
    params = {
        "Action": "message",
        "Backend": "wms",
        "Targets": [{"Id": target.id, "UserName": target.username, "LogonText": ""}],
        "Text": text,
        "MessageSeconds": 5,
    }
    conn.run_script(ACT, params, acting=True)
    assert last_pipeline(lab)["script"] == script_text(ACT)
    sent = lab.hosts[0].model.messages[-1]
    assert (sent.id, sent.text) == (target.id, text.rstrip("\r\n"))


def test_ten_kilobyte_values_round_trip(lab: Lab, conn: Connection) -> None:
    """Huge values are still parameters: nothing is truncated or spliced on the way."""
    big_user = ("ab'`$();\n" * 1200)[:10_240]
    big_text = ("Zoë $(x) `n; " * 1000)[:10_240]
    params = {
        "Action": "disconnect",
        "Backend": "quser",
        "Targets": [{"Id": 2, "UserName": big_user, "LogonText": "x"}],
        "Text": big_text,
    }
    conn.run_script(ACT, params, acting=True)
    seen = last_pipeline(lab)
    assert seen["script"] == script_text(ACT)
    assert seen["parameters"]["Targets"][0]["UserName"] == big_user
    assert seen["parameters"]["Text"] == big_text
    assert not [e for e in journal(lab) if e["event"] == "disconnect"]


# -- through the real CLI ---------------------------------------------------------------------


def test_cli_message_with_code_like_text_arrives_verbatim(small_lab: Lab) -> None:
    text = "Bye $(Stop-Computer); `whoami` 'quoted' \"dq\" & | ; Zoë 日本 🙂"
    res = run_cli("message", small_lab.targets_path, "--text", text, "--format", "json", "--timeout", "10")
    assert res.code == 0, res.stderr
    events = journal(small_lab)
    assert {e["text"] for e in events if e["event"] == "message"} == {text}
    scripts = {e["script"] for e in events if e["event"] == "pipeline"}
    assert all(text not in s for s in scripts)
    assert len(json.loads(res.stdout)) == len(small_lab.hosts)


HOSTILE_USERS = ["x'; logoff 2 #", "$(logoff 2)", "`nlogoff 2", "a\nb", "ana*", "*", "%", "a" * 10_240]


@pytest.mark.parametrize("user", HOSTILE_USERS)
def test_cli_hostile_user_selector_matches_nobody_and_sends_nothing(small_lab: Lab, user: str) -> None:
    """Selectors are matched exactly, locally: no glob, no substring, nothing sent to a host."""
    res = invoke("logoff", small_lab.targets_path, "--user", user, "--yes", "--format", "json", "--timeout", "10")
    assert res.exit_code == 0, res.stderr
    assert effects(small_lab) == set(), "a selector that matches no user name ended a session"
    rows = json.loads(res.stdout)
    assert all(a["outcome"] != "done" for r in rows for a in r["actions"])
    assert all(user not in e["script"] for e in journal(small_lab) if e["event"] == "pipeline")


@pytest.mark.parametrize("length", [MSG_MAX_CHARS + 1, 10_240])
def test_cli_over_long_message_is_refused_before_contacting_any_host(small_lab: Lab, length: int) -> None:
    res = run_cli("message", small_lab.targets_path, "--text", "x" * length, "--timeout", "10")
    assert res.code == 2
    assert f"at most {MSG_MAX_CHARS}" in res.stderr
    assert small_lab.request_count() == 0


def test_cli_over_long_warning_is_refused_before_contacting_any_host(small_lab: Lab) -> None:
    res = run_cli(
        "logoff", small_lab.targets_path, "--all", "--yes", "--warn", "w" * 300, "--grace", "1m",
    )  # fmt: skip
    assert res.code == 2
    assert small_lab.request_count() == 0


def test_a_message_of_exactly_255_characters_is_sent_whole(small_lab: Lab, tmp_path: Path) -> None:
    text = ("é$`'" * 64)[:MSG_MAX_CHARS]
    res = run_cli("message", small_lab.targets_path, "--text", text, "--timeout", "10", "--format", "json")
    assert res.code == 0, res.stderr
    assert {m.text for h in small_lab.hosts for m in h.model.messages} == {text}
