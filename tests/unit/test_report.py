"""Renderers: exact JSON shape, streaming JSONL, CSV that never loses a host, tables with totals."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console

from mpremote.errors import UsageError
from mpremote.fanout import ProgressEvent, run_hosts
from mpremote.hosts import Host
from mpremote.report import (
    CSV_COLUMNS,
    JsonlWriter,
    ProgressDisplay,
    Reporter,
    format_idle,
    render_sessions_table,
    render_table,
    summarize_actions,
    to_csv,
    to_json,
)
from mpremote.results import ErrorInfo, HostResult, HostStatus, Outcome, SessionAction
from mpremote.session import Session

DESIGN_KEYS = {"host", "address", "status", "error", "elapsed_s", "sessions", "actions"}
SESSION_KEYS = {"username", "domain", "session_name", "id", "state", "idle_seconds", "logon_text", "current"}
ACTION_KEYS = {"id", "username", "action", "outcome", "detail"}


def sess(i: int, user: str, state: str = "active", idle: int | None = 0) -> Session:
    return Session(
        username=user,
        session_name=f"rdp-tcp#{i}" if state == "active" else None,
        id=i,
        state=state,
        idle=None if idle is None else timedelta(seconds=idle),
        logon_text="7/26/2018 7:29 PM",
    )


def sample() -> list[HostResult]:
    a = HostResult("mp-101", "10.0.0.11", HostStatus.OK, elapsed_s=0.41)
    a.sessions = [sess(3, "ana"), sess(4, "bo", "disconnected", 3720), sess(5, "[bold]x", idle=None)]
    a.actions = [
        SessionAction(3, "ana", "logoff", Outcome.DONE),
        SessionAction(4, "bo", "logoff", Outcome.VANISHED, "gone before logoff"),
        SessionAction(9, "zed", "logoff", Outcome.FAILED, "Error [5]", error_kind="denied"),
    ]
    b = HostResult("mp-102", "10.0.0.12", HostStatus.UNREACHABLE, ErrorInfo("connect", "refused"), 1.0)
    b.actions = []
    c = HostResult("mp-103", "10.0.0.13", HostStatus.OK, elapsed_s=0.2)
    c.actions = []
    return [a, b, c]


def test_json_shape_exact() -> None:
    data = json.loads(to_json(sample()))
    assert isinstance(data, list) and [d["host"] for d in data] == ["mp-101", "mp-102", "mp-103"]
    for d in data:
        assert set(d) == DESIGN_KEYS
    first = data[0]
    assert first["status"] == "ok" and first["error"] is None and first["elapsed_s"] == 0.41
    assert set(first["sessions"][0]) == SESSION_KEYS
    assert first["sessions"][1]["idle_seconds"] == 3720 and first["sessions"][1]["session_name"] is None
    assert set(first["actions"][0]) == ACTION_KEYS
    assert first["actions"][1]["outcome"] == "vanished"
    assert data[1]["error"] == {"kind": "connect", "message": "refused"}


def test_jsonl_streams_in_completion_order_and_flushes() -> None:
    class Flushes(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1

    stream = Flushes()
    writer = JsonlWriter(stream)
    hosts = [Host(f"h{i}", f"10.0.0.{i}") for i in range(5)]
    out = run_hosts(hosts, lambda h, d: HostResult(h.name, h.address, HostStatus.OK), on_event=writer)
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["host"] for line in lines] == out.completion_order
    assert stream.flushes == 5
    writer.write_missing(out.results)  # nothing missing: nothing written twice
    assert len(stream.getvalue().splitlines()) == 5


def test_csv_parses_and_keeps_hosts_without_sessions() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(sample()))))
    assert tuple(rows[0]) == CSV_COLUMNS
    hosts = [r["host"] for r in rows]
    assert hosts.count("mp-101") == 4  # 3 sessions + the action whose session was not listed
    assert hosts.count("mp-102") == 1 and hosts.count("mp-103") == 1
    ana = next(r for r in rows if r["username"] == "ana")
    assert ana["action"] == "logoff" and ana["outcome"] == "done" and ana["session_id"] == "3"
    assert next(r for r in rows if r["username"] == "bo")["idle_seconds"] == "3720"
    assert next(r for r in rows if r["username"] == "zed")["detail"] == "Error [5]"
    unreachable = next(r for r in rows if r["host"] == "mp-102")
    assert unreachable["error_kind"] == "connect" and unreachable["session_id"] == ""


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200, no_color=True), buf


def test_table_has_every_host_and_one_totals_line() -> None:
    console, buf = _console()
    render_table(sample(), console, command="logoff")
    text = buf.getvalue()
    for name in ("mp-101", "mp-102", "mp-103"):
        assert name in text
    assert "1 logged off, 1 vanished, 1 denied" in text
    assert "connect: refused" in text and "nothing selected" in text
    assert text.count("3 hosts, 2 ok, 1 unreachable") == 1
    assert text.rstrip().splitlines()[-1].startswith("3 hosts")


def test_sessions_table_rows_and_problem_hosts() -> None:
    console, buf = _console()
    results = sample()
    results[2].actions = None
    render_sessions_table(results, console)
    text = buf.getvalue()
    assert "ana" in text and "rdp-tcp#3" in text and "1h02m" in text
    assert "[bold]x" in text  # user text is never read as rich markup
    assert "(no sessions)" in text and "hosts not read" in text and "connect: refused" in text
    assert text.rstrip().splitlines()[-1].startswith("3 hosts")


def test_helpers() -> None:
    assert [format_idle(s) for s in (None, 0, 59, 300, 3720, 2 * 86400 + 3 * 3600)] == [
        "?", "<1m", "<1m", "5m", "1h02m", "2d03h",
    ]  # fmt: skip
    assert summarize_actions([SessionAction(1, "a", "logoff", Outcome.WOULD_DO)]) == "1 would log off"


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv"])
def test_reporter_data_on_stdout_summary_on_stderr(fmt: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    rep = Reporter(fmt, command="logoff", stdout=out, stderr=err, progress=False)
    rep.finish(sample())
    data = out.getvalue()
    assert "mp-103" in data
    if fmt == "table":
        assert err.getvalue() == ""
    else:
        assert err.getvalue().startswith("3 hosts, 2 ok, 1 unreachable")
        assert "3 hosts" not in data
    if fmt == "json":
        assert len(json.loads(data)) == 3
    if fmt == "jsonl":
        assert [json.loads(line)["host"] for line in data.splitlines()] == ["mp-101", "mp-102", "mp-103"]


def test_reporter_output_file_and_quiet(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    path = tmp_path / "r.jsonl"
    rep = Reporter("jsonl", output=path, quiet=True, stdout=out, stderr=err)
    events = run_hosts(
        [Host("a", "1"), Host("b", "2")],
        lambda h, d: HostResult(h.name, h.address, HostStatus.OK),
        on_event=rep.on_event,
    )
    rep.finish(events)
    assert out.getvalue() == "" and err.getvalue() == ""
    assert len(path.read_text().splitlines()) == 2


def test_reporter_rejects_unknown_format() -> None:
    with pytest.raises(UsageError):
        Reporter("yaml")


def test_progress_display_noop_off_tty_and_runs_on_tty() -> None:
    ev = ProgressEvent("done", Host("a", "1"), HostResult("a", "1", HostStatus.OK), 1, 1)
    with ProgressDisplay(1, "x", stream=io.StringIO()) as p:
        assert not p.enabled
        p.update(ev)
        p.countdown(3)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    with ProgressDisplay(2, "log off", stream=Tty()) as p:
        assert p.enabled
        p.update(ProgressEvent("start", Host("a", "1"), None, 0, 2))
        p.update(ev)
        p.countdown(3)


def test_importing_report_does_not_import_rich() -> None:
    code = (
        "import sys, mpremote.report, mpremote.fanout, mpremote.audit; "
        "print(any(m.startswith('rich') for m in sys.modules))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
