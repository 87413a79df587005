"""Audit log: valid JSON lines, exact base keys, no interleaving across processes, no secrets."""

from __future__ import annotations

import json
import multiprocessing
import re
import threading
from pathlib import Path

import pytest

from mpremote.audit import AuditError, AuditLog, mask_argv, new_run_id, read_audit, utc_timestamp
from mpremote.results import ErrorInfo, HostResult, HostStatus, Outcome, SessionAction, totals

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _append_many(path: str, tag: str, n: int) -> None:
    log = AuditLog(path, operator=f"op-{tag}")
    for i in range(n):
        # Long lines: without the lock, concurrent appends would be far more likely to tear.
        log.record_action(f"run-{tag}", f"mp-{i:03d}", i, "ana", "logoff", "done", tag * 3000)


def test_run_lifecycle_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, operator="fallback")
    run = new_run_id()
    log.record_run_start(run, "it-admin", "logoff", ["logoff", "lab.yaml", "--all"], 2)
    log.record_action(run, "mp-101", 3, "ana", "logoff", "sending")
    r = HostResult("mp-101", "10.0.0.11", HostStatus.OK, elapsed_s=0.5)
    r.actions = [SessionAction(3, "ana", "logoff", Outcome.DONE)]
    log.record_host(run, r)
    log.record_action(run, "mp-101", 3, "ana", "logoff", "done", "")
    bad = HostResult("mp-102", "10.0.0.12", HostStatus.UNREACHABLE, ErrorInfo("timeout", "no answer within 30s"))
    log.record_host(run, bad)
    log.record_run_end(run, 8, totals([r, bad]))

    lines = read_audit(path)
    assert [e["event"] for e in lines] == ["run_start", "action", "host", "action", "host", "run_end"]
    for e in lines:
        assert list(e)[:4] == ["ts", "run_id", "operator", "event"]
        assert TS.match(e["ts"]) and e["run_id"] == run and e["operator"] == "it-admin"
    assert lines[0]["hosts"] == 2 and lines[0]["command"] == "logoff"
    assert lines[2]["acted"] == 1 and lines[2]["status"] == "ok"
    assert lines[3]["session_id"] == 3 and lines[3]["username"] == "ana" and lines[3]["outcome"] == "done"
    assert lines[4]["error"] == {"kind": "timeout", "message": "no answer within 30s"}
    assert lines[5]["exit_code"] == 8 and lines[5]["totals"]["by_status"]["unreachable"] == 1
    assert lines[5]["totals"]["line"].startswith("2 hosts")
    # After run_end the per-run operator is forgotten; the default applies again.
    log.record(run, "note", text="x")
    assert read_audit(path)[-1]["operator"] == "fallback"


def test_concurrent_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), tag, 200)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    raw = path.read_text(encoding="utf-8").splitlines()
    assert len(raw) == 400
    events = [json.loads(line) for line in raw]  # any torn line would fail here
    for tag in ("a", "b"):
        mine = [e for e in events if e["run_id"] == f"run-{tag}"]
        assert len(mine) == 200
        assert all(e["detail"] == tag * 3000 and e["operator"] == f"op-{tag}" for e in mine)
        assert [e["session_id"] for e in mine] == list(range(200))  # per-process order kept


def test_concurrent_threads(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    threads = [
        threading.Thread(target=lambda t=t: [log.record(f"r{t}", "tick", i=i) for i in range(100)]) for t in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(read_audit(path)) == 400


def test_redaction_applied_to_free_text(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, redact=lambda s: s.replace("hunter2", "***"))
    run = new_run_id()
    argv = ["lab", "serve", "--password", "s3cret", "--token=abc", "--password-stdin", "x hunter2"]
    log.record_run_start(run, None, "lab", argv, 0)
    log.record_action(run, "h", 1, "ana", "message", "done", "sent 'pw is hunter2'")
    bad = HostResult("h", "a", HostStatus.FAILED, ErrorInfo("remote", "fault hunter2"))
    log.record_host(run, bad)
    text = path.read_text()
    assert "hunter2" not in text and "s3cret" not in text and "abc" not in text
    start = read_audit(path)[0]
    assert start["argv"] == ["lab", "serve", "--password", "***", "--token=***", "--password-stdin", "x ***"]


def test_mask_argv_and_helpers() -> None:
    assert mask_argv(["--db-password", "p", "--user", "u"]) == ["--db-password", "***", "--user", "u"]
    assert TS.match(utc_timestamp())
    a, b = new_run_id(), new_run_id()
    assert a != b and re.match(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$", a)


def test_base_keys_cannot_be_overridden_and_newlines_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    with pytest.raises(ValueError):
        log.record("r", "x", operator="mallory")
    with pytest.raises(ValueError):
        log.append_lines(["a\nb"])
    log.record("r", "x", detail="line one\nline two")  # JSON escapes it: still one line
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 1


def test_unwritable_path_raises_audit_error(tmp_path: Path) -> None:
    (tmp_path / "is-a-dir").mkdir()
    log = AuditLog(tmp_path / "is-a-dir", lock_timeout=1)
    with pytest.raises(AuditError, match="cannot write the audit log"):
        log.record("r", "x")
