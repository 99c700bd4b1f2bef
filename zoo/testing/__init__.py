"""Testing helpers for the zoo and for third-party plugins, and the conformance suite (a pytest plugin).

- ``registry_with(my_plugin)``: a registry of the installed plugins plus yours, installed or not;
  ``use_registry(registry)``: make it the one recipes and the CLI see inside a ``with`` block.
- The conformance suite (``zoo.testing.conformance``): what every component of a kind must do, by the check
  its kind registered. In a plugin's tests, one line runs it over every component the plugin registers::

      import zoo_demo
      from zoo.testing import conformance_test

      test_conformance = conformance_test(zoo_demo)     # or conformance_test("demo"), once installed

  From the command line: ``pytest --zoo-conformance`` (every installed component) or
  ``pytest --zoo-conformance=PLUGIN``. One component: ``check_component("field", MyField)``.
- The pieces a plugin's own kind writes its check with: ``build_from_defaults``, ``conform``, ``Exercise``,
  ``expect_tensor``, ``expect_distribution``, ``stage`` and ``ConformanceError``.

This module is the pytest plugin (entry-point group ``pytest11``); importing it stays cheap and needs
neither torch nor pytest, which load when a check runs.
"""

from __future__ import annotations

import functools
import importlib
import warnings

from zoo.testing.pytest_plugin import pytest_addoption, pytest_collection_modifyitems
from zoo.testing.registries import registry_with, use_registry

__all__ = [
    "Case",
    "ConformanceError",
    "Exercise",
    "build_from_defaults",
    "check_component",
    "conform",
    "conformance_cases",
    "conformance_test",
    "expect_distribution",
    "expect_tensor",
    "registry_with",
    "stage",
    "use_registry",
    "pytest_addoption",
    "pytest_collection_modifyitems",
]

_CONFORMANCE = {"Case", "ConformanceError", "Exercise", "build_from_defaults", "check_component", "conform",
                "conformance_cases", "conformance_test", "expect_distribution", "expect_tensor", "stage"}


def __getattr__(name: str):
    if name in _CONFORMANCE:
        return getattr(importlib.import_module("zoo.testing.conformance"), name)
    if name == "CHECKS":  # genzoo 0.1's zoo.testing.CHECKS: kind -> check(obj)
        warnings.warn("zoo.testing.CHECKS is deprecated since genzoo 0.2.0 and goes in 0.3: each kind registers its "
                      "check (register_kinds); call zoo.testing.check_component(kind, obj) instead of "
                      "CHECKS[kind](obj)", DeprecationWarning, stacklevel=2)
        from zoo.registry import get_registry
        from zoo.testing.conformance import check_component

        kinds = get_registry().kinds
        return {kind: functools.partial(check_component, kind) for kind, k in kinds.items() if k.check is not None}
    raise AttributeError(f"module 'zoo.testing' has no attribute {name!r}")
