"""Volume rendering along rays: where to sample, and how samples of colour and density become a pixel.

A ray is cut into intervals by sorted ``edges`` ``(r, n + 1)`` between ``near`` and ``far``; the field is
evaluated at one point per interval and its density is taken as constant over the interval. That makes
the quadrature of the NeRF paper (eq. 3) exact for piecewise-constant fields, with no 1e10 "last interval"
trick: the intervals cover ``[near, far]`` exactly, and whatever light passes ``far`` is the background.

- ``uniform_edges``: n equal intervals (the coarse pass); ``interval_points``: a point per interval,
  uniformly jittered inside it while training (the paper's stratified sampling, eq. 2) or its midpoint.
- ``sample_pdf``: hierarchical sampling (paper §5.2): new depths drawn by inverting the CDF of the
  piecewise-constant density whose mass on each interval is the coarse pass's weight.
- ``composite``: alpha compositing (eq. 3): opacity of an interval, transmittance to it, the weights
  ``w_i = T_i α_i``, and from them the colour, the expected depth and the accumulated opacity.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["Composited", "composite", "interval_points", "merge_edges", "sample_pdf", "uniform_edges"]


def uniform_edges(near: float, far: float, num_rays: int, num_intervals: int, *,
                  device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Edges of ``num_intervals`` equal intervals of ``[near, far]`` for every ray: ``(num_rays, n + 1)``."""
    if not 0 <= near < far:
        raise ValueError(f"rays are sampled on [near, far] with 0 <= near < far, got near={near}, far={far}")
    edges = torch.linspace(near, far, num_intervals + 1, device=device, dtype=dtype)
    return edges.expand(num_rays, -1)


def interval_points(edges: Tensor, *, jitter: bool) -> Tensor:
    """One depth per interval: ``(r, n + 1)`` -> ``(r, n)``, uniform inside it with ``jitter``, else the midpoint."""
    lower, upper = edges[..., :-1], edges[..., 1:]
    u = torch.rand_like(lower) if jitter else torch.full_like(lower, 0.5)
    return lower + u * (upper - lower)


def sample_pdf(edges: Tensor, weights: Tensor, num_samples: int, *, deterministic: bool = False,
               eps: float = 1e-5) -> Tensor:
    """Depths drawn from the piecewise-constant density with mass ``weights`` on the intervals ``edges``.

    ``edges`` ``(r, n + 1)`` (sorted), ``weights`` ``(r, n)`` (non-negative) -> sorted depths
    ``(r, num_samples)`` inside ``[edges[0], edges[-1]]``. The density is uniform inside each interval, so
    the inverse CDF is linear there. ``eps`` is added to every weight: a ray whose coarse weights are all
    zero (it saw nothing) still samples every interval alike (its whole length, uniformly, for the coarse
    pass's equal intervals). ``deterministic`` takes the CDF's
    quantiles ``(k + 0.5) / num_samples`` instead of sorted uniform draws (for rendering without noise).
    No gradient flows through the depths: where to look is not what is optimised.
    """
    edges, weights = edges.detach(), weights.detach() + eps
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), pdf.cumsum(-1)], dim=-1).clamp(max=1.0)  # (r, n + 1)
    shape = (*cdf.shape[:-1], num_samples)
    if deterministic:
        u = ((torch.arange(num_samples, device=cdf.device, dtype=cdf.dtype) + 0.5) / num_samples).expand(shape)
    else:
        u = torch.rand(shape, device=cdf.device, dtype=cdf.dtype).sort(-1).values
    u = u.contiguous()
    # the interval k with cdf[k] <= u < cdf[k + 1]; clamped so that u = 1 lands in the last interval
    above = torch.searchsorted(cdf, u, right=True).clamp(1, cdf.shape[-1] - 1)
    below = above - 1
    cdf_below, cdf_above = cdf.gather(-1, below), cdf.gather(-1, above)
    edge_below, edge_above = edges.gather(-1, below), edges.gather(-1, above)
    fraction = ((u - cdf_below) / (cdf_above - cdf_below).clamp(min=1e-12)).clamp(0.0, 1.0)
    return edge_below + fraction * (edge_above - edge_below)


def merge_edges(edges: Tensor, depths: Tensor) -> Tensor:
    """The intervals of ``edges`` ``(r, n + 1)`` cut again at ``depths`` ``(r, m)``: edges ``(r, n + m + 1)``.

    The fine pass of hierarchical sampling evaluates the field on these intervals: the coarse ones, split
    where the coarse weights put the new samples (the paper's union of the two sample sets).
    """
    return torch.cat([edges, depths], dim=-1).sort(-1).values


class Composited(NamedTuple):
    """What compositing a batch of ``r`` rays gives."""

    rgb: Tensor  # (r, c) the rendered colour, background included
    depth: Tensor  # (r,) expected depth of the ray's end, a ray that passes far ending at far
    opacity: Tensor  # (r,) accumulated opacity Σ w_i (= 1 - T_final)
    weights: Tensor  # (r, n) w_i = T_i α_i, the probability that the ray ends in interval i


def composite(colours: Tensor, densities: Tensor, edges: Tensor, points: Tensor, background: Tensor) -> Composited:
    """Alpha-composite ``r`` rays of ``n`` samples (NeRF eq. 3).

    ``colours`` ``(r, n, c)`` and ``densities`` ``(r, n)`` (σ ≥ 0, per unit distance) at ``points``
    ``(r, n)``, the depths of the samples inside the intervals ``edges`` ``(r, n + 1)``; ``background``
    ``(c,)`` is the colour behind ``far``. With δ_i the interval lengths, α_i = 1 - exp(-σ_i δ_i) and the
    transmittance T_i = exp(-Σ_{j<i} σ_j δ_j) (a cumulative sum: no product of many α's underflows).
    """
    optical = densities * (edges[..., 1:] - edges[..., :-1])  # (r, n) σ_i δ_i
    alpha = 1.0 - torch.exp(-optical)
    accumulated = optical.cumsum(-1)  # (r, n) Σ_{j<=i} σ_j δ_j
    transmittance = torch.exp(-torch.cat([torch.zeros_like(accumulated[..., :1]), accumulated], dim=-1))  # (r, n + 1)
    weights = transmittance[..., :-1] * alpha  # (r, n)
    remaining = transmittance[..., -1]  # (r,) T_final: the light that reaches the background
    rgb = torch.einsum("rn,rnc->rc", weights, colours) + remaining[:, None] * background
    depth = (weights * points).sum(-1) + remaining * edges[..., -1]
    return Composited(rgb, depth, weights.sum(-1), weights)
