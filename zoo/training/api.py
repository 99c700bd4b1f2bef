"""The Python API behind ``zoo train | resume | eval | sample | render | interpolate``.

A recipe goes in (a name, a YAML path, or a dict from ``zoo.recipes.load_recipe``); ``build`` turns it
into everything a run needs, once; a run directory comes out; every other function takes that
directory. The checkpoint's JSON carries the resolved recipe and the plugin distributions that built it,
so a run is rebuilt from its directory alone::

    run = zoo.training.train("vae-digits", "runs/vae", steps=200)
    zoo.training.resume(run, steps=400)
    zoo.training.evaluate(run)                     # {"reconstruction": ..., "kl": ..., "loss": ...}
    zoo.training.sample(run, 64, "samples.png")   # what zoo.artifacts registers for `zoo sample`
    zoo.training.render(run)                       # an image field at 1024 px; a scene's views and an orbit
    zoo.training.export(run, "shape.ply")          # the surface of a scalar field (a signed distance) as a mesh
    model, recipe = zoo.training.load(run)         # EMA weights when the run kept an EMA
    zoo.training.sample("vae-digits")              # a recipe's name: the weights its plugin ships (zoo.pretrained)

``train`` and ``resume`` raise ``zoo.errors.TrainingInterrupted`` after Ctrl-C has saved a checkpoint, so
a caller can tell a stopped run from a finished one (``fit`` returns ``FitResult.interrupted``).

No function here wraps a model's methods in ``torch.no_grad()``: a model that needs autograd to encode
(a GON) must be able to, so each model decorates its own methods where it can.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader, Dataset

from zoo import artifacts, pretrained, quality
from zoo._aliases import moved
from zoo.errors import TrainingInterrupted, ZooError, ZooWarning
from zoo.interfaces import ExactLikelihood, LikelihoodEstimator, Model
from zoo.metrics import estimate_nll, exact_nll
from zoo.recipes import build_dataset, build_model, load_recipe, resolve_references
from zoo.training import checkpoint, runtime
from zoo.training.loop import estimate_metrics, fit
from zoo.training.settings import TrainSettings

__all__ = ["Built", "build", "evaluate", "export", "interpolate", "load", "render", "resume", "sample", "shipped",
           "train", "write_pictures"]

INITS = ("pretrained",)  # what train(init=...) starts from instead of the recipe's initialisation


@dataclass
class Built:
    """Everything a run needs, built once from a recipe."""

    recipe: dict  # the resolved recipe (stored in every checkpoint)
    settings: TrainSettings
    model: Model
    train_set: Dataset
    test_set: Dataset
    provenance: list[dict]  # the plugin distribution and version of every component


def build(recipe: dict | str, *, steps: int | None = None, device: str | None = None) -> Built:
    """A recipe (name, YAML path or dict) -> settings, model, train and test sets, provenance.

    The settings are checked first, so every error in the recipe comes before anything is built. The
    global RNGs are seeded with ``train.seed`` before the model: its initial weights are part of the run.
    ``steps`` replaces ``train.steps`` (the schedule spans it); ``device`` replaces ``train.device``.
    """
    recipe = load_recipe(recipe) if isinstance(recipe, str) else resolve_references(recipe)  # a new dict
    if steps is not None:
        recipe["train"] = {**(recipe.get("train") or {}), "steps": steps}
    settings = TrainSettings.from_recipe(recipe)
    if device is not None:
        settings = dataclasses.replace(settings, device=device)
    runtime.seed_everything(settings.seed)
    found: list[dict] = []
    model = build_model(recipe, provenance=found)
    return Built(recipe, settings, model, build_dataset(recipe, "train", provenance=found),
                 build_dataset(recipe, "test"), found)


def _fit(run: Built, out: Path, *, resume: bool, quiet: bool, pictures: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise ZooError(f"{out} is a file, but a run directory is a folder: name a new or empty directory (--out)")
    result = fit(run.model, run.train_set, run.test_set, run.settings, out, recipe=run.recipe,
                 provenance=run.provenance, resume=resume, quiet=quiet)
    if result.interrupted:
        raise TrainingInterrupted(out, result.step, result.stopped_by)
    if pictures:
        write_pictures(result.eval_model, run.test_set, out, quiet=quiet, metrics=result.eval_metrics)
    return out


def train(recipe: dict | str, out: str | Path, *, steps: int | None = None, device: str | None = None,
          quiet: bool = False, pictures: bool = True, init: str | None = None) -> Path:
    """Build the recipe and train it into the run directory ``out``; returns ``out``.

    With ``pictures``, what a person wants to look at is written as PNGs (``write_pictures``). Ctrl-C
    saves a checkpoint and raises ``TrainingInterrupted`` (``resume`` continues the run). ``init="pretrained"``
    starts from the weights shipped for the recipe it is (or is based on, overrides laid over it: fine-tuning),
    checked as ``zoo.load_pretrained`` checks them; settings that change a size can't start from them.
    """
    run = build(recipe, steps=steps, device=device)
    if init is not None:
        if init not in INITS:
            raise ZooError(f"init={init!r}: expected one of {', '.join(INITS)} (or none: the recipe's own "
                           "initialisation)")
        weights = pretrained.require(run.recipe["name"])
        pretrained.load_into(run.model, weights, load_recipe(weights.recipe))
    return _fit(run, Path(out), resume=False, quiet=quiet, pictures=pictures)


def shipped(run_dir: str | Path) -> pretrained.Weights | None:
    """None when ``run_dir`` is a path that exists (a run directory); else the weights shipped for the recipe it
    names, or a PretrainedError naming what it could mean (did-you-mean). What every function here that takes a
    run directory does with a recipe's name."""
    if Path(run_dir).exists():
        return None
    return pretrained.require(str(run_dir))


