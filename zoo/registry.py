"""(kind, name) -> component: the registry every recipe and CLI command resolves names through.

Like timm's ``_registry.py``: a dict, a handful of small public functions (``create``,
``list_components`` with fnmatch wildcards), loud errors for unknown and duplicate names. The kinds
themselves are registered too (``register_kinds``: the core's own through the same hook as a plugin's), so
the vocabulary — which kinds there are, the interface each one's components implement, the sizes its slots
dictate, its conformance check — is data; so are the artifacts a run draws (``register_artifacts``). The
registry is filled by the plugins' ``register_kinds``, then ``register_components`` / ``register_artifacts``
/ ``register_recipes`` hooks, the first time it is used, and with registry.yaml's recipes whose plugins are
loaded.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pluggy

from zoo.artifacts import Artifact
from zoo.constructors import signature
from zoo.errors import DuplicateComponentError, PluginError, UnknownComponentError, ZooError, did_you_mean
from zoo.plugins import PluginInfo, builtin_config, load_plugins, strict

__all__ = ["Entry", "Kind", "Registry", "get_registry", "reset_registry", "create", "list_components"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
RECIPE = "recipe"  # the kind of register_recipes' entries, whose obj is the recipe's data
ARTIFACT = "artifact"  # the kind of register_artifacts' entries, whose obj is a zoo.artifacts.Artifact


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


#: A kind's conformance check: ``check(entry, dtype, device)`` raises ``zoo.testing.ConformanceError``
Check = Callable[[Entry, "str | None", "str | None"], None]


@dataclass(frozen=True)
class Kind:
    """One registered kind of component: what its components build, what its slots dictate, how it is checked."""

    name: str
    interface: type | None  # every component builds one (None: any callable, as for dataset factories)
    sizes: tuple[str, ...]  # the size arguments a slot dictates to its component (a swap keeps them)
    check: Check | None  # the conformance check of one component, or None: the kind has none
    per_device: bool  # check in float32 and float64 on each device (False: once, with dtype and device None)
    summary: str  # one line: what a component of this kind is
    plugin: str
    distribution: str = "?"
    version: str = "?"


def _first_doc_line(obj: Any) -> str:
    doc = inspect.getdoc(getattr(obj, "func", obj)) if callable(obj) else None
    return doc.strip().splitlines()[0] if doc else ""


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


class Registry:
    """The kinds, components and recipes of the loaded plugins, and the plugins themselves."""

    def __init__(self, plugins: list[PluginInfo] | None = None):
        self._kinds: dict[str, Kind] = {}
        self._interfaces: dict[type, str] = {}  # interface -> its kind's name
        self._entries: dict[tuple[str, str], Entry] = {}
        self.plugins: list[PluginInfo] = plugins or []
        self.unoffered: dict[str, str] = {}  # shipped recipe -> why it is not offered (a plugin it needs is not loaded)

    # --- kinds ---------------------------------------------------------------------------------------

    @property
    def kinds(self) -> Mapping[str, Kind]:
        """The registered kinds by name, in the order they were registered (a read-only view)."""
        return MappingProxyType(self._kinds)

    def kind(self, name: str) -> Kind:
        """The kind called ``name``; UnknownComponentError with a suggestion otherwise."""
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownComponentError(f"unknown kind {name!r}{did_you_mean(name, list(self._kinds))}; kinds: "
                                        f"{', '.join(self._kinds)}") from None

    def add_kind(self, kind: Kind) -> None:
        """Register ``kind``; a ZooError says why it is refused (bad name or interface, duplicate)."""
        self.check_kind(kind)
        self._kinds[kind.name] = kind
        if kind.interface is not None:
            self._interfaces[kind.interface] = kind.name

    def check_kind(self, kind: Kind) -> None:
        """Raise a ZooError when ``kind`` can't be registered; otherwise do nothing."""
        what = f"plugin {kind.plugin!r} registered kind {kind.name!r}"
        if not isinstance(kind.name, str) or not _NAME.match(kind.name):
            raise ZooError(f"plugin {kind.plugin!r} registered kind {kind.name!r}: kind names are lower-case "
                           "letters, digits, '-', '_' and '.'")
        if kind.interface is not None and not inspect.isclass(kind.interface):
            raise ZooError(f"{what} with interface {kind.interface!r}: the interface is the class every component "
                           "of the kind subclasses (or None for any callable)")
        if not all(isinstance(size, str) for size in kind.sizes):
            raise ZooError(f"{what} with sizes {kind.sizes!r}: sizes are the names of constructor arguments")
        if kind.check is not None and not callable(kind.check):
            raise ZooError(f"{what} with check {kind.check!r}: a check is a function check(entry, dtype, device)")
        if kind.name in self._kinds:
            first = self._kinds[kind.name]
            raise DuplicateComponentError(
                f"kind {kind.name!r} is registered twice: by plugin {first.plugin!r} ({first.distribution}) and by "
                f"plugin {kind.plugin!r} ({kind.distribution}); uninstall one, or restrict loading with "
                "ZOO_LOAD_PLUGINS"
            )
        if kind.interface in self._interfaces:
            other = self._kinds[self._interfaces[kind.interface]]
            raise ZooError(f"{what} with interface {kind.interface.__qualname__}, which is already the interface of "
                           f"kind {other.name!r} (plugin {other.plugin!r}): an annotation names one kind, so give "
                           "the new kind its own interface class")

    def interface_kind(self, cls: type) -> str | None:
        """The kind of the first registered interface in ``cls``'s MRO (``FieldDecoder`` -> "decoder")."""
        return next((self._interfaces[base] for base in cls.__mro__ if base in self._interfaces), None)

    # --- components and recipes ----------------------------------------------------------------------

    def add(self, entry: Entry) -> None:
        """Register ``entry``; a ZooError says why it is refused (bad kind or name, wrong class, duplicate)."""
        self.check(entry)
        self._entries[(entry.kind, entry.name)] = entry

    def check(self, entry: Entry) -> None:
        """Raise a ZooError when ``entry`` can't be registered; otherwise do nothing."""
        key = (entry.kind, entry.name)
        if entry.kind not in self._kinds:
            raise ZooError(
                f"plugin {entry.plugin!r} registered {entry.name!r} under unknown kind {entry.kind!r}"
                f"{did_you_mean(str(entry.kind), list(self._kinds))}; kinds are: {', '.join(self._kinds)} "
                "(a plugin adds one with register_kinds)"
            )
        if not _NAME.match(entry.name):
            raise ZooError(
                f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r}: names are lower-case "
                "letters, digits, '-', '_' and '.'"
            )
        if entry.kind not in (RECIPE, ARTIFACT):  # data, and an Artifact that checked itself when it was made
            self._check_constructor(entry, self._kinds[entry.kind].interface)
        if key in self._entries:
            first = self._entries[key]
            raise DuplicateComponentError(
                f"{entry.kind} {entry.name!r} is registered twice: by plugin {first.plugin!r} "
                f"({first.distribution}) and by plugin {entry.plugin!r} ({entry.distribution}); "
                f"uninstall one, or restrict loading with ZOO_LOAD_PLUGINS"
            )

    @staticmethod
    def _check_constructor(entry: Entry, interface: type | None) -> None:
        """A component is a class or a factory whose annotations resolve and which builds its kind's interface.

        Its signature is read here, once (and cached), so a plugin whose annotation can't be resolved is
        refused when it registers, not when a recipe silently gets raw dicts instead of components.
        """
        what = f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r}"
        if not callable(entry.obj):
            raise ZooError(f"{what} as {entry.obj!r}: register a class or a factory function")
        try:
            builds = signature(entry.obj).returns
        except ZooError as exc:
            raise ZooError(f"{what}: {exc}") from None
        if interface is not None and builds is not None and not issubclass(builds, interface):
            returns = "," if builds is entry.obj else f", which returns {builds.__qualname__},"
            raise ZooError(
                f"{what} as {getattr(entry.obj, '__qualname__', repr(entry.obj))}{returns} but it does not "
                f"subclass {interface.__module__}.{interface.__qualname__}"
            )

    def remove_plugin(self, plugin: str) -> None:
        """Forget every kind and entry ``plugin`` registered (it turned out broken)."""
        self._entries = {key: e for key, e in self._entries.items() if e.plugin != plugin}
        self._kinds = {name: k for name, k in self._kinds.items() if k.plugin != plugin}
        self._interfaces = {cls: name for cls, name in self._interfaces.items() if name in self._kinds}

    def orphans(self) -> list[Entry]:
        """Entries whose kind is no longer registered (the plugin that registered it turned out broken)."""
        return [e for e in self._entries.values() if e.kind not in self._kinds]

    def get(self, kind: str, name: str) -> Entry:
        self.kind(kind)
        try:
            return self._entries[(kind, name)]
        except KeyError:
            if kind == "recipe" and name in self.unoffered:
                raise UnknownComponentError(self.unoffered[name]) from None
            names = [n for k, n in self._entries if k == kind]
            hint = did_you_mean(name, names)
            elsewhere = [k for k, n in self._entries if n == name]
            if elsewhere:
                hint += f" ('{name}' is {' and '.join(f'{_article(k)} {k}' for k in elsewhere)})"
            raise UnknownComponentError(
                f"unknown {kind} {name!r}{hint}; see: zoo list --kind {kind}"
            ) from None

    def create(self, kind: str, name: str, **kwargs: Any) -> Any:
        """Build the component registered as (kind, name) with ``kwargs``, each checked against its annotation
        as a recipe's value is (``hidden_dim=0`` for a ``PositiveInt``: a RecipeError naming the component and
        the argument) and passed on converted; components and other objects pass through unchecked."""
        from zoo.recipes.values import check_value  # zoo.recipes imports this module

        entry = self.get(kind, name)
        if kind == RECIPE:
            raise ZooError(f"{name!r} is a recipe; build it with zoo.recipes.build_model or `zoo train`")
        sig = signature(entry.obj)
        checked = {key: check_value(value, sig.annotation(key), f"{kind} {name!r}: {key}")
                   if key in sig.parameters or sig.var_keyword else value  # an unknown name: the constructor says
                   for key, value in kwargs.items()}
        return entry.obj(**checked)

    def list(self, kind: str | None = None, pattern: str = "*") -> list[Entry]:
        """Entries of ``kind`` (all kinds if None) whose name matches the fnmatch ``pattern``, sorted by kind
        (in the order the kinds were registered, recipes last), then name."""
        if kind is not None:
            self.kind(kind)
        order = {name: i for i, name in enumerate(self._kinds)} | {RECIPE: len(self._kinds)}
        return sorted(
            (e for (k, n), e in self._entries.items() if kind in (None, k) and fnmatch.fnmatch(n, pattern)),
            key=lambda e: (order[e.kind], e.name),
        )

    def find(self, name: str) -> list[Entry]:
        """Every entry called ``name``, whatever its kind."""
        return [e for (_, n), e in self._entries.items() if n == name]

    def names(self) -> list[str]:
        return sorted({n for _, n in self._entries} | set(self._kinds))


