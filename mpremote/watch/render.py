"""Draw the view model as rich Text: a header, one line per host (and its sessions), recent changes, keys.

Every line fits the terminal's width the way ``tables.py`` fits a table: an operator copies
host and user names from this screen, so those are never cut while anything else can give
way. Each line is a list of cells; on a narrow terminal the least useful cells go first
(logon time, session name, idle, state on session lines; how long ago, longest idle and
the change words, last first, on host lines), free text (an error message) is shortened
with "…". Only a user name wider than the whole terminal is shortened, and then the detail
line under the list shows the session under the cursor in full, folded over as many lines
as it needs.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Any

from rich.cells import cell_len
from rich.console import Group
from rich.text import Text

from mpremote.watch.changes import Change
from mpremote.watch.model import Line, RecentChange, ViewModel

KEYS = "q quit  / filter  s sort  r refresh  ↑↓ move  Enter expand  e all  space select"
ACTION_HELP = {
    "logoff": "L log off",
    "disconnect": "D disconnect",
    "message": "M message",
    "lock": "K lock",
    "unlock": "U unlock",
}
_CHANGE_STYLE = {
    "logon": "green",
    "logoff": "red",
    "disconnect": "yellow",
    "reconnect": "cyan",
    "host-down": "bold red",
    "host-up": "bold green",
}


def human_seconds(seconds: float | None) -> str:
    """``95`` -> ``1m35s``; ``7500`` -> ``2h05m``; ``200000`` -> ``2d07h``; None -> ``?``."""
    if seconds is None:
        return "?"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def change_word(c: Change) -> str:
    if c.kind == "host-down":
        return f"DOWN({c.error})" if c.error else "DOWN"
    if c.kind == "host-up":
        return "UP"
    sign = {"logon": "+", "logoff": "-", "disconnect": "disc:", "reconnect": "back:"}[c.kind]
    return f"{sign}{c.username}({c.id})"


def _utc(at: _dt.datetime | None) -> str:
    return at.strftime("%H:%M:%S UTC") if at is not None else "-"


@dataclasses.dataclass(frozen=True)
class Cell:
    """A piece of one line. ``drop``: 0 is always shown; on a narrow terminal the highest
    number goes first (the rightmost of equals first). ``compact``: a shorter spelling (no
    padding) used before any cell is dropped; ``cut``: free text that may be shortened with
    "…" instead of being dropped."""

    text: str
    style: str = ""
    drop: int = 0
    compact: str | None = None
    cut: bool = False


#: Free text is shortened rather than dropped while at least this many cells of it stay.
MIN_CUT = 12


def ellipsize(text: str, width: int) -> str:
    """``text`` in at most ``width`` terminal cells, ending in "…" when shortened."""
    if cell_len(text) <= width:
        return text
    out = ""
    for ch in text:
        if cell_len(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


def fit(cells: list[Cell], width: int) -> list[Cell]:
    """The cells that fit ``width``: droppable cells go (or shrink) until the line fits."""
    cells = list(cells)

    def total() -> int:
        return sum(cell_len(c.text) for c in cells)

    for i in sorted((i for i, c in enumerate(cells) if c.compact is not None), key=lambda k: -cells[k].drop):
        if total() <= width:
            break
        cells[i] = dataclasses.replace(cells[i], text=cells[i].compact or "", compact=None)
    while total() > width:
        candidates = [i for i, c in enumerate(cells) if c.drop]
        if not candidates:
            break
        i = max(candidates, key=lambda k: (cells[k].drop, k))
        c = cells[i]
        room = width - (total() - cell_len(c.text))
        if c.cut and room >= MIN_CUT:
            cells[i] = dataclasses.replace(c, text=ellipsize(c.text, room), drop=0)
        else:
            del cells[i]
    return cells


def as_text(cells: list[Cell]) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    for c in cells:
        t.append(c.text, style=c.style)
    return t


def header(model: ViewModel, width: int = 10**6) -> Text:
    t = model.totals()
    by_status, states = t["by_status"], t["states"]
    hosts = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()) if n)
    sessions = sum(states.values())
    parts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    cells = [
        Cell("mpremote watch", "bold"),
        Cell(f"  {t['hosts']} hosts: {hosts}"),
        Cell(f" · {sessions} sessions" + (f": {parts}" if parts else ""), drop=1, compact=f" · {sessions} sessions"),
        Cell(f" · refresh #{model.refresh_no} every {human_seconds(model.interval)}", drop=2),
        Cell(f" · last full refresh {_utc(model.last_full_refresh)}", drop=3),
    ]
    return as_text(fit(cells, width))


def status_line(model: ViewModel) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    if model.input_mode == "filter":
        t.append("filter: ", style="bold")
        t.append(model.filter, style="reverse")
        t.append("  (Enter keep, Esc clear)")
    else:
        t.append(f"filter: {model.filter or '-'}   sort: {model.sort}   selected: {len(model.selected)}")
    if model.status_message:
        t.append("   " + model.status_message, style="bold yellow")
    return t


def _host_line(line: Line, name_w: int, now: _dt.datetime, cursor: bool, model: ViewModel, width: int) -> Text:
    h = line.host
    mark = "-" if h.name in model.expanded else "+"
    cells = [Cell("> " if cursor else "  ", "bold"), Cell(f"{mark} {h.name:<{name_w}}  ", "bold" if cursor else "")]
    if h.row is None:
        cells.append(Cell("waiting" + ("…" if h.refreshing else ""), "dim"))
        return as_text(fit(cells, width))
    status = h.status if h.ok else f"{h.status} ({h.error_kind})"
    cells.append(Cell(f"{status:<26}", "green" if h.ok else "bold red", drop=1, compact=f"{status}  "))
    ago = Cell(f"  {human_seconds(max(0.0, (now - h.row.at).total_seconds())):>6} ago", "dim", drop=5)
    if not h.ok:
        message = h.row.result.error.message if h.row.result.error else ""
        cells += [Cell(message[:60], "red", drop=2, cut=True), ago, *_changes(h)]
        return as_text(fit(cells, width))
    counts = h.counts()
    others = sum(n for s, n in counts.items() if s not in ("active", "disconnected"))
    cells.append(Cell(f"{counts.get('active', 0):>4} active {counts.get('disconnected', 0):>3} disc"))
    others_text = f" {others:>2} other" if others else "         "
    cells.append(Cell(others_text, drop=2, compact=f" {others} other" if others else ""))
    cells.append(Cell(f"  idle max {human_seconds(h.longest_idle()):>7}", drop=3))
    cells += [ago, Cell(" ⟳" if h.refreshing else "  ", drop=1), *_changes(h)]
    return as_text(fit(cells, width))


def _changes(h: Any) -> list[Cell]:
    """The host's changes at its latest refresh, coloured by kind; on a narrow terminal the
    last words go first, whole (a user name in them is never cut)."""
    if h.row is None or not h.row.changes or h.changed_at != h.row.refresh:
        return []
    words = [Cell(change_word(c) + " ", _CHANGE_STYLE[c.kind], drop=4) for c in h.row.changes]
    return [Cell("  ", drop=4), *words]


def _user(line: Line) -> str:
    s = line.session
    assert s is not None
    return f"{s.domain}\\{s.username}" if s.domain else s.username


def _session_cells(line: Line, cursor: bool, model: ViewModel, user_w: int) -> list[Cell]:
    s = line.session
    assert s is not None
    h = line.host
    fresh = {}
    if h.row is not None and h.changed_at == h.row.refresh:
        fresh = {c.id: c.kind for c in h.row.changes if c.kind in ("logon", "disconnect", "reconnect")}
    picked = (h.name, s.id, s.username) in model.selected
    style = _CHANGE_STYLE.get(fresh.get(s.id, ""), "")
    return [
        Cell("> " if cursor else "  ", "bold"),
        Cell("    [x] " if picked else "    [ ] ", "bold magenta" if picked else "dim"),
        Cell(f"{s.id:>5}  ", style),
        Cell(f"{_user(line):<{user_w}}", style),
        Cell(f" {s.state:<12}", style, drop=1),
        Cell(f" idle {human_seconds(s.idle_seconds):>7}", drop=2),
        Cell(f"  {s.session_name or '':<12}", drop=3),
        Cell(f" {s.logon_text}", drop=4),
    ]


def _session_lines(rows: list[tuple[Line, bool]], model: ViewModel, width: int) -> list[Text]:
    """Session lines with the same columns on every line (the widest decides which go);
    a user name wider than what is left of the terminal is the only one shortened."""
    if not rows:
        return []
    fixed = sum(cell_len(c.text) for c in _session_cells(rows[0][0], False, model, 0)[:3])
    # A name wider than the whole line is shortened anyway: it does not take others' columns.
    user_w = max(24, *(n for n in (cell_len(_user(line)) for line, _ in rows) if fixed + n <= width), 0)
    lines = [_session_cells(line, cursor, model, user_w) for line, cursor in rows]
    keep = max(c.drop for c in lines[0])
    while (
        keep > 0
        and fixed + user_w + max(sum(cell_len(c.text) for c in cells[4:] if c.drop <= keep) for cells in lines) > width
    ):
        keep -= 1
    out = []
    for (line, _), cells in zip(rows, lines, strict=True):
        cells = [c for c in cells if c.drop <= keep]
        room = width - sum(cell_len(c.text) for i, c in enumerate(cells) if i != 3)
        user = _user(line)
        text = f"{user:<{max(0, min(user_w, room))}}" if cell_len(user) <= room else ellipsize(user, max(1, room))
        cells[3] = dataclasses.replace(cells[3], text=text)
        out.append(as_text(cells))
    return out


def detail_line(model: ViewModel, line: Line | None) -> Text:
    """The session under the cursor in full (its user name whatever its length), folded."""
    t = Text(overflow="fold")
    if line is None or line.session is None:
        return t
    s = line.session
    t.append(f"  {line.host.name}  id {s.id}  ", style="bold")
    t.append(_user(line), style="bold")
    t.append(f"  {s.state}  idle {human_seconds(s.idle_seconds)}  {s.session_name or '-'}  logon {s.logon_text}")
    return t


def render(model: ViewModel, *, height: int, width: int, now: _dt.datetime | None = None) -> Group:
    """The whole screen for a terminal of ``height`` x ``width``."""
    now = now or _dt.datetime.now(_dt.UTC)
    with model.lock:
        lines = model.lines()
        cur = model.cursor_index(lines)
        name_w = max((len(n) for n in model.hosts), default=8)
        recent_n = max(3, min(8, height // 6))
        recent = model.recent_changes(recent_n)
        detail = detail_line(model, lines[cur] if lines else None)
        detail_h = max(1, -(-cell_len(detail.plain) // max(1, width)))
        body_h = max(3, height - 4 - (recent_n + 1) - 1 - detail_h)
        top = max(0, min(cur - body_h // 2, len(lines) - body_h))
        shown = lines[top : top + body_h]
        out: list[Any] = [header(model, width), status_line(model)]
        sessions = iter(_session_lines([(ln, i == cur) for i, ln in enumerate(shown, top) if ln.session], model, width))
        for i, line in enumerate(shown, start=top):
            if line.session is None:
                out.append(_host_line(line, name_w, now, i == cur, model, width))
            else:
                out.append(next(sessions))
        more = len(lines) - (top + len(shown))
        filler = body_h - len(shown)
        out.extend(Text("") for _ in range(max(0, filler)))
        out.append(Text(f"  … {top} above, {more} below" if top or more else "", style="dim"))
        out.append(detail)
        out.append(Text("recent changes", style="bold underline"))
        for rc in recent:
            out.append(_recent_line(rc, width))
        out.extend(Text("") for _ in range(recent_n - len(recent)))
        keys = "  ".join([KEYS, *(ACTION_HELP[a] for a in model.actions if a in ACTION_HELP)])
        out.append(Text(keys, style="dim", no_wrap=True, overflow="ellipsis"))
        return Group(*out)


def _recent_line(rc: RecentChange, width: int) -> Text:
    c = rc.change
    who = f" {c.username} ({c.id})" if c.id is not None else (f" {c.error}" if c.error else "")
    cells = [
        Cell(f"  #{rc.refresh:<4}", drop=2),
        Cell(f" {rc.at.strftime('%H:%M:%S')}", drop=3),
        Cell(f"  {rc.host}  "),
        Cell(f"{c.kind}{who}", _CHANGE_STYLE[c.kind], cut=c.id is None, drop=1 if c.id is None else 0),
    ]
    return as_text(fit(cells, width))
