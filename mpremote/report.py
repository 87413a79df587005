"""Renderers of results: table, json, jsonl, csv; progress on stderr.

Data goes to stdout (or ``--output FILE``); progress and the one-line summary go to
stderr, so ``mpremote ... --format json | jq`` always sees clean data (httpie's manners).
rich is imported inside functions only: importing this module must stay cheap, because
every CLI start-up pays for it.

CSV columns (:data:`CSV_COLUMNS`), one row per session, joined with the action taken on
that session's id (one row per action when there are several); an action whose session
is not in the listing gets its own row; a host with neither sessions nor actions (error,
empty host) gets exactly one row with the session columns empty, so no host is ever lost.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from mpremote.commands import Command
from mpremote.errors import UsageError
from mpremote.results import HostResult, HostStatus, Outcome, SessionAction, totals

if TYPE_CHECKING:
    from rich.console import Console

    from mpremote.fanout import ProgressEvent

FORMATS = ("table", "json", "jsonl", "csv")
CSV_COLUMNS = (
    "host", "address", "status", "error_kind", "error_message", "elapsed_s",
    "session_id", "username", "domain", "session_name", "state", "idle_seconds",
    "logon_text", "current", "action", "outcome", "detail",
)  # fmt: skip
STATUS_STYLE = {
    HostStatus.OK: "green",
    HostStatus.FAILED: "bold red",
    HostStatus.UNREACHABLE: "magenta",
    HostStatus.SKIPPED: "dim",
    HostStatus.INTERRUPTED: "yellow",
}
#: Set (to anything) to turn progress bars off without a command-line option.
NO_PROGRESS_ENV = "MPREMOTE_NO_PROGRESS"


# -- text helpers ------------------------------------------------------------------------
def summarize_actions(actions: Iterable[SessionAction]) -> str:
    """``"3 logged off, 1 vanished"``: what happened on one host, in one short phrase."""
    counts: Counter[str] = Counter()
    for a in actions:
        known = a.action in set(Command)
        if a.outcome is Outcome.DONE:
            counts[Command(a.action).done if known else f"{a.action} done"] += 1
        elif a.outcome is Outcome.WOULD_DO:
            counts[Command(a.action).would if known else f"would {a.action}"] += 1
        elif a.outcome is Outcome.FAILED and a.error_kind == "denied":
            counts["denied"] += 1
        else:
            counts[a.outcome.value] += 1
    return ", ".join(f"{n} {word}" for word, n in counts.items())


def format_idle(seconds: int | None) -> str:
    """Idle time for people: ``<1m``, ``5m``, ``1h02m``, ``2d03h``; ``?`` when the host did not say.

    (quser prints ``.`` for under a minute; few readers know that convention.)
    """
    if seconds is None:
        return "?"
    if seconds < 60:
        return "<1m"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def host_detail(result: HostResult, command: str = "") -> str:
    """The table's detail cell: the error, else what was done, else facts for ``check``."""
    if result.error is not None:
        kind, message = result.error.kind, result.error.message
        if message.lower().startswith((f"{kind.lower()}:", f"{kind.lower()} ")):
            return message  # "TLS: certificate ...", "interrupted: not started ...": said once
        return f"{kind}: {message}"
    if result.actions and result.facts.get("warned"):
        warned = sum(1 for a in result.actions if a.action == "message" and a.outcome is Outcome.DONE)
        rest = summarize_actions(result.final_actions) if result.final_actions else "nobody logged off"
        return f"{warned} warned, {rest}"
    if result.actions:
        return summarize_actions(result.actions)
    if result.actions is not None:
        return "nothing selected"
    if command == "check" and result.facts:
        f = result.facts
        parts = [
            "MultiPoint" if f.get("multipoint") else "no MultiPoint",
            f"backend {f['backend']}" if f.get("backend") else "",
            "/".join(str(f[k]) for k in ("transport", "auth") if f.get(k)),
        ]
        return ", ".join(p for p in parts if p)
    return ""


def problem_lines(results: Iterable[HostResult]) -> list[str]:
    """``-q``: one line per host that did not end ok or skipped, e.g.
    ``mp-lab-003: unreachable: connect: connection refused``."""
    quiet_ok = (HostStatus.OK, HostStatus.SKIPPED)
    return [f"{r.host}: {r.status.value}: {host_detail(r)}" for r in results if r.status not in quiet_ok]


def format_apps(apps: Any) -> str:
    """``WINWORD.EXE!, calc.exe``: flagged applications first, marked with ``!``."""
    return ", ".join(f"{a.name}!" if a.flagged else a.name for a in apps or ())


