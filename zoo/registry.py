"""(kind, name) -> component: the registry every recipe and CLI command resolves names through.

Like timm's ``_registry.py``: a dict, a handful of small public functions (``create``,
``list_components`` with fnmatch wildcards), loud errors for unknown and duplicate names. The registry is
filled by the plugins' ``register_components`` / ``register_artifacts`` / ``register_recipes`` hooks the first
time it is used, and with registry.yaml's recipes whose plugins are loaded.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from zoo.artifacts import Artifact
from zoo.errors import DuplicateComponentError, PluginError, UnknownComponentError, ZooError
from zoo.interfaces import KINDS
from zoo.plugins import PluginInfo, builtin_config, load_plugins, strict

__all__ = ["Entry", "Registry", "get_registry", "reset_registry", "create", "list_components"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


@dataclass(frozen=True)
class Entry:
    """One registered component (or recipe, whose ``obj`` is the recipe's data)."""

    kind: str
    name: str
    obj: Any
    summary: str
    paper: str | None
    plugin: str
    distribution: str = "?"
    version: str = "?"


def _first_doc_line(obj: Any) -> str:
    doc = inspect.getdoc(getattr(obj, "func", obj)) if callable(obj) else None
    return doc.strip().splitlines()[0] if doc else ""


def did_you_mean(name: str, candidates: list[str]) -> str:
    """`` — did you mean 'siren'?`` or an empty string."""
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f" — did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class Registry:
    """The components and recipes of the loaded plugins, and the plugins themselves."""

    def __init__(self, plugins: list[PluginInfo] | None = None):
        self._entries: dict[tuple[str, str], Entry] = {}
        self.plugins: list[PluginInfo] = plugins or []
        self.unoffered: dict[str, str] = {}  # shipped recipe -> why it is not offered (a plugin it needs is not loaded)

    def add(self, entry: Entry) -> None:
        """Register ``entry``; a ZooError says why it is refused (bad kind or name, wrong class, duplicate)."""
        self.check(entry)
        self._entries[(entry.kind, entry.name)] = entry

    def check(self, entry: Entry) -> None:
        """Raise a ZooError when ``entry`` can't be registered; otherwise do nothing."""
        key = (entry.kind, entry.name)
        if entry.kind not in KINDS:
            raise ZooError(
                f"plugin {entry.plugin!r} registered {entry.name!r} under unknown kind {entry.kind!r}; "
                f"kinds are: {', '.join(KINDS)}"
            )
        if not _NAME.match(entry.name):
            raise ZooError(
                f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r}: names are lower-case "
                "letters, digits, '-', '_' and '.'"
            )
        if entry.kind != "recipe":
            self._check_constructor(entry)
        if key in self._entries:
            first = self._entries[key]
            raise DuplicateComponentError(
                f"{entry.kind} {entry.name!r} is registered twice: by plugin {first.plugin!r} "
                f"({first.distribution}) and by plugin {entry.plugin!r} ({entry.distribution}); "
                f"uninstall one, or restrict loading with ZOO_LOAD_PLUGINS"
            )

    @staticmethod
    def _check_constructor(entry: Entry) -> None:
        """A component is a class or a factory whose annotations resolve and which builds its kind's interface.

        Its signature is read here, once (and cached), so a plugin whose annotation can't be resolved is
        refused when it registers, not when a recipe silently gets raw dicts instead of components.
        """
        from zoo.recipes.signatures import signature  # here: zoo.recipes resolves names through this module

        what = f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r}"
        if not callable(entry.obj):
            raise ZooError(f"{what} as {entry.obj!r}: register a class or a factory function")
        try:
            builds = signature(entry.obj).returns
        except ZooError as exc:
            raise ZooError(f"{what}: {exc}") from None
        interface = KINDS[entry.kind]
        if interface is not None and builds is not None and not issubclass(builds, interface):
            returns = "," if builds is entry.obj else f", which returns {builds.__qualname__},"
            raise ZooError(
                f"{what} as {getattr(entry.obj, '__qualname__', repr(entry.obj))}{returns} but it does not "
                f"subclass zoo.interfaces.{interface.__name__}"
            )

    def remove_plugin(self, plugin: str) -> None:
        """Forget every entry ``plugin`` registered (it turned out broken)."""
        self._entries = {key: e for key, e in self._entries.items() if e.plugin != plugin}

    def get(self, kind: str, name: str) -> Entry:
        if kind not in KINDS:
            raise UnknownComponentError(f"unknown kind {kind!r}{did_you_mean(kind, list(KINDS))}")
        try:
            return self._entries[(kind, name)]
        except KeyError:
            if kind == "recipe" and name in self.unoffered:
                raise UnknownComponentError(self.unoffered[name]) from None
            names = [n for k, n in self._entries if k == kind]
            hint = did_you_mean(name, names)
            elsewhere = [k for k, n in self._entries if n == name]
            if elsewhere:
                hint += f" ('{name}' is {' and '.join(('an ' if k[0] in 'aeiou' else 'a ') + k for k in elsewhere)})"
            raise UnknownComponentError(
                f"unknown {kind} {name!r}{hint}; see: zoo list --kind {kind}"
            ) from None

    def create(self, kind: str, name: str, **kwargs: Any) -> Any:
        """Build the component registered as (kind, name) with ``kwargs``."""
        entry = self.get(kind, name)
        if kind == "recipe":
            raise ZooError(f"{name!r} is a recipe; build it with zoo.recipes.build_model or `zoo train`")
        return entry.obj(**kwargs)

    def list(self, kind: str | None = None, pattern: str = "*") -> list[Entry]:
        """Entries of ``kind`` (all kinds if None) whose name matches the fnmatch ``pattern``, sorted."""
        if kind is not None and kind not in KINDS:
            raise UnknownComponentError(f"unknown kind {kind!r}{did_you_mean(kind, list(KINDS))}")
        return sorted(
            (e for (k, n), e in self._entries.items() if kind in (None, k) and fnmatch.fnmatch(n, pattern)),
            key=lambda e: (list(KINDS).index(e.kind), e.name),
        )

    def find(self, name: str) -> list[Entry]:
        """Every entry called ``name``, whatever its kind."""
        return [e for (_, n), e in self._entries.items() if n == name]

    def names(self) -> list[str]:
        return sorted({n for _, n in self._entries})


