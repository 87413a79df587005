"""The ``mpremote`` command: a thin Typer layer over the library (no logic of its own)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mpremote",
    help="End user sessions on a lab of Windows MultiPoint / Remote Desktop hosts over PowerShell Remoting.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root() -> None:
    """mpremote: list, log off, disconnect and message user sessions on many hosts at once."""


def run() -> None:
    app()
