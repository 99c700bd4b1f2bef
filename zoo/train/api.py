"""The Python API behind ``zoo train | resume | eval | sample | render``.

A recipe goes in (a dict from ``zoo.recipes.load_recipe``, or a recipe name); a run directory comes
out; every other function takes that directory. The checkpoint's JSON carries the resolved recipe and
the plugin distributions that built it, so a run is rebuilt from its directory alone::

    run = zoo.train.train("vae-digits", "runs/vae", steps=200)
    zoo.train.resume(run, steps=400)
    zoo.train.evaluate(run)                     # {"recon": ..., "kl": ..., "loss": ...}
    zoo.train.sample(run, 64, "samples.png")
    model, recipe = zoo.train.load(run)         # EMA weights when the run kept an EMA
"""

from __future__ import annotations

import copy
import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from einops import rearrange
from torch.utils.data import DataLoader

from zoo import viz
from zoo.errors import ZooError
from zoo.interfaces import LikelihoodEstimator, Model, Reconstructor, Renderer, Sampler
from zoo.metrics import estimate_nll
from zoo.recipes import build_dataset, build_model, load_recipe, provenance, train_settings
from zoo.train import checkpoint, runtime
from zoo.train.loop import estimate_metrics, fit

__all__ = ["evaluate", "load", "render", "resume", "sample", "train", "write_pictures"]


def _with_steps(recipe: dict, steps: int | None) -> dict:
    if steps is None:
        return recipe
    recipe = copy.deepcopy(recipe)
    recipe["train"] = {**(recipe.get("train") or {}), "steps": steps}
    return recipe


def _recipe_of(info: dict[str, Any], where: Path) -> dict:
    if not info.get("recipe"):
        raise ZooError(f"{where} was trained from Python with zoo.train.fit(), without a recipe, so it can't be "
                       "rebuilt from its directory: build the model yourself and call fit(..., resume=True)")
    return info["recipe"]


def train(recipe: dict | str, out: str | Path, *, steps: int | None = None, device: str | None = None,
          quiet: bool = False, pictures: bool = True) -> Path:
    """Build the recipe's model and data, train into the run directory ``out``, and return it.

    ``steps`` replaces ``train.steps`` (the schedule spans it); ``device`` replaces ``train.device``.
    With ``pictures``, the finished run's samples or renders are written as PNGs (``write_pictures``).
    """
    if isinstance(recipe, str):
        recipe = load_recipe(recipe)
    recipe = _with_steps(recipe, steps)
    settings = train_settings(recipe)
    if device is not None:
        settings = dataclasses.replace(settings, device=device)
    runtime.seed_everything(settings.seed)  # the initial weights are part of the run
    model = build_model(recipe)
    result = fit(model, build_dataset(recipe, "train"), build_dataset(recipe, "test"), settings, out,
                 recipe=recipe, provenance=provenance(recipe), quiet=quiet)
    if pictures and not result.interrupted:
        write_pictures(out, recipe, quiet=quiet)
    return Path(out)


def resume(run_dir: str | Path, *, steps: int | None = None, device: str | None = None,
           quiet: bool = False, pictures: bool = True) -> Path:
    """Continue a run from its newest checkpoint, to ``steps`` in total if given (else the run's own total)."""
    run_dir = Path(run_dir)
    info = checkpoint.read_info(checkpoint.find_checkpoint(run_dir))
    checkpoint.check_provenance(info["provenance"])
    recipe = _with_steps(_recipe_of(info, run_dir), steps)
    saved = {**info["settings"], **({"steps": steps} if steps is not None else {})}
    # the device is where this session runs, not a property of the run
    settings = dataclasses.replace(train_settings({"train": saved}), device=device or "auto")
    runtime.seed_everything(settings.seed)
    model = build_model(recipe)
    result = fit(model, build_dataset(recipe, "train"), build_dataset(recipe, "test"), settings, run_dir,
                 recipe=recipe, provenance=info["provenance"], resume=True, quiet=quiet)
    if pictures and not result.interrupted:
        write_pictures(run_dir, recipe, quiet=quiet)
    return run_dir


def load(run_dir: str | Path, *, which: str = "latest", device: str = "cpu", ema: bool = True) -> tuple[Model, dict]:
    """``(model, recipe)`` from a run directory (or one of its step directories), in eval mode.

    ``which`` is ``"latest"`` or ``"best"`` (by the eval metric). The EMA weights are loaded when the run
    kept an EMA and ``ema`` is true. Fails with the ``pip install`` line when a plugin is missing.
    """
    found = checkpoint.find_checkpoint(run_dir, which)
    info = checkpoint.read_info(found)
    checkpoint.check_provenance(info["provenance"])
    recipe = _recipe_of(info, Path(run_dir))
    model = build_model(recipe).to(runtime.pick_device(device))
    checkpoint.load_weights(found, model, ema=ema and (found / "ema.safetensors").exists())
    return model.eval(), recipe


