"""Tables that fit the screen: the least useful columns go first, names are never cut.

An operator copies user names into ``--user`` and host names into ``--limit``, so those
two columns are never shortened, folded or dropped. On a narrow terminal the table loses,
in order, what matters least (logon time, then the session name), then uses shorter
spellings (``disc`` for ``disconnected``). A table that still does not fit is printed at
its natural width: the terminal wraps the line, but no name loses a character.

Off a terminal (a pipe, a file) nothing is dropped or folded: every value is printed in
full, whatever ``COLUMNS`` says (the rows are data then, not a screen).

rich is imported inside functions only (see :mod:`mpremote.report`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

#: Columns that fold (``detail``) are never made narrower than this while fitting.
MIN_FOLD_WIDTH = 16


@dataclass(frozen=True)
class Column:
    """One column of a fitted table.

    ``drop``: 0 keeps the column always; on a narrow terminal the highest number goes first.
    ``short``: a shorter spelling of the cells, tried after every droppable column is gone.
    ``fold``: long text that may wrap inside its cell (never used for names).
    """

    header: str
    justify: str = "left"
    drop: int = 0
    short: Callable[[str], str] | None = None
    fold: bool = False
    #: A folding column keeps at least this width before droppable columns give way.
    fold_min: int = MIN_FOLD_WIDTH
    style: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def cell_width(cell: Any) -> int:
    """Widest line of a cell, in terminal cells (wide and combining characters counted right)."""
    from rich.cells import cell_len

    text = cell.plain if hasattr(cell, "plain") else str(cell)
    return max((cell_len(line) for line in text.split("\n")), default=0)


def _natural(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    shown: Sequence[int],
    *,
    fold_min: bool,
    floor: bool = False,
) -> int:
    """Width of a boxed rich table (padding 1, borders) showing columns ``shown``.

    ``fold_min``: folding columns count at their ``fold_min``; ``floor``: at the least
    width they can fold to (:data:`MIN_FOLD_WIDTH`).
    """
    total = 1
    for i in shown:
        width = max([cell_width(columns[i].header), *(cell_width(r[i]) for r in rows)])
        if columns[i].fold and (fold_min or floor):
            width = min(width, MIN_FOLD_WIDTH if floor else columns[i].fold_min)
        total += width + 3
    return total


@dataclass
class Fit:
    """What :func:`fit` decided: the columns to show, whether to shorten, the width to print at."""

    shown: list[int]
    shortened: bool
    width: int | None


def fit(columns: Sequence[Column], rows: Sequence[Sequence[Any]], width: int | None) -> Fit:
    """Choose the columns for a screen ``width`` cells wide (None: not a terminal, show all).

    Returns the render width too: the screen width when the table fits it, else the
    table's natural width (it is then wider than the screen and nothing is cut).
    """
    shown = list(range(len(columns)))
    if width is None:
        return Fit(shown, False, _natural(columns, rows, shown, fold_min=False))
    droppable = sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: -columns[i].drop)
    shortened = False
    while _natural(columns, _cells(columns, rows, shortened), shown, fold_min=True) > width:
        if droppable:
            shown.remove(droppable.pop(0))
        elif not shortened and any(c.short for c in columns):
            shortened = True
        else:
            # Nothing left to drop: folding text may still shrink to fit; names never do.
            least = _natural(columns, _cells(columns, rows, shortened), shown, fold_min=True, floor=True)
            return Fit(shown, shortened, width if least <= width else least)
    return Fit(shown, shortened, width)


def _cells(columns: Sequence[Column], rows: Sequence[Sequence[Any]], shortened: bool) -> list[list[Any]]:
    if not shortened:
        return [list(r) for r in rows]
    out = []
    for row in rows:
        out.append([_shorten(columns[i], cell) for i, cell in enumerate(row)])
    return out


def _shorten(column: Column, cell: Any) -> Any:
    if column.short is None:
        return cell
    if hasattr(cell, "plain"):
        from rich.text import Text

        return Text(column.short(cell.plain), style=cell.style)
    return column.short(str(cell))


def screen_width(console: Console) -> int | None:
    """The width to fit tables to: the terminal's (``COLUMNS`` wins), None off a terminal."""
    return console.width if console.is_terminal else None


def print_fitted(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    width: int | None = None,
    fitting: Fit | None = None,
) -> Fit:
    """Build and print the table; ``width`` defaults to :func:`screen_width`."""
    from rich.table import Table

    chosen = fitting or fit(columns, rows, width if width is not None else screen_width(console))
    table = Table(title=title, title_justify="left", expand=False)
    for i in chosen.shown:
        col = columns[i]
        table.add_column(
            col.header,
            justify=col.justify,  # type: ignore[arg-type]
            no_wrap=not col.fold,
            overflow="fold" if col.fold else "ellipsis",
            style=col.style,
        )
    for row in _cells(columns, rows, chosen.shortened):
        table.add_row(*(row[i] for i in chosen.shown))
    print_at_width(console, table, chosen.width)
    return chosen


def print_at_width(console: Console, renderable: Any, width: int | None) -> None:
    """Print at ``width`` even when it is wider than the console (rich would squeeze it)."""
    if width is None or width <= console.width:
        console.print(renderable)
        return
    saved = console.width
    console.width = width
    try:
        console.print(renderable)
    finally:
        console.width = saved