def _user(s: Any) -> str:
    return f"{s.domain}\\{s.username}" if s.domain else s.username


# -- rich tables -------------------------------------------------------------------------
def _status_text(status: HostStatus) -> Any:
    from rich.text import Text

    return Text(status.value, style=STATUS_STYLE.get(status, ""))


def render_table(results: Sequence[HostResult], console: Console, *, command: str = "") -> None:
    """One row per host (every host, input order), then ONE totals line.

    Host names are never cut; the detail folds; off a terminal every value is printed in full.
    """
    from rich.text import Text

    from mpremote.tables import Column, print_fitted

    columns = [
        Column("host"),
        Column("status"),
        Column("sessions", justify="right"),
        Column("acted", justify="right"),
        # The detail (what happened, the error) matters more than the elapsed time.
        Column("detail", fold=True, fold_min=32),
        Column("elapsed", justify="right", drop=1),
    ]
    rows = [
        [
            Text(r.host),
            _status_text(r.status),
            str(len(r.sessions)) if r.status is HostStatus.OK or r.sessions else "-",
            "-" if r.actions is None else str(r.acted),
            Text(host_detail(r, command)),
            f"{r.elapsed_s:.2f}s",
        ]
        for r in results
    ]
    print_fitted(console, columns, rows, title=f"mpremote {command}".strip())
    console.print(Text(totals(results).line()))


def _short_state(state: str) -> str:
    return "disc" if state == "disconnected" else state


#: The sessions table: host and user are never dropped or cut; logon time, then the session
#: name, go first on a narrow terminal; then "disconnected" is spelled "disc" (as quser does).
SESSION_COLUMNS = (
    ("host", "left", 0, None),
    ("id", "right", 0, None),
    ("user", "left", 0, None),
    ("session", "left", 2, None),
    ("state", "left", 0, _short_state),
    ("idle", "right", 0, None),
    ("logon", "left", 3, None),
)


def render_sessions_table(results: Sequence[HostResult], console: Console) -> None:
    """One row per session; a reached host with no session gets one "(no sessions)" row;
    hosts that could not be read follow in a second table, then ONE totals line."""
    from rich.text import Text

    from mpremote.tables import Column, print_fitted

    columns = [Column(h, justify=j, drop=d, short=s) for h, j, d, s in SESSION_COLUMNS]
    # sessions --apps: open applications, those that may hold unsaved work marked "!".
    with_apps = any(s.apps is not None for r in results for s in r.sessions)
    if with_apps:
        columns.append(Column("apps (! unsaved work?)", fold=True))
    rows: list[list[Any]] = []
    problems = []
    for r in results:
        for s in r.sessions:
            rows.append([
                Text(r.host), str(s.id), Text(_user(s)), Text(s.session_name or ""),
                Text(s.state, style="green" if s.state == "active" else ""),
                format_idle(s.idle_seconds), Text(s.logon_text),
                *([Text(format_apps(s.apps))] if with_apps else []),
            ])  # fmt: skip
        if r.status is not HostStatus.OK:
            problems.append(r)
        elif not r.sessions:
            rows.append([Text(r.host), "", Text("(no sessions)", style="dim"), *[""] * (len(columns) - 3)])
    print_fitted(console, columns, rows, title="sessions")
    if problems:
        bad_columns = [Column("host"), Column("status"), Column("detail", fold=True)]
        bad_rows = [[Text(r.host), _status_text(r.status), Text(host_detail(r))] for r in problems]
        print_fitted(console, bad_columns, bad_rows, title="hosts not read")
    console.print(Text(totals(results).line()))


# -- machine formats ---------------------------------------------------------------------
def to_json(results: Iterable[HostResult]) -> str:
    """One JSON array in DESIGN.md's shape (ASCII-escaped: safe on any console code page)."""
    return json.dumps([r.to_dict() for r in results], indent=2)


