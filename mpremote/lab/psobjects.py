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

from psrpcore.types import PSCustomObject, PSNoteProperty, PSObject, PSVersion


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


def ps_attr(obj: Any, name: str) -> Any:
    """``getattr(obj, name)`` on a psrpcore ``PSObject``, without its attribute machinery.

    psrpcore's ``PSObject.__getattribute__`` builds a dict of every property (adapted, then
    extended, so an extended one wins a name clash) on each access, then returns the real
    Python attribute of that name if there is one and that property's value otherwise; this
    takes the same two steps without the dict. Raises AttributeError as that does.
    """
    try:
        return object.__getattribute__(obj, name)
    except AttributeError:
        pass
    ps = object.__getattribute__(obj, "PSObject")
    found = None
    for prop in ps.adapted_properties:
        if prop.name == name:
            found = prop
    for prop in ps.extended_properties:
        if prop.name == name:
            found = prop
    if found is None:
        raise AttributeError(f"'{type(obj).__name__}' object has no attribute '{name}'")
    return found.get_value(obj)


def version_text(version: Any) -> str:
    """``str(version)`` for a psrpcore ``PSVersion`` (major.minor[.build[.revision]]), its
    fields read directly; anything else through ``str``."""
    if type(version) is not PSVersion:
        return str(version)
    parts = (object.__getattribute__(version, f) for f in ("major", "minor", "build", "revision"))
    return ".".join(str(p) for p in parts if p is not None)


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
