"""The package's modules import one another in one direction: no circle, and no import
of its own modules inside a function to step around one."""

from __future__ import annotations

import ast
from pathlib import Path

import anode_plugin

ROOT = Path(anode_plugin.__file__).parent
PACKAGE = "anode_plugin"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imports(name: str) -> dict[str, list[ast.stmt]]:
    """The modules of the package that ``name`` imports, each with its import
    statements (at any depth: a function's imports count too)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, list[ast.stmt]] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from . import _defaults` imports the module `_defaults`; `from ._x import y`
            # the module `_x`.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        for target in targets:
            # A package's own parent packages are imported first anyway: not an edge.
            if target in MODULES and not name.startswith(target + ".") and target != name:
                found.setdefault(target, []).append(node)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _circles() -> list[list[str]]:
    """Every import circle, as the path of one found by depth-first search."""
    circles, state = [], dict.fromkeys(GRAPH, "new")

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in GRAPH[name]:
            if state[target] == "open":
                circles.append([*path[path.index(target) :], target])
            elif state[target] == "new":
                visit(target, [*path, target])
        state[name] = "done"

    for name in GRAPH:
        if state[name] == "new":
            visit(name, [name])
    return circles


def test_the_graph_sees_the_packages_imports():
    # The check below is only as good as this graph: it holds the edges we know of.
    solve = f"{PACKAGE}.solve"
    assert f"{solve}._backend" in GRAPH[f"{solve}._torchdyn"]
    assert f"{solve}._defaults" in GRAPH[f"{solve}._options"]  # `from . import _defaults`
    assert f"{solve}._native" in GRAPH[f"{solve}._registry"]
    assert f"{solve}._backend" in GRAPH[f"{solve}._native._backend"]
    assert f"{PACKAGE}._solved" in GRAPH[f"{PACKAGE}._cnf._entries"]  # `from .._solved`
    assert f"{PACKAGE}._model" in GRAPH[f"{PACKAGE}.experiments.images._conv_model"]


def test_no_module_of_the_package_imports_itself_in_a_circle():
    assert _circles() == []


def test_no_module_of_the_package_is_imported_inside_a_function():
    # A function-level import of our own modules is how a circle hides: none at all.
    lazy = [
        f"{name} -> {target} (line {node.lineno})"
        for name, targets in GRAPH.items()
        for target, nodes in targets.items()
        for node in nodes
        if node.col_offset > 0
    ]
    assert lazy == []
