"""Cheap construction of the ``PSCustomObject``s the lab's host model returns.

``PSCustomObject(Name=value, ...)`` builds each note property with
``PSNoteProperty(name, value=...)``, and psrpcore (0.3) creates a throwaway ``PSObject()``
for every property given a value that way (``PSPropertyInfo.__init__`` passes one to
``set_value``). That throwaway object, and the attribute look-ups it costs, were about a
tenth of the lab's CPU in the benchmark. :func:`custom_object` builds the same object
through psrpcore's public pieces (an empty ``PSCustomObject``, ``PSNoteProperty(name)``,
``set_value``): same type names, same properties in the same order, same values, so the
same CLIXML on the wire (``tests/lab/test_psobjects.py`` compares the serialisations).
"""

from __future__ import annotations

from typing import Any

from psrpcore.types import PSCustomObject, PSNoteProperty, PSObject


def psobject_of(obj: Any) -> Any:
    """``getattr(obj, "PSObject", None)``, without psrpcore's attribute machinery.

    On a psrpcore ``PSObject`` every attribute read goes through its ``__getattribute__``,
    which builds a dict of all the object's properties and then returns the real Python
    attribute when there is one, as there always is for ``PSObject``; this reads that
    attribute directly. Anything else is asked as usual.
    """
    if issubclass(type(obj), PSObject):
        try:
            return object.__getattribute__(obj, "PSObject")
        except AttributeError:
            return None
    return getattr(obj, "PSObject", None)


def custom_object(**properties: Any) -> PSCustomObject:
    """``[PSCustomObject]@{...}``: what ``PSCustomObject(**properties)`` builds, cheaper.

    As in PowerShell (and psrpcore), a ``PSTypeName`` entry is not a property: its value
    goes to the front of the object's type names.
    """
    obj = PSCustomObject()
    ps = object.__getattribute__(obj, "PSObject")
    extended = ps.extended_properties
    for name, value in properties.items():
        if name == "PSTypeName":
            ps.type_names.insert(0, value)
            continue
        prop = PSNoteProperty(name)
        prop.set_value(value, obj)
        extended.append(prop)
    return obj
