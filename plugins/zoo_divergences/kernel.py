"""Kernel divergences between sample sets: the maximum mean discrepancy (MMD) and the energy distance.

MMD²(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y) for x, x' ~ P and y, y' ~ Q; with a characteristic
kernel it is zero exactly when P = Q. The unbiased U-statistic leaves the i = j terms out of the
within-set sums (Gretton et al. 2012, "A Kernel Two-Sample Test", JMLR 13, eq. 3,
https://jmlr.org/papers/v13/gretton12a.html), so it can dip slightly below zero when P = Q.

The Wasserstein Auto-Encoder (Tolstikhin et al. 2018, https://arxiv.org/abs/1711.01558) uses it as the
prior term between the aggregate posterior and the prior, with kernels at several scales of 2·d·σ², the
mean squared distance between two draws of the prior N(0, σ² I_d); the defaults here follow it.

The energy distance E(P, Q) = 2 E|x - y|^β - E|x - x'|^β - E|y - y'|^β, 0 < β < 2 (Székely & Rizzo 2013,
"Energy statistics", J. Stat. Plan. Inference 143(8)), is zero exactly when P = Q, and is the MMD² of the
distance kernel (Sejdinovic et al. 2013, https://arxiv.org/abs/1207.6076). Between empirical measures it is
the V-statistic, the i = j terms in: never negative, zero for identical sets, and what the Sinkhorn
divergence tends to as ε -> ∞ (for p = β = 1).
"""

from __future__ import annotations

from typing import Annotated

import torch
from einops import einsum
from torch import Tensor
from torch.distributions import Distribution

from zoo.interfaces import Divergence
from zoo.recipes import Interval, PositiveFloat

from ._samples import as_sample_sets

__all__ = ["mmd_squared", "energy_distance", "MMD", "Energy"]

WAE_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _rbf_mixture(x: Tensor, y: Tensor, bandwidths: Tensor) -> Tensor:
    """mean over h of exp(-|x_i - y_j|² / h): ``(n, d)``, ``(m, d)``, ``(k,)`` -> ``(n, m)``."""
    squared = (x * x).sum(-1)[:, None] + (y * y).sum(-1)[None, :] - 2 * einsum(x, y, "n d, m d -> n m")
    squared = squared.clamp_min(0)  # rounding can leave tiny negatives on the diagonal
    return torch.exp(-squared[..., None] / bandwidths).mean(-1)


def mmd_squared(
    x: Tensor, y: Tensor, *, scales: tuple[float, ...] = WAE_SCALES, bandwidth: float | None = None
) -> Tensor:
    """Unbiased MMD² between samples ``(n, d)`` and ``(m, d)`` (n, m >= 2) -> ``()``.

    The kernel is the mean of RBFs k_s(x, y) = exp(-|x - y|² / (s · bandwidth)) over ``scales``;
    ``bandwidth`` defaults to 2·d, the mean squared distance between two N(0, I_d) draws.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"mmd takes samples (n, d) and (m, d) with the same d, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError(f"the unbiased MMD² needs at least 2 samples on each side, got n={n}, m={m}")
    base = 2.0 * x.shape[1] if bandwidth is None else bandwidth
    bandwidths = base * torch.as_tensor(scales, dtype=x.dtype, device=x.device)
    k_xx = _rbf_mixture(x, x, bandwidths)
    k_yy = _rbf_mixture(y, y, bandwidths)
    k_xy = _rbf_mixture(x, y, bandwidths)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2 * k_xy.mean()


class MMD(Divergence):
    """Unbiased maximum mean discrepancy MMD² between sample sets, with a multi-scale RBF kernel.

    Args:
        scales: multiples of ``bandwidth`` for the RBF kernels averaged into one kernel (WAE's scales by
            default).
        bandwidth: the base squared length scale; None means 2·d, right for a unit Gaussian prior.

    ``forward(q, p)``: samples ``(n, d)`` and ``(m, d)`` -> ``()``. Either side may be a distribution
    with event shape ``(d,)``: batch shape ``()`` is sampled as often as the other side has samples,
    batch shape ``(b,)`` once per example (the aggregate posterior).
    """

    batch_level = True

    def __init__(self, *, scales: tuple[PositiveFloat, ...] = WAE_SCALES, bandwidth: PositiveFloat | None = None):
        super().__init__()
        if not scales:
            raise ValueError("scales must name at least one multiple of the bandwidth, got ()")
        self.scales = tuple(float(s) for s in scales)
        self.bandwidth = bandwidth

    def forward(self, q: Distribution | Tensor, p: Distribution | Tensor) -> Tensor:
        q, p = as_sample_sets(q, p)
        return mmd_squared(q, p, scales=self.scales, bandwidth=self.bandwidth)

    def extra_repr(self) -> str:
        return f"scales={self.scales}, bandwidth={self.bandwidth}"


Exponent = Annotated[float, Interval(gt=0, lt=2)]  # the energy distance is a metric for 0 < β < 2


def _mean_distance(x: Tensor, y: Tensor, exponent: float) -> Tensor:
    """mean over i, j of |x_i - y_j|^β, with gradient 0 (not NaN) at coincident points."""
    squared = (x * x).sum(-1)[:, None] + (y * y).sum(-1)[None, :] - 2 * einsum(x, y, "n d, m d -> n m")
    positive = squared > 0
    safe = torch.where(positive, squared, torch.ones_like(squared))
    return torch.where(positive, safe ** (exponent / 2), torch.zeros_like(squared)).mean()


def energy_distance(x: Tensor, y: Tensor, *, exponent: float = 1.0) -> Tensor:
    """The energy distance between samples ``(n, d)`` and ``(m, d)`` (V-statistic, >= 0) -> ``()``."""
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"energy takes samples (n, d) and (m, d) with the same d, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not 0 < exponent < 2:
        raise ValueError(f"the energy distance's exponent must lie in (0, 2), got {exponent}")
    distance = 2 * _mean_distance(x, y, exponent) - _mean_distance(x, x, exponent) - _mean_distance(y, y, exponent)
    return distance.clamp_min(0)  # rounding leaves tiny negatives for identical sets


class Energy(Divergence):
    """The energy distance 2 E|x - y|^β - E|x - x'|^β - E|y - y'|^β between sample sets.

    Args:
        exponent: β, in (0, 2); 1 is the classic energy distance.

    ``forward(q, p)``: samples ``(n, d)`` and ``(m, d)`` -> ``()``. Either side may be a distribution with event
    shape ``(d,)``: batch shape ``()`` is sampled as often as the other side has samples, ``(b,)`` once per example.
    """

    batch_level = True

    def __init__(self, *, exponent: Exponent = 1.0):
        super().__init__()
        self.exponent = exponent

    def forward(self, q: Distribution | Tensor, p: Distribution | Tensor) -> Tensor:
        q, p = as_sample_sets(q, p)
        return energy_distance(q, p, exponent=self.exponent)

    def extra_repr(self) -> str:
        return f"exponent={self.exponent}"
