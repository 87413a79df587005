"""mpremote: end user sessions on Windows MultiPoint / Remote Desktop hosts over PSRP.

The package is a library first; the ``mpremote`` command is a thin Typer layer over it.
Heavy modules (pypsrp, psrpcore, rich) are imported lazily by the modules that need them,
so importing :mod:`mpremote` and running ``mpremote --help`` stay cheap.
"""

from __future__ import annotations

import logging

__all__ = ["__version__"]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