def _collect(function: Callable, make_entry: Callable[..., Entry]) -> list[Entry]:
    """Run one plugin's hook with a ``register`` callback; return what it registered."""
    entries: list[Entry] = []
    function(register=lambda *args, **kwargs: entries.append(make_entry(*args, **kwargs)))
    return entries


def _unloaded(recipe: str, needs: list[str], plugins: list[PluginInfo]) -> str | None:
    """Why the shipped ``recipe``, which uses the components of the plugins ``needs`` (its owner first), is not
    offered; None when it is."""
    status = {p.name: p for p in plugins}
    absent = [name for name in needs if name not in status]
    broken = [name for name in needs if name in status and status[name].status != "ok"]
    if not absent and not broken:
        return None
    selection = os.environ.get("ZOO_LOAD_PLUGINS")
    uses = f" and uses components of {', '.join(needs[1:])}" if needs[1:] else ""
    problems = [f"{name} is broken ({status[name].error}; see: zoo plugins --all)" for name in broken]
    if absent:
        selected = [name.strip() for name in (selection or "").split(",") if name.strip()]
        wanted = ",".join(dict.fromkeys([*selected, *absent]))
        problems.insert(0, f"not loaded: {', '.join(absent)} (ZOO_LOAD_PLUGINS={selection or ''}); load "
                           f"{'it' if len(absent) == 1 else 'them'} with ZOO_LOAD_PLUGINS={wanted}, or unset it")
    return f"recipe {recipe!r} is provided by plugin {needs[0]}{uses}; " + "; ".join(problems)


