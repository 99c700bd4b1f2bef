"""Pictures of a run: image batches as a PNG grid, the curves of a run's metrics.jsonl, and bar charts.

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

from einops import rearrange, repeat
from torch import Tensor

__all__ = ["plot_bars", "plot_metrics", "save_image_grid"]


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


def _save_figure(fig, out: str | Path) -> Path:
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    fig.savefig(tmp, dpi=100, format="png")
    os.replace(tmp, out)
    return out


def plot_bars(values: dict[str, float], out: str | Path, *, title: str = "", ylabel: str = "") -> Path | None:
    """One bar per named value, in the order given, as a PNG; None without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(max(4.0, 0.3 * len(values) + 1.5), 3.5))
    fig.subplots_adjust(left=0.14, right=0.98, bottom=0.2, top=0.9)
    ax = fig.subplots()
    ax.bar(range(len(values)), list(values.values()))
    ax.set_xticks(range(len(values)), list(values), rotation=90, fontsize=7)
    ax.set(title=title, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    return _save_figure(fig, out)


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
    return _save_figure(fig, out)

