"""Trained weights that ship inside a plugin's package, for the plugin's own recipes.

A plugin ships weights for the recipes it provides by putting them in a ``pretrained/`` folder of its package,
beside a ``manifest.json`` (and listing the folder as package data so its wheel carries them)::

    zoo_vae/pretrained/
      manifest.json          {"vae-digits": {"file": "vae-digits.safetensors", "sha256": ..., "recipe_hash": ...,
                              "metrics": {...}, "check": {...}}, ...}
      vae-digits.safetensors

The folder is found through the plugin that owns the recipe (``zoo list``'s plugin column), so a third-party
plugin ships weights for its recipes exactly as the built-in ones do, and no plugin can ship weights for another's.
``benchmarks/pretrain.py`` writes both files: it retrains a recipe and records each weight file's checksum,
the hash of its recipe and what it measured.

Loading (``load_pretrained``) reads safetensors only (tensors, nothing that executes) and refuses, in one line
saying to retrain, a file whose sha256 is not the manifest's (damaged or replaced) and weights whose recipe has
changed since they were trained (``recipe_hash``).

What the recipe hash covers (``hashed_recipe``): what shapes the learned weights — the model and data trees with
every argument a component's constructor defaults filled in (so changing a default, or a recipe through a
``base:``, is caught too) and the training settings, defaults included. It leaves out the words — ``summary``,
``paper``, ``needs`` — and the settings that only say where and how often a run reports or runs (``log_every``,
``checkpoint_every``, ``keep_last``, ``device``, ``num_workers``, ``threads``), so a reworded summary or a new
docstring invalidates nothing. A new constructor argument does change the hash (its default is part of the
recipe as resolved): the shipped weights of the recipes that use it must then be retrained.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError, did_you_mean

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["FOLDER", "MANIFEST", "PretrainedError", "Weights", "available", "find", "hashed_recipe", "load_pretrained",
           "load_into", "quick_metrics", "recipe_hash", "require", "write_weights"]

FOLDER = "pretrained"  # inside a plugin's package
MANIFEST = "manifest.json"
RETRAIN = "python benchmarks/pretrain.py"  # what writes them, from a clone of the repository
WORDS = ("name", "summary", "paper", "needs")  # what a recipe says about itself, not what it learns
REPORTING = ("log_every", "checkpoint_every", "keep_last", "device", "num_workers", "threads")  # where, how often


class PretrainedError(ZooError):
    """Shipped weights that are missing, damaged, or trained from another recipe than the one registered now."""


@dataclass(frozen=True)
class Weights:
    """One recipe's shipped weights, as its plugin's manifest describes them."""

    recipe: str  # the recipe's name
    plugin: str  # the plugin that owns the recipe and ships the weights
    file: Traversable  # the .safetensors file inside the plugin's package
    sha256: str  # of the file's bytes
    recipe_hash: str  # hashed_recipe of the recipe they were trained from (recipe_hash)
    metrics: dict[str, float]  # what the training script measured with `zoo eval` (the headline numbers)
    check: dict[str, Any]  # a quick measurement a test repeats: {"metric": ..., "value": ..., "eval": {...}}

    def note(self) -> str:
        """The one line a command prints when it uses them."""
        return f"using the weights for recipe {self.recipe!r} shipped with {self.plugin} (no run directory " \
               f"{self.recipe!r} here)"


# --- what is hashed ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A default as JSON can hold it (tuples as lists; anything else JSON doesn't know by its repr)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _with_defaults(kind: str, spec: Any, given: tuple[str, ...] = ()) -> Any:
    """A component spec with every argument its constructor defaults and the spec leaves out, nested parts too."""
    from zoo.recipes.signatures import component_slot, signature
    from zoo.registry import get_registry

    spec = {"name": spec} if isinstance(spec, str) else spec
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return _plain(spec)
    entry = get_registry().get(kind, spec["name"])
    sig = signature(entry.obj)
    tree: dict[str, Any] = {"name": entry.name}
    for key in sorted({*sig.parameters, *spec} - {"name", *given}):
        if key not in spec:
            default = sig.parameters[key].default
            tree[key] = None if default is sig.parameters[key].empty else _plain(default)
            continue
        value = spec[key]
        part, container = component_slot(sig.annotation(key)) if key in sig.parameters or sig.var_keyword else (None,
                                                                                                              None)
        if part is None:
            tree[key] = _plain(value)
        elif container is dict and isinstance(value, dict):
            tree[key] = {k: _with_defaults(part, v) for k, v in sorted(value.items())}
        elif container in (list, tuple) and isinstance(value, list):
            tree[key] = [_with_defaults(part, v) for v in value]
        else:
            tree[key] = _with_defaults(part, value)
    return tree


def hashed_recipe(recipe: dict) -> dict:
    """What ``recipe_hash`` hashes (see the module docstring): ``{"model": ..., "data": ..., "train": ...}``."""
    from zoo.recipes import resolve_references
    from zoo.training.settings import TrainSettings

    recipe = resolve_references(recipe)
    train = TrainSettings.from_recipe(recipe).to_dict()
    return {"model": _with_defaults("model", recipe["model"]),
            "data": _with_defaults("dataset", recipe.get("data"), given=("split",)),
            "train": {k: v for k, v in train.items() if k not in REPORTING}}


def recipe_hash(recipe: dict) -> str:
    """The sha256 of ``hashed_recipe(recipe)`` as canonical JSON (sorted keys)."""
    text = json.dumps(hashed_recipe(recipe), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- what is shipped ---------------------------------------------------------------------------------------


def _folder(plugin: str) -> Traversable | None:
    """The ``pretrained/`` folder of a loaded plugin's package, if it has one."""
    from zoo.registry import get_registry

    module = next((p.module for p in get_registry().plugins if p.name == plugin and p.status == "ok"), None)
    if module is None:
        return None
    try:
        folder = importlib.resources.files(module.split(":")[0]).joinpath(FOLDER)
    except (ModuleNotFoundError, TypeError):  # a single-module plugin has no package to hold files
        return None
    return folder if folder.is_dir() else None


