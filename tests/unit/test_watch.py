"""watch: change detection (pure) and the refresh engine with an in-process fake of the remote layer."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from mpremote.errors import ConnectError, RemoteError
from mpremote.hosts import Host
from mpremote.remote.connection import Endpoint, ScriptResult
from mpremote.results import ExitCode
from mpremote.session import Session
from mpremote.watch.changes import Change, ChangeTracker, Snapshot, session_changes
from mpremote.watch.engine import BUSY_MESSAGE, Watcher, WatchOptions, stream_jsonl


def s(sid: int, user: str, state: str = "active", logon: str = "4/28/2025 8:00 AM") -> Session:
    return Session(user, None if state == "disconnected" else f"rdp-tcp#{sid}", sid, state, timedelta(0), logon)


# -- change detection ------------------------------------------------------------------------


def test_logon_logoff_disconnect_reconnect() -> None:
    before = [s(2, "ana"), s(3, "bo", "disconnected"), s(4, "cy")]
    after = [s(2, "ana", "disconnected"), s(3, "bo"), s(5, "dee")]
    assert session_changes(before, after) == [
        Change("disconnect", 2, "ana"),
        Change("reconnect", 3, "bo"),
        Change("logoff", 4, "cy"),
        Change("logon", 5, "dee"),
    ]


def test_a_reused_id_is_a_logoff_and_a_logon() -> None:
    assert session_changes([s(7, "ana")], [s(7, "bo")]) == [Change("logoff", 7, "ana"), Change("logon", 7, "bo")]
    # The same user logged on again into the same id: a new logon time, so a new session.
    again = session_changes([s(7, "ana")], [s(7, "ana", logon="4/28/2025 9:15 AM")])
    assert again == [Change("logoff", 7, "ana"), Change("logon", 7, "ana")]


def test_nothing_changed_means_no_changes_and_case_does_not_matter() -> None:
    assert session_changes([s(2, "Ana"), s(3, "bo")], [s(3, "bo"), s(2, "ana")]) == []


def test_tracker_baseline_host_down_and_up_against_last_answer() -> None:
    t = ChangeTracker()
    assert t.update("h", Snapshot(True, (s(2, "ana"), s(3, "bo")))) == []  # baseline
    assert t.update("h", Snapshot(False, error_kind="timeout")) == [Change("host-down", error="timeout")]
    assert t.update("h", Snapshot(False, error_kind="timeout")) == []  # still down: no news
    # Back: compared with the last answer, so bo's log-off while it was down is reported.
    assert t.update("h", Snapshot(True, (s(2, "ana"),))) == [Change("host-up"), Change("logoff", 3, "bo")]
    assert t.update("other", Snapshot(False, error_kind="connect")) == []  # down from the start


# -- the engine ----------------------------------------------------------------------------

HEADER = " USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME"


def quser(rows: list[tuple[int, str, str]]) -> dict[str, Any]:
    lines = [HEADER]
    for sid, user, state in rows:
        name = "" if state == "Disc" else f"rdp-tcp#{sid}"
        lines.append(f" {user:<21} {name:<17}{sid:>4}  {state:<6}          .  4/28/2025 8:00 AM")
    return {"ComputerName": "H", "OperatorUser": "labadmin", "QuserStdout": "\n".join(lines), "QuserExitCode": 0}


class FakeHost:
    """A host whose sessions the test sets; counts opens, closes and queries per pool."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str]] = [(2, "ana", "Active")]
        self.fail: BaseException | None = None
        self.block: threading.Event | None = None
        self.opens = self.closes = self.queries = 0
        self.running = 0
        self.max_running = 0
        self.lock = threading.Lock()


class FakeConnection:
    def __init__(self, fake: FakeHost) -> None:
        self.fake = fake
        self.endpoint = Endpoint("127.0.0.1", 5986, "https", "ntlm", True, "auto")

    def __enter__(self) -> FakeConnection:
        self.fake.opens += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.fake.closes += 1

    def run_script(self, name: str, params: dict[str, Any], *, acting: bool = False) -> ScriptResult:
        f = self.fake
        with f.lock:
            f.running += 1
            f.max_running = max(f.max_running, f.running)
        try:
            if f.block is not None:
                f.block.wait(10)
            f.queries += 1
            if f.fail is not None:
                raise f.fail
            return ScriptResult([quser(f.rows)])
        finally:
            with f.lock:
                f.running -= 1


