"""A small line-aware YAML loader for policy files.

Validation errors must name ``file:line:field``; plain ``yaml.safe_load`` forgets where a
value came from. This loader builds ordinary dicts and lists whose subclasses remember the
line of every key and item. It is private to the policy package: if a shared line-aware
loader appears (``mpremote/yamlload.py``), this one can be replaced by it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mpremote.errors import InputFileError


class LineDict(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence that remembers its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    """SafeLoader whose containers carry line numbers and which refuses duplicate keys."""

    def __init__(self, stream: Any, path: str) -> None:
        super().__init__(stream)
        self._path = path

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        self.flatten_mapping(node)
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                # YAML turns `on:` / `1:` into bool/int keys; policy keys are always text.
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in result:
                raise InputFileError(self._path, line, key, f"duplicate key (first at line {result.key_lines[key]})")
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    lambda loader, node: loader.construct_mapping(node),  # type: ignore[arg-type]
)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    lambda loader, node: loader.construct_sequence(node),  # type: ignore[arg-type]
)


def load_yaml(path: str | Path) -> Any:
    """Load one YAML document with line numbers; every failure is an :class:`InputFileError`."""
    path_s = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(path_s, None, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path_s, None, None, f"cannot read: {exc}") from None
    return loads_yaml(text, path_s)


def loads_yaml(text: str, path: str = "<string>") -> Any:
    """Parse YAML text; ``path`` is only used in error messages."""
    loader = _Loader(text, path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise InputFileError(path, line, None, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise InputFileError(path, None, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
