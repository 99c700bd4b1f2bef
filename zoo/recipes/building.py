"""Building a recipe: each component spec checked against its constructor, then constructed, with provenance.

One walk does both jobs. ``validate_recipe`` walks the tree without constructing anything: unknown names
(with suggestions), unknown or missing arguments, wrong types, a component of the wrong class for its slot.
``build_model`` / ``build_dataset`` walk it constructing, innermost components first; the constructors
catch parts that don't fit together (latent sizes, coordinate dims), and their errors get the path. Every
walk records each component it meets — kind, name, plugin, distribution, version — which is the run's
provenance, stored in its checkpoints.

How a constructor is read (``zoo.recipes.signatures``): an argument whose annotation names an interface, or
a class implementing one, takes a component spec of that kind — ``decoder: Decoder`` any decoder,
``decoder: FieldDecoder`` only a field decoder — and so do the items of ``list[X]``, ``tuple[X, ...]`` and
``dict[str, X]`` and the values of an annotated ``**kwargs: X``. The built object must be an instance of
the annotation (a factory's product too, however it is annotated). An unannotated ``**kwargs`` receives
the recipe's values as they are: nothing in them is checked or built.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from zoo.errors import DataError, DataNotFoundError, RecipeError, UnknownComponentError, ZooError
from zoo.interfaces import KINDS, SIZES
from zoo.recipes.signatures import interface_kind, signature
from zoo.recipes.values import check_value
from zoo.registry import Entry, did_you_mean, get_registry

__all__ = ["SECTIONS", "validate_recipe", "build_model", "build_dataset", "build_component", "provenance"]

SECTIONS = ("model", "data", "train")


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

    ``found`` records every component met, parents before their parts, in the order of the tree.
    """

    def __init__(self, recipe: dict, *, build: bool):
        self.recipe, self.build = recipe, build
        self.found: list[dict] = []

    def component(self, kind: str, spec: Any, path: str, expected: type | None = None,
                  given: dict | None = None) -> Any:
        """Check (and build) the spec of a ``kind`` component at ``path``; it must be an ``expected``
        (the kind's interface by default). ``given`` are arguments the caller supplies (a dataset's split)."""
        expected = expected or KINDS[kind]
        given = given or {}
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise RecipeError(path, f"expected {_article(kind)} {kind} as {{name: ..., <arguments>}}, got {spec!r}")
        entry = self._entry(kind, spec["name"], path, expected)
        self.found.append({"kind": kind, "name": entry.name, "plugin": entry.plugin,
                           "distribution": entry.distribution, "version": entry.version})
        kwargs = self._arguments(entry, spec, path, given)
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
            fit = [e.name for e in registry.list(kind) if issubclass(signature(e.obj).returns or KINDS[kind], expected)]
            raise RecipeError(
                f"{path}.name",
                f"{kind} {name!r} is {_article(builds.__name__)} {builds.__name__}, but this slot takes "
                f"{_article(expected.__name__)} {expected.__name__} ({kind}s that fit: {', '.join(fit) or 'none'})",
            )
        return entry

    def _arguments(self, entry: Entry, spec: dict, path: str, given: dict) -> dict:
        sig = signature(entry.obj)
        kwargs: dict[str, Any] = {}
        for key, value in spec.items():
            if key == "name":
                continue
            where = f"{path}.{key}"
            if (key not in sig.parameters and sig.var_keyword is None) or key in given:
                valid = ", ".join(n for n in sig.parameters if n not in given) or "none"
                raise RecipeError(
                    where,
                    f"{entry.kind} {entry.name!r} has no argument {key!r}{did_you_mean(key, list(sig.parameters))}; "
                    f"its arguments: {valid} (see: zoo info {entry.name})",
                )
            kwargs[key] = check_value(value, sig.annotation(key), where, self._slot)
        missing = [n for n, p in sig.parameters.items() if p.default is p.empty and n not in kwargs and n not in given]
        if missing:
            needed = ", ".join(map(repr, missing))
            raise RecipeError(path, f"{entry.kind} {entry.name!r} needs {needed} (see: zoo info {entry.name})"
                                    + "".join(self._where_known(size, path) for size in missing
                                              if size in SIZES.get(entry.kind, ())))
        return kwargs

    def _slot(self, annotation: type, value: Any, path: str) -> Any:
        """A component where ``annotation`` (an interface or a class implementing one) is expected."""
        if isinstance(value, annotation):  # built already (a spec written in Python)
            return value
        return self.component(interface_kind(annotation), value, path, annotation)

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


def _name(spec: Any) -> Any:
    return spec.get("name") if isinstance(spec, dict) else spec


def _check_data(recipe: dict, built: Any = None) -> None:
    """The recipe's data must be what its model trains on (``Model.trains_on``): by the dataset factory's
    return annotation before anything is built, by the ``built`` dataset's class after."""
    registry = get_registry()
    model = signature(registry.get("model", _name(recipe["model"])).obj).returns
    needs = model.trains_on if model is not None else None
    if needs is None:
        return
    name = _name(recipe.get("data"))
    builds = type(built) if built is not None else signature(registry.get("dataset", name).obj).returns
    if builds is None or issubclass(builds, needs):
        return
    fit = [e.name for e in registry.list("dataset") if issubclass(signature(e.obj).returns or type(None), needs)]
    raise RecipeError("data.name", f"model {_name(recipe['model'])!r} trains on {_article(needs.__name__)} "
                                   f"{needs.__name__}, but dataset {name!r} builds {_article(builds.__name__)} "
                                   f"{builds.__name__}; datasets that fit: {', '.join(fit) or 'none is loaded'}")


def _checked(recipe: dict) -> _Walk:
    _check_sections(recipe)
    walk = _Walk(recipe, build=False)
    walk.component("model", recipe["model"], "model")
    if "data" in recipe:
        walk.component("dataset", recipe["data"], "data", given={"split": "train"})
        _check_data(recipe)
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
    if isinstance(recipe.get("model"), (str, dict)):
        _check_data(recipe, dataset)
    if provenance is not None:
        provenance.extend(walk.found)
    return dataset


def build_component(kind: str, spec: dict | str, path: str = "") -> Any:
    """Build one component spec (``{name: ..., args}``) of ``kind``, nested components included."""
    return _Walk({}, build=True).component(kind, spec, path or kind)
