"""The full-screen live view: rich ``Live`` on the alternate screen, keys read raw from the terminal.

Why rich Live and not Textual: rich is already a dependency (through Typer) and the view
is one list with a cursor, a filter line and a few keys; Textual would add a framework of
~20 modules and its own event loop for that, and tests drive the real terminal anyway
(tmux). Keys are read with ``termios`` in cbreak mode (POSIX terminals; elsewhere use
``--format jsonl``).

Threads: the refresh loop runs on its own thread (``Watcher.refresh``, which fans out to
one thread per host at a time); the main thread reads keys and redraws four times a
second. An action (log off, disconnect, message, lock) leaves the alternate screen, hands
the terminal to the same code path as the command line (preview, confirmation, owner
re-check right before acting, audit), waits for Enter and comes back.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from mpremote.results import ExitCode
from mpremote.watch.engine import Watcher
from mpremote.watch.model import SessionRef, ViewModel
from mpremote.watch.render import render

#: An action runner: (command, sessions, message text or None) -> exit code of that run.
ActionRunner = Callable[[str, list[SessionRef], str | None], int]
ACTION_KEYS = {"L": "logoff", "D": "disconnect", "M": "message", "K": "lock", "U": "unlock"}
_ESCAPES = {
    "\x1b[A": "up",
    "\x1b[B": "down",
    "\x1b[C": "right",
    "\x1b[D": "left",
    "\x1bOA": "up",
    "\x1bOB": "down",
    "\x1bOC": "right",
    "\x1bOD": "left",
    "\x1b[5~": "pgup",
    "\x1b[6~": "pgdn",
    "\x1b[H": "home",
    "\x1b[F": "end",
    "\x1b[1~": "home",
    "\x1b[4~": "end",
}


def parse_keys(data: str) -> list[str]:
    """Raw terminal input -> key names (``up``, ``enter``, ``esc``...) or single characters."""
    keys: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == "\x1b":
            for seq, name in _ESCAPES.items():
                if data.startswith(seq, i):
                    keys.append(name)
                    i += len(seq)
                    break
            else:
                keys.append("esc")
                i += 1
                # an unknown CSI sequence: swallow it rather than type its letters
                if data.startswith("[", i):
                    while i < len(data) and not data[i].isalpha() and data[i] != "~":
                        i += 1
                    i += 1
            continue
        ch = data[i]
        i += 1
        if ch in "\r\n":
            keys.append("enter")
        elif ch in "\x7f\x08":
            keys.append("backspace")
        elif ch == "\x03":
            keys.append("ctrl-c")
        else:
            keys.append(ch)
    return keys


class RawKeys:
    """stdin in cbreak mode (no echo, no line buffering; Ctrl-C still interrupts)."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._saved: Any = None

    def __enter__(self) -> RawKeys:
        self.raw()
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def raw(self) -> None:
        import termios
        import tty

        if self._saved is None:
            self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)

    def restore(self) -> None:
        import termios

        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def read(self, timeout: float) -> list[str]:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        data = os.read(self.fd, 256)
        if not data:
            return ["eof"]
        return parse_keys(data.decode("utf-8", errors="replace"))


class _Refresher(threading.Thread):
    """Refreshes at the interval (or at once on ``r``); never two refreshes at the same time."""

    def __init__(self, watcher: Watcher, model: ViewModel, count: int | None) -> None:
        super().__init__(name="mpremote-watch-refresh", daemon=True)
        self.watcher, self.model, self.count = watcher, model, count
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.done = threading.Event()  # --count reached

    def run(self) -> None:
        w, m = self.watcher, self.model
        next_at = time.monotonic()
        try:
            while not self.stop.is_set():
                m.start_refresh(w.refreshes + 1)
                w.refresh(cancel=self.stop, on_row=m.apply, on_start=lambda h: m.host_started(h.name))
                if self.stop.is_set():
                    break
                m.finish_refresh(_dt.datetime.now(_dt.UTC))
                if self.count is not None and w.refreshes >= self.count:
                    self.done.set()
                    break
                next_at = max(next_at + w.options.interval, time.monotonic() - w.options.interval)
                self.wake.wait(max(0.0, next_at - time.monotonic()))
                self.wake.clear()
        except Exception:  # the view must not hang on a dead refresher: show it and stop
            import logging

            logging.getLogger(__name__).exception("watch refresh loop failed")
            m.status_message = "refresh loop failed (see MPREMOTE_DEBUG=1); press q"


