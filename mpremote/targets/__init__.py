"""Target lists: YAML files (native or Ansible inventories) -> resolved :class:`~mpremote.hosts.Host` list.

Modules:

* :mod:`~mpremote.targets.native`: the reader (``load_targets``), both formats;
* :mod:`~mpremote.targets.ansible`: Ansible variable mapping;
* :mod:`~mpremote.targets.fields`: the field table (one place per field's rules);
* :mod:`~mpremote.targets.patterns`: host ranges and ``--limit`` patterns;
* :mod:`~mpremote.targets.yamlload`: the line-aware YAML loader (also used by policies).

The public names are re-exported lazily, so importing :mod:`mpremote.targets.yamlload`
alone (policies, the lab) does not load the target reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpremote.targets.native import FIELDS, LITERAL_PASSWORD, FieldSpec, Inventory, load_targets

__all__ = ["FIELDS", "LITERAL_PASSWORD", "FieldSpec", "Inventory", "load_targets"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mpremote.targets import native

        return getattr(native, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
