"""Building a recipe: each component spec checked against its constructor, then constructed, with provenance.

One walk does both jobs. ``validate_recipe`` walks the tree without constructing anything: unknown names
(with suggestions), unknown or missing arguments, wrong types, a component of the wrong class for its slot.
``build_model`` / ``build_dataset`` walk it constructing, innermost components first; the constructors
catch parts that don't fit together (latent sizes, coordinate dims), and their errors get the path. Every
walk records each component it meets — kind, name, plugin, distribution, version — which is the run's
provenance, stored in its checkpoints.

A slot dictates the sizes of the component in it: a component's ``part_sizes`` maps an argument to the
sizes it gives that part, each a function of its other arguments (named by its parameters) — the field
decoder gives its field ``in_dim = len(shape) - 1`` and ``out_dim = likelihood.num_params(shape[0])``. The
parts are built after the other arguments, and get those sizes where they take them and the recipe does not
state them, so a recipe never retypes them and a swapped likelihood resizes the field. Validation, which
builds nothing, computes those that depend on plain values and counts the others as given.

How a constructor is read (``zoo.recipes.signatures``): an argument whose annotation names an interface, or
a class implementing one, takes a component spec of that kind — ``decoder: Decoder`` any decoder,
``decoder: FieldDecoder`` only a field decoder — and so do the items of ``list[X]``, ``tuple[X, ...]`` and
``dict[str, X]`` and the values of an annotated ``**kwargs: X``. The built object must be an instance of
the annotation (a factory's product too, however it is annotated). An unannotated ``**kwargs`` receives
the recipe's values as they are: nothing in them is checked or built.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from zoo.errors import DataError, DataNotFoundError, RecipeError, UnknownComponentError, ZooError
from zoo.arguments import renamed_from, warn_renamed
from zoo.recipes.signatures import EMPTY, component_slot, interface_kind, signature
from zoo.recipes.values import check_value
from zoo.registry import Entry, did_you_mean, get_registry

__all__ = ["SECTIONS", "validate_recipe", "build_model", "build_dataset", "build_component", "check_data_kind",
           "part_sizes", "provenance"]

SECTIONS = ("model", "data", "train")
_LATER = object()  # a size its slot dictates, known once the slot's other arguments are built


def part_sizes(obj: Any) -> dict[str, dict[str, Callable[..., Any]]]:
    """What the component ``obj`` (a class or factory) dictates to its parts: its ``part_sizes``,
    ``{argument: {size: size_of(**other arguments)}}``, empty for one that dictates nothing."""
    return getattr(obj, "part_sizes", {})


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _stated(tree: Any, key: str, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, value)`` of every mapping in ``tree`` that states ``key``."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            where = f"{path}.{k}" if path else str(k)
            if k == key:
                yield where, v
            yield from _stated(v, key, where)
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _stated(v, key, f"{path}[{i}]")


class _Walk:
    """One pass over a recipe: checks each component spec and, with ``build``, constructs it.

    ``found`` records every component met, parents before their parts, in the order of the tree, except
    that the parts a component sizes (``part_sizes``) come after its others.
    """

    def __init__(self, recipe: dict, *, build: bool):
        self.recipe, self.build = recipe, build
        self.found: list[dict] = []

    def component(self, kind: str, spec: Any, path: str, expected: type | None = None,
                  given: dict | None = None, sized: dict | None = None) -> Any:
        """Check (and build) the spec of a ``kind`` component at ``path``; it must be an ``expected``
        (the kind's interface by default). ``given`` are arguments the caller supplies (a dataset's split),
        ``sized`` the sizes its slot dictates (``_LATER`` for one known once built), for the spec to leave out."""
        expected = expected or get_registry().kind(kind).interface
        given, sized = given or {}, sized or {}
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise RecipeError(path, f"expected {_article(kind)} {kind} as {{name: ..., <arguments>}}, got {spec!r}")
        entry = self._entry(kind, spec["name"], path, expected)
        self.found.append({"kind": kind, "name": entry.name, "plugin": entry.plugin,
                           "distribution": entry.distribution, "version": entry.version})
        kwargs = self._arguments(entry, spec, path, given, sized)
        if not self.build:
            return spec
        try:
            built = entry.obj(**kwargs, **given)
        except (RecipeError, DataError, DataNotFoundError):  # a data error names the file and what to do
            raise
        except (ZooError, ValueError, TypeError) as exc:
            raise RecipeError(path, f"building {kind} {entry.name!r} failed: {exc}") from exc
        if expected is not None and not isinstance(built, expected):  # a factory whose product we couldn't know
            raise RecipeError(path, f"{kind} {entry.name!r} built {_article(type(built).__name__)} "
                                    f"{type(built).__name__}, but this slot takes {_article(expected.__name__)} "
                                    f"{expected.__name__}")
        return built

    def _entry(self, kind: str, name: str, path: str, expected: type | None) -> Entry:
        registry = get_registry()
        try:
            entry = registry.get(kind, name)
        except UnknownComponentError as exc:
            raise RecipeError(f"{path}.name", str(exc)) from None
        builds = signature(entry.obj).returns
        if expected is not None and builds is not None and not issubclass(builds, expected):
            interface = registry.kind(kind).interface
            fit = [e.name for e in registry.list(kind) if issubclass(signature(e.obj).returns or interface, expected)]
            raise RecipeError(
                f"{path}.name",
                f"{kind} {name!r} is {_article(builds.__name__)} {builds.__name__}, but this slot takes "
                f"{_article(expected.__name__)} {expected.__name__} ({kind}s that fit: {', '.join(fit) or 'none'})",
            )
        return entry

    def _arguments(self, entry: Entry, spec: dict, path: str, given: dict, sized: dict) -> dict:
        sig = signature(entry.obj)
        renamed = renamed_from(entry.obj)
        dictates = part_sizes(entry.obj)
        order = [None, *dictates]  # the parts this component sizes come last, in the order it lists them
        kwargs: dict[str, Any] = {}
        for key in sorted((k for k in spec if k != "name"), key=lambda k: order.index(k if k in dictates else None)):
            where, value = f"{path}.{key}", spec[key]
            if key in renamed and key not in sig.parameters:
                warn_renamed(where, renamed[key], stacklevel=2)
                key = renamed[key]
                if key in spec:
                    raise RecipeError(where, f"states both {where.rsplit('.', 1)[-1]} and its new name {key}: keep "
                                             f"{key}")
            if (key not in sig.parameters and sig.var_keyword is None) or key in given:
                valid = ", ".join(n for n in sig.parameters if n not in given) or "none"
                raise RecipeError(
                    where,
                    f"{entry.kind} {entry.name!r} has no argument {key!r}{did_you_mean(key, list(sig.parameters))}; "
                    f"its arguments: {valid} (see: zoo info {entry.name})",
                )
            slot = self._slot
            if key in dictates:
                slot = functools.partial(self._slot, sized=self._dictated(entry, dictates[key], kwargs, where))
            kwargs[key] = check_value(value, sig.annotation(key), where, slot)
        for size, value in sized.items():
            if size in sig.parameters and size not in spec and size not in given and value is not _LATER:
                kwargs[size] = value
        missing = [n for n, p in sig.parameters.items()
                   if p.default is p.empty and n not in kwargs and n not in given and n not in sized]
        if missing:
            needed = ", ".join(map(repr, missing))
            raise RecipeError(path, f"{entry.kind} {entry.name!r} needs {needed} (see: zoo info {entry.name})"
                                    + "".join(self._where_known(size, path) for size in missing
                                              if size in get_registry().kind(entry.kind).sizes))
        return kwargs

    def _dictated(self, entry: Entry, sizes: dict[str, Callable[..., Any]], kwargs: dict, where: str) -> dict:
        """The sizes ``entry`` gives the part at ``where``, each from its arguments built so far (or its
        defaults); ``_LATER`` for one that depends on a component when validating (nothing is built then)."""
        sig = signature(entry.obj)
        values = {}
        for size, size_of in sizes.items():
            names = inspect.signature(size_of).parameters
            if not self.build and any(n in sig.parameters and component_slot(sig.annotation(n))[0] for n in names):
                values[size] = _LATER
                continue
            needs = {name: kwargs.get(name, sig.parameters[name].default if name in sig.parameters else EMPTY)
                     for name in names}
            if any(value is EMPTY for value in needs.values()):  # a missing argument: reported once the rest is
                continue                                        # checked
            try:
                values[size] = size_of(**needs)
            except (ZooError, ValueError, TypeError, IndexError) as exc:
                raise RecipeError(where, f"{entry.kind} {entry.name!r} could not give this part its {size} from "
                                         f"{', '.join(needs)}: {exc}") from exc
        return values

    def _slot(self, annotation: type, value: Any, path: str, sized: dict | None = None) -> Any:
        """A component where ``annotation`` (an interface or a class implementing one) is expected."""
        if isinstance(value, annotation):  # built already (a spec written in Python)
            return value
        return self.component(interface_kind(annotation), value, path, annotation, sized=sized)

    def _where_known(self, size: str, path: str) -> str:
        """Where the recipe already states the size a component lacks, as a reference to it."""
        elsewhere = [(where, value) for where, value in _stated(self.recipe, size)
                     if not where.startswith(f"{path}.")]
        if not elsewhere:
            return f"; {size} is a size its slot dictates: state it ({path}.{size})"
        options = " or ".join(f"{size}: ${{{where}}} (= {value!r})" for where, value in elsewhere[:3])
        return f"; {size} is a size its slot dictates, which the recipe states elsewhere: refer to it, {options}"


def _check_sections(recipe: dict) -> None:
    unknown = set(recipe) - {*SECTIONS, "name", "summary", "paper"}
    if unknown:
        key = sorted(unknown)[0]
        hint = did_you_mean(key, list(SECTIONS))
        raise RecipeError(key, f"unknown recipe section{hint}; sections: {', '.join(SECTIONS)}")
    if "model" not in recipe:
        raise RecipeError("model", "a recipe needs a model: {name: ..., <arguments>}")
    if not isinstance(recipe.get("train") or {}, dict):
        raise RecipeError("train", f"expected the training settings as a mapping, got {recipe['train']!r}")


def check_data_kind(recipe: dict) -> None:
    """Refuse a model whose ``data_kinds`` do not include the kind of the recipe's data (RecipeError at
    ``data``). Names that are not registered are left to validation, which says what they might be."""
    from zoo.data import DATA_KINDS
    from zoo.recipes.facts import DataFacts

    registry = get_registry()
    model, data = (recipe.get(key) for key in ("model", "data"))
    model, data = ({"name": spec} if isinstance(spec, str) else spec for spec in (model, data))
    if not (isinstance(model, dict) and isinstance(data, dict)):
        return
    try:
        entry = registry.get("model", model.get("name"))
        registry.get("dataset", data.get("name"))
    except (UnknownComponentError, TypeError):
        return
    takes = getattr(signature(entry.obj).returns, "data_kinds", ())
    facts = DataFacts(data)
    kind = facts.get("kind") if takes else None
    if kind is None or kind in takes:
        return
    fit = [e.name for e in registry.list("dataset") if DataFacts(e.name).declared().get("kind") in takes]
    wanted = " or ".join(f"{k} ({DATA_KINDS.get(k, 'a kind of data')})" for k in takes)
    raise RecipeError("data", f"model {entry.name!r} takes {wanted}, but dataset {data['name']!r} holds {kind}; "
                              f"datasets it takes: {', '.join(fit) or 'none registered'}")


def _checked(recipe: dict) -> _Walk:
    _check_sections(recipe)
    check_data_kind(recipe)  # first: the data a model can't take is what the user needs to hear
    walk = _Walk(recipe, build=False)
    walk.component("model", recipe["model"], "model")
    if "data" in recipe:
        walk.component("dataset", recipe["data"], "data", given={"split": "train"})
    return walk


def validate_recipe(recipe: dict) -> None:
    """Check a recipe tree without building it: sections, names, arguments, their types and classes.

    References must be resolved (``load_recipe`` does it). The ``train`` section is the training loop's:
    ``zoo.training.TrainSettings.from_recipe`` checks it.
    """
    _checked(recipe)


def provenance(recipe: dict) -> list[dict]:
    """Every component the recipe names — kind, name, plugin, distribution, version — without building it:
    what ``build_model`` and ``build_dataset`` record while they build."""
    return _checked(recipe).found


def build_model(recipe: dict, *, provenance: list[dict] | None = None):
    """The recipe's model, every nested component built; mismatches raise RecipeError with a path.

    The components built are appended to ``provenance`` when it is given.
    """
    walk = _Walk(recipe, build=True)
    model = walk.component("model", recipe["model"], "model")
    if provenance is not None:
        provenance.extend(walk.found)
    return model


def build_dataset(recipe: dict, split: str = "train", *, provenance: list[dict] | None = None):
    """The recipe's dataset for ``split`` ("train" or "test"), recorded in ``provenance`` when given."""
    walk = _Walk(recipe, build=True)
    dataset = walk.component("dataset", recipe.get("data"), "data", given={"split": split})
    if provenance is not None:
        provenance.extend(walk.found)
    return dataset


def build_component(kind: str, spec: dict | str, path: str = "") -> Any:
    """Build one component spec (``{name: ..., args}``) of ``kind``, nested components included."""
    return _Walk({}, build=True).component(kind, spec, path or kind)
