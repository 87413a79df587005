"""The layers stay layers: import rules read from the source (every import, deferred ones too).

* the emulated lab imports from the client only ``errors`` and the YAML loader (and the
  shared quser vocabulary, data both sides must agree on, and the script loader, so it
  recognises the scripts exactly as they are sent), so it stays an independent ground truth;
* only ``remote/`` imports pypsrp (the one place lower-layer errors are translated);
* nothing outside ``cli/`` imports ``cli`` (the CLI is a layer over the library);
* no import cycles between modules (``if TYPE_CHECKING:`` imports are types, not imports).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mpremote"

#: What the lab may import from the client. ``quser_lang`` is data (quser's headers and
#: state words per language, OEM code-page mangling) that the lab prints and the client reads;
#: ``remote.scripts`` composes the scripts from their fragments, for the client to send and
#: the lab to recognise (text only: it imports no pypsrp); ``startup`` ends the CLI's
#: start-up pause of the garbage collector when a lab starts serving.
LAB_MAY_IMPORT = (
    "mpremote.lab",
    "mpremote.errors",
    "mpremote.targets.yamlload",
    "mpremote.quser_lang",
    "mpremote.remote.scripts",
    "mpremote.startup",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, *, types_too: bool = False) -> set[str]:
    """Every dotted name ``name`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node) and not types_too:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _internal(imported: set[str], own: str) -> set[str]:
    """The project modules among ``imported`` (longest known prefix), without ``own``."""
    out = set()
    for dotted in imported:
        while dotted and dotted not in MODULES:
            dotted = dotted.rpartition(".")[0]
        if dotted and dotted != own:
            out.add(dotted)
    return out


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_lab_imports_only_errors_and_the_yaml_loader_from_the_client() -> None:
    offences = {
        name: sorted(m for m in _internal(_imports(name, path, types_too=True), name)
                     if not any(_within(m, allowed) for allowed in LAB_MAY_IMPORT))
        for name, path in MODULES.items()
        if _within(name, "mpremote.lab")
    }  # fmt: skip
    assert {k: v for k, v in offences.items() if v} == {}


def test_only_remote_imports_pypsrp() -> None:
    importers = sorted(
        name
        for name, path in MODULES.items()
        if any(_within(m, "pypsrp") for m in _imports(name, path, types_too=True))
        and not _within(name, "mpremote.remote")
    )
    assert importers == []
    assert any(  # the rule is not vacuous: remote/ does import it
        any(_within(m, "pypsrp") for m in _imports(name, path)) for name, path in MODULES.items()
    )


def test_nothing_outside_cli_imports_cli() -> None:
    importers = sorted(
        name
        for name, path in MODULES.items()
        if not _within(name, "mpremote.cli")
        and name != "mpremote.__main__"
        and any(_within(m, "mpremote.cli") for m in _internal(_imports(name, path, types_too=True), name))
    )
    assert importers == []


def test_no_import_cycles() -> None:
    graph = {name: _internal(_imports(name, path), name) for name, path in MODULES.items()}
    # A package's __init__ re-exporting its own submodules is not a cycle between layers.
    graph = {n: {m for m in deps if not _within(m, n)} for n, deps in graph.items()}
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            strongconnect(v)
    assert cycles == []


def test_the_rules_see_real_imports() -> None:
    """Guards the guard: the reader finds deferred imports and resolves relative ones."""
    api = _internal(_imports("mpremote.api", MODULES["mpremote.api"]), "mpremote.api")
    assert {"mpremote.errors", "mpremote.fanout", "mpremote.audit"} <= api  # fanout/audit: deferred
    assert "mpremote.cli.app" in _internal(_imports("mpremote.__main__", MODULES["mpremote.__main__"]), "")
