"""Recipes: registry.yaml or a user's YAML -> a validated tree of component specs -> objects.

A recipe is data::

    model:                              # a component of kind "model"
      name: vae
      encoder: {name: mlp, latent_dim: 16}      # nested component: its kind is the type annotation
      decoder: {name: field, field: {name: siren}, likelihood: {name: bernoulli}, shape: [1, 8, 8]}
    data: {name: digits}                # a dataset factory and its options
    train: {steps: 2000, lr: 1.0e-3}    # zoo.training.TrainSettings fields (checked there)

A mapping with a ``name`` key fills a constructor parameter; the parameter's annotation (``Encoder``,
``ImplicitField``, ...) says which registry kind the name is looked up in, so any plugin's component can
be dropped into any recipe. A plain string where a component is expected is shorthand for ``{name: ...}``.
Everything is checked before anything is built — unknown names (with suggestions), unknown or missing
arguments, wrong types — and each error names its place in the tree (``model.decoder.field.hidden_dim``).
Mismatched parts (latent sizes, coordinate dimensions) are caught by the components' constructors when the
model is built, which is still before any training, and reported with the same path.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import types
import typing
from pathlib import Path
from typing import Any, Union

import yaml

from zoo import yaml12
from zoo.errors import RecipeError, UnknownComponentError, ZooError
from zoo.interfaces import KINDS
from zoo.registry import Entry, did_you_mean, get_registry

__all__ = [
    "ExtendedReal",
    "load_recipe",
    "apply_overrides",
    "validate_recipe",
    "check_value",
    "build_model",
    "build_dataset",
    "build_component",
    "provenance",
    "slots",
]

SECTIONS = ("model", "data", "train")
_INTERFACE_KINDS = {cls: kind for kind, cls in KINDS.items() if cls is not None}

_INFINITY_ALLOWED = "±inf allowed"
# A ``float`` argument takes finite numbers only: an inf or a NaN that a recipe lets through ends as NaN
# weights. The rare argument for which infinity means something (an order p = inf) is annotated this way.
ExtendedReal = typing.Annotated[float, _INFINITY_ALLOWED]


# ----------------------------------------------------------------------------------------------------
# Loading: registry name or YAML file, + config file, + --set overrides


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise RecipeError("", f"recipe file {str(path)!r} not found (a YAML file with model/data/train)")
    try:
        data = yaml12.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RecipeError("", f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError("", f"{path}: a recipe file holds a mapping with model/data/train, got {type(data).__name__}")
    return data


def _deep_merge(base: dict, update: dict) -> dict:
    """``update`` on top of ``base``; a component whose ``name`` changes is replaced, not merged."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        old = merged.get(key)
        same_component = (
            isinstance(old, dict) and isinstance(value, dict) and value.get("name") in (None, old.get("name"))
        )
        merged[key] = _deep_merge(old, value) if same_component else copy.deepcopy(value)
    return merged


