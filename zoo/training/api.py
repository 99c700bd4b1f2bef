"""The Python API behind ``zoo train | resume | eval | sample | render | interpolate``.

A recipe goes in (a name, a YAML path, or a dict from ``zoo.recipes.load_recipe``); ``build`` turns it
into everything a run needs, once; a run directory comes out; every other function takes that
directory. The checkpoint's JSON carries the resolved recipe and the plugin distributions that built it,
so a run is rebuilt from its directory alone::

    run = zoo.training.train("vae-digits", "runs/vae", steps=200)
    zoo.training.resume(run, steps=400)
    zoo.training.evaluate(run)                     # {"reconstruction": ..., "kl": ..., "loss": ...}
    zoo.training.sample(run, 64, "samples.png")
    zoo.training.render(run)                       # an image field at 1024 px; a scene's views and an orbit
    model, recipe = zoo.training.load(run)         # EMA weights when the run kept an EMA

``train`` and ``resume`` raise ``zoo.errors.TrainingInterrupted`` after Ctrl-C has saved a checkpoint, so
a caller can tell a stopped run from a finished one (``fit`` returns ``FitResult.interrupted``).

No function here wraps a model's methods in ``torch.no_grad()``: a model that needs autograd to encode
(a GON) must be able to, so each model decorates its own methods where it can.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch.utils.data import DataLoader, Dataset

from zoo import viz
from zoo.cameras import orbit
from zoo.data.scenes import ViewDataset
from zoo.errors import TrainingInterrupted, ZooError, ZooWarning
from zoo.interfaces import LatentModel, LikelihoodEstimator, Model, Reconstructor, Renderer, Sampler, ViewRenderer
from zoo.metrics import estimate_nll
from zoo.recipes import build_dataset, build_model, load_recipe, resolve_references
from zoo.training import checkpoint, runtime
from zoo.training.loop import estimate_metrics, fit
from zoo.training.settings import TrainSettings

__all__ = ["Built", "build", "evaluate", "interpolate", "load", "render", "render_views", "resume", "sample",
           "train", "write_pictures"]


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
          quiet: bool = False, pictures: bool = True) -> Path:
    """Build the recipe and train it into the run directory ``out``; returns ``out``.

    With ``pictures``, what a person wants to look at is written as PNGs (``write_pictures``). Ctrl-C
    saves a checkpoint and raises ``TrainingInterrupted`` (``resume`` continues the run).
    """
    return _fit(build(recipe, steps=steps, device=device), Path(out), resume=False, quiet=quiet,
                pictures=pictures)


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
    if iwae_samples < 0:
        raise ZooError(f"iwae_samples={iwae_samples}: expected a number of importance samples >= 1, or 0 to skip "
                       "the test NLL")
    model, recipe = load(run_dir, which=which, device=device)
    settings = TrainSettings.from_recipe(recipe)
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
            warnings.warn(f"no test NLL: {exc}", stacklevel=2, category=ZooWarning)
    return metrics


TEMPERATURES = (0.6, 0.8, 1.0)  # the rows of samples-temperatures.png
CAPABILITIES = {"sample": Sampler, "reconstruct": Reconstructor, "render": Renderer, "render views": ViewRenderer,
                "interpolate": LatentModel}


def _require(model: Model, verb: str, *, spatial: tuple[int, ...] | None = None) -> None:
    """A clear error when ``model`` lacks the capability ``verb`` (or can't decode at ``spatial``)."""
    if not isinstance(model, CAPABILITIES[verb]):
        can = [name for name, cls in CAPABILITIES.items() if isinstance(model, cls)]
        none = f"it has none of the optional capabilities ({', '.join(CAPABILITIES)})"
        what = f"it can: {', '.join(can)}" if can else none
        raise ZooError(f"{type(model).__name__} can't {verb} (it is not a zoo.interfaces."
                       f"{CAPABILITIES[verb].__name__}); {what}")
    if spatial is not None and not (isinstance(model, LatentModel) and model.decoder.resizable):
        decoder = type(model.decoder).__name__ if isinstance(model, LatentModel) else "no Decoder"
        raise ZooError(f"{type(model).__name__} decodes only at its data's size: its decoder ({decoder}) is not "
                       "resizable; a field decoder is (decoder: {name: field, ...}), or leave out --size")


def _spatial(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    """The data's spatial shape ``shape[1:]`` scaled so that its longest side is ``size``."""
    if size < 1:
        raise ZooError(f"size must be a positive number of pixels, got {size}")
    spatial = shape[1:]
    return tuple(max(1, round(n * size / max(spatial))) for n in spatial)


def _resized(recipe: dict, size: int | None) -> tuple[int, ...] | None:
    """``spatial`` for decoding at ``size`` (None: at the data's own size, without building the dataset)."""
    return None if size is None else _spatial(_data_shape(recipe), size)


def sample(run_dir: str | Path, n: int = 64, out: str | Path | None = None, *, size: int | None = None,
           temperature: float | None = None, which: str = "latest", device: str = "auto", seed: int = 0) -> Path:
    """Draw ``n`` samples from a run's model (EMA weights when kept) into a PNG grid; returns its path.

    ``size`` decodes them with their longest side ``size`` pixels, for a model whose decoder is resizable;
    ``temperature`` scales the prior's spread, for a model whose ``sample`` takes one (a VDVAE).
    """
    model, recipe = load(run_dir, which=which, device=device)
    spatial = _resized(recipe, size)
    return _sample_png(model, n, out if out is not None else Path(run_dir) / "samples.png", seed=seed,
                       spatial=spatial, temperature=temperature)


def interpolate(run_dir: str | Path, pairs: int = 8, steps: int = 10, out: str | Path | None = None, *,
                size: int | None = None, which: str = "latest", device: str = "auto", seed: int = 0) -> Path:
    """Latent interpolations between ``pairs`` random pairs of held-out examples as a PNG; returns its path.

    Each row decodes ``steps`` evenly spaced points on the line between two examples' codes
    (``LatentModel.encode``): the first and last columns are their reconstructions.
    """
    model, recipe = load(run_dir, which=which, device=device)
    spatial = _resized(recipe, size)
    _require(model, "interpolate", spatial=spatial)
    test = build_dataset(recipe, "test")
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[: 2 * pairs]
    if len(order) < 2:
        raise ZooError(f"interpolation needs two held-out examples; the test split holds {len(test)}")
    x = _stack(test, order.tolist()).to(next(model.parameters()).device)
    out = out if out is not None else Path(run_dir) / "interpolations.png"
    return _interpolation_png(model, x, steps, out, spatial=spatial)


def render(run_dir: str | Path, size: int | None = None, out: str | Path | None = None, *, offset: float = 0.0,
           frames: int = 40, which: str = "latest", device: str = "auto") -> Path:
    """Render a run's model; returns what it wrote.

    A model of a scene (``ViewRenderer``) renders its held-out views and an orbit of ``frames`` novel views
    into the folder ``out`` (default ``RUN/render``; see ``render_views``), with their longest side
    ``size`` pixels (default: the data's). A fitted image field renders at ``size`` (default 1024) into the
    PNG ``out`` (default ``RUN/render-SIZE.png``), its grid shifted by ``offset`` of a pixel.
    """
    model, recipe = load(run_dir, which=which, device=device)
    if isinstance(model, ViewRenderer):
        views = _views(build_dataset(recipe, "test"))
        return render_views(model, views, out if out is not None else Path(run_dir) / "render", size=size,
                            frames=frames)
    size = 1024 if size is None else size
    out = out if out is not None else Path(run_dir) / f"render-{size}.png"
    return _render_png(model, _image_shape(recipe), size, out, offset=offset)


def _views(dataset: Dataset) -> ViewDataset:
    if not isinstance(dataset, ViewDataset):
        raise ZooError(f"this model renders views of a scene, but its data ({type(dataset).__name__}) has no cameras: "
                       "use a scene dataset (procedural-scene, blender)")
    return dataset


def render_views(model: ViewRenderer, views: ViewDataset, out: str | Path, *, size: int | None = None,
                 frames: int = 40) -> Path:
    """Held-out views and an orbit around the scene, as pictures; returns the folder ``out``.

    Writes ``views.png`` (the held-out pictures, their renders and depth maps, in three rows),
    ``orbit.gif`` and ``orbit-depth.gif`` (``frames`` cameras circling the scene at the held-out views'
    height and distance, ``zoo.cameras.orbit``), ``orbit.mp4`` when imageio-ffmpeg is installed
    (``genzoo[video]``), and each orbit frame as ``orbit/rgb-NNN.png`` and
    ``orbit/depth-NNN.png``. ``size`` is the longest side in pixels (default: the views').
    """
    out = Path(out)
    spatial = views.shape[1:] if size is None else _spatial(views.shape, size)
    cameras = [views.camera(i).resized(*spatial) for i in range(len(views))]
    truth = torch.stack([views[i]["image"] for i in range(len(views))])
    if spatial != views.shape[1:]:
        truth = torch.nn.functional.interpolate(truth, size=spatial, mode="bilinear", antialias=True)
    rgb, depth = _render_cameras(model, cameras)
    viz.save_image_grid(torch.cat([truth, rgb, viz.depth_images(depth)]), out / "views.png", nrow=len(views))
    rgb, depth = _render_cameras(model, orbit(cameras, frames))
    depth = viz.depth_images(depth)
    for i, (picture, distance) in enumerate(zip(rgb, depth)):
        viz.save_image_grid(picture[None], out / "orbit" / f"rgb-{i:03d}.png", min_tile=0)
        viz.save_image_grid(distance[None], out / "orbit" / f"depth-{i:03d}.png", min_tile=0)
    viz.save_gif(rgb, out / "orbit.gif")
    viz.save_gif(depth, out / "orbit-depth.gif")
    if viz.can_save_mp4():
        viz.save_mp4(rgb, out / "orbit.mp4")
    return out


def _render_cameras(model: ViewRenderer, cameras: list) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, c, h, w)`` pictures and ``(n, h, w)`` depth maps of ``cameras``, on the CPU."""
    _require(model, "render views")
    renders = [model.render_view(camera) for camera in cameras]
    return (torch.stack([rgb.detach().cpu() for rgb, _ in renders]),
            torch.stack([depth.detach().cpu() for _, depth in renders]))


def write_pictures(model: Model, test_set: Dataset, run_dir: str | Path, *, quiet: bool = False,
                   metrics: dict[str, float] | None = None) -> list[Path]:
    """What a person wants to look at after training, from the trained model in memory.

    A Sampler's samples go to ``samples.png`` (and when it takes a temperature, rows of samples at
    ``TEMPERATURES`` to ``samples-temperatures.png``); a Reconstructor's held-out inputs over their
    reconstructions to ``reconstructions.png`` and, when its decoder is resizable, over the same codes
    decoded at 4x the data's size (``reconstructions-4x.png``: super-resolved reconstructions); a
    LatentModel's interpolations between held-out pairs to ``interpolations.png``; a Renderer's fitted
    image is rendered at the data's resolution and at 4x (``render.png``, ``render-4x.png``); a model whose
    metrics hold a KL per layer (``kl_layer_00``, ...: a hierarchical VAE) among the evaluation ``metrics``
    passed in gets them as a bar chart (``kl-per-layer.png``, with matplotlib), to show which layers carry
    information and which collapsed. Only the main process writes.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        return []
    run_dir, written = Path(run_dir), []
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    shape = tuple(test_set.shape)  # every zoo dataset knows its item shape
    if isinstance(model, Sampler):
        written.append(_sample_png(model, 64, run_dir / "samples.png"))
        if "temperature" in inspect.signature(model.sample).parameters:  # rows at 0.6, 0.8 and 1.0
            runtime.seed_everything(0)
            rows = [model.sample(8, temperature=t).detach() for t in TEMPERATURES]
            written.append(viz.save_image_grid(torch.cat(rows), run_dir / "samples-temperatures.png", nrow=8))
    if isinstance(model, Reconstructor):  # held-out inputs (odd rows) over their reconstructions (even rows)
        x = _stack(test_set, range(min(8, len(test_set)))).to(device)
        pairs = rearrange([x, model.reconstruct(x).detach()], "two n ... -> (two n) ...")
        written.append(viz.save_image_grid(pairs, run_dir / "reconstructions.png", nrow=len(x)))
        if isinstance(model, LatentModel) and model.decoder.resizable and len(shape) == 3:
            big = model.reconstruct(x, spatial=_spatial(shape, 4 * max(shape[1:]))).detach()
            inputs = F.interpolate(x, size=big.shape[2:], mode="nearest")  # the pixels the codes came from
            pairs = rearrange([inputs, big], "two n ... -> (two n) ...")
            written.append(viz.save_image_grid(pairs, run_dir / "reconstructions-4x.png", nrow=len(x)))
    if isinstance(model, LatentModel) and len(test_set) >= 2 and len(shape) == 3:
        x = _stack(test_set, range(min(16, len(test_set)))).to(device)
        written.append(_interpolation_png(model, x, 10, run_dir / "interpolations.png"))
    layer_kls = {name: value for name, value in (metrics or {}).items() if name.startswith("kl_layer_")}
    if layer_kls:
        plot = viz.plot_bars(layer_kls, run_dir / "kl-per-layer.png", title="KL per layer (last evaluation)")
        written += [plot] if plot else []
    if isinstance(model, Renderer) and len(shape) == 3:  # a Renderer of images; other signals (audio) have none
        size = max(shape[1:])
        written.append(_render_png(model, shape, size, run_dir / "render.png"))
        written.append(_render_png(model, shape, 4 * size, run_dir / "render-4x.png"))
    if isinstance(model, ViewRenderer) and isinstance(test_set, ViewDataset):
        shown = range(min(8, len(test_set)))
        truth = torch.stack([test_set[i]["image"] for i in shown])
        rgb, depth = _render_cameras(model, [test_set.camera(i) for i in shown])
        grid = torch.cat([truth, rgb, viz.depth_images(depth)])
        written.append(viz.save_image_grid(grid, run_dir / "views.png", nrow=len(truth)))
    model.train(was_training)
    if written and not quiet:
        print("wrote " + ", ".join(str(p) for p in written))
    return written