def _recipe_of(info: dict[str, Any], where: Path) -> dict:
    if not info.get("recipe"):
        raise ZooError(f"{where} was trained from Python with zoo.training.fit(), without a recipe, so it can't "
                       "be rebuilt from its directory: build the model yourself and call fit(..., resume=True)")
    return info["recipe"]


def resume(run_dir: str | Path, *, steps: int | None = None, device: str | None = None,
           quiet: bool = False, pictures: bool = True) -> Path:
    """Continue a run from its newest checkpoint, to ``steps`` in total if given (else the run's own total).

    The device is where this session runs, not a property of the run: ``auto`` unless ``device`` is given.
    Ctrl-C saves a checkpoint and raises ``TrainingInterrupted``, as in ``train``.
    """
    run_dir = Path(run_dir)
    info = checkpoint.read_info(checkpoint.find_checkpoint(run_dir))
    checkpoint.check_provenance(info["provenance"])
    run = build(_recipe_of(info, run_dir), steps=steps, device=device or "auto")
    return _fit(run, run_dir, resume=True, quiet=quiet, pictures=pictures)


def load(run_dir: str | Path, *, which: str = "latest", device: str = "cpu", ema: bool = True) -> tuple[Model, dict]:
    """``(model, recipe)`` from a run directory (or one of its step directories), in eval mode.

    ``which`` is ``"latest"`` or ``"best"`` (by the eval metric). The EMA weights are loaded when the run
    kept an EMA and ``ema`` is true. Fails with the ``pip install`` line when a plugin is missing. A recipe's name
    instead of a directory loads the weights its plugin ships (``zoo.load_pretrained``).
    """
    if shipped(run_dir) is not None:
        return pretrained.load_pretrained(str(run_dir), device=device)
    found = checkpoint.find_checkpoint(run_dir, which)
    info = checkpoint.read_info(found)
    checkpoint.check_provenance(info["provenance"])
    recipe = _recipe_of(info, Path(run_dir))
    model = build_model(recipe).to(runtime.pick_device(device))
    checkpoint.load_weights(found, model, ema=ema and (found / "ema.safetensors").exists())
    return model.eval(), recipe


