"""Testing helpers for the zoo and for third-party plugins, and the conformance suite (a pytest plugin).

- ``registry_with(my_plugin)``: a registry of the installed plugins plus yours, installed or not;
  ``use_registry(registry)``: make it the one recipes and the CLI see inside a ``with`` block.
- The conformance suite (``zoo.testing.conformance``): what every component of a kind must do. In a
  plugin's tests, one line runs it over every component the plugin registers::

      import zoo_demo
      from zoo.testing import conformance_test

      test_conformance = conformance_test(zoo_demo)     # or conformance_test("demo"), once installed

  From the command line: ``pytest --zoo-conformance`` (every installed component) or
  ``pytest --zoo-conformance=PLUGIN``. One component: ``check_component("field", MyField)``.

This module is the pytest plugin (entry-point group ``pytest11``); importing it stays cheap; torch loads
when a check runs.
"""

from __future__ import annotations

import importlib

from zoo.testing.pytest_plugin import pytest_addoption, pytest_collection_modifyitems
from zoo.testing.registries import registry_with, use_registry

__all__ = [
    "Case",
    "ConformanceError",
    "check_component",
    "conformance_cases",
    "conformance_test",
    "registry_with",
    "use_registry",
    "pytest_addoption",
    "pytest_collection_modifyitems",
]

_CONFORMANCE = {"Case", "ConformanceError", "check_component", "conformance_cases", "conformance_test"}


def __getattr__(name: str):
    if name in _CONFORMANCE:
        return getattr(importlib.import_module("zoo.testing.conformance"), name)
    raise AttributeError(f"module 'zoo.testing' has no attribute {name!r}")