def build_registry(pm: pluggy.PluginManager, plugins: list[PluginInfo]) -> Registry:
    """Fill a Registry from a plugin manager: components, artifacts and recipes of every plugin, then registry.yaml's.

    Each plugin's hooks are called separately, so each entry knows which plugin made it. One plugin's
    mistake disables that plugin only: a hook that raises, or a registration the registry refuses (a
    (kind, name) an earlier plugin has, a class of the wrong interface, a bad name), marks it broken and
    it contributes nothing, while the rest of the zoo works. With ZOO_STRICT_PLUGINS=1 the error is raised.

    registry.yaml's recipes are grouped by the plugin that provides them, and each names the other plugins
    whose components it uses (``needs:``): a recipe is offered only when all of them are loaded; naming one
    that is not says which plugins to load.
    """
    registry = Registry(plugins)
    infos = {p.name: p for p in plugins}

    def component(info: PluginInfo):
        def make(kind: str, name: str, obj: Any, *, summary: str | None = None, paper: str | None = None):
            if kind == "artifact":
                raise ZooError(f"{name!r}: artifacts are registered with the register_artifacts hook")
            return Entry(kind, name, obj, summary or _first_doc_line(obj), paper, info.name,
                         info.distribution, info.version)

        return make

    def artifact(info: PluginInfo):
        def make(name: str, write: Callable, *, summary: str | None = None, **how: Any):
            return Entry("artifact", name, Artifact(write, **how), summary or _first_doc_line(write), None,
                         info.name, info.distribution, info.version)

        return make

    def recipe(info: PluginInfo):
        def make(name: str, recipe: dict, *, summary: str | None = None):
            return Entry("recipe", name, recipe, summary or recipe.get("summary", ""), recipe.get("paper"),
                         info.name, info.distribution, info.version)

        return make

    hooks = (("register_components", component), ("register_artifacts", artifact), ("register_recipes", recipe))
    for hook_name, make_entry in hooks:
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = infos[impl.plugin_name]
            if info.status != "ok":  # its other hook already failed: all of a plugin or nothing
                continue
            try:
                entries = _collect(impl.function, make_entry(info))
            except Exception as exc:
                if strict():
                    raise PluginError(f"plugin {info.name!r}: {hook_name} failed: {exc!r}") from exc
                info.status, info.error = "broken", f"{hook_name}: {type(exc).__name__}: {exc}"
                registry.remove_plugin(info.name)
                continue
            try:
                for entry in entries:
                    registry.add(entry)
            except ZooError as exc:
                if strict():
                    raise
                info.status, info.error = "broken", f"refused: {exc}" + (
                    "" if info.builtin else f" (to remove it: pip uninstall {info.distribution})")
                registry.remove_plugin(info.name)

    for owner, recipes in (builtin_config().get("recipes") or {}).items():
        for name, data in recipes.items():
            data = dict(data)
            needs = [owner, *data.pop("needs", [])]
            why = _unloaded(name, needs, plugins)
            if why is None:
                registry.add(recipe(infos[owner])(name, data))
            else:
                registry.unoffered[name] = why
    return registry


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built from the installed plugins on first use."""
    global _registry
    if _registry is None:
        _registry = build_registry(*load_plugins())
    return _registry


def reset_registry() -> None:
    """Forget the registry, so the next use reloads the plugins (tests, ZOO_LOAD_PLUGINS changes)."""
    global _registry
    _registry = None


def create(kind: str, name: str, **kwargs: Any) -> Any:
    """``zoo.create("field", "siren", in_dim=2, out_dim=1)``: build a registered component."""
    return get_registry().create(kind, name, **kwargs)


def list_components(kind: str | None = None, pattern: str = "*") -> list[Entry]:
    """``zoo.list_components("field", "relu*")``: registered entries, wildcards as in fnmatch."""
    return get_registry().list(kind, pattern)
