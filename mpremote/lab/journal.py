"""The lab journal: one JSON object per line, one line per event, safe from any thread.

Tests and the demo read it to prove what reached the hosts (every WSMan action, every
pipeline's script and parameters, every logoff/disconnect/message the host model played).
Each line goes to the file in one ``write`` call on an ``O_APPEND`` descriptor, as soon as the
event happens, so a reader never misses the last line; a reader polling the file while a long
line (a pipeline's whole script) is being copied in may still see its first part, so readers
take only lines that end in a newline (as ``tests/support`` does).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _timestamp() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """Append-only JSONL file (or a no-op when ``path`` is None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered: a buffered text file splits a line longer than its buffer over
            # several write calls, and a concurrent reader then sees half a line.
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, host: str, event: dict[str, Any]) -> None:
        """Add ``ts`` and ``host`` to ``event`` and append it as one line."""
        if self._fd is None:
            return
        record = {"ts": _timestamp(), "host": host, **event}
        data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is not None:
                view = memoryview(data)
                while view:  # one call in practice; a short write only on a full disk or a signal
                    view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
