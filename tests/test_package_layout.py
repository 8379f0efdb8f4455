"""The package's layout: small modules, and no private name imported from another
package (what two packages share is public). No import circle: ``test_imports.py``."""

from __future__ import annotations

import ast
import pathlib

import pytest

import anode_plugin

ROOT = pathlib.Path(anode_plugin.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: pathlib.Path) -> str:
    name = _module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(path: pathlib.Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` for every ``from ... import`` of the package, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = _package(path).split(".")
            base = base[: len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] == "anode_plugin":
            found.append((target, [alias.name for alias in node.names]))
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_is_readable_in_one_sitting(name):
    assert len(MODULES[name].read_text().splitlines()) <= 250


def test_no_private_name_crosses_a_package():
    crossing = set()
    for name, path in MODULES.items():
        for target, names in _imports(path):
            target_path = ROOT.parent / (target.replace(".", "/") + ".py")
            target_package = target if not target_path.exists() else target.rpartition(".")[0]
            for imported in names:
                submodule = ROOT.parent / target.replace(".", "/") / f"{imported}.py"
                private = imported.startswith("_") and not imported.startswith("__")
                if private and target_package != _package(path) and not submodule.exists():
                    crossing.add((name, target, imported))
    assert crossing == set()
