"""The plugin manager: built-ins listed in registry.yaml and third-party plugins from entry points.

Both go through the same pluggy manager, as pytest loads its default plugins. A plugin that fails to
import is recorded as broken (name + error) and the rest of the zoo keeps working, unless
``ZOO_STRICT_PLUGINS`` is on (``1``, ``true``, ``yes``, ``on``; off: ``0``, ``false``, ``no``, ``off``, empty
or unset; any other value is refused). ``ZOO_LOAD_PLUGINS=a,b`` loads only the plugins named (the core's own
modules, ``zoo.*``, always load; an empty value loads no plugin beyond them).

Third-party plugins declare themselves in their ``pyproject.toml``::

    [project.entry-points.zoo]
    gabor = "zoo_gabor"
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import warnings
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import ModuleType

import pluggy

from zoo import hookspecs, yaml12
from zoo.errors import PluginError, ZooWarning

ENTRY_POINT_GROUP = "zoo"
DISTRIBUTION = "genzoo"


@dataclass
class PluginInfo:
    """What `zoo plugins` shows for one plugin."""

    name: str
    module: str
    distribution: str
    version: str
    builtin: bool
    status: str = "ok"  # "ok" | "broken"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)

    @property
    def core(self) -> bool:
        """The core's own modules (``zoo.*``): always loaded, hidden from ``zoo plugins`` without --all."""
        return self.module.startswith("zoo.")


@cache
def builtin_config() -> dict:
    """registry.yaml, shipped inside the ``zoo`` package: ``{"plugins": [...], "recipes": {...}}``."""
    text = resources.files("zoo").joinpath("registry.yaml").read_text(encoding="utf-8")
    return yaml12.safe_load(text) or {}


def genzoo_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # running from a source tree that isn't installed
        from zoo import __version__

        return __version__


def _selection() -> set[str] | None:
    """The plugin names ZOO_LOAD_PLUGINS asks for (None: it is unset, load every plugin)."""
    selection = os.environ.get("ZOO_LOAD_PLUGINS")
    return None if selection is None else {s.strip() for s in selection.split(",") if s.strip()}


def _wanted(name: str, module: str) -> bool:
    selection = _selection()
    return selection is None or module.startswith("zoo.") or name in selection


STRICT_VALUES = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
                 "off": False, "": False}


def strict() -> bool:
    """Whether ``ZOO_STRICT_PLUGINS`` makes a plugin that fails to load an error (a PluginError for any other
    value than ``STRICT_VALUES``: a typo must not quietly mean "not strict")."""
    value = os.environ.get("ZOO_STRICT_PLUGINS", "")
    if value.strip().lower() not in STRICT_VALUES:
        raise PluginError(f"ZOO_STRICT_PLUGINS={value!r} is not a setting: use 1, true, yes or on to make a plugin "
                          "that fails to load an error, or 0, false, no, off or nothing to list it as broken")
    return STRICT_VALUES[value.strip().lower()]


def not_loaded_note(name: str) -> str | None:
    """``"installed but not loaded (ZOO_LOAD_PLUGINS='a,b')"`` when ``ZOO_LOAD_PLUGINS`` leaves out the installed
    plugin ``name``; None when it is loaded or not installed at all."""
    modules = {m: m for m in builtin_config().get("plugins", [])}
    modules.update((ep.name, ep.value) for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    if name not in modules or _wanted(name, modules[name]):
        return None
    return f"installed but not loaded (ZOO_LOAD_PLUGINS={os.environ.get('ZOO_LOAD_PLUGINS', '')!r})"


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("zoo")
    pm.add_hookspecs(hookspecs)
    return pm


def _load(pm: pluggy.PluginManager, info: PluginInfo, load_module, infos: list[PluginInfo]) -> None:
    """Import one plugin and register it; record it as broken on failure (or raise when strict)."""
    try:
        module: ModuleType = load_module()
        pm.register(module, name=info.name)
        info.hooks = sorted(h.name for h in pm.get_hookcallers(module) or [])
    except Exception as exc:  # a broken plugin must not break the zoo
        if strict():
            raise PluginError(f"plugin {info.name!r} ({info.module}) failed to load: {exc!r}") from exc
        info.status, info.error = "broken", f"{type(exc).__name__}: {exc}"
    infos.append(info)


def load_plugins() -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """A fresh plugin manager with every wanted built-in and third-party plugin, and their infos."""
    strict()  # a ZOO_STRICT_PLUGINS that is not a setting is refused before anything loads
    pm, infos = new_manager(), []
    version = genzoo_version()
    builtins = builtin_config().get("plugins", [])
    entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    for module_name in builtins:
        if _wanted(module_name, module_name):
            info = PluginInfo(module_name, module_name, DISTRIBUTION, version, builtin=True)
            _load(pm, info, lambda m=module_name: importlib.import_module(m), infos)
    for ep in entry_points:
        if not _wanted(ep.name, ep.value):
            continue
        dist = ep.dist.name if ep.dist else "?"
        info = PluginInfo(ep.name, ep.value, dist, ep.dist.version if ep.dist else "?", builtin=False)
        _load(pm, info, ep.load, infos)
    known = {*builtins, *(ep.name for ep in entry_points)}
    unmatched = sorted((_selection() or set()) - known)
    if unmatched:  # a typo, or a distribution name where the entry-point name is meant, loads nothing
        dists = {ep.dist.name: ep.name for ep in entry_points if ep.dist}
        hints = [f"{name!r} is the distribution of plugin {dists[name]!r}" for name in unmatched if name in dists]
        warnings.warn(f"ZOO_LOAD_PLUGINS names {', '.join(map(repr, unmatched))}, which no installed plugin is "
                      f"called{' (' + '; '.join(hints) + ')' if hints else ''}; plugin names: "
                      f"{', '.join(sorted(known - {b for b in builtins if b.startswith('zoo.')}))}",
                      ZooWarning, stacklevel=2)
    return pm, infos