def _manifest(folder: Traversable) -> dict[str, dict]:
    path = folder.joinpath(MANIFEST)
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PretrainedError(f"{path} is damaged ({exc}); reinstall the plugin, or rewrite it: {RETRAIN}") from None
    return manifest if isinstance(manifest, dict) else {}


def available() -> dict[str, Weights]:
    """Every offered recipe whose owning plugin ships weights for it, by recipe name."""
    from zoo.registry import get_registry

    recipes = get_registry().list("recipe")
    found: dict[str, Weights] = {}
    for plugin in sorted({e.plugin for e in recipes}):
        folder = _folder(plugin)
        manifest = _manifest(folder) if folder is not None else {}
        for entry in recipes:
            record = manifest.get(entry.name)
            if entry.plugin == plugin and isinstance(record, dict):
                found[entry.name] = Weights(entry.name, plugin, folder.joinpath(record.get("file", "")),
                                            record.get("sha256", ""), record.get("recipe_hash", ""),
                                            record.get("metrics", {}), record.get("check", {}))
    return found


def find(name: str) -> Weights | None:
    """The shipped weights of the recipe ``name``, or None."""
    return available().get(name)


def require(name: str) -> Weights:
    """The shipped weights of recipe ``name``; a PretrainedError saying what exists otherwise (did-you-mean)."""
    from zoo.registry import get_registry

    shipped = available()
    if name in shipped:
        return shipped[name]
    recipes = [e.name for e in get_registry().list("recipe")]
    if name in recipes:
        raise PretrainedError(f"recipe {name!r} ships no trained weights; train it: zoo train {name} (recipes with "
                              f"weights: {', '.join(sorted(shipped)) or 'none'})")
    with_weights = f"recipes with weights: {', '.join(sorted(shipped)) or 'none'} (zoo list marks them)"
    if "/" in name or "\\" in name:  # a path: the user meant a run directory
        raise PretrainedError(f"no run directory {name}: name one that `zoo train` wrote, or a recipe ({with_weights})")
    raise PretrainedError(f"{name!r} is neither a run directory nor a recipe with shipped weights"
                          f"{did_you_mean(name, sorted(shipped))}; {with_weights}")