def evaluate(run_dir: str | Path, *, split: str = "test", which: str = "latest", device: str = "auto",
             max_batches: int = 0, iwae_samples: int = 1000, samples: int = 0,
             features: str | Path | None = None) -> dict[str, float]:
    """The model's own metrics, averaged over the ``split`` of its dataset (all of it unless ``max_batches``).

    For a ``LikelihoodEstimator`` (a VAE) also the test NLL from ``iwae_samples`` importance samples, in
    nats (``iwae_nll``) and bits/dim (0 skips it); for an ``ExactLikelihood`` the computed test NLL, in nats
    (``nll``) and ``bits_per_dim``, which needs no samples. With ``samples``, the sample quality of that many
    samples against the test split (``zoo.quality``: ``fid``, ``kid``, ``precision``, ``recall``), in the feature
    space of the data's domain network, or of the network in the safetensors file ``features``.
    """
    if iwae_samples < 0:
        raise ZooError(f"iwae_samples={iwae_samples}: expected a number of importance samples >= 1, or 0 to skip "
                       "the test NLL")
    if features is not None and not samples:
        raise ZooError("--features names the network sample quality is measured in: give --samples N too")
    model, recipe = load(run_dir, which=which, device=device)
    if samples:
        quality.check_samples(model, samples)  # before the metrics that take time
    settings = TrainSettings.from_recipe(recipe)
    target = next(model.parameters()).device
    loader = DataLoader(build_dataset(recipe, split), batch_size=settings.micro_batch_size(1),
                        num_workers=settings.num_workers)
    precision = runtime.resolve_precision(target, settings.precision)
    metrics = estimate_metrics(model, loader, device=target, precision=precision, max_batches=max_batches)
    batches = (runtime.to_device(x, target) for i, x in enumerate(loader) if not max_batches or i < max_batches)
    if isinstance(model, ExactLikelihood):
        metrics.update(exact_nll(model, batches))
    elif iwae_samples and isinstance(model, LikelihoodEstimator):
        try:
            metrics.update(estimate_nll(model, batches, num_samples=iwae_samples))
        except ZooError as exc:  # e.g. a VAE trained with a deterministic encoder has no likelihood
            warnings.warn(f"no test NLL: {exc}", stacklevel=2, category=ZooWarning)
    if samples:
        network = quality.load_features(features) if features is not None else None
        metrics.update(quality.sample_quality(model, recipe, n=samples, features=network))
    return metrics


def _draw(run_dir: str | Path, command: str, out: str | Path | None, options: dict[str, Any], *, which: str,
          device: str) -> Path:
    """Run the artifact ``command`` runs for the run's model (``zoo.artifacts.choose``) with ``options`` (those
    given, not None) into ``out`` (default: its output in the run directory, or ``pretrained/RECIPE/`` for a recipe's
    shipped weights); returns ``out``."""
    weights = shipped(run_dir)
    if weights is None:
        found = checkpoint.find_checkpoint(run_dir, which)
        model, recipe = load(found, device=device)
        directory, metrics = Path(run_dir), checkpoint.read_info(found).get("eval_metrics")
    else:
        model, recipe = pretrained.load_pretrained(weights.recipe, device=device)
        directory, metrics = Path(pretrained.FOLDER) / weights.recipe, weights.metrics
    run = artifacts.Run(model, directory, recipe=recipe, metrics=metrics)
    entry = artifacts.choose(command, model, run)
    options = {name: value for name, value in options.items() if value is not None}
    options = entry.obj.check(options, name=entry.name, model=type(model).__name__)
    out = entry.obj.out_path(directory, options, out)
    artifacts.draw(entry, run, out, options)
    return out


