"""``--help`` of every command, drawn to fit 80 columns.

Typer's rich help shows types instead of values (``--yes <bool>``, ``<list[str]>``,
``{targets}``) and gives each default and range its own line, so at 80 columns one
connection option took 3 to 8 lines. This renderer keeps Typer's look (the same rounded
panels, the same panel names) and draws, per option, one line: ``-l, --limit PATTERN``
then its help, wrapped to a second line at most; flags have no metavar; a metavar names
the value (declared once in :mod:`mpremote.cli.options`). Options are grouped into the same
panels everywhere (:data:`PANEL_ORDER`), then the command's examples (its epilog).

Only the subcommands use it: ``mpremote --help`` stays on Click's plain formatter, so the
root help never imports rich (see :class:`mpremote.cli.app._RootGroup`).
"""

from __future__ import annotations

import inspect
import io
import os
import shutil
import sys
from typing import Any

import typer

from mpremote.terminal import is_tty

#: Panels in the order they are drawn; any other panel follows, "Options" (--help) is last.
PANEL_ORDER = ("Arguments", "Selection", "Action", "Output", "Connection")
DEFAULT_PANEL = "Options"
#: Option help is wrapped to at most this many lines (a test checks every command).
MAX_OPTION_LINES = 2


def _signature(param: Any) -> str:
    """``-l, --limit PATTERN``; ``    --all``; ``--tls / --no-tls``; an argument's metavar."""
    if isinstance(param, typer.core.TyperArgument):
        name = param.metavar or param.name.upper()
        return name if param.required else f"[{name}]"
    shorts = [o for o in param.opts if not o.startswith("--")]
    longs = [o for o in param.opts if o.startswith("--")]
    text = ", ".join([*shorts, *longs])
    if not shorts:
        text = "    " + text
    if param.secondary_opts:
        text += " / " + ", ".join(param.secondary_opts)
    if not getattr(param, "is_flag", False) and not getattr(param, "count", False):
        text += " " + (param.metavar or _value_name(param, longs[0] if longs else param.opts[0]))
    return text


