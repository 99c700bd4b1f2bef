"""Coordinate grids: where an implicit field is evaluated to produce a signal of a given shape."""

from __future__ import annotations

import torch
from torch import Tensor


def coordinate_grid(
    shape: tuple[int, ...],
    *,
    lo: float = -1.0,
    hi: float = 1.0,
    offset: float = 0.0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Pixel-centre coordinates of a grid: ``shape`` ``(s1, ..., sk)`` -> ``(s1, ..., sk, k)``.

    Each axis covers ``[lo, hi]`` with samples at pixel centres, so grids of different resolutions
    cover the same domain and a field fitted at 256x256 can be rendered at 1024x1024. ``offset`` shifts
    every coordinate by that fraction of a pixel (sub-pixel rendering). The last dimension is ordered
    like ``shape`` (row coordinate first for images).
    """
    axes = []
    for size in shape:
        step = (hi - lo) / size
        centres = lo + step * (torch.arange(size, device=device, dtype=dtype) + 0.5 + offset)
        axes.append(centres)
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
