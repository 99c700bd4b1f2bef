"""What a flow's run draws: the learned 2-D density as a heat map beside samples and the data.

- ``density`` (after training, a ``Flow`` on points ``(2,)``): three panels on one square window around the
  data: the learned density p(x) evaluated on a grid, a histogram of samples, and a histogram of the
  held-out data, each scaled to its own maximum.

``zoo sample`` is the core's ``samples``: a grid for images, a histogram for 2-D points (``-n 20000``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
from einops import rearrange
from torch import Tensor

from zoo import viz
from zoo.artifacts import NothingToDraw, Run
from zoo.recipes import Interval, PositiveInt

from .model import Flow

__all__ = ["density", "density_grid"]


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


Resolution = Annotated[PositiveInt, Interval(le=1024), "grid cells per side"]
Seed = Annotated[int, "which random draws are shown"]


def _held_out(run: Run) -> Tensor:
    return torch.stack([run.test_set[i] for i in range(len(run.test_set))])


def density(run: Run, out: Path, *, resolution: Resolution = 200,
            n: Annotated[PositiveInt, "number of samples in the middle panel"] = 20000, seed: Seed = 0) -> list[Path]:
    """The learned density on a grid, a histogram of samples and one of the held-out data, side by side."""
    if run.shape != (2,):
        raise NothingToDraw(f"the density picture is of 2-D points, but this run's items have shape {run.shape}")
    data = _held_out(run)
    low, high = viz.point_window(data)
    torch.manual_seed(seed)
    samples = run.model.sample(n)
    log_p, _ = density_grid(run.model, low, high, resolution)
    panels = [viz.heat_map(log_p.exp()), viz.heat_map(viz.point_histogram(samples, low, high, resolution)),
              viz.heat_map(viz.point_histogram(data, low, high, resolution))]
    return [viz.save_image_grid(torch.stack(panels), out, nrow=3, row_labels=["density | samples | data"])]