def evaluate(run_dir: str | Path, *, split: str = "test", which: str = "latest", device: str = "auto",
             max_batches: int = 0, iwae_samples: int = 1000) -> dict[str, float]:
    """The model's own metrics, averaged over the ``split`` of its dataset (all of it unless ``max_batches``).

    For a ``LikelihoodEstimator`` (a VAE) also the test NLL from ``iwae_samples`` importance samples, in
    nats (``iwae_nll``) and bits/dim (0 skips it).
    """
    model, recipe = load(run_dir, which=which, device=device)
    settings = train_settings(recipe)
    target = next(model.parameters()).device
    loader = DataLoader(build_dataset(recipe, split), batch_size=settings.micro_batch_size(1),
                        num_workers=settings.num_workers)
    precision = runtime.resolve_precision(target, settings.precision)
    metrics = estimate_metrics(model, loader, device=target, precision=precision, max_batches=max_batches)
    if iwae_samples and isinstance(model, LikelihoodEstimator):
        batches = (runtime.to_device(x, target) for i, x in enumerate(loader) if not max_batches or i < max_batches)
        try:
            metrics.update(estimate_nll(model, batches, num_samples=iwae_samples))
        except ZooError as exc:  # e.g. a VAE trained with a deterministic encoder has no likelihood
            warnings.warn(f"no test NLL: {exc}", stacklevel=2)
    return metrics


CAPABILITIES = {"sample": Sampler, "reconstruct": Reconstructor, "render": Renderer}


def _require(model: Model, verb: str) -> None:
    """A clear error when ``model`` lacks the capability ``verb`` ("sample", "render"), naming what it can do."""
    if isinstance(model, CAPABILITIES[verb]):
        return
    can = [name for name, cls in CAPABILITIES.items() if isinstance(model, cls)]
    none = f"it has none of the optional capabilities ({', '.join(CAPABILITIES)})"
    what = f"it can: {', '.join(can)}" if can else none
    raise ZooError(f"{type(model).__name__} can't {verb} (it is not a zoo.interfaces.{CAPABILITIES[verb].__name__}); "
                   f"{what}")


def sample(run_dir: str | Path, n: int = 64, out: str | Path | None = None, *, which: str = "latest",
           device: str = "auto", seed: int = 0) -> Path:
    """Draw ``n`` samples from a run's model (EMA weights when kept) into a PNG grid; returns its path."""
    model, _ = load(run_dir, which=which, device=device)
    return _sample_png(model, n, out if out is not None else Path(run_dir) / "samples.png", seed=seed)


def render(run_dir: str | Path, size: int = 1024, out: str | Path | None = None, *, offset: float = 0.0,
           which: str = "latest", device: str = "auto") -> Path:
    """Render a fitted image field with its longest side ``size`` pixels into a PNG; returns its path.

    ``offset`` (a fraction of a pixel) shifts the sampling grid.
    """
    model, recipe = load(run_dir, which=which, device=device)
    out = out if out is not None else Path(run_dir) / f"render-{size}.png"
    return _render_png(model, _image_shape(recipe), size, out, offset=offset)


def write_pictures(run_dir: str | Path, recipe: dict, *, quiet: bool = False) -> list[Path]:
    """What a person wants to look at after training: samples, reconstructions, renders.

    A Sampler's samples go to ``samples.png``; a Reconstructor's held-out inputs over their
    reconstructions to ``reconstructions.png``; a Renderer's fitted image is rendered at the data's
    resolution and at 4x (``render.png``, ``render-4x.png``). Only the main process writes.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        return []
    model, _ = load(run_dir, device="auto")
    run_dir, written = Path(run_dir), []
    if isinstance(model, Sampler):
        written.append(_sample_png(model, 64, run_dir / "samples.png"))
    if isinstance(model, Reconstructor):  # held-out inputs (odd rows) over their reconstructions (even rows)
        test = build_dataset(recipe, "test")
        x = torch.stack([test[i] for i in range(min(8, len(test)))]).to(next(model.parameters()).device)
        with torch.no_grad():
            pairs = rearrange([x, model.reconstruct(x)], "two n ... -> (two n) ...")
        written.append(viz.save_image_grid(pairs, run_dir / "reconstructions.png", nrow=len(x)))
    shape = tuple(build_dataset(recipe, "train").shape) if isinstance(model, Renderer) else ()
    if len(shape) == 3:  # a Renderer of images; other signals (audio) have no picture
        size = max(shape[1:])
        written.append(_render_png(model, shape, size, run_dir / "render.png"))
        written.append(_render_png(model, shape, 4 * size, run_dir / "render-4x.png"))
    if written and not quiet:
        print("wrote " + ", ".join(str(p) for p in written))
    return written


def _sample_png(model: Model, n: int, out: str | Path, *, seed: int = 0) -> Path:
    _require(model, "sample")
    runtime.seed_everything(seed)
    with torch.no_grad():
        images = model.sample(n)
    return viz.save_image_grid(images, out)


def _image_shape(recipe: dict) -> tuple[int, ...]:
    shape = tuple(build_dataset(recipe, "train").shape)  # every zoo dataset knows its item shape
    if len(shape) != 3:
        raise ZooError(f"render writes images, but this run's data items have shape {shape}, not (c, h, w)")
    return shape


def _render_png(model: Model, shape: tuple[int, ...], size: int, out: str | Path, *, offset: float = 0.0) -> Path:
    """The fitted image with its longest side ``size`` pixels (the data's aspect ratio) as a PNG."""
    _require(model, "render")
    h, w = shape[1:]
    target = (max(1, round(h * size / max(h, w))), max(1, round(w * size / max(h, w))))
    with torch.no_grad():
        image = model.render(target, offset=offset)
    return viz.save_image_grid(image[None], out, min_tile=0)
