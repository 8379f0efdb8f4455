"""Every public name has a docstring and a place in the API reference."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

PUBLIC_MODULES = (
    "anode_plugin",
    "anode_plugin.lightning",
    "anode_plugin.datasets",
    "anode_plugin.testing",
    "anode_plugin.experiments",
    "anode_plugin.experiments.images",
    "anode_plugin.solve",
)
REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference"


def _public_objects():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield module_name, name, obj


@pytest.mark.parametrize(
    ("module_name", "name", "obj"),
    list(_public_objects()),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_public_name_has_a_docstring(module_name, name, obj):
    doc = inspect.getdoc(obj)
    assert doc and len(doc.split()) >= 3, f"{module_name}.{name} has no real docstring"


def test_every_public_module_is_in_the_api_reference():
    pages = "\n".join(page.read_text() for page in REFERENCE.glob("*.md"))
    for module_name in PUBLIC_MODULES[1:]:
        assert f"::: {module_name}" in pages, module_name
    core = importlib.import_module("anode_plugin")
    for name in core.__all__:
        if name != "__version__":
            assert f"- {name}" in pages, f"anode_plugin.{name} is missing from reference/core.md"