def _collect(function: Callable, make: Callable[..., Any]) -> list[Any]:
    """Run one plugin's hook with a ``register`` callback; return what it registered."""
    made: list[Any] = []
    function(register=lambda *args, **kwargs: made.append(make(*args, **kwargs)))
    return made


def _makers(info: PluginInfo) -> dict[str, Callable[..., Any]]:
    """The ``register`` callbacks of each hook, for one plugin: what they make of their arguments."""

    def kind(name: str, interface: type | None, *, sizes: tuple[str, ...] | list[str] = (), check: Check | None = None,
             per_device: bool = True, summary: str | None = None) -> Kind:
        return Kind(name, interface, tuple(sizes), check, per_device,
                    summary or (_first_doc_line(interface) if interface is not None else ""),
                    info.name, info.distribution, info.version)

    def component(kind: str, name: str, obj: Any, *, summary: str | None = None, paper: str | None = None) -> Entry:
        if kind == ARTIFACT:
            raise ZooError(f"{name!r}: artifacts are registered with the register_artifacts hook")
        return Entry(kind, name, obj, summary or _first_doc_line(obj), paper, info.name, info.distribution,
                     info.version)

    def artifact(name: str, write: Callable, *, summary: str | None = None, **how: Any) -> Entry:
        return Entry(ARTIFACT, name, Artifact(write, **how), summary or _first_doc_line(write), None, info.name,
                     info.distribution, info.version)

    def recipe(name: str, recipe: dict, *, summary: str | None = None) -> Entry:
        return Entry(RECIPE, name, recipe, summary or recipe.get("summary", ""), recipe.get("paper"), info.name,
                     info.distribution, info.version)

    return {"register_kinds": kind, "register_components": component, "register_artifacts": artifact,
            "register_recipes": recipe}