def sample(run_dir: str | Path, n: int | None = None, out: str | Path | None = None, *, which: str = "latest",
           device: str = "auto", **options: Any) -> Path:
    """Draw ``n`` samples (64 by default) from a run's model (EMA weights when kept) into a PNG grid; returns
    its path (default: ``RUN/samples.png``).

    ``options`` are those of the artifact ``zoo sample`` runs for this model (``zoo info samples``): ``size``
    decodes with the longest side ``size`` pixels where the decoder is resizable, ``seed``; a VDVAE's
    ``temperature`` (zoo_vdvae's ``samples-at-temperature``) scales its priors' spread.
    """
    return _draw(run_dir, "sample", out, {"n": n, **options}, which=which, device=device)


def interpolate(run_dir: str | Path, pairs: int | None = None, steps: int | None = None,
                out: str | Path | None = None, *, which: str = "latest", device: str = "auto", **options: Any) -> Path:
    """Latent interpolations between ``pairs`` random pairs of held-out examples (8) as a PNG; returns its path
    (default: ``RUN/interpolations.png``).

    Each row decodes ``steps`` (10) evenly spaced points on the line between two examples' codes
    (``LatentModel.encode``): the first and last columns are their reconstructions. ``options``: ``size``,
    ``seed`` (which pairs), as ``zoo info interpolations`` lists.
    """
    return _draw(run_dir, "interpolate", out, {"pairs": pairs, "steps": steps, **options}, which=which,
                 device=device)


def render(run_dir: str | Path, size: int | None = None, out: str | Path | None = None, *, which: str = "latest",
           device: str = "auto", **options: Any) -> Path:
    """Render a run's model with the artifact ``zoo render`` runs for it; returns what it wrote.

    A fitted image (a ``Renderer``) renders at ``size`` (default 1024) into the PNG ``out`` (default
    ``RUN/render-SIZE.png``), its grid shifted by ``offset`` of a pixel. A model of a scene (zoo_nerf's
    ``orbit``) renders its held-out views and an orbit of ``frames`` novel views into the folder ``out``
    (default ``RUN/render``), with their longest side ``size`` pixels (default: the data's).
    """
    return _draw(run_dir, "render", out, {"size": size, **options}, which=which, device=device)


def export(run_dir: str | Path, out: str | Path | None = None, *, resolution: int | None = None,
           which: str = "latest", device: str = "auto", **options: Any) -> Path:
    """Export a run's model with the artifact ``zoo export`` runs for it; returns what it wrote.

    A model with a scalar field over a box (a ``ScalarVolume``: a fitted signed distance, a radiance field's
    density) is meshed by marching cubes on a ``resolution``³ grid (default 128) into the PLY ``out`` (default
    ``RUN/mesh.ply``); ``level`` picks another level set than the model's surface.
    """
    return _draw(run_dir, "export", out, {"resolution": resolution, **options}, which=which, device=device)


def write_pictures(model: Model, test_set: Dataset, run_dir: str | Path, *, quiet: bool = False,
                   metrics: dict[str, float] | None = None) -> list[Path]:
    """What a person wants to look at after training, drawn from the trained model in memory.

    Every registered artifact that applies to the model and runs after training (``zoo.artifacts``,
    ``zoo list --kind artifact``): the core's samples, reconstructions, interpolations, renders of a fitted
    image and the metrics' curves, and whatever the model's plugin draws (a VDVAE's KL per layer, a scene's
    views), with their defaults; ``metrics`` is the last evaluation. Only the main process writes.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        return []
    run = artifacts.Run(model, run_dir, test_set=test_set, metrics=metrics)
    written = artifacts.write_after_training(run)
    if written and not quiet:
        print("wrote " + ", ".join(str(p) for p in written))
    return written


# zoo.training.api.render_views until 0.3: a scene's pictures are the zoo_nerf plugin's
__getattr__ = moved("zoo.training.api", {"render_views": "zoo_nerf.pictures"})
