"""``mpremote watch``: the live view on a terminal, JSON lines everywhere else.

Loads and checks everything the way the other commands do (exit 2, no host contacted,
for a bad file or option), then hands over to :mod:`mpremote.watch`.
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from typing import Any

from mpremote.cli.common import Common, err_console
from mpremote.errors import MpremoteError, UsageError
from mpremote.results import ExitCode
from mpremote.terminal import is_tty

#: Formats watch speaks: the live view (on a terminal) or JSON lines.
WATCH_FORMATS = ("table", "jsonl")
MIN_INTERVAL_S = 0.2
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s\s*$")


def parse_interval(text: str) -> float:
    """``10s``, ``1m``, ``1.5s`` -> seconds (at least :data:`MIN_INTERVAL_S`)."""
    from mpremote.selection import parse_duration

    m = _SECONDS.match(text.lower())
    try:
        seconds = float(m[1]) if m else parse_duration(text).total_seconds()
    except ValueError as exc:
        raise UsageError(f"--interval: {exc}") from None
    if seconds < MIN_INTERVAL_S:
        raise UsageError(f"--interval must be at least {MIN_INTERVAL_S:g}s")
    return seconds


def run_watch(
    targets: Path,
    limit: list[str] | None,
    sel: dict[str, Any] | None,
    common: Common,
    *,
    interval: str,
    count: int | None,
) -> int:
    from mpremote import api
    from mpremote.cli.run import (
        _credentials,
        _load_hosts,
        _selector,
        _settings,
        _signals_as_cancel,
    )
    from mpremote.context import debug_log_from_env
    from mpremote.credentials import install_redaction
    from mpremote.watch.engine import Watcher, WatchOptions, stream_jsonl

    con = err_console()
    try:
        if common.format not in WATCH_FORMATS:
            raise UsageError("watch: --format must be table (the live view) or jsonl")
        if count is not None and count < 1:
            raise UsageError("--count must be at least 1")
        interval_s = parse_interval(interval)
        hosts = _load_hosts(targets, limit)
        selector = _selector(sel)
        settings = _settings(common)
        resolver = _credentials(common)
        install_redaction(resolver)
        debug_log_from_env()
        run_options = api.RunOptions(settings=settings, backend=common.backend)
        api.preflight(hosts, "sessions", selector, run_options)
        resolver.resolve_all(hosts)
        out = open(common.output, "w", encoding="utf-8") if common.output else None  # noqa: SIM115
    except (MpremoteError, OSError) as exc:
        con.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        return ExitCode.USAGE

    options = WatchOptions(
        interval=interval_s,
        per_host_timeout=common.timeout,
        concurrency=common.concurrency,
        settings=settings,
        backend=common.backend,
        credentials=resolver.for_host_pair,
        redact=resolver.redact,
        selector=selector if selector is not None and not selector.is_empty() else None,
    )
    live = common.format == "table" and out is None and is_tty(sys.stdout) and is_tty(sys.stdin)
    cancel = threading.Event()
    try:
        with Watcher(hosts, options) as watcher:
            if live:  # the full-screen view lands next (issue 15); say so rather than pretend
                con.print("watch: the live view is not available yet; use --format jsonl")
                return ExitCode.USAGE
            sink = out or sys.stdout

            def write(line: str) -> None:
                sink.write(line + "\n")
                sink.flush()

            with _signals_as_cancel(cancel):
                return int(stream_jsonl(watcher, write, interval=interval_s, count=count, cancel=cancel))
    finally:
        if out is not None:
            out.close()
