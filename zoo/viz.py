"""Pictures of a run: image batches as a PNG grid or an animated GIF, depth maps as grey pictures, and the
curves of a run's metrics.jsonl as a PNG.

The grid is torchvision's ``save_image`` (``make_grid`` underneath); small images (8x8 digits) are enlarged with
nearest-neighbour so each tile is at least ``min_tile`` pixels and the picture is readable. The plot
needs matplotlib (``pip install genzoo[plots]``) and is skipped without it; it never touches pyplot's
global state, so it is safe inside notebooks and threads.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from einops import rearrange, repeat
from torch import Tensor

__all__ = ["depth_images", "plot_metrics", "save_gif", "save_image_grid"]


def save_image_grid(
    images: Tensor,
    path: str | Path,
    *,
    nrow: int | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    min_tile: int = 64,
) -> Path:
    """Write images ``(n, c, h, w)`` (c = 1 or 3) or ``(n, h, w)`` as one PNG grid; returns the path.

    Values are mapped from ``value_range`` to [0, 1] and clipped. ``nrow`` is the number of images per
    row (default: a square-ish grid).
    """
    from torchvision.utils import save_image  # torchvision takes seconds to import; only pictures need it
    images = images.detach().float().cpu()
    if images.dim() == 3:
        images = rearrange(images, "n h w -> n 1 h w")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images (n, c, h, w) with c = 1 or 3, or (n, h, w); got shape "
                         f"{tuple(images.shape)}: this model's samples are not images, save them with torch.save")
    n, _, h, w = images.shape
    scale = max(1, math.ceil(min_tile / max(h, w)))
    if scale > 1:
        images = repeat(images, "n c h w -> n c (h s1) (w s2)", s1=scale, s2=scale)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_image(images, tmp, nrow=nrow or math.ceil(math.sqrt(n)), padding=2, pad_value=1.0, normalize=True,
               value_range=value_range, format="png")
    os.replace(tmp, path)
    return path


def depth_images(depths: Tensor) -> Tensor:
    """Depth maps ``(n, h, w)`` -> grey RGB pictures ``(n, 3, h, w)`` in [0, 1], near bright and far dark.

    One scale for all of them (their common minimum and maximum), so the frames of an orbit agree.
    """
    lo, hi = depths.min(), depths.max()
    grey = 1 - (depths - lo) / (hi - lo).clamp(min=1e-8)
    return repeat(grey, "n h w -> n 3 h w")


def save_gif(frames: Tensor, path: str | Path, *, fps: int = 20) -> Path:
    """Write frames ``(n, c, h, w)`` (c = 1 or 3) in [0, 1] as an animated GIF that loops; returns the path."""
    from PIL import Image

    pixels = (frames.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = rearrange(repeat(pixels, "n 1 h w -> n 3 h w") if pixels.shape[1] == 1 else pixels, "n c h w -> n h w c")
    images = [Image.fromarray(frame.numpy()) for frame in pixels]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    os.replace(tmp, path)
    return path


def plot_metrics(metrics_path: str | Path, out: str | Path) -> Path | None:
    """Plot every train term and eval metric of a metrics.jsonl against the step; None without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    curves: dict[str, dict[str, list[tuple[int, float]]]] = {"train": {}, "eval": {}}
    for line in Path(metrics_path).read_text().splitlines():
        record = json.loads(line)
        for name, value in record["metrics"].items():
            curves[record["split"]].setdefault(name, []).append((record["step"], value))
    panels = [split for split in ("train", "eval") if curves[split]]
    if not panels:
        return None
    fig = Figure(figsize=(6 * len(panels), 4))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.92, wspace=0.2)  # cheaper than a layout engine
    for ax, split in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for name, points in sorted(curves[split].items()):
            steps, values = zip(*points)
            ax.plot(steps, values, label=name, marker="o" if len(points) < 20 else None)
        finite = [v for points in curves[split].values() for _, v in points if math.isfinite(v)]
        if finite and min(finite) > 0:
            ax.set_yscale("log")
        ax.set(title=split, xlabel="step")
        ax.grid(alpha=0.3)
        ax.legend()
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    fig.savefig(tmp, dpi=100, format="png")
    os.replace(tmp, out)
    return out