def to_csv(results: Iterable[HostResult]) -> str:
    """CSV with a header row (:data:`CSV_COLUMNS`); see the module docstring for the rows."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for r in results:
        for row in _csv_rows(r):
            writer.writerow(row)
    return buf.getvalue()


def _csv_rows(r: HostResult) -> Iterator[dict[str, Any]]:
    base = {
        "host": r.host,
        "address": r.address,
        "status": r.status.value,
        "error_kind": r.error.kind if r.error else "",
        "error_message": r.error.message if r.error else "",
        "elapsed_s": round(r.elapsed_s, 3),
    }
    by_id: dict[int, list[SessionAction]] = {}
    for a in r.actions or ():
        by_id.setdefault(a.id, []).append(a)
    emitted = False
    for s in r.sessions:
        row = {**base, "session_id": s.id, "username": s.username, "domain": s.domain or "",
               "session_name": s.session_name or "", "state": s.state,
               "idle_seconds": "" if s.idle_seconds is None else s.idle_seconds,
               "logon_text": s.logon_text, "current": str(s.current).lower()}  # fmt: skip
        matched: list[SessionAction | None] = list(by_id.pop(s.id, []))
        for m in matched or [None]:
            yield {**row, **_action_cols(m)}
            emitted = True
    for acts in by_id.values():
        for a in acts:
            yield {**base, "session_id": a.id, "username": a.username, **_action_cols(a)}
            emitted = True
    if not emitted:
        yield base


def _action_cols(a: SessionAction | None) -> dict[str, str]:
    if a is None:
        return {}
    return {"action": a.action, "outcome": a.outcome.value, "detail": a.detail}


class JsonlWriter:
    """One JSON object per line, written and flushed as each host completes.

    Call it with a :class:`~mpremote.fanout.ProgressEvent` (as ``on_event``) or use
    :meth:`write`. Flushing every line lets a consumer (``| jq``, a log shipper) act on a
    host's row while the others are still running.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.written: Counter[str] = Counter()

    def write(self, result: HostResult) -> None:
        self.stream.write(json.dumps(result.to_dict()) + "\n")
        self.stream.flush()
        self.written[result.host] += 1

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "done" and event.result is not None:
            self.write(event.result)

    def write_missing(self, results: Iterable[HostResult]) -> None:
        """Write the rows of hosts not streamed yet (e.g. a run without progress events)."""
        seen = Counter(self.written)
        for r in results:
            if seen[r.host] > 0:
                seen[r.host] -= 1
            else:
                self.write(r)


# -- progress ----------------------------------------------------------------------------
class ProgressDisplay:
    """A rich progress bar on stderr, or nothing at all.

    Shown only when enabled, stderr is a terminal and ``MPREMOTE_NO_PROGRESS`` is unset;
    otherwise every method is a no-op, so callers never branch. Transient: it disappears
    when done, leaving the table clean. When a second phase starts (``--warn`` then log
    off) the bar starts over.

    It has no refresh thread: it redraws when a host starts or finishes and on
    :meth:`tick`, which the fan-out calls on its coordinating thread while it waits. A
    process with a thread of its own could not fork worker processes safely.
    """

    #: Longest pause between redraws (rich's own default rate is 10 per second).
    REDRAW_S = 0.1

    def __init__(self, total: int, label: str = "", *, stream: IO[str] | None = None,
                 enabled: bool = True) -> None:  # fmt: skip
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = enabled and not os.environ.get(NO_PROGRESS_ENV) and bool(isatty())
        self._progress: Any = None
        self._task: Any = None
        self._done = 0
        self._status: Counter[str] = Counter()
        self._drawn = 0.0

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("{task.fields[detail]}"),
                console=Console(file=self.stream), transient=True, auto_refresh=False,
            )  # fmt: skip
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, detail="")
            self._redraw(force=True)
        return self

    def _redraw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._progress is not None and (force or now - self._drawn >= self.REDRAW_S):
            self._drawn = now
            self._progress.refresh()

    def tick(self) -> None:
        """Redraw if the last redraw is old enough (the elapsed clock moves)."""
        self._redraw()

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, event: ProgressEvent) -> None:
        if self._progress is None:
            return
        if event.done_count < self._done or (event.kind == "start" and self._done >= event.total):
            self._done = 0  # a new phase began
            self._status.clear()
            self._progress.reset(self._task, total=event.total)
        if event.kind == "done" and event.result is not None:
            self._done = event.done_count
            self._status[event.result.status.value] += 1
        detail = ", ".join(f"{n} {s}" for s, n in self._status.items())
        self._progress.update(self._task, completed=self._done, total=event.total, detail=detail,
                              description=self.label)  # fmt: skip
        self._redraw(force=event.done_count == event.total)

    def countdown(self, seconds_left: float) -> None:
        """Show a wait (e.g. the grace period between warning and log-off)."""
        if self._progress is not None:
            self._progress.update(self._task, description=f"waiting {seconds_left:.0f}s")
            self._redraw(force=True)