def apply_overrides(recipe: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML 1.2: ``3e-4`` is a float). Paths may omit the
    leading ``model.``."""
    recipe = copy.deepcopy(recipe)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RecipeError("", f"override {item!r} is not of the form a.b.c=value")
        parts = key.strip().split(".")
        if parts[0] not in (*SECTIONS, "summary", "paper"):
            parts = ["model", *parts]
        try:
            value = yaml12.safe_load(raw)
        except yaml.YAMLError as exc:
            raise RecipeError(".".join(parts), f"the value {raw!r} is not valid YAML: {exc}") from None
        node = recipe
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if isinstance(child, str):  # shorthand component name: expand so we can set its arguments
                child = node[part] = {"name": child}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise RecipeError(where, f"cannot set {key!r}: {where!r} is not a mapping in this recipe")
            node = child
        leaf = parts[-1]
        if isinstance(node.get(leaf), dict) and isinstance(value, str):
            value = {"name": value}  # --set decoder.field=relu-pe swaps the whole component
        node[leaf] = value
    return recipe


def load_recipe(name_or_path: str, *, config: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """A recipe from the registry (by name) or a YAML file, merged with ``config`` and ``overrides``.

    A YAML file may start from a registered recipe with ``base: NAME``. The result is validated and has a
    ``name`` key; raises ``RecipeError`` / ``UnknownComponentError`` with the problem's path otherwise.
    """
    registry = get_registry()
    if name_or_path.endswith((".yaml", ".yml")) or Path(name_or_path).is_file():
        path = Path(name_or_path)
        recipe = _read_yaml(path)
        base = recipe.pop("base", None)
        if base is not None:
            recipe = _deep_merge(registry.get("recipe", base).obj, recipe)
        recipe.setdefault("name", path.stem)
    else:
        recipe = copy.deepcopy(registry.get("recipe", name_or_path).obj)
        recipe["name"] = name_or_path
    if config is not None:
        recipe = _deep_merge(recipe, _read_yaml(Path(config)))
    recipe = apply_overrides(recipe, overrides)
    validate_recipe(recipe)
    return recipe


# ----------------------------------------------------------------------------------------------------
# Validation: names, argument names, argument types — without building anything


def parameters(obj: Any) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """Keyword parameters of a class or factory, their resolved annotations, and whether it takes **kwargs."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    signature = inspect.signature(obj)
    func = getattr(target, "func", target)  # functools.partial
    try:
        hints = typing.get_type_hints(func, include_extras=True)  # keeps ExtendedReal's mark
    except Exception:  # unresolvable annotations: check names only
        hints = {}
    params = {
        n: p for n, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    return params, hints, takes_kwargs


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def component_kind(annotation: Any) -> str | None:
    """The registry kind a parameter annotated ``annotation`` takes (``Encoder`` -> "encoder"), if any."""
    for arg in _union_args(annotation):
        if inspect.isclass(arg):
            for cls, kind in _INTERFACE_KINDS.items():
                if issubclass(arg, cls):
                    return kind
    return None


def describe_type(annotation: Any) -> str:
    """``int``, ``tuple[int, ...]``, ``ImplicitField``: an annotation as a person would write it."""
    if annotation is inspect.Parameter.empty:
        return ""
    if annotation == ExtendedReal:
        return "float (±inf allowed)"
    if inspect.isclass(annotation) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("zoo.interfaces.", "")


def check_value(value: Any, annotation: Any, path: str) -> Any:
    """``value`` converted to ``annotation`` (YAML lists -> tuples, ints -> floats), or a RecipeError."""
    if annotation in (inspect.Parameter.empty, Any):
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        if annotation == ExtendedReal:
            if isinstance(value, float) and math.isinf(value):
                return value
            if isinstance(value, str) and value.lower().lstrip("+-.") in ("inf", "infinity"):
                raise RecipeError(path, f"expected a number, got the string {value!r}: YAML writes infinity .inf")
        return check_value(value, args[0], path)
    if origin in (Union, types.UnionType):
        errors = []
        for arg in args:
            try:
                return check_value(value, arg, path)
            except RecipeError as exc:
                errors.append(exc)
        if value is not None and len(args) == 2 and type(None) in args:  # Optional[X]: X's own message
            raise next(error for arg, error in zip(args, errors) if arg is not type(None))
        raise RecipeError(path, f"expected {describe_type(annotation)}, got {value!r}")
    if annotation is type(None):
        if value is None:
            return None
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise RecipeError(path, f"expected a finite number, got {value}")
            return float(value)
        if isinstance(value, str) and value.lower().lstrip("+-.") in ("inf", "infinity", "nan"):
            raise RecipeError(path, f"expected a finite number, got {value!r}")
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin in (tuple, list) or annotation in (tuple, list):
        if isinstance(value, (list, tuple)):
            container = origin or annotation
            if container is tuple and args and args[-1] is not Ellipsis:
                if len(args) != len(value):
                    raise RecipeError(path, f"expected {len(args)} values ({describe_type(annotation)}), got {value!r}")
                items = [check_value(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
            else:
                item_type = args[0] if args else Any
                items = [check_value(v, item_type, f"{path}[{i}]") for i, v in enumerate(value)]
            return container(items)
    elif origin is dict or annotation is dict:
        if isinstance(value, dict):
            return value
    elif typing.get_origin(annotation) is typing.Literal:
        if value in args:
            return value
        raise RecipeError(path, f"expected one of {', '.join(map(repr, args))}, got {value!r}")
    else:  # callables, tensors, ...: recipes can't express them; let the constructor decide
        return value
    raise RecipeError(path, f"expected {describe_type(annotation)}, got {value!r} ({type(value).__name__})")


def _arguments(entry: Entry, spec: dict, path: str, *, build: bool, skip: tuple[str, ...] = ()) -> dict:
    """Check (and with ``build``, construct) the arguments of one component spec."""
    params, hints, takes_kwargs = parameters(entry.obj)
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "name":
            continue
        where = f"{path}.{key}"
        if key not in params:
            if takes_kwargs:
                kwargs[key] = value
                continue
            valid = ", ".join(n for n in params if n not in skip) or "none"
            raise RecipeError(
                where,
                f"{entry.kind} {entry.name!r} has no argument {key!r}{did_you_mean(key, list(params))}; "
                f"its arguments: {valid} (see: zoo info {entry.name})",
            )
        annotation = hints.get(key, params[key].annotation)
        kind = component_kind(annotation)
        if kind is not None and isinstance(value, (dict, str)):
            kwargs[key] = _component(kind, value, where, build=build)
        else:
            kwargs[key] = check_value(value, annotation, where)
    missing = [n for n, p in params.items() if p.default is p.empty and n not in kwargs and n not in skip]
    if missing:
        needed = ", ".join(map(repr, missing))
        raise RecipeError(path, f"{entry.kind} {entry.name!r} needs {needed} (see: zoo info {entry.name})")
    return kwargs


def _component(kind: str, spec: Any, path: str, *, build: bool) -> Any:
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        raise RecipeError(path, f"expected a {kind} as {{name: ..., <arguments>}}, got {spec!r}")
    try:
        entry = get_registry().get(kind, spec["name"])
    except UnknownComponentError as exc:
        raise RecipeError(f"{path}.name", str(exc)) from None
    kwargs = _arguments(entry, spec, path, build=build)
    if not build:
        return spec
    try:
        return entry.obj(**kwargs)
    except RecipeError:
        raise
    except (ZooError, ValueError, TypeError) as exc:
        raise RecipeError(path, f"building {kind} {entry.name!r} failed: {exc}") from exc


def validate_recipe(recipe: dict) -> None:
    """Check a recipe tree without building it: sections, names, arguments and their types.

    The ``train`` section is the training loop's: ``zoo.training.TrainSettings.from_recipe`` checks it.
    """
    unknown = set(recipe) - {*SECTIONS, "name", "summary", "paper"}
    if unknown:
        key = sorted(unknown)[0]
        hint = did_you_mean(key, list(SECTIONS))
        raise RecipeError(key, f"unknown recipe section{hint}; sections: {', '.join(SECTIONS)}")
    if "model" not in recipe:
        raise RecipeError("model", "a recipe needs a model: {name: ..., <arguments>}")
    _component("model", recipe["model"], "model", build=False)
    if "data" in recipe:
        _dataset_spec(recipe, build=False)
    if not isinstance(recipe.get("train") or {}, dict):
        raise RecipeError("train", f"expected the training settings as a mapping, got {recipe['train']!r}")


def _dataset_spec(recipe: dict, *, build: bool, split: str = "train") -> Any:
    spec = recipe.get("data")
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        raise RecipeError("data", f"expected a dataset as {{name: ..., <options>}}, got {spec!r}")
    try:
        entry = get_registry().get("dataset", spec["name"])
    except UnknownComponentError as exc:
        raise RecipeError("data.name", str(exc)) from None
    kwargs = _arguments(entry, spec, "data", build=build, skip=("split",))
    return entry.obj(**kwargs, split=split) if build else None


# ----------------------------------------------------------------------------------------------------
# Building


def build_component(kind: str, spec: dict | str, path: str = "") -> Any:
    """Build one component spec (``{name: ..., args}``) of ``kind``, nested components included."""
    return _component(kind, spec, path or kind, build=True)


def build_model(recipe: dict):
    """The recipe's model, with every nested component built; mismatches raise RecipeError with a path."""
    return _component("model", recipe["model"], "model", build=True)


def build_dataset(recipe: dict, split: str = "train"):
    """The recipe's dataset for ``split`` ("train" or "test")."""
    return _dataset_spec(recipe, build=True, split=split)


def slots(entry: Entry) -> list[str]:
    """Where a component fits: ``["decoder of vae", "decoder of gon"]`` — every registered constructor
    parameter whose annotation the component's class satisfies."""
    interface = KINDS.get(entry.kind)
    if interface is None or not inspect.isclass(entry.obj):
        return []
    found = []
    for other in get_registry().list():
        if other.kind == "recipe" or not callable(other.obj):
            continue
        params, hints, _ = parameters(other.obj)
        for key, param in params.items():
            annotation = hints.get(key, param.annotation)
            if any(inspect.isclass(a) and issubclass(entry.obj, a) and a in _INTERFACE_KINDS
                   for a in _union_args(annotation)):
                found.append(f"{key} of {other.kind} {other.name}")
    return found


def provenance(recipe: dict) -> list[dict]:
    """Every component the recipe names: kind, name, plugin, distribution, version (for checkpoints)."""
    registry, found = get_registry(), []

    def visit(kind: str, spec: Any) -> None:
        spec = {"name": spec} if isinstance(spec, str) else spec
        entry = registry.get(kind, spec["name"])
        found.append({"kind": kind, "name": entry.name, "plugin": entry.plugin,
                      "distribution": entry.distribution, "version": entry.version})
        params, hints, _ = parameters(entry.obj)
        for key, value in spec.items():
            sub_kind = component_kind(hints.get(key, params[key].annotation)) if key in params else None
            if sub_kind and isinstance(value, (dict, str)):
                visit(sub_kind, value)

    visit("model", recipe["model"])
    if recipe.get("data"):
        visit("dataset", recipe["data"])
    return found
