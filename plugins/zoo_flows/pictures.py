"""What a flow's run draws: the learned 2-D density as a heat map beside samples and the data.

- ``density`` (after training, a ``Flow`` on points ``(2,)``): three panels on one square window around the
  data: the learned density p(x) evaluated on a grid, a histogram of samples, and a histogram of the
  held-out data, each scaled to its own maximum.
- ``flow-samples`` (``zoo sample``, a ``Flow``): for images the core's grid of samples; for 2-D points a
  histogram of ``n`` samples on the data's window (``zoo sample RUN -n 20000``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
from einops import rearrange
from torch import Tensor

from zoo import viz
from zoo.artifacts import NothingToDraw, Run, draw_samples
from zoo.recipes import Interval, PositiveInt

from .model import Flow

__all__ = ["density", "density_grid", "flow_samples", "histogram", "window"]


def window(points: Tensor, margin: float = 0.15) -> tuple[float, float]:
    """A square window ``(low, high)`` around points ``(n, 2)``, ``margin`` of its side wider on each end."""
    low, high = float(points.min()), float(points.max())
    pad = margin * (high - low)
    return low - pad, high + pad


def density_grid(flow: Flow, low: float, high: float, resolution: int) -> tuple[Tensor, float]:
    """The flow's log-density at the centres of a ``resolution``² grid of cells on [low, high]²: ``(r, r)`` (rows
    are y, top row highest), and the area of one cell."""
    step = (high - low) / resolution
    centres = low + step * (torch.arange(resolution, dtype=torch.float64) + 0.5)
    ys, xs = torch.meshgrid(centres.flip(0), centres, indexing="ij")
    like = next(flow.parameters())
    points = rearrange(torch.stack([xs, ys], -1), "h w c -> (h w) c").to(like)
    with torch.no_grad():
        log_p = torch.cat([flow.log_likelihood(chunk) for chunk in points.split(65536)])
    return rearrange(log_p, "(h w) -> h w", h=resolution), step**2


def histogram(points: Tensor, low: float, high: float, resolution: int) -> Tensor:
    """Counts of points ``(n, 2)`` in the cells of the grid ``density_grid`` uses: ``(r, r)``, top row highest."""
    cells = ((points.double().cpu() - low) / (high - low) * resolution).floor().long()
    inside = ((cells >= 0) & (cells < resolution)).all(-1)
    x, y = cells[inside].unbind(-1)
    counts = torch.zeros(resolution * resolution, dtype=torch.float64)
    counts.index_add_(0, (resolution - 1 - y) * resolution + x, torch.ones(len(x), dtype=torch.float64))
    return rearrange(counts, "(h w) -> h w", h=resolution)


def _heat(values: Tensor) -> Tensor:
    """Non-negative values ``(h, w)`` -> an RGB heat map ``(3, h, w)`` in [0, 1] (black, red, yellow, white)."""
    v = (values / values.max().clamp_min(1e-300)).float().cpu()
    return torch.stack([(3 * v).clamp(0, 1), (3 * v - 1).clamp(0, 1), (3 * v - 2).clamp(0, 1)])


Resolution = Annotated[PositiveInt, Interval(le=1024), "grid cells per side"]
Seed = Annotated[int, "which random draws are shown"]


def _held_out(run: Run) -> Tensor:
    return torch.stack([run.test_set[i] for i in range(len(run.test_set))])


def flow_samples(run: Run, out: Path, *, n: Annotated[PositiveInt, "number of samples"] = 64,
                 resolution: Resolution = 200, seed: Seed = 0) -> list[Path]:
    """Samples: a grid for images; for 2-D points, their histogram on the window of the held-out data."""
    if run.shape != (2,):
        return draw_samples(run, out, n=n, seed=seed)
    low, high = window(_held_out(run))
    torch.manual_seed(seed)
    picture = _heat(histogram(run.model.sample(n), low, high, resolution))
    return [viz.save_image_grid(picture[None], out, row_labels=[f"{n} samples"])]


def density(run: Run, out: Path, *, resolution: Resolution = 200,
            n: Annotated[PositiveInt, "number of samples in the middle panel"] = 20000, seed: Seed = 0) -> list[Path]:
    """The learned density on a grid, a histogram of samples and one of the held-out data, side by side."""
    if run.shape != (2,):
        raise NothingToDraw(f"the density picture is of 2-D points, but this run's items have shape {run.shape}")
    data = _held_out(run)
    low, high = window(data)
    torch.manual_seed(seed)
    samples = run.model.sample(n)
    log_p, _ = density_grid(run.model, low, high, resolution)
    panels = [_heat(log_p.exp()), _heat(histogram(samples, low, high, resolution)),
              _heat(histogram(data, low, high, resolution))]
    return [viz.save_image_grid(torch.stack(panels), out, nrow=3, row_labels=["density | samples | data"])]
