"""What a run of a scene model (a ``ViewRenderer``) draws: held-out views beside their renders, and an orbit.

- ``views`` (after training): up to 8 held-out views over their renders and depth maps (``views.png``);
- ``orbit`` (``zoo render``): into a folder, every held-out view, its render and depth map (``views.png``),
  and ``frames`` novel views circling the scene (``render_views``), at ``--size`` pixels (longest side).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import torch.nn.functional as F

from zoo import viz
from zoo.artifacts import NothingToDraw, Run, check_memory, spatial_size
from zoo.recipes import PositiveInt
from zoo_nerf.cameras import Camera, ViewRenderer, orbit
from zoo_nerf.scenes import ViewDataset

__all__ = ["orbit_pictures", "render_views", "views"]

SHOWN = 8  # held-out views in a finished run's views.png


def _scene(run: Run) -> ViewDataset:
    if not isinstance(run.test_set, ViewDataset):
        raise NothingToDraw(f"this model renders views of a scene, but its data ({type(run.test_set).__name__}) has "
                            "no cameras: use a scene dataset (procedural-scene, blender)")
    return run.test_set


def _render_cameras(model: ViewRenderer, cameras: list[Camera]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, c, h, w)`` pictures and ``(n, h, w)`` depth maps of ``cameras``, on the CPU."""
    renders = [model.render_view(camera) for camera in cameras]
    return (torch.stack([rgb.detach().cpu() for rgb, _ in renders]),
            torch.stack([depth.detach().cpu() for _, depth in renders]))


def _check_size(scene: ViewDataset, spatial: tuple[int, ...], pictures: int, what: str) -> None:
    """``pictures`` renders (colour + depth) and every one's rays (origins and directions) at once, at most."""
    c, pixels = scene.shape[0], torch.Size(spatial).numel()
    check_memory(pixels * (pictures * (c + 1) + 6), what=what, lower="--size or --frames")


def views(run: Run, out: Path) -> list[Path]:
    """Held-out views over their renders and depth maps."""
    scene = _scene(run)
    shown = range(min(SHOWN, len(scene)))
    truth = torch.stack([scene[i]["image"] for i in shown])
    rgb, depth = _render_cameras(run.model, [scene.camera(i) for i in shown])
    return [viz.save_image_grid(torch.cat([truth, rgb, viz.depth_images(depth)]), out, nrow=len(truth))]


def render_views(model: ViewRenderer, scene: ViewDataset, out: str | Path, *, size: int | None = None,
                 frames: int = 40) -> Path:
    """Held-out views and an orbit around the scene, as pictures; returns the folder ``out``.

    Writes ``views.png`` (the held-out pictures, their renders and depth maps, in three rows),
    ``orbit.gif`` and ``orbit-depth.gif`` (``frames`` cameras circling the scene at the held-out views'
    height and distance, ``zoo_nerf.cameras.orbit``), ``orbit.mp4`` when imageio-ffmpeg is installed
    (``genzoo[video]``), and each orbit frame as ``orbit/rgb-NNN.png`` and ``orbit/depth-NNN.png``.
    ``size`` is the longest side in pixels (default: the views').
    """
    out = Path(out)
    spatial = scene.shape[1:] if size is None else spatial_size(scene.shape, size)
    _check_size(scene, spatial, len(scene) + frames, f"{len(scene)} views and {frames} orbit frames at "
                                                       f"{'x'.join(map(str, spatial))}")
    cameras = [scene.camera(i).resized(*spatial) for i in range(len(scene))]
    truth = torch.stack([scene[i]["image"] for i in range(len(scene))])
    if spatial != scene.shape[1:]:
        truth = F.interpolate(truth, size=spatial, mode="bilinear", antialias=True)
    rgb, depth = _render_cameras(model, cameras)
    viz.save_image_grid(torch.cat([truth, rgb, viz.depth_images(depth)]), out / "views.png", nrow=len(scene))
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


def orbit_pictures(run: Run, out: Path, *,
                   size: Annotated[PositiveInt | None, "longest side in pixels (default: the views')"] = None,
                   frames: Annotated[PositiveInt, "views on the orbit around the scene"] = 40) -> list[Path]:
    """Held-out views, their renders and depth maps, and an orbit of novel views (GIFs, PNGs, an MP4)."""
    return [render_views(run.model, _scene(run), out, size=size, frames=frames)]