def _stack(dataset: Dataset, indices) -> torch.Tensor:
    return torch.stack([dataset[i] for i in indices])


def _interpolation_png(model: LatentModel, x: torch.Tensor, steps: int, out: str | Path, *,
                       spatial: tuple[int, ...] | None = None) -> Path:
    """Rows of ``steps`` decodings between the codes of the first and the second half of ``x``."""
    half = len(x) // 2
    images = model.interpolate(x[:half], x[half: 2 * half], steps, spatial=spatial).detach()  # (b, steps, ...)
    return viz.save_image_grid(rearrange(images, "b s ... -> (b s) ..."), out, nrow=steps)


def _sample_png(model: Model, n: int, out: str | Path, *, seed: int = 0, spatial: tuple[int, ...] | None = None,
                temperature: float | None = None) -> Path:
    _require(model, "sample", spatial=spatial)
    if n < 1:
        raise ZooError(f"the number of samples must be at least 1, got {n}")
    options = {"spatial": spatial, "temperature": temperature}
    options = {name: value for name, value in options.items() if value is not None}
    if "temperature" in options and "temperature" not in inspect.signature(model.sample).parameters:
        raise ZooError(f"{type(model).__name__} samples without a temperature (its sample() takes none); "
                       "leave out --temperature")
    runtime.seed_everything(seed)
    return viz.save_image_grid(model.sample(n, **options).detach(), out)


def _data_shape(recipe: dict) -> tuple[int, ...]:
    return tuple(build_dataset(recipe, "train").shape)  # every zoo dataset knows its item shape


def _image_shape(recipe: dict) -> tuple[int, ...]:
    shape = _data_shape(recipe)
    if len(shape) != 3:
        raise ZooError(f"render writes images, but this run's data items have shape {shape}, not (c, h, w)")
    return shape


def _render_png(model: Model, shape: tuple[int, ...], size: int, out: str | Path, *, offset: float = 0.0) -> Path:
    """The fitted image with its longest side ``size`` pixels (the data's aspect ratio) as a PNG."""
    _require(model, "render")
    target = _spatial(shape, size)
    image = model.render(target, offset=offset).detach()
    return viz.save_image_grid(image[None], out, min_tile=0)
