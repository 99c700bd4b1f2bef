"""Optimal transport: the exact 1-D Wasserstein distance and the sliced Wasserstein distance.

In one dimension optimal transport is solved by sorting: the optimal plan matches quantiles, so

    W_p(u, v)^p = ∫_0^1 |F_u^{-1}(t) - F_v^{-1}(t)|^p dt,   and for p = 1 also   W_1 = ∫ |F_u(x) - F_v(x)| dx,

with F the cumulative distribution functions (Santambrogio 2015, "Optimal Transport for Applied
Mathematicians", ch. 2). For empirical measures the quantile functions are step functions, so the
integral is an exact finite sum. ``wasserstein_1d`` computes it for (weighted) samples, batched over
leading dimensions and differentiable in the sample values (and the weights).

The sliced Wasserstein distance averages the 1-D distance over random directions θ on the unit sphere,
SW_p(u, v)^p = E_θ[W_p(θᵀu, θᵀv)^p] (Bonneel et al. 2015). It is the prior term of the Sliced-Wasserstein
Autoencoder (Kolouri et al. 2019, https://arxiv.org/abs/1804.01947) and the generator loss of Deshpande
et al. 2018 (https://arxiv.org/abs/1803.11188).
"""

from __future__ import annotations

from typing import Annotated

import torch
from einops import einsum
from torch import Tensor
from torch.distributions import Distribution

from zoo.interfaces import Divergence
from zoo.recipes import Interval, PositiveInt

from ._samples import as_sample_sets

__all__ = ["wasserstein_1d", "Wasserstein1D", "SlicedWasserstein"]

Order = Annotated[float, Interval(ge=1)]  # W_p is a metric for p >= 1


def _sorted_with_cdf(
    x: Tensor, weights: Tensor | None, batch: torch.Size, side: str
) -> tuple[Tensor, Tensor]:
    """Samples ``(..., n)`` (+ weights) -> sorted values and the CDF just after each, both ``(*batch, n)``."""
    n = x.shape[-1]
    if n == 0:
        raise ValueError(f"{side} has no samples (last dimension is 0)")
    values, order = torch.sort(x.expand(*batch, n), dim=-1)
    if weights is None:
        cdf = torch.arange(1, n + 1, dtype=values.dtype, device=values.device) / n
        return values, cdf.expand(*batch, n).contiguous()
    if weights.shape != x.shape:
        raise ValueError(
            f"{side}_weights has shape {tuple(weights.shape)} but {side} has {tuple(x.shape)}: "
            f"give one weight per sample"
        )
    if bool((weights < 0).any()) or bool((weights.sum(-1) <= 0).any()):
        raise ValueError(f"{side}_weights must be non-negative with a positive sum over the last dimension")
    weights = weights.expand(*batch, n).gather(-1, order)
    cumulative = weights.cumsum(-1)
    return values, cumulative / cumulative[..., -1:]


def _wasserstein_1d_pow(
    u: Tensor, v: Tensor, u_weights: Tensor | None, v_weights: Tensor | None, p: float
) -> Tensor:
    """W_p(u, v)^p for samples ``(..., n)`` and ``(..., m)`` -> ``(...)``."""
    if p < 1:
        raise ValueError(f"the Wasserstein order p must be >= 1, got {p}")
    batch = torch.broadcast_shapes(u.shape[:-1], v.shape[:-1])
    u_values, u_cdf = _sorted_with_cdf(u, u_weights, batch, "u")
    v_values, v_cdf = _sorted_with_cdf(v, v_weights, batch, "v")
    # Both quantile functions are constant between consecutive levels of the merged CDF values.
    levels, _ = torch.sort(torch.cat([u_cdf, v_cdf], dim=-1), dim=-1)  # (..., n + m)
    starts = torch.cat([torch.zeros_like(levels[..., :1]), levels[..., :-1]], dim=-1)
    widths = levels - starts
    # On (start, level) the quantile F^{-1}(t) = inf{x : F(x) >= t} is the first value whose CDF exceeds
    # start; the clamp only matters when rounding leaves one CDF's last value a hair below the other's.
    u_index = torch.searchsorted(u_cdf, starts, right=True).clamp_max(u_values.shape[-1] - 1)
    v_index = torch.searchsorted(v_cdf, starts, right=True).clamp_max(v_values.shape[-1] - 1)
    gaps = (u_values.gather(-1, u_index) - v_values.gather(-1, v_index)).abs()
    return (widths * gaps**p).sum(-1)


def _root(x: Tensor, p: float) -> Tensor:
    """x^(1/p), with gradient 0 rather than inf/NaN at x = 0 (identical sets are the minimum)."""
    if p == 1:
        return x
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)) ** (1 / p), torch.zeros_like(x))