def _value_name(param: Any, option: str) -> str:
    """A metavar for an option declared without one: FILE, DIR, N, SECONDS or the option's name."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    name = option.lstrip("-")
    if getattr(descriptor, "is_path", False):
        return "DIR" if "dir" in name else "FILE"
    if annotation is float and "timeout" in name:
        return "SECONDS"
    if annotation in (int, float):
        return "N"
    return name.upper()


def _extras(param: Any) -> str:
    """``(default: table)``, ``(env: NAME)``, ``(required)`` after the help text."""
    parts = []
    if param.required and not isinstance(param, typer.core.TyperArgument):
        parts.append("required")
    default = param.default
    shown = getattr(param, "show_default", True)
    if shown and default not in (None, False, (), []) and not callable(default):
        if getattr(param, "secondary_opts", None):
            parts.append(f"default: {param.opts[-1] if default else param.secondary_opts[-1]}")
        elif isinstance(shown, str):
            parts.append(f"default: {shown}")
        elif default is not True:
            value = int(default) if isinstance(default, float) and default.is_integer() else default
            parts.append(f"default: {value}")
    envvar = getattr(param, "envvar", None)
    if envvar and getattr(param, "show_envvar", True):
        parts.append(f"env: {envvar if isinstance(envvar, str) else ', '.join(envvar)}")
    return f" ({'; '.join(parts)})" if parts else ""


#: Where an option declared without a panel goes, by its name (policy, lab and newer commands).
KNOWN_PANELS = {
    **dict.fromkeys(("--limit", "--user", "--session", "--idle-over", "--exclude", "--all"), "Selection"),
    **dict.fromkeys(("--dry-run", "--yes", "--now", "--text", "--warn", "--grace", "--seconds"), "Action"),
    **dict.fromkeys(
        ("--format", "--output", "--quiet", "--no-progress", "--audit-log", "--log", "--retry-file"), "Output"
    ),
    **dict.fromkeys(
        ("--concurrency", "--processes", "--timeout", "--username", "--password-stdin", "--auth", "--transport",
         "--port", "--ca-cert", "--no-verify-tls", "--lock-timeout"),
        "Connection",
    ),
}  # fmt: skip


def _panels(command: Any, ctx: Any) -> list[tuple[str, list[Any]]]:
    panels: dict[str, list[Any]] = {}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if isinstance(param, typer.core.TyperArgument):
            name = "Arguments"
        else:
            known = next((KNOWN_PANELS[o] for o in param.opts if o in KNOWN_PANELS), DEFAULT_PANEL)
            name = getattr(param, "rich_help_panel", None) or known
        panels.setdefault(name, []).append(param)
    order = [p for p in PANEL_ORDER if p in panels]
    order += [p for p in panels if p not in PANEL_ORDER and p != DEFAULT_PANEL]
    order += [DEFAULT_PANEL] if DEFAULT_PANEL in panels else []
    return [(name, panels[name]) for name in order]


def _paragraphs(text: str) -> list[str]:
    """Docstring paragraphs; single line breaks join, indented lines (examples) stay as written."""
    out = []
    for block in inspect.cleandoc(text).split("\n\n"):
        lines = block.split("\n")
        if all(line.startswith(("  ", "$ ")) for line in lines if line.strip()):
            out.append("\n".join(lines))
        else:
            out.append(" ".join(line.strip() for line in lines))
    return [p for p in out if p.strip()]


def render_help(command: Any, ctx: Any, width: int | None = None) -> str:
    """The help screen as text (with colour codes only when stdout is a colour terminal)."""
    from rich.console import Console, Group
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    tty = is_tty(sys.stdout)
    console = Console(
        file=io.StringIO(),
        # COLUMNS first, then the terminal's size, else 80 (a pipe): as the tables do.
        width=width or shutil.get_terminal_size().columns,
        force_terminal=tty,
        no_color=not tty or bool(os.environ.get("NO_COLOR")),
        highlight=False,
        emoji=False,
    )
    pieces = [ctx.command_path, "[OPTIONS]"]
    pieces += [_signature(p) for p in command.get_params(ctx) if isinstance(p, typer.core.TyperArgument)]
    if isinstance(command, typer.core.TyperGroup):
        pieces.append("COMMAND [ARGS]...")
    body: list[Any] = [Padding(Text.assemble(("Usage: ", "yellow"), (" ".join(pieces), "bold")), (1, 1, 0, 1))]
    paragraphs = _paragraphs(command.help or "")
    for i, para in enumerate(paragraphs):
        body.append(Padding(Text(para, style="" if i == 0 else "dim"), (1, 1, 0, 1)))
    body.append(Text(""))
    panels = _panels(command, ctx)
    sig_width = max((len(_signature(p)) for _, params in panels for p in params), default=0)
    for name, params in panels:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, min_width=sig_width, style="bold cyan")
        grid.add_column(overflow="fold")
        for param in params:
            help_text = Text(" ".join((param.help or "").split()))
            help_text.append(_extras(param), style="dim")
            grid.add_row(_signature(param), help_text)
        body.append(Panel(grid, title=name, title_align="left", border_style="dim"))
    subcommands = _subcommands(command, ctx)
    if subcommands:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="bold cyan")
        grid.add_column(overflow="fold")
        for name, short in subcommands:
            grid.add_row(name, short)
        body.append(Panel(grid, title="Commands", title_align="left", border_style="dim"))
    if command.epilog:
        body.append(Text(""))
        for para in _paragraphs(command.epilog):
            body.append(Padding(Text(para, style="" if para.startswith("$") else "bold"), (0, 1, 1, 1)))
    console.print(Group(*body))
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _subcommands(command: Any, ctx: Any) -> list[tuple[str, str]]:
    if not isinstance(command, typer.core.TyperGroup):
        return []
    rows = []
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None and not getattr(sub, "hidden", False):
            rows.append((name, sub.get_short_help_str(limit=200)))
    return rows


class HelpGroup(typer.core.TyperGroup):
    """A Typer group (``lab``, ``policy``, ``credentials``) whose ``--help`` is :func:`render_help`."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render_help(self, ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            # Typer's error handler prints nothing for "no arguments" (its rich help prints
            # itself while being formatted); this help is text, so echo it.
            typer.echo(ctx.get_help())
        return super().parse_args(ctx, args)


class HelpCommand(typer.core.TyperCommand):
    """A Typer command whose ``--help`` is :func:`render_help`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``[OPTIONS] TARGETS`` in usage lines and usage errors (Typer writes ``{TARGETS}``)."""
        pieces = [self.options_metavar] if self.options_metavar else []
        pieces += [_signature(p) for p in self.get_params(ctx) if isinstance(p, typer.core.TyperArgument)]
        return pieces

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render_help(self, ctx))


def use_compact_help(app: typer.Typer) -> None:
    """Give every command of ``app`` (and of its sub-apps) the compact help, once."""
    for info in app.registered_commands:
        if info.cls in (None, typer.core.TyperCommand):
            info.cls = HelpCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            group.cls = HelpGroup
            use_compact_help(group.typer_instance)
