"""``mpremote credentials``: store and remove passwords in the OS keyring.

Unattended runs (scheduled policies) need a password that is neither in a file nor on a
command line; the OS keyring (Windows Credential Manager, macOS Keychain, Secret Service)
is the usual place. Entries live under service ``mpremote``, key = user name (or
``user@host`` for one host's own account), which is where the resolver looks.
"""

# No ``from __future__ import annotations`` here: Typer would evaluate every string
# annotation of every command on each start (about 5 ms of ``mpremote --help``).

from typing import Annotated

import typer

from mpremote.cli.errors import handles_errors
from mpremote.results import ExitCode

app = typer.Typer(no_args_is_help=True, add_completion=False)

User = Annotated[str, typer.Argument(help="The account, as written in the target list (e.g. SCHOOL\\labadmin).")]
ForHost = Annotated[
    str | None, typer.Option("--host", help="Only for this host (key user@host) instead of every host.")
]


@app.command("set")
@handles_errors
def set_password(
    user: User,
    host: ForHost = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input instead of a prompt.")
    ] = False,
) -> ExitCode:
    """Store USER's password in the OS keyring (asks twice on a terminal; never echoed)."""
    import getpass

    from mpremote.cli.common import err_console
    from mpremote.credentials import Secret, read_password_stdin, store_in_keyring
    from mpremote.errors import UsageError

    if password_stdin:
        password = read_password_stdin()
    else:
        first = getpass.getpass(f"Password for {user}: ")
        if first != getpass.getpass("Again: "):
            raise UsageError("the two passwords differ; nothing was stored")
        if not first:
            raise UsageError("empty password; nothing was stored")
        password = Secret(first)
    key = store_in_keyring(user, password, host=host)
    err_console().print(f"stored in the keyring: service 'mpremote', key '{key}'", markup=False)
    return ExitCode.OK


@app.command("delete")
@handles_errors
def delete_password(user: User, host: ForHost = None) -> ExitCode:
    """Remove USER's password from the OS keyring."""
    from mpremote.cli.common import err_console
    from mpremote.credentials import delete_from_keyring
    from mpremote.errors import UsageError

    if not delete_from_keyring(user, host=host):
        raise UsageError(f"there was no stored password for {user}{' on ' + host if host else ''}; nothing was removed")
    err_console().print("removed", markup=False)
    return ExitCode.OK