def wasserstein_1d(
    u: Tensor,
    v: Tensor,
    u_weights: Tensor | None = None,
    v_weights: Tensor | None = None,
    p: float = 1,
) -> Tensor:
    """The exact p-Wasserstein distance between 1-D empirical distributions.

    Args:
        u: samples ``(..., n)``; with ``u_weights`` these are the support points, e.g. histogram bin
            centres.
        v: samples ``(..., m)``; leading dimensions broadcast against ``u``'s.
        u_weights: non-negative weights ``(..., n)`` (e.g. histogram counts), normalised here; None means
            uniform.
        v_weights: the same for ``v``.
        p: the order, ``p >= 1``.

    Returns:
        W_p(u, v) ``(...)``: for p = 1 what ``scipy.stats.wasserstein_distance`` computes, batched and
        differentiable with respect to the values and the weights.
    """
    return _root(_wasserstein_1d_pow(u, v, u_weights, v_weights, p), p)


class Wasserstein1D(Divergence):
    """Exact p-Wasserstein distance between two 1-D sample sets, from their quantile functions.

    Args:
        p: the order, ``p >= 1``.

    ``forward(q, p)``: samples ``(n,)`` or ``(n, 1)`` and ``(m,)`` or ``(m, 1)`` -> ``()``. Either side
    may be a 1-D distribution: batch shape ``()`` is sampled as often as the other side has samples,
    batch shape ``(b,)`` once per example (the aggregate posterior).
    """

    batch_level = True

    def __init__(self, *, p: Order = 1.0):
        super().__init__()
        self.p = p

    def forward(self, q: Distribution | Tensor, p: Distribution | Tensor) -> Tensor:
        q, p = as_sample_sets(q, p)
        return wasserstein_1d(self._flat(q, "q"), self._flat(p, "p"), p=self.p)

    @staticmethod
    def _flat(x: Tensor, side: str) -> Tensor:
        if x.dim() == 2 and x.shape[1] == 1:
            return x[:, 0]
        if x.dim() != 1:
            raise ValueError(
                f"wasserstein-1d takes 1-D samples (n,) or (n, 1), got {side} of shape {tuple(x.shape)}; "
                f"for samples (n, d) with d > 1 use sliced-wasserstein"
            )
        return x

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SlicedWasserstein(Divergence):
    """Sliced p-Wasserstein distance between sample sets: exact 1-D distances along random directions.

    SW_p(q, p) = (mean over θ of W_p(θᵀq, θᵀp)^p)^(1/p), with ``num_projections`` directions θ drawn
    uniformly on the unit sphere.

    Args:
        num_projections: directions per call.
        p: the order, ``p >= 1``.
        seed: seeds the module's own generator. Every call draws *fresh* directions from it (an unbiased
            estimate across training steps), so the k-th call of a module built with a given seed always
            uses the same directions. The generator state is in ``state_dict`` (extra state), so a resumed
            run continues the same sequence.

    ``forward(q, p)``: samples ``(n, d)`` and ``(m, d)`` -> ``()``. Either side may be a distribution
    with event shape ``(d,)``: batch shape ``()`` is sampled as often as the other side has samples,
    batch shape ``(b,)`` once per example (the aggregate posterior).
    """

    batch_level = True

    def __init__(self, *, num_projections: PositiveInt = 50, p: Order = 2.0, seed: int = 0):
        super().__init__()
        self.num_projections = num_projections
        self.p = p
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)

    def projections(self, dim: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """The next ``(num_projections, dim)`` unit directions from the module's generator (on the CPU)."""
        directions = torch.randn(self.num_projections, dim, generator=self._generator, dtype=dtype)
        return directions / directions.norm(dim=-1, keepdim=True)

    def forward(self, q: Distribution | Tensor, p: Distribution | Tensor) -> Tensor:
        q, p = as_sample_sets(q, p)
        if q.dim() != 2 or p.dim() != 2 or q.shape[1] != p.shape[1]:
            raise ValueError(
                f"sliced-wasserstein takes samples (n, d) and (m, d) with the same d, "
                f"got {tuple(q.shape)} and {tuple(p.shape)}"
            )
        theta = self.projections(q.shape[1], q.dtype).to(q.device)  # (l, d)
        q_projected = einsum(q, theta, "n d, l d -> l n")
        p_projected = einsum(p, theta, "m d, l d -> l m")
        per_direction = _wasserstein_1d_pow(q_projected, p_projected, None, None, self.p)  # (l,)
        return _root(per_direction.mean(), self.p)

    def get_extra_state(self) -> Tensor:
        return self._generator.get_state()

    def set_extra_state(self, state: Tensor) -> None:
        self._generator.set_state(state.cpu())

    def extra_repr(self) -> str:
        return f"num_projections={self.num_projections}, p={self.p}, seed={self.seed}"
