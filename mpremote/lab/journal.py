"""The lab journal: one JSON object per line, one line per event, safe from any thread.

Tests and the demo read it to prove what reached the hosts (every WSMan action, every
pipeline's script and parameters, every logoff/disconnect/message the host model played).
Each line is flushed as written, so a reader never sees half a line or misses the last one.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import threading
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


def _timestamp() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """Append-only JSONL file (or a no-op when ``path`` is None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fh: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the lab

    def write(self, host: str, event: dict[str, Any]) -> None:
        """Add ``ts`` and ``host`` to ``event`` and append it as one line."""
        if self._fh is None:
            return
        record = {"ts": _timestamp(), "host": host, **event}
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._fh is not None:
                self._fh.write(line)
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