# -- choosing and writing ----------------------------------------------------------------
class Reporter:
    """Picks the renderer by format name and keeps data and chatter apart.

    Data (table, json, jsonl, csv) goes to ``output`` (a file) or stdout; the totals line
    for machine formats goes to stderr. ``quiet``: no table and no totals, only one line per
    failed, unreachable or interrupted host on stderr (machine formats still write their data).
    jsonl rows are streamed as hosts complete when :meth:`on_event` is the run's
    ``on_event``; :meth:`finish` writes whatever was not streamed.
    """

    def __init__(self, fmt: str = "table", *, output: str | os.PathLike[str] | None = None,
                 quiet: bool = False, command: str = "", progress: bool = True,
                 stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> None:  # fmt: skip
        if fmt not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.fmt = fmt
        self.output = output
        self.quiet = quiet
        self.command = command
        self.show_progress = progress and not quiet
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self._jsonl: JsonlWriter | None = None
        self._file: IO[str] | None = None
        #: Why ``output`` could not be written (the data went to stderr instead), or None.
        self.output_error: str | None = None

    def progress(self, total: int, label: str = "") -> ProgressDisplay:
        return ProgressDisplay(total, label, stream=self.stderr, enabled=self.show_progress)

    def _jsonl_writer(self) -> JsonlWriter:
        if self._jsonl is None:
            if self.output is not None:
                self._file = open(self.output, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            self._jsonl = JsonlWriter(self._file or self.stdout)
        return self._jsonl

    def on_event(self, event: ProgressEvent) -> None:
        if self.fmt == "jsonl":
            try:
                self._jsonl_writer()(event)
            except OSError as exc:
                self._output_failed(exc)
                self._jsonl_writer()(event)

    def _output_failed(self, exc: OSError) -> None:
        """``output`` cannot be written (disk full, removed, revoked): from now on the data
        goes to stderr, complete (rows already in the file are written again there)."""
        if self.output_error is None:
            self.output_error = f"cannot write {self.output}: {exc.strerror or exc}"
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        self.output = None
        self.stdout = self.stderr
        self._jsonl = None

    def finish(self, outcome: Any) -> None:
        """Write the final data. ``outcome`` is a result list or anything with ``.results``.

        Never loses the results: if ``output`` cannot be written they go to stderr and
        :attr:`output_error` says why (the CLI then exits non-zero).
        """
        results: list[HostResult] = list(getattr(outcome, "results", outcome))
        try:
            self._render(results)
        except OSError as exc:
            if self.output is None:
                raise  # stdout itself is gone: nothing better to fall back on
            self._output_failed(exc)
            self._render(results)
        finally:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None
        if self.quiet:
            self.stderr.writelines(line + "\n" for line in problem_lines(results))
            self.stderr.flush()
        elif self.fmt != "table" or self.output is not None:
            self.stderr.write(totals(results).line() + "\n")
            self.stderr.flush()

    def _render(self, results: list[HostResult]) -> None:
        if self.fmt == "jsonl":
            writer = self._jsonl_writer()
            writer.write_missing(results)
            if self._file is not None:
                self._file.close()  # a full disk shows here (close flushes): fall back too
                self._file = None
        elif self.fmt == "table" and self.quiet and self.output is None and self.output_error is None:
            pass  # -q: no table, no totals; only the problem lines (the results file, if any, gets the table)
        elif self.fmt == "table":
            with self._data_console() as console:
                if self.command == "sessions":
                    render_sessions_table(results, console)
                else:
                    render_table(results, console, command=self.command)
        else:
            text = to_json(results) + "\n" if self.fmt == "json" else to_csv(results)
            self._write(text)

    def _write(self, text: str) -> None:
        if self.output is None:
            self.stdout.write(text)
            self.stdout.flush()
            return
        newline = "" if self.fmt == "csv" else "\n"  # csv writes its own CRLF
        with open(self.output, "w", encoding="utf-8", newline=newline) as fh:
            fh.write(text)

    @contextmanager
    def _data_console(self) -> Iterator[Console]:
        from rich.console import Console

        if self.output is None:
            yield data_console(self.stdout)
            return
        with open(self.output, "w", encoding="utf-8", newline="\n") as fh:
            yield Console(file=fh, width=_pipe_width(), no_color=True, force_terminal=False)


def data_console(stream: IO[str] | None = None) -> Any:
    """A rich Console for data on stdout: the terminal's width, or a generous one on a pipe."""
    from rich.console import Console

    stream = stream if stream is not None else sys.stdout
    isatty = getattr(stream, "isatty", lambda: False)()
    return Console(file=stream, width=None if isatty else _pipe_width())


def _pipe_width() -> int:
    """rich assumes 80 columns off a terminal and would wrap every detail; be generous."""
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 160
