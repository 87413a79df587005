"""YAML loading that remembers where every value came from.

Why not plain ``yaml.safe_load``: an operator fixing a 300-line target list needs
"lab.yaml:42: field 'port': ..." rather than "port is wrong", and PyYAML silently keeps
the *last* of two duplicate keys, which turns a copy-paste slip into the wrong host
being logged off. This loader

* builds :class:`LineDict` / :class:`LineList` (plain ``dict`` / ``list`` subclasses)
  that remember the 1-based line of the container, of every key and of every item;
* refuses duplicate keys in one mapping, naming both lines;
* turns Ansible's ``!vault`` values into :class:`VaultValue` markers (so an Ansible
  inventory loads and the caller can refuse the field with a clear message) and reads
  ``!unsafe`` as a plain string;
* reports malformed YAML as :class:`~mpremote.errors.InputFileError` with the line of
  the YAML mark. PyYAML's own rendering of a mark quotes the offending source line,
  which may hold a password, so only the problem text and the line number are kept.

It is shared by target lists, policies and lab files.

Speed: a file is parsed with libyaml (``CSafeLoader``) when PyYAML was built with it,
about 6x faster than the pure-Python parser (13.7 -> 2.3 ms for a 100-host list, most of
a ``sessions`` run's pre-flight). The two parsers word their errors differently, so a
file libyaml refuses is parsed again by the pure-Python loader, whose messages users and
tests know; only that loader's verdict is reported. libyaml accepts a little more, as
YAML 1.2 does (a tab as in-line white space, a comment right after ``>``), and reads a
bare ``!`` tag on an empty value as '' rather than None (``tests/unit/test_yamlload.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mpremote.errors import InputFileError

__all__ = ["LineDict", "LineList", "VaultValue", "load_yaml", "parse_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class LineDict(dict[Any, Any]):
    """A mapping that knows its own line and the line of each of its keys."""

    line: int
    key_lines: dict[Any, int]

    def __init__(self, *args: Any, line: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = line
        self.key_lines = {}

    def line_of(self, key: Any) -> int:
        """Line of ``key`` (falls back to the mapping's own line for keys added later)."""
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence that knows its own line and the line of each item."""

    line: int
    item_lines: list[int]

    def __init__(self, *args: Any, line: int = 0) -> None:
        super().__init__(*args)
        self.line = line
        self.item_lines = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class VaultValue:
    """An Ansible ``!vault`` value: kept opaque, never decrypted, never printed."""

    __slots__ = ("line",)

    def __init__(self, line: int) -> None:
        self.line = line

    def __repr__(self) -> str:
        return "<vault>"


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that builds line-aware containers and refuses duplicate keys."""

    path: str = "<string>"


_CBase: Any = getattr(yaml, "CSafeLoader", None)


if _CBase is not None:

    class _CLineLoader(_CBase):  # type: ignore[misc]
        """libyaml's parser with the same constructors as :class:`_LineLoader`."""

        path: str = "<string>"


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _check_duplicates(loader: _LineLoader, node: yaml.MappingNode) -> None:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # unhashable key: construct_mapping reports it properly
            continue
        if first is not None:
            raise InputFileError(
                loader.path,
                _line(key_node),
                str(key),
                f"duplicate key (first defined at line {first}); YAML would silently keep only the last one",
            )
        seen[key] = _line(key_node)


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Any:
    data = LineDict(line=_line(node))
    yield data
    _check_duplicates(loader, node)
    data.update(loader.construct_mapping(node, deep=False))  # also flattens ``<<`` merges
    for key_node, _ in node.value:  # merged keys first, explicit keys last: last one wins
        data.key_lines[loader.construct_object(key_node, deep=False)] = _line(key_node)


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Any:
    data = LineList(line=_line(node))
    yield data
    data.item_lines = [_line(item) for item in node.value]
    data.extend(loader.construct_sequence(node, deep=False))


def _construct_vault(loader: _LineLoader, node: yaml.Node) -> VaultValue:
    return VaultValue(_line(node))


def _construct_unsafe(loader: _LineLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    return loader.construct_undefined(node)


def _construct_timestamp(loader: _LineLoader, node: yaml.ScalarNode) -> Any:
    """Dates like ``2026-13-01`` look like timestamps but do not exist: say where, not crash."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise InputFileError(loader.path, _line(node), None, f"{node.value!r} is not a valid date: {exc}") from None


_LOADERS: tuple[Any, ...] = (_LineLoader,) if _CBase is None else (_LineLoader, _CLineLoader)
for _loader in _LOADERS:
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
    _loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
    _loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
    _loader.add_constructor("!vault", _construct_vault)
    _loader.add_constructor("!unsafe", _construct_unsafe)


def parse_yaml(text: str, path: str | Path = "<string>", *, fast: bool = True) -> Any:
    """Parse one YAML document from ``text``; errors name ``path`` and the line.

    ``fast=False`` forces the pure-Python parser (the tests compare the two).
    """
    if fast and _CBase is not None:
        try:
            return _load(_CLineLoader, text, path)
        except (yaml.YAMLError, UnicodeEncodeError):  # libyaml takes UTF-8: no lone surrogates
            pass  # the pure-Python parser below words the error (or, rarely, accepts the file)
    try:
        return _load(_LineLoader, text, path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise InputFileError(str(path), mark.line + 1 if mark else None, None, f"malformed YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character or lone surrogate in the text
        line = text.count("\n", 0, exc.position) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        problem = f"malformed YAML: character {char} is not allowed in YAML"
        raise InputFileError(str(path), line, None, problem) from None
    except yaml.YAMLError as exc:
        raise InputFileError(str(path), None, None, f"malformed YAML: {type(exc).__name__}") from None


def _load(loader_class: Any, text: str, path: str | Path) -> Any:
    """One document with ``loader_class``; the loader is built inside the caller's ``try``
    because PyYAML's reader checks the whole text for forbidden characters in ``__init__``."""
    loader = loader_class(text)
    try:
        loader.path = str(path)
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file (UTF-8, with or without a BOM as Notepad writes it)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputFileError(str(path), None, None, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(str(path), None, None, "is a directory, not a file") from None
    except OSError as exc:
        raise InputFileError(str(path), None, None, f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(str(path), line, None, "file is not valid UTF-8") from None
    return parse_yaml(text, path)