def _verified(weights: Weights, recipe: dict) -> bytes:
    """The weight file's bytes, once its checksum and its recipe's hash are the manifest's."""
    where = f"the weights shipped for {weights.recipe!r} ({weights.plugin})"
    if not weights.file.is_file():
        raise PretrainedError(f"{where} are missing: {weights.file}; reinstall {weights.plugin}, or retrain them: "
                              f"{RETRAIN} {weights.recipe}")
    data = weights.file.read_bytes()
    if hashlib.sha256(data).hexdigest() != weights.sha256:
        raise PretrainedError(f"{where} fail their checksum: {weights.file} is damaged or was replaced; reinstall "
                              f"{weights.plugin}, or retrain them: {RETRAIN} {weights.recipe}")
    if recipe_hash(recipe) != weights.recipe_hash:
        raise PretrainedError(f"{where} were trained from another version of the recipe (its model, data or "
                              f"training settings, or a default they use, changed since); refusing stale weights: "
                              f"retrain them with {RETRAIN} {weights.recipe}, or train it: zoo train {weights.recipe}")
    return data


def load_into(model, weights: Weights, recipe: dict) -> None:
    """Load the verified ``weights`` of the registered ``recipe`` into ``model`` (which must match them exactly)."""
    import safetensors.torch

    tensors = safetensors.torch.load(_verified(weights, recipe))
    device = next((p.device for p in model.parameters()), None)
    try:
        model.load_state_dict({k: v.to(device) if device else v for k, v in tensors.items()}, strict=True)
    except RuntimeError as exc:
        raise PretrainedError(f"the weights shipped for {weights.recipe!r} do not fit this model: "
                              f"{str(exc).splitlines()[0]} (a --set that changes a size can't start from them)"
                              ) from None


def load_pretrained(name: str, *, device: str = "cpu"):
    """``(model, recipe)``: the registered recipe ``name``'s model with the weights its plugin ships, in eval mode.

    ``zoo.load_pretrained("vae-digits")``. Raises PretrainedError for a recipe without weights (did-you-mean),
    a damaged file, or a recipe that has changed since they were trained.
    """
    from zoo.recipes import build_model, load_recipe
    from zoo.training import runtime

    weights = require(name)
    recipe = load_recipe(name)
    model = build_model(recipe).to(runtime.pick_device(device))
    load_into(model, weights, recipe)
    return model.eval(), recipe


def quick_metrics(name: str, *, max_batches: int = 0) -> dict[str, float]:
    """The shipped model's own test metrics on its first ``max_batches`` test batches (0: all), on the CPU, seeded,
    without an IWAE bound: the quick check the manifest records and a test repeats."""
    import torch

    from zoo import training

    torch.manual_seed(0)
    return training.evaluate(name, device="cpu", max_batches=max_batches, iwae_samples=0)


def write_weights(folder: Path, name: str, model, recipe: dict, *, metrics: dict[str, float],
                  check: dict[str, Any]) -> Path:
    """Save ``model``'s weights as ``folder/NAME.safetensors`` and record them in ``folder/manifest.json`` (what
    ``benchmarks/pretrain.py`` calls; ``folder`` is a plugin's ``pretrained/``)."""
    import safetensors.torch

    from zoo.training.checkpoint import atomic_write_bytes

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    data = safetensors.torch.save(state)
    atomic_write_bytes(folder / f"{name}.safetensors", data)
    path = folder / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    manifest[name] = {"file": f"{name}.safetensors", "sha256": hashlib.sha256(data).hexdigest(),
                      "recipe_hash": recipe_hash(recipe), "metrics": metrics, "check": check}
    atomic_write_bytes(path, (json.dumps(dict(sorted(manifest.items())), indent=2) + "\n").encode())
    return folder / f"{name}.safetensors"

