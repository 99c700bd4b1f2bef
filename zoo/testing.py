"""Testing helpers for the zoo and for third-party plugins.

- ``registry_with(plugin, ...)``: a registry of the installed plugins plus yours, without installing it;
- ``use_registry(registry)``: make that registry the process-wide one inside a ``with`` block;
- ``check_component(kind, obj)``: the conformance checks every component of a kind must pass
  (shapes, the interface's return types, differentiability). The zoo's own suite runs them over every
  registered component; a plugin author runs them over theirs:

      @pytest.mark.parametrize("entry", zoo.list_components("field", "gabor*"), ids=lambda e: e.name)
      def test_conformance(entry):
          zoo.testing.check_component(entry.kind, entry.obj)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from zoo.plugins import PluginInfo, load_plugins
from zoo.registry import Registry, build_registry

__all__ = ["registry_with", "use_registry"]


def registry_with(*plugins: Any, distribution: str = "fixture-dist", version: str = "0.0") -> Registry:
    """The installed plugins plus ``plugins`` (modules or objects with hookimpls and a ``__name__``)."""
    pm, infos = load_plugins()
    try:
        for plugin in plugins:
            pm.register(plugin, name=plugin.__name__)
            infos.append(PluginInfo(plugin.__name__, plugin.__name__, distribution, version, builtin=False))
        return build_registry(pm, infos)
    finally:
        for plugin in plugins:
            pm.unregister(plugin)


@contextlib.contextmanager
def use_registry(registry: Registry) -> Iterator[Registry]:
    """Make ``registry`` the one ``zoo.create`` / recipes / the CLI see, restoring the old one after."""
    from zoo import registry as module

    previous = module._registry
    module._registry = registry
    try:
        yield registry
    finally:
        module._registry = previous
