"""The plugin API is a promise: every name docs/plugins.md lists imports, without a warning, and every name it
lists as deprecated still works, with a DeprecationWarning that names its replacement."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import pytest

GUIDE = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
SECTION = GUIDE[GUIDE.index("## The plugin API"):].split("\n## ", 1)[0]
PROMISED = [(module, name) for module, names in re.findall(r"^- `(zoo[\w.]*)`: (.*)$", SECTION, re.MULTILINE)
            for name in re.findall(r"`(\w+)`", names.split(" — ")[0])]
DEPRECATED = re.findall(r"^\| `(zoo[\w.]*)\.(\w+)` \| `([^`]+)`", SECTION, re.MULTILINE)


def test_the_guide_lists_the_api():
    modules = {module for module, _ in PROMISED}
    assert {"zoo", "zoo.hookspecs", "zoo.interfaces", "zoo.testing", "zoo.nn", "zoo.recipes"} <= modules
    assert ("zoo.recipes", "PositiveInt") in PROMISED and ("zoo.interfaces", "Prior") in PROMISED
    assert {name for module, name in PROMISED if module == "zoo.hookspecs"} == {
        name for name in dir(importlib.import_module("zoo.hookspecs")) if name.startswith("register_")}
    assert len(DEPRECATED) >= 5


@pytest.mark.parametrize(("module", "name"), PROMISED, ids=[f"{m}.{n}" for m, n in PROMISED])
def test_every_promised_name_imports_without_a_warning(module, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(importlib.import_module(module), name) is not None


def test_every_public_name_of_the_interfaces_and_the_testing_helpers_is_promised():
    """What the modules a plugin is built from export (their ``__all__``) is listed, so nothing is public by
    accident (zoo.testing's pytest hooks aside: pytest calls them, plugins don't)."""
    for module in ("zoo.interfaces", "zoo.testing", "zoo.nn", "zoo.priors"):
        exported = set(importlib.import_module(module).__all__) - {"pytest_addoption", "pytest_collection_modifyitems"}
        assert exported <= {name for m, name in PROMISED if m == module}, module


@pytest.mark.parametrize(("module", "name", "replacement"), DEPRECATED, ids=[f"{m}.{n}" for m, n, _ in DEPRECATED])
def test_every_deprecated_name_still_works_and_names_its_replacement(module, name, replacement):
    with pytest.warns(DeprecationWarning) as caught:
        value = getattr(importlib.import_module(module), name)
    assert value is not None
    message = str(caught[0].message)
    assert f"{module}.{name}" in message and "0.2.0" in message
    assert replacement.split("(")[0] in message, f"the warning should name {replacement}: {message}"
