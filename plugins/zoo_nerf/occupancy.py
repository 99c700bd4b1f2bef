"""Instant-NGP's occupancy grid: a coarse record of where the scene has density, so empty space is skipped.

The scene box ``[-1, 1]^3`` is cut into ``resolution^3`` cells. Each cell keeps a decaying maximum of the
density the field had at random points inside it (refreshed every few updates while training, in all cells
or, once the field has taken shape, in a fraction of them); a cell is
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
    def update(self, density: Callable[[Tensor], Tensor], *, fraction: float = 1.0) -> None:
        """Refresh cells from ``density`` (points ``(n, 3)`` -> densities ``(n,)``) at a random point in each.

        Every cell is decayed; with ``fraction`` 1 every cell is also looked at. With less (Instant-NGP's updates
        after its warm-up) ``fraction`` of the cells are, half drawn from all cells and half from the occupied
        ones: the known surfaces are kept up to date and empty space is still searched.
        """
        r, device = self.resolution, self.density.device
        if fraction >= 1:
            cells = torch.arange(r**3, device=device)
        else:
            half = max(1, round(fraction * r**3 / 2))
            occupied = self.mask.flatten().nonzero().squeeze(1)
            cells = torch.randperm(r**3, device=device)[:half]
            if len(occupied):
                cells = torch.cat([cells, occupied[torch.randint(len(occupied), (half,), device=device)]])
            cells = cells.unique()
        index = torch.stack(torch.unravel_index(cells, (r, r, r)), dim=-1)  # (m, 3)
        points = (index + torch.rand(index.shape, device=device)) / r * 2 - 1  # one random point in each, in [-1, 1]
        remembered = (self.density * self.decay).flatten()
        remembered[cells] = torch.maximum(remembered[cells], density(points).float())
        self.density.copy_(remembered.view(r, r, r))
        self.mask.copy_(self.density > min(self.threshold, self.density.mean().item()))

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, threshold={self.threshold}, occupied={self.mask.float().mean():.1%}"
