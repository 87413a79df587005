"""The lab journal is what tests and the demo read as proof of what reached the hosts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from mpremote.lab.journal import Journal


def test_long_lines_from_many_threads_never_interleave(tmp_path: Path) -> None:
    """A pipeline's whole script can exceed any stdio buffer; each event stays one line."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    script = "x" * 200_000

    def writer(n: int) -> None:
        for i in range(20):
            journal.write(f"mp-lab-{n:03d}", {"event": "pipeline", "script": script, "i": i})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()

    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 8 * 20
    assert all(r["script"] == script for r in records)
    for n in range(8):
        assert [r["i"] for r in records if r["host"] == f"mp-lab-{n:03d}"] == list(range(20))


def test_appends_to_an_existing_journal_and_writes_nothing_without_a_path(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"event": "earlier"}\n', encoding="utf-8")
    journal = Journal(path)
    journal.write("mp-lab-001", {"event": "logoff", "id": 3, "username": "maría"})
    journal.close()
    journal.write("mp-lab-001", {"event": "after-close"})  # ignored, not an error
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["event"] for r in records] == ["earlier", "logoff"]
    assert records[1]["username"] == "maría"
    Journal(None).write("mp-lab-001", {"event": "x"})  # a lab without --journal
