"""Draw the view model as rich Text: a header, one line per host (and its sessions), recent changes, keys."""

from __future__ import annotations

import datetime as _dt
from typing import Any

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


def header(model: ViewModel) -> Text:
    t = model.totals()
    by_status, states = t["by_status"], t["states"]
    hosts = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()) if n)
    sessions = sum(states.values())
    parts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    text = Text()
    text.append("mpremote watch", style="bold")
    text.append(f"  {t['hosts']} hosts: {hosts}")
    text.append(f" · {sessions} sessions" + (f": {parts}" if parts else ""))
    text.append(f" · refresh #{model.refresh_no} every {human_seconds(model.interval)}")
    text.append(f" · last full refresh {_utc(model.last_full_refresh)}")
    return text


def status_line(model: ViewModel) -> Text:
    t = Text()
    if model.input_mode == "filter":
        t.append("filter: ", style="bold")
        t.append(model.filter, style="reverse")
        t.append("  (Enter keep, Esc clear)")
    else:
        t.append(f"filter: {model.filter or '-'}   sort: {model.sort}   selected: {len(model.selected)}")
    if model.status_message:
        t.append("   " + model.status_message, style="bold yellow")
    return t


def _host_line(line: Line, width: int, now: _dt.datetime, cursor: bool, model: ViewModel) -> Text:
    h = line.host
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("> " if cursor else "  ", style="bold")
    mark = "-" if h.name in model.expanded else "+"
    t.append(f"{mark} {h.name:<{width}}  ", style="bold" if cursor else "")
    if h.row is None:
        t.append("waiting" + ("…" if h.refreshing else ""), style="dim")
        return t
    status = h.status if h.ok else f"{h.status} ({h.error_kind})"
    t.append(f"{status:<26}", style="green" if h.ok else "bold red")
    if not h.ok:
        message = h.row.result.error.message if h.row.result.error else ""
        t.append(message[:60], style="red")
        t.append(f"  {human_seconds(max(0.0, (now - h.row.at).total_seconds())):>6} ago", style="dim")
        _changes(t, h)
        return t
    counts = h.counts()
    others = sum(n for s, n in counts.items() if s not in ("active", "disconnected"))
    t.append(f"{counts.get('active', 0):>4} active {counts.get('disconnected', 0):>3} disc")
    t.append(f" {others:>2} other" if others else "         ")
    t.append(f"  idle max {human_seconds(h.longest_idle()):>7}")
    age = (now - h.row.at).total_seconds()
    t.append(f"  {human_seconds(max(0.0, age)):>6} ago", style="dim")
    t.append(" ⟳" if h.refreshing else "  ")
    _changes(t, h)
    return t


def _changes(t: Text, h: Any) -> None:
    """The host's changes at its latest refresh, coloured by kind."""
    if h.row is not None and h.row.changes and h.changed_at == h.row.refresh:
        t.append("  ")
        for c in h.row.changes:
            t.append(change_word(c) + " ", style=_CHANGE_STYLE[c.kind])


def _session_line(line: Line, cursor: bool, model: ViewModel) -> Text:
    s = line.session
    assert s is not None
    h = line.host
    fresh = {}
    if h.row is not None and h.changed_at == h.row.refresh:
        fresh = {c.id: c.kind for c in h.row.changes if c.kind in ("logon", "disconnect", "reconnect")}
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("> " if cursor else "  ", style="bold")
    picked = (h.name, s.id, s.username) in model.selected
    t.append("    [x] " if picked else "    [ ] ", style="bold magenta" if picked else "dim")
    style = _CHANGE_STYLE.get(fresh.get(s.id, ""), "")
    user = f"{s.domain}\\{s.username}" if s.domain else s.username
    t.append(f"{s.id:>5}  {user:<24} {s.state:<12}", style=style)
    t.append(f" idle {human_seconds(s.idle_seconds):>7}  {s.session_name or '':<12} {s.logon_text}")
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
        body_h = max(3, height - 4 - (recent_n + 1) - 1)
        top = max(0, min(cur - body_h // 2, len(lines) - body_h))
        shown = lines[top : top + body_h]
        out: list[Any] = [header(model), status_line(model)]
        for i, line in enumerate(shown, start=top):
            if line.session is None:
                out.append(_host_line(line, name_w, now, i == cur, model))
            else:
                out.append(_session_line(line, i == cur, model))
        more = len(lines) - (top + len(shown))
        filler = body_h - len(shown)
        out.extend(Text("") for _ in range(max(0, filler)))
        out.append(Text(f"  … {top} above, {more} below" if top or more else "", style="dim"))
        out.append(Text("recent changes", style="bold underline"))
        for rc in recent:
            out.append(_recent_line(rc))
        out.extend(Text("") for _ in range(recent_n - len(recent)))
        keys = "  ".join([KEYS, *(ACTION_HELP[a] for a in model.actions if a in ACTION_HELP)])
        out.append(Text(keys, style="dim", no_wrap=True, overflow="ellipsis"))
        return Group(*out)


def _recent_line(rc: RecentChange) -> Text:
    c = rc.change
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"  #{rc.refresh:<4} {rc.at.strftime('%H:%M:%S')}  {rc.host}  ")
    who = f" {c.username} ({c.id})" if c.id is not None else (f" {c.error}" if c.error else "")
    t.append(f"{c.kind}{who}", style=_CHANGE_STYLE[c.kind])
    return t
