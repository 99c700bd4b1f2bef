"""Old import paths that keep working for one minor version, with a DeprecationWarning naming the new one.

``moved(old, {name: new_module})`` is a module ``__getattr__``: touching ``old.name`` imports ``new_module``
by name (only then) and returns its ``name``. The core never imports a plugin otherwise; these aliases are
the exceptions that ``tests/test_core_names_no_paper.py`` allows, and they go in 0.3.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

REMOVED_IN = "0.3"


def moved(old: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the module ``old`` whose ``names`` moved to the modules they map to."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        new = names[name]
        warnings.warn(f"{old}.{name} moved to {new}.{name}: import it from there (the old path goes in "
                      f"genzoo {REMOVED_IN})", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new), name)

    return __getattr__
