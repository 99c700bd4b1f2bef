"""The core's own artifacts: what any model with a capability of ``zoo.interfaces`` draws (a built-in plugin).

Registered through ``register_artifacts`` like a plugin's (see ``zoo.artifacts``):

- ``samples`` (``zoo sample``, a ``Sampler``): a grid of samples, at another resolution with ``--size``
  where the decoder is resizable;
- ``reconstructions`` (a ``Reconstructor``): held-out inputs over their reconstructions, and over the
  same codes decoded at 4x the data's size when the decoder is resizable (super-resolution);
- ``interpolations`` (``zoo interpolate``, a ``LatentModel``): decoded lines between held-out codes;
- ``fitted-image`` (a ``Renderer`` of pictures): the fitted image at the data's resolution and at 4x;
  ``image-render`` (``zoo render``): at any size and sub-pixel offset;
- ``fitted-video`` (a ``Renderer`` of videos ``(c, t, h, w)``): the clip beside its fit, the fit at twice the
  frame rate and twice the size, and each frame's PSNR; ``video-render`` (``zoo render``): at any number of
  frames, frame rate and size (GIFs, and MP4s with imageio-ffmpeg);
- ``curves`` (any ``Model``): the curves of the run's metrics.jsonl;
- ``mesh`` (``zoo export``, a ``ScalarVolume``): its surface as a PLY mesh, by marching cubes at any resolution;
  ``mesh-views`` (after training): that mesh shaded from four sides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import torch
import torch.nn.functional as F
from einops import rearrange

from zoo import hookimpl, meshes, viz
from zoo.artifacts import NothingToDraw, Run, check_memory, draw_samples, spatial_size
from zoo.errors import ZooError
from zoo.files import atomic_path
from zoo.interfaces import LatentModel, Model, Reconstructor, Renderer, Sampler, ScalarVolume
from zoo.metrics import psnr
from zoo.recipes import Interval, PositiveFloat, PositiveInt

__all__ = ["curves", "fitted_image", "fitted_video", "image_render", "interpolations", "mesh", "mesh_views",
           "reconstructions", "samples", "video_render"]

FRAME_RATE = 25.0  # frames per second of a video whose data states none (``sample_rate``)

Size = Annotated[PositiveInt | None, "decode at this resolution (longest side, pixels) instead of the data's; "
                                      "needs a resizable decoder, e.g. a field decoder"]
Seed = Annotated[int, "which random draws (and held-out examples) are shown"]
Resolution = Annotated[int, Interval(ge=2), "grid points per side of the box marching cubes samples the field on"]
Level = Annotated[float | None, "the level set to mesh (default: the model's surface)"]


def _resized(run: Run, size: int | None) -> tuple[int, ...] | None:
    """``spatial`` for decoding at ``size`` (None: the data's own size, without building the data)."""
    if size is None:
        return None
    model = run.model
    if not (isinstance(model, LatentModel) and model.decoder.resizable):
        decoder = type(model.decoder).__name__ if isinstance(model, LatentModel) else "no Decoder"
        raise ZooError(f"{type(model).__name__} decodes only at its data's size: its decoder ({decoder}) is not "
                       "resizable; a field decoder is (decoder: {name: field, ...}), or leave out --size")
    return spatial_size(run.image_shape("samples"), size)


def samples(run: Run, out: Path, *, n: Annotated[PositiveInt, "number of samples"] = 64, size: Size = None,
            seed: Seed = 0) -> list[Path]:
    """A grid of samples, at another resolution where the decoder is resizable."""
    spatial = _resized(run, size)
    if spatial:  # before one sample is drawn at that size
        check_memory(n * run.shape[0] * torch.Size(spatial).numel(), lower="-n or --size", device=run.device,
                     what=f"{n} samples at {'x'.join(map(str, spatial))}")
    return draw_samples(run, out, n=n, seed=seed, **({"spatial": spatial} if spatial else {}))


def reconstructions(run: Run, out: Path) -> list[Path]:
    """Held-out inputs over their reconstructions, and decoded at 4x where the decoder is resizable."""
    shape = run.image_shape("reconstructions")
    x = run.stack(range(min(8, len(run.test_set))))
    model = run.model
    pairs = rearrange([x, model.reconstruct(x).detach()], "two n ... -> (two n) ...")
    written = [viz.save_image_grid(pairs, out, nrow=len(x))]
    if isinstance(model, LatentModel) and model.decoder.resizable:
        big = model.reconstruct(x, spatial=spatial_size(shape, 4 * max(shape[1:]))).detach()
        inputs = F.interpolate(x, size=big.shape[2:], mode="nearest")  # the pixels the codes came from
        pairs = rearrange([inputs, big], "two n ... -> (two n) ...")
        written.append(viz.save_image_grid(pairs, out.with_name(f"{out.stem}-4x{out.suffix}"), nrow=len(x)))
    return written


def interpolations(run: Run, out: Path, *, pairs: Annotated[PositiveInt, "number of held-out pairs (rows)"] = 8,
                   steps: Annotated[int, Interval(ge=2), "points per line (columns), both ends included"] = 10,
                   size: Size = None, seed: Seed = 0) -> list[Path]:
    """Decoded lines between the codes of held-out pairs; the ends are their reconstructions."""
    shape = run.image_shape("interpolations")
    spatial = _resized(run, size)
    check_memory(pairs * steps * shape[0] * torch.Size(spatial or shape[1:]).numel(),
                 what=f"{pairs} interpolations of {steps} steps", lower="--pairs, --steps or --size", device=run.device)
    order = torch.randperm(len(run.test_set), generator=torch.Generator().manual_seed(seed))[: 2 * pairs]
    if len(order) < 2:
        raise NothingToDraw(f"interpolation needs two held-out examples; the test split holds {len(run.test_set)}")
    x = run.stack(order.tolist())
    half = len(x) // 2
    lines = run.model.interpolate(x[:half], x[half: 2 * half], steps, spatial=spatial).detach()  # (b, steps, ...)
    return [viz.save_image_grid(rearrange(lines, "b s ... -> (b s) ..."), out, nrow=steps)]


def _render(run: Run, out: Path, size: int, offset: float = 0.0) -> Path:
    """The fitted image with its longest side ``size`` pixels (the data's aspect ratio) as a PNG."""
    shape = run.image_shape("renders")
    target = spatial_size(shape, size)
    check_memory(shape[0] * torch.Size(target).numel(), what=f"a {'x'.join(map(str, target))} render",
                 lower="--size", device=run.device)
    return viz.save_image_grid(run.model.render(target, offset=offset).detach()[None], out, min_tile=0)


def fitted_image(run: Run, out: Path) -> list[Path]:
    """The fitted image at the data's resolution and at 4x (render.png, render-4x.png)."""
    size = max(run.image_shape("renders")[1:])
    return [_render(run, out, size), _render(run, out.with_name(f"{out.stem}-4x{out.suffix}"), 4 * size)]


def image_render(run: Run, out: Path, *,
                 size: Annotated[PositiveInt, "output resolution (longest side, pixels)"] = 1024,
                 offset: Annotated[float, Interval(ge=-1, le=1), "sub-pixel shift of the grid, as a fraction of a "
                                                                 "pixel"] = 0.0) -> list[Path]:
    """The fitted image at any resolution, its sampling grid shifted by a fraction of a pixel."""
    return [_render(run, out, size, offset)]


def _is_picture(run: Run) -> bool:
    return len(run.shape) == 3


def _is_video(run: Run) -> bool:
    return len(run.shape) == 4


def _frame_rate(run: Run) -> float:
    return float(getattr(run.test_set, "sample_rate", None) or FRAME_RATE)


def _video(run: Run, frames: int, spatial: tuple[int, ...]) -> torch.Tensor:
    """The fitted video ``(t, c, h, w)`` with ``frames`` frames over the clip's duration, each ``spatial``."""
    c = run.shape[0]
    check_memory(c * frames * torch.Size(spatial).numel(), lower="--frames or --size", device=run.device,
                 what=f"a {frames}-frame render at {'x'.join(map(str, spatial))}")
    return rearrange(run.model.render((frames, *spatial)).detach().cpu(), "c t h w -> t c h w")


def _save_video(frames: torch.Tensor, out: Path, fps: float) -> list[Path]:
    """Frames ``(t, c, h, w)`` as the GIF ``out`` and, with imageio-ffmpeg, an MP4 beside it."""
    written = [viz.save_gif(frames, out, fps=fps)]
    if viz.can_save_mp4():
        written.append(viz.save_mp4(frames, out.with_suffix(".mp4"), fps=fps))
    return written


def fitted_video(run: Run, out: Path) -> list[Path]:
    """The clip beside its fit (video.gif), the fit at twice the frame rate and size (video-2x.gif), MP4s with
    imageio-ffmpeg, and the PSNR of every frame (video-psnr.json)."""
    c, t, h, w = run.shape
    clip = rearrange(run.test_set[0], "c t h w -> t c h w")
    fit = _video(run, t, (h, w))
    rate = _frame_rate(run)
    written = _save_video(torch.cat([clip, fit], dim=-1), out, rate)
    written += _save_video(_video(run, 2 * t, (2 * h, 2 * w)), out.with_name(f"{out.stem}-2x{out.suffix}"), 2 * rate)
    scores = psnr(fit, clip, per_example=True)
    report = {"frame_rate": rate, "psnr": [round(float(score), 3) for score in scores]}
    scores_path = out.with_name(f"{out.stem}-psnr.json")
    with atomic_path(scores_path) as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return [*written, scores_path]


def video_render(run: Run, out: Path, *,
                 frames: Annotated[PositiveInt | None, "frames over the clip's duration (default: twice the clip's)"]
                 = None,
                 fps: Annotated[PositiveFloat | None, "frames per second (default: the clip's rate scaled with the "
                                                      "frames, so that it lasts as long)"] = None,
                 size: Annotated[PositiveInt | None, "longest side in pixels (default: twice the clip's)"] = None,
                 ) -> list[Path]:
    """The fitted video at any number of frames, frame rate and resolution (a GIF; an MP4 with imageio-ffmpeg)."""
    c, t, h, w = run.shape
    frames = 2 * t if frames is None else frames
    spatial = spatial_size((c, h, w), 2 * max(h, w) if size is None else size)
    return _save_video(_video(run, frames, spatial), out, _frame_rate(run) * frames / t if fps is None else fps)


def curves(run: Run, out: Path) -> list[Path]:
    """The train and eval curves of every quantity in metrics.jsonl (needs matplotlib)."""
    metrics = run.directory / "metrics.jsonl"
    if not metrics.exists():
        raise NothingToDraw(f"{run.directory} has no metrics.jsonl")
    plot = viz.plot_metrics(metrics, out)
    return [plot] if plot is not None else []


def _mesh(run: Run, resolution: int, level: float | None) -> meshes.Mesh:
    check_memory(4 * resolution**3, what=f"a field on a {resolution}³ grid", lower="--resolution", device=run.device)
    return meshes.extract_mesh(run.model, resolution, level=level)


def mesh(run: Run, out: Path, *, resolution: Resolution = 128, level: Level = None) -> list[Path]:
    """The surface of the model's scalar field as a PLY mesh (marching cubes), normals pointing out of the solid."""
    return [meshes.write_ply(_mesh(run, resolution, level), out)]


def mesh_views(run: Run, out: Path, *, resolution: Resolution = 96, size: Annotated[PositiveInt, "pixels a side"] = 256,
               views: Annotated[PositiveInt, "azimuths it is seen from"] = 4) -> list[Path]:
    """The mesh of the model's surface, shaded, from ``views`` sides (rasterised here, no graphics library)."""
    pictures = meshes.render_mesh(_mesh(run, resolution, None), size=size, views=views)
    return [viz.save_image_grid(pictures, out, nrow=views, min_tile=0)]


@hookimpl
def register_artifacts(register):
    register("samples", samples, applies_to=Sampler, output="samples.png", command="sample")
    register("reconstructions", reconstructions, applies_to=Reconstructor, output="reconstructions.png")
    register("interpolations", interpolations, applies_to=LatentModel, output="interpolations.png",
             command="interpolate")
    register("fitted-image", fitted_image, applies_to=Renderer, output="render.png", applies_if=_is_picture)
    register("image-render", image_render, applies_to=Renderer, output="render-{size}.png", command="render",
             after_training=False)
    register("fitted-video", fitted_video, applies_to=Renderer, output="video.gif", applies_if=_is_video)
    register("video-render", video_render, applies_to=Renderer, output="video-render.gif", command="render",
             after_training=False, applies_if=_is_video)
    register("curves", curves, applies_to=Model, output="curves.png")
    register("mesh", mesh, applies_to=ScalarVolume, output="mesh.ply", command="export", after_training=False)
    register("mesh-views", mesh_views, applies_to=ScalarVolume, output="mesh.png")