HOOKS = ("register_kinds", "register_components", "register_artifacts", "register_recipes")  # kinds first


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
    """Fill a Registry from a plugin manager: every plugin's kinds, then their components, artifacts and
    recipes, then registry.yaml's recipes.

    Each plugin's hooks are called separately, so each entry knows which plugin made it. One plugin's
    mistake disables that plugin only: a hook that raises, or a registration the registry refuses (a kind
    or (kind, name) an earlier plugin has, a class of the wrong interface, a bad name), marks it broken and
    it contributes nothing — and a plugin whose components are of a kind that only a broken plugin provided
    is refused in turn — while the rest of the zoo works. With ZOO_STRICT_PLUGINS=1 the error is raised.

    registry.yaml's recipes are grouped by the plugin that provides them, and each names the other plugins
    whose components it uses (``needs:``): a recipe is offered only when all of them are loaded; naming one
    that is not says which plugins to load.
    """
    registry = Registry(plugins)
    infos = {p.name: p for p in plugins}
    broken_kinds: dict[str, str] = {}  # kind -> the broken plugin that registered it

    def disable(info: PluginInfo, error: str) -> None:
        info.status, info.error = "broken", error
        broken_kinds.update({k.name: info.name for k in registry.kinds.values() if k.plugin == info.name})
        registry.remove_plugin(info.name)

    def refused(exc: ZooError, info: PluginInfo, item: Any) -> str:
        provider = broken_kinds.get(item.kind) if isinstance(item, Entry) else None
        return (f"refused: {exc}" + (f" (plugin {provider!r}, which registers that kind, is broken)" if provider
                                     else "")
                + ("" if info.builtin else f" (to remove it: pip uninstall {info.distribution})"))

    for hook_name in HOOKS:
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = infos[impl.plugin_name]
            if info.status != "ok":  # its other hook already failed: all of a plugin or nothing
                continue
            try:
                made = _collect(impl.function, _makers(info)[hook_name])
            except Exception as exc:
                if strict():
                    raise PluginError(f"plugin {info.name!r}: {hook_name} failed: {exc!r}") from exc
                disable(info, f"{hook_name}: {type(exc).__name__}: {exc}")
                continue
            for item in made:
                try:
                    if isinstance(item, Kind):
                        registry.add_kind(item)
                    else:
                        registry.add(item)
                except ZooError as exc:
                    if strict():
                        raise
                    disable(info, refused(exc, info, item))
                    break
    # components of a kind whose plugin broke after they were added (never when strict: the break raised)
    while orphans := registry.orphans():
        entry = orphans[0]
        error = ZooError(f"plugin {entry.plugin!r} registered {entry.kind} {entry.name!r}, but kind {entry.kind!r} "
                         "is gone")
        disable(infos[entry.plugin], refused(error, infos[entry.plugin], entry))

    for owner, recipes in (builtin_config().get("recipes") or {}).items():
        for name, data in recipes.items():
            data = dict(data)
            needs = [owner, *data.pop("needs", [])]
            why = _unloaded(name, needs, plugins)
            if why is None:
                registry.add(_makers(infos[owner])["register_recipes"](name, data))
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
