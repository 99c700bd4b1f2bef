"""Instant-NGP's occupancy grid: a coarse record of where the scene has density, so empty space is skipped.

The scene box ``[-1, 1]^3`` is cut into ``resolution^3`` cells. Each cell keeps a decaying maximum of the
density the field had at random points inside it (refreshed every few updates while training); a cell is
occupied while that is above ``min(threshold, mean)``: the mean makes the rule adapt to a young field
whose densities are all small (Müller et al. 2022, appendix E.2). Samples in unoccupied cells are not
evaluated: their density is taken to be 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["OccupancyGrid"]


class OccupancyGrid(nn.Module):
    """``resolution^3`` cells over ``[-1, 1]^3``; ``occupied(points)`` says which points lie in occupied cells.

    Both buffers are saved with the model, so a loaded model skips the same space it was trained with.
    Until the first ``update`` every cell is occupied.
    """

    def __init__(self, resolution: int = 64, *, threshold: float = 0.01, decay: float = 0.95):
        super().__init__()
        if resolution < 1:
            raise ValueError(f"an occupancy grid needs at least one cell per side, got resolution={resolution}")
        self.resolution, self.threshold, self.decay = resolution, threshold, decay
        self.register_buffer("density", torch.zeros((resolution,) * 3))
        self.register_buffer("mask", torch.ones((resolution,) * 3, dtype=torch.bool))

    def cells(self, points: Tensor) -> Tensor:
        """Integer cell coordinates ``(..., 3)`` of points ``(..., 3)`` (clamped into the grid)."""
        scaled = (points + 1) / 2 * self.resolution
        return scaled.floor().long().clamp(0, self.resolution - 1)

    def occupied(self, points: Tensor) -> Tensor:
        """``(..., 3)`` points in scene coordinates -> ``(...)`` bool: inside the box and in an occupied cell."""
        inside = (points.abs() <= 1).all(-1)
        i, j, k = self.cells(points).unbind(-1)
        return inside & self.mask[i, j, k]

    @torch.no_grad()
    def update(self, density: Callable[[Tensor], Tensor]) -> None:
        """Refresh every cell from ``density`` (points ``(n, 3)`` -> densities ``(n,)``) at a random point in it."""
        r = self.resolution
        index = torch.stack(torch.meshgrid(*[torch.arange(r, device=self.density.device)] * 3, indexing="ij"), -1)
        points = (index + torch.rand(index.shape, device=index.device)) / r * 2 - 1  # (r, r, r, 3) in [-1, 1]
        fresh = density(points.reshape(-1, 3)).reshape(r, r, r).float()
        self.density.copy_(torch.maximum(self.density * self.decay, fresh))
        self.mask.copy_(self.density > min(self.threshold, self.density.mean().item()))

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, threshold={self.threshold}, occupied={self.mask.float().mean():.1%}"
