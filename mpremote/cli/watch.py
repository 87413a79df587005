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
    from mpremote.cli.run import _credentials, _load_hosts, _selector, _settings, _signals_as_cancel
    from mpremote.watch.engine import Watcher, WatchOptions, stream_jsonl

    if common.format not in WATCH_FORMATS:
        raise UsageError("watch: --format must be table (the live view) or jsonl")
    if count is not None and count < 1:
        raise UsageError("--count must be at least 1")
    interval_s = parse_interval(interval)
    hosts = _load_hosts(targets, limit)
    selector = _selector(sel)
    settings = _settings(common)
    resolver = _credentials(common)
    # The same set-up as every command: redaction, the debug trace, every password found
    # (or prompted for) and every host checked before any host is contacted.
    run = api.RunContext(resolver, argv=sys.argv[1:])
    run.start()
    run.plan(hosts, "sessions", selector, options=run.options(settings=settings, backend=common.backend))
    try:
        out = open(common.output, "w", encoding="utf-8") if common.output else None  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"--output: cannot write {common.output}: {exc.strerror or exc}") from None

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
            if live:
                from mpremote.watch.view import run_view

                return int(
                    run_view(
                        watcher,
                        count=count,
                        act=_action_runner(targets, limit, common),
                        available_actions=available_actions(),
                    )
                )
            sink = out or sys.stdout

            def write(line: str) -> None:
                sink.write(line + "\n")
                sink.flush()

            with _signals_as_cancel(cancel):
                return int(stream_jsonl(watcher, write, interval=interval_s, count=count, cancel=cancel))
    finally:
        if out is not None:
            out.close()


def available_actions() -> tuple[str, ...]:
    """The actions the view offers: every command of this version that acts on sessions."""
    from mpremote.commands import ACTIONS

    return tuple(str(c) for c in ACTIONS)


def _action_runner(targets: Path, limit: list[str] | None, common: Common) -> Any:
    """Actions from the view run exactly what ``mpremote logoff TARGETS --session HOST:ID...``
    runs: the same plan and preview, confirmation, owner re-check before acting, audit and
    report. Only the hosts holding the chosen sessions are contacted."""
    from dataclasses import replace

    from mpremote.cli.errors import report
    from mpremote.cli.run import run_cli_command
    from mpremote.commands import parse_command

    action_common = replace(common, format="table", output=None, quiet=False, retry_file=None)

    def act(command: str, refs: list[tuple[str, int, str]], text: str | None) -> int:
        sel: dict[str, Any] = {
            "all": False,
            "users": [],
            "sessions": [f"{host}:{sid}" for host, sid, _ in refs],
            "state": None,
            "idle_over": None,
            "exclude": [],
        }
        kwargs: dict[str, Any] = {"text": text} if text is not None else {}
        # Repeated --limit patterns intersect: the watch's own limit and these hosts.
        hosts_only = [*(limit or []), ",".join(sorted({host for host, _, _ in refs}))]
        try:
            if parse_command(command).info.confirm:
                return run_cli_command(command, targets, hosts_only, sel, action_common, **kwargs)
            # message: the command does not ask, the view still does (preview, then y/N).
            code = run_cli_command(command, targets, hosts_only, sel, action_common, dry_run=True, **kwargs)
            if code != ExitCode.OK:
                return code
            err_console().print(f"{command} these {len(refs)} session(s)? [y/N] ", end="", markup=False)
            if sys.stdin.readline().strip().lower() not in ("y", "yes"):
                err_console().print("Nothing was done.")
                return int(ExitCode.USAGE)
            return run_cli_command(command, targets, hosts_only, sel, action_common, yes=True, **kwargs)
        except (MpremoteError, KeyboardInterrupt) as exc:
            return int(report(exc))

    return act
