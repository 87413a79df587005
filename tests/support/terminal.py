"""The real CLI on a pseudo-terminal, for the tests that need a person's terminal.

Why a module: a prompt, colours and a progress bar only appear when the CLI sees a
terminal, so several tests start it on a pty. Reading a pty has traps (EIO when the
child closes it, a child that never exits, a prompt to answer mid-stream); one reader
with a deadline handles them for all, so no test can hang on a silent child.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.helpers import SECRET

#: What the CLI's confirmation prompts end with.
PROMPT = re.compile(rb"\[y/N\] $|to confirm: $")


def read_terminal(main: int, proc: subprocess.Popen[bytes], *, timeout: float = 120, answer: str | None = None) -> str:
    """Everything the child writes to the terminal ``main`` until it closes it or exits,
    at most ``timeout`` seconds; ``answer`` is typed (with Enter) once a prompt shows.
    The child is killed if it outlives the deadline; ``main`` is closed."""
    chunks: list[bytes] = []
    answered = answer is None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
                if not answered and PROMPT.search(b"".join(chunks)):
                    os.write(main, answer.encode() + b"\r")  # type: ignore[union-attr]
                    answered = True
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")


def run_with_terminal_stdin(
    args: Sequence[str | Path], answer: str, *, timeout: float = 60, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """``mpremote ARGS`` with stdin on a terminal (so it may prompt) and ``answer`` already
    typed; stdout and stderr are pipes. Returns (exit code, stdout, stderr)."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpremote", *map(str, args)],
        stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "MPREMOTE_PASSWORD": SECRET, **(env or {})},
    )  # fmt: skip
    os.close(secondary)
    try:
        os.write(main, answer.encode() + b"\n")
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