def make(n: int = 2, **opts: Any) -> tuple[Watcher, dict[str, FakeHost]]:
    hosts = [Host(name=f"h{i}", address="127.0.0.1", username="labadmin") for i in range(1, n + 1)]
    fakes = {h.name: FakeHost() for h in hosts}

    def connect(host: Host, **kwargs: Any) -> FakeConnection:
        return FakeConnection(fakes[host.name])

    options = WatchOptions(credentials=lambda h: ("labadmin", "pw"), **opts)
    return Watcher(hosts, options, connect=connect), fakes


def test_a_kept_pool_is_opened_once_and_closed_on_exit() -> None:
    w, fakes = make()
    with w:
        for _ in range(3):
            rows = w.refresh()
            assert [r.result.status.value for r in rows] == ["ok", "ok"]
        assert w.open_pools() == 2
    assert all((f.opens, f.closes, f.queries) == (1, 1, 3) for f in fakes.values())


def test_without_keep_open_every_refresh_connects_and_closes() -> None:
    w, fakes = make(keep_open=False)
    with w:
        for _ in range(3):
            w.refresh()
    assert all((f.opens, f.closes) == (3, 3) for f in fakes.values())


def test_changes_and_host_down_up_through_the_engine() -> None:
    w, fakes = make(n=1)
    f = fakes["h1"]
    with w:
        assert w.refresh()[0].changes == []
        f.rows = [(2, "ana", "Disc"), (3, "bo", "Active")]
        assert w.refresh()[0].changes == [Change("disconnect", 2, "ana"), Change("logon", 3, "bo")]
        f.fail = ConnectError("refused")
        row = w.refresh()[0]
        assert row.result.status.value == "unreachable" and row.changes == [Change("host-down", error="connect")]
        assert w.open_pools() == 0  # a host that fails loses its pool
        f.fail = None
        f.rows = [(3, "bo", "Active")]
        assert w.refresh()[0].changes == [Change("host-up"), Change("logoff", 2, "ana")]
    assert w.worst is ExitCode.HOST_UNREACHABLE
    assert f.opens == f.closes


def test_a_stale_kept_pool_is_reopened_once_for_the_read_only_query() -> None:
    w, fakes = make(n=1)
    f = fakes["h1"]
    with w:
        w.refresh()
        calls = {"n": 0}
        original = FakeConnection.run_script

        def flaky(self: FakeConnection, name: str, params: dict[str, Any], *, acting: bool = False) -> Any:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RemoteError("shell not found")
            return original(self, name, params, acting=acting)

        FakeConnection.run_script = flaky  # type: ignore[method-assign]
        try:
            row = w.refresh()[0]
        finally:
            FakeConnection.run_script = original  # type: ignore[method-assign]
        assert row.result.status.value == "ok" and calls["n"] == 2
    assert (f.opens, f.closes) == (2, 2)


def test_a_host_still_running_is_never_started_again() -> None:
    w, fakes = make(n=2, per_host_timeout=0.3)
    slow = fakes["h1"]
    with w:
        w.refresh()
        slow.block = threading.Event()
        rows = w.refresh()  # h1 is cut off at its deadline, its job still runs
        assert rows[0].result.error is not None and rows[0].result.error.kind == "timeout"
        rows = w.refresh()  # h1 still running: not started again, a row that says so
        assert rows[0].result.error is not None and rows[0].result.error.message == BUSY_MESSAGE
        assert rows[1].result.status.value == "ok"
        assert slow.max_running == 1
        slow.block.set()
    assert slow.opens == slow.closes  # close() waited for the job and closed its pool


def test_stream_jsonl_count_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    w, fakes = make(n=2)
    fakes["h2"].fail = ConnectError("refused")
    lines: list[str] = []
    with w:
        code = stream_jsonl(w, lines.append, interval=0.01, count=3)
    rows = [json.loads(x) for x in lines]
    assert code is ExitCode.HOST_UNREACHABLE
    assert sorted((r["host"], r["refresh"]) for r in rows) == [(h, k) for h in ("h1", "h2") for k in (1, 2, 3)]
    assert {r["status"] for r in rows if r["host"] == "h2"} == {"unreachable"}
    assert set(rows[0]) >= {"host", "refresh", "status", "sessions", "changes"}


def test_stream_jsonl_cancel_is_interrupted() -> None:
    w, _ = make(n=1)
    cancel = threading.Event()
    lines: list[str] = []

    def write(line: str) -> None:
        lines.append(line)
        cancel.set()

    with w:
        assert stream_jsonl(w, write, interval=5, cancel=cancel) is ExitCode.INTERRUPTED
    assert len(lines) == 1
