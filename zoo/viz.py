"""Pictures of a run: image batches as a PNG grid, an animated GIF or an MP4, depth maps as grey pictures, the
curves of a run's metrics.jsonl, and bar charts.

The grid is torchvision's ``make_grid``; small images (8x8 digits) are enlarged with nearest-neighbour so each
tile is at least ``min_tile`` pixels and the picture is readable, and its rows can carry labels in a column
on the left. The plots need matplotlib (``pip install 'genzoo[plots]'``): without it they raise
``MissingExtraError`` with that line, which ``zoo train`` says once. They never touch pyplot's global state,
so they are safe inside notebooks and threads.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from einops import rearrange, repeat
from torch import Tensor

from zoo.files import atomic_path
from zoo.errors import MissingExtraError

if TYPE_CHECKING:  # matplotlib is optional (genzoo[plots])
    from matplotlib.figure import Figure

__all__ = ["bars_figure", "can_save_mp4", "depth_images", "heat_map", "metrics_figure", "plot_bars", "plot_metrics",
           "point_histogram", "point_window", "save_gif", "save_image_grid", "save_mp4"]


def save_image_grid(
    images: Tensor,
    path: str | Path,
    *,
    nrow: int | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    min_tile: int = 64,
    row_labels: Sequence[str] | None = None,
) -> Path:
    """Write images ``(n, c, h, w)`` (c = 1 or 3) or ``(n, h, w)`` as one PNG grid; returns the path.

    Values are mapped from ``value_range`` to [0, 1] and clipped. ``nrow`` is the number of images per
    row (default: a square-ish grid). ``row_labels``, one per row, are written in a column on the left.
    """
    from PIL import Image
    from torchvision.utils import make_grid  # torchvision takes seconds to import; only pictures need it

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
    nrow = nrow or math.ceil(math.sqrt(n))
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0, normalize=True, value_range=value_range)
    picture = Image.fromarray(rearrange(grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8), "c h w -> h w c")
                              .numpy())
    if row_labels is not None:
        picture = _with_row_labels(picture, list(row_labels), tile=picture.height // math.ceil(n / nrow))
    path = Path(path)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
    return path


def point_window(points: Tensor, margin: float = 0.15) -> tuple[float, float]:
    """A square window ``(low, high)`` around points ``(n, 2)``, ``margin`` of its side wider on each end."""
    low, high = float(points.min()), float(points.max())
    pad = margin * (high - low)
    return low - pad, high + pad


def point_histogram(points: Tensor, low: float, high: float, resolution: int) -> Tensor:
    """Counts of points ``(n, 2)`` in a ``resolution``² grid of cells on [low, high]²: ``(r, r)``, rows are y with
    the top row highest (as a picture shows them); points outside are not counted."""
    cells = ((points.double().cpu() - low) / (high - low) * resolution).floor().long()
    inside = ((cells >= 0) & (cells < resolution)).all(-1)
    x, y = cells[inside].unbind(-1)
    counts = torch.zeros(resolution * resolution, dtype=torch.float64)
    counts.index_add_(0, (resolution - 1 - y) * resolution + x, torch.ones(len(x), dtype=torch.float64))
    return rearrange(counts, "(h w) -> h w", h=resolution)


def heat_map(values: Tensor) -> Tensor:
    """Non-negative values ``(h, w)`` -> an RGB heat map ``(3, h, w)`` in [0, 1] (black, red, yellow, white)."""
    v = (values / values.max().clamp_min(1e-300)).float().cpu()
    return torch.stack([(3 * v).clamp(0, 1), (3 * v - 1).clamp(0, 1), (3 * v - 2).clamp(0, 1)])


def _with_row_labels(picture, labels: list[str], *, tile: int):
    """``picture`` with a white column on its left holding ``labels[i]`` beside row ``i`` (rows ``tile`` high)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=max(10, min(24, tile // 4)))
    except TypeError:  # Pillow < 10.1: one bitmap font, one size
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(picture)
    width = max(round(draw.textlength(label, font=font)) for label in labels) + 12
    labelled = Image.new("RGB", (picture.width + width, picture.height), "white")
    labelled.paste(picture, (width, 0))
    draw = ImageDraw.Draw(labelled)
    for i, label in enumerate(labels):
        _, top, _, bottom = draw.textbbox((0, 0), label, font=font)
        draw.text((6, i * tile + (tile - bottom - top) // 2), label, fill="black", font=font)
    return labelled


def _save_figure(fig, out: str | Path) -> Path:
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return out


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("the plots need matplotlib, which is not installed", "pip install 'genzoo[plots]'") \
            from None
    return Figure


def bars_figure(values: dict[str, float], *, title: str, xlabel: str, ylabel: str) -> Figure:
    """One bar per named value, in the order given, its name as the tick label; the axes labelled.

    The layout is constrained, so long tick labels (rotated when there are many) and the axis labels are
    never cut off.
    """
    names = list(values)
    fig = _figure_class()(figsize=(max(4.0, 0.3 * len(values) + 1.5), 3.5), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(len(values)), list(values.values()))
    long = len(values) > 12 or max(map(len, names), default=0) > 4
    ax.set_xticks(range(len(values)), names, rotation=90 if long else 0, fontsize=7 if long else None)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_bars(values: dict[str, float], out: str | Path, *, title: str = "", xlabel: str = "",
              ylabel: str = "") -> Path:
    """``bars_figure`` written to the PNG ``out``; returns its path."""
    return _save_figure(bars_figure(values, title=title, xlabel=xlabel, ylabel=ylabel), out)


def depth_images(depths: Tensor) -> Tensor:
    """Depth maps ``(n, h, w)`` -> grey RGB pictures ``(n, 3, h, w)`` in [0, 1], near bright and far dark.

    One scale for all of them (their common minimum and maximum), so the frames of an orbit agree.
    """
    lo, hi = depths.min(), depths.max()
    grey = 1 - (depths - lo) / (hi - lo).clamp(min=1e-8)
    return repeat(grey, "n h w -> n 3 h w")


def _rgb_bytes(frames: Tensor) -> Tensor:
    """Frames ``(n, c, h, w)`` (c = 1 or 3) in [0, 1] -> ``(n, h, w, 3)`` uint8."""
    pixels = (frames.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return rearrange(repeat(pixels, "n 1 h w -> n 3 h w") if pixels.shape[1] == 1 else pixels, "n c h w -> n h w c")


def save_gif(frames: Tensor, path: str | Path, *, fps: int = 20) -> Path:
    """Write frames ``(n, c, h, w)`` (c = 1 or 3) in [0, 1] as an animated GIF that loops; returns the path."""
    from PIL import Image

    images = [Image.fromarray(frame.numpy()) for frame in _rgb_bytes(frames)]
    path = Path(path)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                       loop=0)
    return path


def can_save_mp4() -> bool:
    """Whether imageio-ffmpeg (``pip install genzoo[video]``), which brings its own ffmpeg, is installed."""
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def save_mp4(frames: Tensor, path: str | Path, *, fps: int = 20) -> Path:
    """Write frames ``(n, c, h, w)`` (c = 1 or 3) in [0, 1] as an H.264 MP4 through imageio-ffmpeg; returns the path.

    H.264's 4:2:0 colour needs even sides: an odd side gets one more row or column, a copy of the last.
    """
    import imageio_ffmpeg

    h, w = frames.shape[-2:]
    frames = torch.nn.functional.pad(frames.float(), (0, w % 2, 0, h % 2), mode="replicate")
    path = Path(path)
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (w + w % 2, h + h % 2), fps=fps, codec="libx264", quality=8,
                                             macro_block_size=2)
        writer.send(None)  # start ffmpeg
        for frame in _rgb_bytes(frames):
            writer.send(frame.contiguous().numpy())
        writer.close()
    return path


def _decibels(name: str) -> bool:
    """PSNR and other dB quantities are logarithms already: they go on a linear axis."""
    name = name.lower()
    return "psnr" in name or name.endswith(("_db", "db"))


def _same_numbers(a: dict[str, list], b: dict[str, list]) -> bool:
    """Two quantities are one when they agree in every split that has both (and they share one)."""
    shared = a.keys() & b.keys()
    return bool(shared) and all(a[split] == b[split] for split in shared)


def metrics_figure(metrics_path: str | Path) -> Figure | None:
    """The curves of a metrics.jsonl: one panel per quantity, its train and eval curves against the step.

    Quantities whose curves are the same numbers wherever both are logged (a fit's ``mse`` that is its
    ``loss``) share one panel titled ``mse = loss``. A positive quantity spanning more than a decade is
    drawn on a log axis, except decibels (PSNR), which are a logarithm already. None without records;
    ``MissingExtraError`` without matplotlib. In a notebook, the figure displays itself.
    """
    Figure = _figure_class()
    curves: dict[str, dict[str, list[tuple[int, float]]]] = {}  # name -> split -> [(step, value)]
    for line in Path(metrics_path).read_text().splitlines():
        record = json.loads(line)
        for name, value in record["metrics"].items():
            curves.setdefault(name, {}).setdefault(record["split"], []).append((record["step"], value))
    panels: list[tuple[list[str], dict[str, list[tuple[int, float]]]]] = []  # (names, curves) per panel
    for name, series in curves.items():
        same = next((panel for panel in panels if _same_numbers(panel[1], series)), None)
        if same is not None:
            same[0].append(name)
            same[1].update({split: points for split, points in series.items() if split not in same[1]})
        else:
            panels.append(([name], dict(series)))
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    width, height = 4.5 * cols, 3.2 * rows
    fig = Figure(figsize=(width, height))
    # margins in inches, so that titles and labels fit at any grid size without a (slower) layout engine
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.15 / width, bottom=0.55 / height, top=1 - 0.35 / height,
                        wspace=0.3, hspace=0.55)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (names, series) in zip(axes, panels):
        for split in ("train", "eval"):
            if split in series:
                steps, values = zip(*series[split])
                ax.plot(steps, values, label=split, marker="o" if len(steps) < 20 else None)
        finite = [v for points in series.values() for _, v in points if math.isfinite(v)]
        if any(_decibels(n) for n in names):
            ax.set_ylabel("dB")
        elif finite and min(finite) > 0 and max(finite) > 10 * min(finite):
            ax.set_yscale("log")  # a loss falling by decades; within one decade a log axis only blurs the ticks
        ax.set(title=" = ".join(names), xlabel="step")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in axes[len(panels):]:
        ax.remove()
    return fig


def plot_metrics(metrics_path: str | Path, out: str | Path) -> Path | None:
    """``metrics_figure`` written to the PNG ``out``; returns its path (None without records)."""
    fig = metrics_figure(metrics_path)
    if fig is None:
        return None
    return _save_figure(fig, out)
