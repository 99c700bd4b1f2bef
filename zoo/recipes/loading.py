"""Loading a recipe: a registered name or a YAML file, a ``--config`` file over it, ``--set`` overrides, references.

Three things can be laid over a recipe — what a file with ``base: NAME`` says over that registered recipe,
a ``--config`` file, and each ``--set a.b.c=value`` (the mapping ``{a: {b: {c: value}}}``; ``a.b[1].c``
reaches into a list) — and one rule lays them all:

- mappings merge key by key; lists and plain values replace;
- ``null`` deletes: the argument is no longer stated, and its default applies;
- naming the component that is there (a string, or a mapping with the same ``name:`` or none) changes
  nothing, or merges what the mapping states into it;
- naming another component — a string (``field: wire``), a mapping with another ``name:``, or ``--set
  model.decoder.field.name=wire`` — replaces the component. The new one keeps the sizes its slot dictates
  (its kind's ``sizes``: a field's in_dim, out_dim, latent_dim; an encoder's shape, latent_dim,
  deterministic; a prior's latent_dim; ...) where it takes that argument — the old component's values of
  them, stated, or its defaults where the slot does not size its part itself (``part_sizes``) — and every
  part that it takes as the same kind of component under the same name (a decoder's likelihood, a model's
  encoder), except a part the old one calls its own and the new one does not (``own_parts``). Every
  other argument of the old one is dropped: the new one starts from its own defaults, plus what the
  overlay states, and what is lost is said in one ``ZooWarning`` (``model.field: relu-pe replaces siren;
  dropped: w0=30.0, w0_initial=30.0``);
- naming a component where the recipe states none (the slot is left to the constructor's default:
  ``--set model.prior=gaussian-mixture`` on a VAE recipe without a prior) sizes it from its siblings: each
  size of its kind that it takes and the overlay doesn't state becomes a reference to the first sibling
  component that states that size (``latent_dim: ${model.encoder.latent_dim}``), so it follows them.

A reference to a place that an overlay dropped (a swapped-out encoder's ``latent_dim``) takes the value
that place held, so what the recipe said survives the swap; one into the data follows the new data.

A ``--config`` file may say ``base: NAME`` to make clear what it was written for: it must name the recipe
being trained, or the base of that recipe, else the load stops (the file would be laid over the wrong one).

References: a value ``${model.encoder.latent_dim}`` (a whole value, any path of the recipe, ``[i]`` for an
item of a list) is replaced by the value at that path, after every overlay and before validation. A
recipe states a size once, and an override of it reaches every place that refers to it. ``${data.shape}``,
``${data.levels}`` and ``${data.kind}`` are what the dataset states of itself where the recipe does not
(``zoo.recipes.facts``), and a likelihood's ``num_bins`` that the recipe leaves out is the data's levels.
In YAML flow style (``[...]``, ``{...}``) quote it: ``shape: [1, "${data.size}", "${data.size}"]``.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from zoo import yaml12
from zoo.arguments import renamed_from
from zoo.data import FACTS
from zoo.errors import RecipeError, UnknownComponentError, ZooWarning
from zoo.recipes.building import SECTIONS, check_data_kind, part_sizes, validate_recipe
from zoo.recipes.facts import FROM_THE_DATA, DataFacts
from zoo.recipes.signatures import EMPTY, Signature, component_slot, signature
from zoo.registry import get_registry

__all__ = ["load_recipe", "apply_overrides", "overlay", "resolve_references", "parse_path"]


class Slot(NamedTuple):
    """A place in a recipe that takes components: their kind and container (as ``component_slot`` gives them),
    and whether the component holding the place dictates their sizes (``part_sizes``)."""

    kind: str | None
    container: type | None = None
    sized: bool = False


NO_SLOT = Slot(None)
_SECTION_KINDS = {"model": "model", "data": "dataset"}
_PATH = re.compile(r"[^.\[\]]+(?:\[\d+\])*(?:\.[^.\[\]]+(?:\[\d+\])*)*")
_REFERENCE = re.compile(r"\$\{([^{}]*)\}")
MAX_REFERENCE_CHAIN = 32  # ${a} naming ${b} naming ...: a recipe needs two or three


class _Item(int):
    """A list index in a ``--set`` path (``fields[1]``), told apart from a mapping's integer keys."""