def run_view(
    watcher: Watcher,
    *,
    count: int | None = None,
    act: ActionRunner | None = None,
    available_actions: tuple[str, ...] = ("logoff", "disconnect", "message"),
    console: Any = None,
) -> ExitCode:
    """Show the live view until ``q`` (exit 0), Ctrl-C (130) or ``count`` refreshes (worst exit code)."""
    from rich.console import Console
    from rich.live import Live

    console = console or Console()
    model = ViewModel([h.name for h in watcher.hosts], watcher.options.interval)
    model.actions = available_actions
    refresher = _Refresher(watcher, model, count)
    code = ExitCode.OK
    keys = RawKeys()
    live = Live(console=console, screen=True, auto_refresh=False, redirect_stdout=False, redirect_stderr=False)

    def draw() -> None:
        size = console.size
        live.update(render(model, height=size.height, width=size.width), refresh=True)

    refresher.start()
    try:
        with keys, live:
            while True:
                draw()
                if refresher.done.is_set():
                    code = watcher.worst
                    break
                pressed = keys.read(0.25)
                if "eof" in pressed:
                    break
                request = None
                for key in pressed:
                    outcome = handle_key(model, refresher, key, available_actions)
                    if outcome == "quit":
                        return ExitCode.OK
                    if outcome is not None:
                        request = outcome
                if request is not None and act is not None:
                    keys.restore()
                    live.stop()
                    try:
                        _run_action(model, request, act, console)
                    finally:
                        live.start()
                        keys.raw()
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    finally:
        refresher.stop.set()
        refresher.wake.set()
        console.print("closing connections…", style="dim")
        refresher.join(timeout=watcher.options.per_host_timeout + 5)
    return code


def handle_key(model: ViewModel, refresher: _Refresher, key: str, actions: tuple[str, ...]) -> str | None:
    """Apply one key to the model. Returns "quit", an action name, or None."""
    with model.lock:
        model.status_message = ""
        if model.input_mode == "filter":
            if key == "enter":
                model.input_mode = None
            elif key == "esc":
                model.input_mode, model.filter = None, ""
            elif key == "backspace":
                model.filter = model.filter[:-1]
            elif len(key) == 1 and key.isprintable():
                model.filter += key
            return None
        if key in ("q", "ctrl-c"):
            return "quit"
        if key == "/":
            model.input_mode = "filter"
        elif key == "s":
            model.cycle_sort()
        elif key == "r":
            refresher.wake.set()
            model.status_message = "refreshing now"
        elif key in ("up", "k"):
            model.move(-1)
        elif key in ("down", "j"):
            model.move(1)
        elif key == "pgup":
            model.move(-10)
        elif key == "pgdn":
            model.move(10)
        elif key in ("home", "g"):
            model.move(-(10**9))
        elif key in ("end", "G"):
            model.move(10**9)
        elif key in ("enter", "right", "left"):
            model.toggle_expand()
        elif key == "e":
            model.toggle_expand_all()
        elif key == " ":
            model.toggle_select()
        elif key == "u":
            model.selected.clear()
        elif key == "esc":
            model.filter = ""
        elif key in ACTION_KEYS:
            action = ACTION_KEYS[key]
            if action not in actions:
                model.status_message = f"{action} is not available here"
                return None
            if not model.targets():
                model.status_message = "select sessions first (Enter expands a host, space selects)"
                return None
            return action
        return None


def _run_action(model: ViewModel, action: str, act: ActionRunner, console: Any) -> None:
    """On the normal screen: ask for text if needed, run the command's own path, wait for Enter."""
    refs = model.targets()
    console.print(f"\n[bold]{action}[/] {len(refs)} selected session(s):", highlight=False)
    for host, sid, user in refs:
        console.print(f"  {host}  id {sid}  {user}", markup=False, highlight=False)
    from mpremote.commands import parse_command

    text: str | None = None
    if parse_command(action).info.needs_text:
        text = input("Message text (empty: cancel): ").strip()
        if not text:
            console.print("Nothing was done.")
            _pause(console)
            return
    code = act(action, refs, text)
    model.status_message = f"{action}: exit code {code}"
    if code != ExitCode.USAGE:  # it ran: start the next action from a clean selection
        with model.lock:
            model.selected.clear()
    _pause(console)


def _pause(console: Any) -> None:
    console.print("Press Enter to go back to the view.", style="bold")
    with contextlib.suppress(EOFError):
        input()
