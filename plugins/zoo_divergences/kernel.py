"""Kernel divergences: the maximum mean discrepancy (MMD) between sample sets.

MMD²(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y) for x, x' ~ P and y, y' ~ Q; with a characteristic
kernel it is zero exactly when P = Q. The unbiased U-statistic leaves the i = j terms out of the
within-set sums (Gretton et al. 2012, "A Kernel Two-Sample Test", JMLR 13, eq. 3,
https://jmlr.org/papers/v13/gretton12a.html), so it can dip slightly below zero when P = Q.

The Wasserstein Auto-Encoder (Tolstikhin et al. 2018, https://arxiv.org/abs/1711.01558) uses it as the
prior term between the aggregate posterior and the prior, with kernels at several scales of 2·d·σ², the
mean squared distance between two draws of the prior N(0, σ² I_d); the defaults here follow it.
"""

from __future__ import annotations

import torch
from einops import einsum
from torch import Tensor
from torch.distributions import Distribution

from zoo.interfaces import Divergence
from zoo.recipes import PositiveFloat

from ._samples import as_sample_sets

__all__ = ["mmd_squared", "MMD"]

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