def parse_path(text: str) -> list[str | int]:
    """``"model.fields[1].name"`` -> ``["model", "fields", 1, "name"]``; ValueError if it isn't a path."""
    if not _PATH.fullmatch(text):
        raise ValueError(f"{text!r} is not a path like model.decoder.field.hidden_dim or model.fields[1].name")
    parts = [int(index) if index else key for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", text)]
    if len(parts) > yaml12.MAX_DEPTH:
        raise ValueError(f"a path of {len(parts)} parts; a recipe is nested at most {yaml12.MAX_DEPTH} deep")
    return parts


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise RecipeError("", f"recipe file {str(path)!r} not found (a YAML file with model/data/train)")
    try:
        data = yaml12.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:  # yaml12.YamlError: one line, with the line number
        raise RecipeError("", f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise RecipeError("", f"{path}: a recipe file holds a mapping with model/data/train, got {type(data).__name__}")
    return data


def _base(data: dict, path: Path) -> str | None:
    """The ``base:`` a recipe or --config file states (removed from ``data``): a recipe's name, or None."""
    base = data.pop("base", None)
    if base is not None and not isinstance(base, str):
        raise RecipeError("base", f"{path.name}: base: names one registered recipe (base: vae-digits), got {base!r}; "
                                  "see: zoo list --kind recipe")
    return base


# ----------------------------------------------------------------------------------------------------
# Overlays: base:, --config and --set, by the one rule of the module docstring


def _component(kind: str | None, name: Any) -> Any:
    """The registered class or factory (kind, name), or None where that names nothing (validation says so)."""
    if kind is None or not isinstance(name, str):
        return None
    try:
        return get_registry().get(kind, name).obj
    except UnknownComponentError:
        return None


def _signature(kind: str | None, name: Any) -> Signature | None:
    obj = _component(kind, name)
    return None if obj is None else signature(obj)


def _argument_slot(kind: str, name: Any) -> Callable[[Any], Slot]:
    """For each argument of the component (kind, name): which components it takes."""
    obj = _component(kind, name)
    sig, dictates = (None, {}) if obj is None else (signature(obj), part_sizes(obj))

    def slot(key: Any) -> Slot:
        if sig is None or (key not in sig.parameters and sig.var_keyword is None):
            return NO_SLOT
        return Slot(*component_slot(sig.annotation(key)), sized=key in dictates)

    return slot


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return copy.deepcopy(value)


def _plain(value: Any) -> Any:
    """A value as a recipe would state it, for comparing: lists for tuples, a name for ``{name: X}``."""
    if isinstance(value, dict):
        return value["name"] if set(value) == {"name"} else {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _kept(kind: str, old: dict, name: Any, sized: bool) -> dict:
    """What the component ``name`` replacing ``old`` keeps of it: the sizes of the slot, and every part that it
    takes as the same kind of component under the same name (a decoder's likelihood, a model's encoder),
    except a part the old component calls its own (``own_parts``) and the new one does not: an autoencoder's
    prior is fitted to its codes after training, so it carries to a GON, which fits its prior so too, and not
    to a VAE, which trains with its prior from the first step."""
    new, before = _signature(kind, name), _signature(kind, old.get("name"))
    own = set(getattr(_component(kind, old.get("name")), "own_parts", ()))
    own -= set(getattr(_component(kind, name), "own_parts", ()))
    kept = {}
    for size in get_registry().kind(kind).sizes:
        if new is not None and size not in new.parameters:
            continue
        if size in old:
            kept[size] = copy.deepcopy(old[size])
        elif not sized and new is not None and before is not None and size in before.parameters:
            default = before.parameters[size].default  # the old one was built with it: the slot fit that
            if default is not EMPTY and default != new.parameters[size].default:
                kept[size] = copy.deepcopy(default)
    if new is None or before is None:
        return kept
    for key, value in old.items():
        part = component_slot(before.annotation(key)) if key in before.parameters else (None, None)
        if key not in kept and key not in own and part[0] is not None and key in new.parameters \
                and component_slot(new.annotation(key)) == part:
            kept[key] = copy.deepcopy(value)
    return kept


def _sized_by_siblings(value: Any, slot: Slot, siblings: dict, path: str) -> Any:
    """A component named into a slot the recipe leaves empty, with a reference for each size of its kind that it
    takes and doesn't state, to the first sibling component (in ``siblings``, at ``path``) that states it."""
    kind, container = slot.kind, slot.container
    spec = {"name": value} if isinstance(value, str) else value
    if kind is None or container is not None or not isinstance(spec, dict):
        return value
    sig = _signature(kind, spec.get("name"))
    references = {}
    for size in get_registry().kind(kind).sizes if sig is not None else ():
        if size in spec or size not in sig.parameters:
            continue
        source = next((key for key, sibling in siblings.items() if isinstance(sibling, dict) and size in sibling), None)
        if source is not None:
            references[size] = f"${{{path}.{source}.{size}}}" if path else f"${{{source}.{size}}}"
    return {**spec, **references} if references else value


def _show(value: Any) -> str:
    plain = _plain(value)
    if isinstance(plain, str):
        return plain
    return yaml.safe_dump(plain, default_flow_style=True, sort_keys=False, width=1 << 20).removesuffix("...\n").strip()


def _say_dropped(path: str, kind: str, old: dict, name: Any, kept: dict, stated: dict) -> None:
    """Warn, in one line, of what replacing ``old`` by ``name`` loses: the arguments the recipe states that
    neither carry over nor are restated, where the new component's default is not the same value."""
    new = _signature(kind, name)
    if new is None:  # names nothing: validation says so
        return
    dropped = [
        f"{key}={_show(value)}" for key, value in old.items()
        if key != "name" and key not in kept and key not in stated
        and not (key in new.parameters and _plain(new.parameters[key].default) == _plain(value))
    ]
    if dropped:
        warnings.warn(f"{path}: {name} replaces {old.get('name')}; dropped: {', '.join(dropped)}", ZooWarning,
                      stacklevel=2)


def _overlay_mapping(old: dict, new: dict, slot_of: Callable[[Any], Slot], path: str) -> dict:
    merged = copy.deepcopy(old)
    for key, value in new.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = _overlay(merged[key], value, slot_of(key), f"{path}.{key}" if path else str(key))
        else:
            merged[key] = _sized_by_siblings(_without_nulls(value), slot_of(key), merged, path)
    return merged


def _overlay(old: Any, new: Any, slot: Slot, path: str) -> Any:
    """``new`` laid over ``old`` at ``path``, a place that takes components as ``slot`` says."""
    kind, container = slot.kind, slot.container
    if isinstance(new, dict) and new and all(isinstance(k, _Item) for k in new):
        if not isinstance(old, list):
            raise RecipeError(path, f"there is no list at {path} in this recipe to set item [{next(iter(new))}] of")
        merged = copy.deepcopy(old)
        for index, value in new.items():
            if index >= len(old):
                raise RecipeError(f"{path}[{index}]", f"the list has {len(old)} items (the first is [0])")
            merged[index] = _overlay(old[index], value, slot._replace(container=None), f"{path}[{index}]")
        return merged
    if container is dict and isinstance(old, dict) and isinstance(new, dict):
        return _overlay_mapping(old, new, lambda key: slot._replace(container=None), path)
    if kind is not None and container is None and isinstance(old, (str, dict)) and isinstance(new, (str, dict)):
        spec = {"name": old} if isinstance(old, str) else old
        name = new if isinstance(new, str) else new.get("name", spec.get("name"))
        if name == spec.get("name"):  # the component that is there: a string changes nothing, a mapping merges
            if isinstance(new, str):
                return copy.deepcopy(old)
            return _overlay_mapping(spec, new, _argument_slot(kind, name), path)
        kept = _kept(kind, spec, name, slot.sized)
        arguments = {} if isinstance(new, str) else {k: v for k, v in new.items() if k != "name"}
        _say_dropped(path, kind, spec, name, kept, arguments)
        return _overlay_mapping({"name": name, **kept}, arguments, _argument_slot(kind, name), path)
    if isinstance(old, dict) and isinstance(new, dict):
        return _overlay_mapping(old, new, lambda key: NO_SLOT, path)
    return _without_nulls(new)


def _references(node: Any) -> Iterator[str]:
    """The target of every ``${...}`` value in ``node``."""
    if isinstance(node, str) and (match := _REFERENCE.fullmatch(node.strip())):
        yield match.group(1).strip()
    elif isinstance(node, dict):
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def _at(tree: Any, target: str) -> tuple[bool, Any]:
    """``(True, value)`` at the path ``target`` of ``tree``, ``(False, None)`` where it states none."""
    try:
        parts = parse_path(target)
    except ValueError:
        return False, None
    node = tree
    for part in parts:
        if isinstance(part, str) and isinstance(node, dict) and part in node or \
                isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
        else:
            return False, None
    return True, node


def _replace_references(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, str) and (match := _REFERENCE.fullmatch(node.strip())) and match.group(1).strip() in values:
        return copy.deepcopy(values[match.group(1).strip()])
    if isinstance(node, dict):
        return {k: _replace_references(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_references(v, values) for v in node]
    return node


def _rehome_references(merged: dict, before: dict) -> dict:
    """``merged`` where a reference to a place that an overlay dropped (a swapped-out encoder's latent_dim)
    holds what that place held in ``before`` — itself a reference, maybe. References into ``data`` follow
    the new data instead (a fact of it, or what it states)."""
    for _ in range(len(list(_references(merged))) + 1):
        lost = {}
        for target in _references(merged):
            if target.split(".")[0] != "data" and not _at(merged, target)[0]:
                found, value = _at(before, target)
                if found:
                    lost[target] = value
        if not lost:
            break
        merged = _replace_references(merged, lost)
    return merged


def overlay(recipe: dict, update: dict) -> dict:
    """``update`` (a recipe's parts) laid over ``recipe`` by the rule of the module docstring; a new dict."""
    merged = _overlay_mapping(recipe, update, lambda key: Slot(_SECTION_KINDS.get(key)), "")
    return _rehome_references(merged, recipe)


def _sections_taking(recipe: dict, key: str) -> list[str]:
    """The sections whose settings include ``key``: stated in the recipe, or an argument of the model's or the
    dataset's constructor (not through ``**kwargs``; a renamed argument's old name counts while it still
    works), or a training setting."""
    from zoo.training.settings import TrainSettings  # the loop's, imported when an override needs it

    found = []
    for section, kind in _SECTION_KINDS.items():
        spec = recipe.get(section)
        component = _component(kind, spec.get("name") if isinstance(spec, dict) else spec)
        takes = set() if component is None else {*signature(component).parameters, *renamed_from(component)}
        if (isinstance(spec, dict) and key in spec) or key in takes:
            found.append(section)
    if key in {f.name for f in dataclasses.fields(TrainSettings)} or key in (recipe.get("train") or {}):
        found.append("train")
    return found


def _refuse_ambiguous(recipe: dict, item: str, parts: list[str | int]) -> None:
    """An override without its section (``warmup_steps=500``) that more than one section takes is refused."""
    key, rest = parts[0], "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts[1:])
    sections = _sections_taking(recipe, key) if isinstance(key, str) else []
    if len(sections) > 1:
        paths = [f"{section}.{key}{rest}" for section in sections]
        raise RecipeError("", f"override {item!r} could set {' or '.join(paths)}: name the section "
                              f"(--set {paths[0]}=... or --set {paths[1]}=...)")


def apply_overrides(recipe: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Lay ``a.b.c=value`` overrides over ``recipe`` (values parsed as YAML 1.2: ``3e-4`` is a float; ``null``
    deletes). Paths may omit the leading ``model.`` unless another section takes the same name
    (``warmup_steps`` of a model and of the training settings): then the override is refused, naming both
    paths. ``a.b[1].c`` is an item of the list ``a.b``."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        try:
            parts = parse_path(key.strip()) if sep else []
        except ValueError as exc:
            raise RecipeError("", f"override {item!r}: {exc}") from None
        if not parts:
            raise RecipeError("", f"override {item!r} is not of the form a.b.c=value")
        if parts[0] not in (*SECTIONS, "summary", "paper"):
            _refuse_ambiguous(recipe, item, parts)
            parts = ["model", *parts]
        try:
            value = yaml12.safe_load(raw)
        except yaml.YAMLError as exc:
            where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts).lstrip(".")
            raise RecipeError(where, f"the value {raw!r}: {exc}") from None
        for part in reversed(parts):
            value = {_Item(part) if isinstance(part, int) else part: value}
        recipe = overlay(recipe, value)
    return recipe


# ----------------------------------------------------------------------------------------------------
# References


def resolve_references(recipe: dict) -> dict:
    """``recipe`` with every ``${path}`` value replaced by a copy of the value at that path.

    A path into the data that the recipe does not state is one of the facts its dataset states (``FACTS``:
    ``${data.shape}``, ``${data.levels}``, ``${data.kind}``; ``zoo.recipes.facts``). RecipeError, at the
    place of the reference, for a path the recipe does not state otherwise (a reference reads what the
    recipe says, not a component's default), for references that go round in a circle, for a chain of more
    than ``MAX_REFERENCE_CHAIN`` references each naming the next, and for references whose copies would grow
    the recipe past ``yaml12.MAX_VALUES`` values (each chain and circle is named).
    """
    pending: list[str] = []  # the references being resolved, outermost first
    outermost = ""  # where the outermost of them is written
    values = 0  # in the resolved recipe, so far
    facts: list[DataFacts] = []  # those of the recipe's data, once a reference asks for one

    def chain(targets: list[str]) -> str:
        shown = [f"${{{t}}}" for t in targets]
        return " -> ".join(shown if len(shown) <= 8 else [*shown[:4], "...", *shown[-3:]])

    def data_facts() -> DataFacts:
        if not facts:
            facts.append(DataFacts(resolve(recipe.get("data"), "data")))
        return facts[0]

    def lookup(target: str, where: str) -> Any:
        nonlocal outermost
        try:
            parts = parse_path(target)
        except ValueError as exc:
            raise RecipeError(where, f"the reference ${{{target}}}: {exc}") from None
        if target in pending:
            circle = chain([*pending[pending.index(target):], target])
            raise RecipeError(where, f"references go round in a circle: {circle}")
        if len(pending) >= MAX_REFERENCE_CHAIN:
            raise RecipeError(outermost, f"a chain of more than {MAX_REFERENCE_CHAIN} references, each naming the "
                                         f"next: {chain([*pending, target])}; refer to the value itself")
        node = recipe
        for i, part in enumerate(parts):
            if isinstance(part, str) and isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(part, int) and isinstance(node, list) and part < len(node):
                node = node[part]
            elif i == 1 and parts[0] == "data" and part in FACTS:  # what the data states of itself
                node = data_facts().get(part)
            else:
                raise RecipeError(where, f"the reference ${{{target}}}: the recipe states no {target} (a reference "
                                         "reads what the recipe says, or a fact of its data: "
                                         f"{', '.join(f'data.{fact}' for fact in FACTS)}; not a component's default)")
        if not pending:
            outermost = where
        pending.append(target)
        try:
            return resolve(node, target)
        finally:
            pending.pop()

    def resolve(node: Any, where: str) -> Any:  # builds new lists and mappings: a copy of what it reads
        nonlocal values
        values += 1
        if values > yaml12.MAX_VALUES:
            raise RecipeError(outermost if pending else where,
                              f"references copy values into more than {yaml12.MAX_VALUES:,} places (each reference "
                              "copies what it names, references included): refer to fewer")
        if isinstance(node, str) and (match := _REFERENCE.fullmatch(node.strip())):
            return lookup(match.group(1).strip(), where)
        if isinstance(node, dict):
            return {k: resolve(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, f"{where}[{i}]") for i, v in enumerate(node)]
        return node

    return resolve(recipe, "")


# ----------------------------------------------------------------------------------------------------
# Arguments the data gives


def _with_components(node: Any, slot: Slot, visit: Callable[[str, dict], dict]) -> Any:
    """``node`` (at a place that takes components as ``slot`` says) with ``visit(kind, spec)`` applied to every
    component spec in it, innermost last; a shorthand string stays one where ``visit`` adds nothing."""
    if slot.kind is None:
        return node
    if slot.container is not None:
        items = slot._replace(container=None)
        if isinstance(node, list):
            return [_with_components(v, items, visit) for v in node]
        return {k: _with_components(v, items, visit) for k, v in node.items()} if isinstance(node, dict) else node
    if not isinstance(node, (str, dict)):
        return node
    spec = visit(slot.kind, {"name": node} if isinstance(node, str) else node)
    if isinstance(node, str) and spec == {"name": node}:
        return node
    argument = _argument_slot(slot.kind, spec.get("name"))
    return {k: v if k == "name" else _with_components(v, argument(k), visit) for k, v in spec.items()}


def _from_the_data(recipe: dict) -> dict:
    """``recipe`` with what each component takes from the data's facts where it states nothing
    (``zoo.recipes.facts.FROM_THE_DATA``: a likelihood's ``num_bins`` is the data's levels)."""
    if "data" not in recipe or "model" not in recipe:
        return recipe
    facts = DataFacts(recipe["data"])

    def visit(kind: str, spec: dict) -> dict:
        sig = _signature(kind, spec.get("name"))
        for argument, fact in FROM_THE_DATA.get(kind, {}).items():
            if sig is not None and argument in sig.parameters and argument not in spec:
                value = facts.get(fact, None)  # None: the data has no such fact (continuous), the default stands
                spec = spec if value is None else {**spec, argument: value}
        return spec

    return {**recipe, "model": _with_components(recipe["model"], Slot("model"), visit)}


# ----------------------------------------------------------------------------------------------------
# The whole load


def load_recipe(name_or_path: str, *, config: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """A recipe from the registry (by name) or a YAML file, with ``config`` and ``overrides`` laid over it.

    A YAML file may start from a registered recipe with ``base: NAME``; so may ``config``, which must then
    name this recipe or its base. References are resolved, then the result is validated and has a ``name``
    key; raises ``RecipeError`` / ``UnknownComponentError`` with the problem's path otherwise.
    """
    registry = get_registry()
    base = None
    if name_or_path.endswith((".yaml", ".yml")) or Path(name_or_path).is_file():
        path = Path(name_or_path)
        recipe = _read_yaml(path)
        base = _base(recipe, path)
        if base is not None:
            recipe = overlay(registry.get("recipe", base).obj, recipe)
        recipe.setdefault("name", path.stem)
    else:
        recipe = {**registry.get("recipe", name_or_path).obj, "name": name_or_path}
    if config is not None:
        extra = _read_yaml(Path(config))
        starts_from = _base(extra, Path(config))
        if starts_from is not None and starts_from not in (recipe["name"], base):
            raise RecipeError("base", f"{Path(config).name} starts from {starts_from!r} but you train "
                                      f"{recipe['name']!r}: a --config file is laid over the recipe you train; "
                                      f"train {starts_from!r}, or drop the file's base: line")
        recipe = overlay(recipe, extra)
    recipe = _without_nulls(apply_overrides(recipe, overrides))
    if not list(_references(recipe.get("data"))):
        check_data_kind(recipe)  # before references read the data: a dataset the model can't take is not loaded
    recipe = _from_the_data(resolve_references(recipe))
    validate_recipe(recipe)
    return recipe
