"""The ``mpremote`` command: a thin Typer layer over the library.

:mod:`~mpremote.cli.app` builds the app; :mod:`~mpremote.cli.options` declares each option
once; :mod:`~mpremote.cli.common` holds shared plumbing; one module per command group
(:mod:`~mpremote.cli.run`, :mod:`~mpremote.cli.credentials`, :mod:`~mpremote.cli.policy`,
:mod:`~mpremote.cli.lab`, :mod:`~mpremote.cli.demo`). Nothing outside this package imports it.
Kept empty so ``mpremote --help`` loads only what it needs.
"""
