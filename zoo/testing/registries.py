"""Registries for tests: the installed plugins plus yours, without installing it, and a way to use one.

``registry_with(my_plugin)`` builds a new registry; ``use_registry(registry)`` makes it the one that
``zoo.create``, recipes and the CLI see inside a ``with`` block. The process-wide registry is never
changed outside that block, so tests can't leak plugins into each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from zoo.plugins import PluginInfo, load_plugins

if TYPE_CHECKING:
    from zoo.registry import Registry

__all__ = ["registry_with", "use_registry"]

FIXTURE_DISTRIBUTION, FIXTURE_VERSION = "fixture-dist", "0.0"


def registry_with(*plugins: Any, distribution: str | None = None, version: str | None = None) -> Registry:
    """A new registry of the installed plugins plus ``plugins`` (modules or objects with hookimpls and a
    ``__name__``, which becomes the plugin's name).

    A plugin that is installed too (the same module, or another one under the same name) replaces the
    installed copy, so a plugin's tests run the same whether or not it is pip-installed. ``distribution``
    and ``version`` are what checkpoints record for it: by default the installed copy's, else
    ``fixture-dist 0.0``.
    """
    from zoo.registry import build_registry

    pm, infos = load_plugins()
    for plugin in plugins:
        name = plugin.__name__
        installed = [info for info in infos if info.name == name or pm.get_plugin(info.name) is plugin]
        for info in installed:
            if pm.get_plugin(info.name) is not None:
                pm.unregister(name=info.name)
            infos.remove(info)
        pm.register(plugin, name=name)
        previous = installed[0] if installed else None
        infos.append(PluginInfo(
            name,
            previous.module if previous else name,
            distribution or (previous.distribution if previous else FIXTURE_DISTRIBUTION),
            version or (previous.version if previous else FIXTURE_VERSION),
            builtin=previous.builtin if previous else False,
            hooks=sorted(h.name for h in pm.get_hookcallers(plugin) or []),
        ))
    return build_registry(pm, infos)


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
