"""Optimal transport: exact Wasserstein distances (1-D, discrete in any dimension, between Gaussians), sliced.

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

In any dimension, the exact W_p between two discrete measures is a linear program over the plans P
(Kantorovich 1942; Peyré & Cuturi 2019, "Computational Optimal Transport", ch. 3): ``wasserstein`` solves it
with ``scipy.optimize`` (an assignment for equal sizes and uniform weights, whose optimal plan is a
permutation; the HiGHS simplex otherwise). scipy is a run-time dependency through scikit-learn. The
solve is cubic, so it is for small sets and as a test oracle; ``sinkhorn`` is its scalable, smooth relative.

Between Gaussians W_2 has a closed form (Dowson & Landau 1982; Givens & Shortt 1984):
W_2² = |μ_q - μ_p|² + tr(Σ_q + Σ_p - 2 (Σ_p^½ Σ_q Σ_p^½)^½), which for diagonal covariances is
|μ_q - μ_p|² + |σ_q - σ_p|².
"""

from __future__ import annotations

from typing import Annotated

import torch
from einops import einsum
from torch import Tensor
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from zoo.interfaces import Divergence
from zoo.recipes import Interval, PositiveInt

from ._samples import as_sample_sets

__all__ = ["wasserstein_1d", "wasserstein", "gaussian_wasserstein", "Wasserstein1D", "Wasserstein",
           "GaussianWasserstein", "SlicedWasserstein", "transport_cost"]

Order = Annotated[float, Interval(ge=1)]  # W_p is a metric for p >= 1


def transport_cost(x: Tensor, y: Tensor, p: float) -> Tensor:
    """C_ij = |x_i - y_j|^p: ``(n, d)``, ``(m, d)`` -> ``(n, m)``."""
    if p == 2:  # one matrix product, the fast path for the common case
        squared = (x * x).sum(-1)[:, None] + (y * y).sum(-1)[None, :] - 2 * einsum(x, y, "n d, m d -> n m")
        return squared.clamp_min(0)
    return torch.cdist(x, y).pow(p)


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


# --- exact discrete transport in any dimension ------------------------------------------------------------------

MAX_ASSIGNMENT = 4096  # points per side: the assignment solver is O(n³), a few seconds here
MAX_PLAN = 250_000  # variables n·m of the linear program


def _optimal_plan(cost: Tensor, a: Tensor | None, b: Tensor | None) -> Tensor:
    """An optimal plan ``(n, m)`` for a cost ``(n, m)`` and weights (None: uniform), solved by scipy."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment, linprog

    n, m = cost.shape
    c = cost.detach().cpu().double().numpy()
    if a is None and b is None and n == m:
        if n > MAX_ASSIGNMENT:
            raise ValueError(f"wasserstein solves an exact assignment, O(n³): {n} points per side is more than "
                             f"{MAX_ASSIGNMENT}; use sinkhorn (entropic, any size) or sliced-wasserstein")
        rows, cols = linear_sum_assignment(c)
        plan = np.zeros((n, m))
        plan[rows, cols] = 1.0 / n
    else:
        if n * m > MAX_PLAN:
            raise ValueError(f"wasserstein solves a linear program with n·m = {n * m:,} variables, more than "
                             f"{MAX_PLAN:,}; use sinkhorn (entropic, any size) or sliced-wasserstein")
        weights = [np.full(k, 1.0 / k) if w is None else w.detach().cpu().double().numpy() / float(w.sum())
                   for w, k in ((a, n), (b, m))]
        # plan[i, j] is variable i·m + j: rows sum to a_i, columns to b_j (one equation is redundant: drop it)
        rows = np.kron(np.eye(n), np.ones((1, m)))
        cols = np.kron(np.ones((1, n)), np.eye(m))
        solved = linprog(c.ravel(), A_eq=np.vstack([rows, cols[:-1]]),
                         b_eq=np.concatenate([weights[0], weights[1][:-1]]), bounds=(0, None), method="highs")
        if not solved.success:
            raise ValueError(f"the transport linear program failed: {solved.message}")
        plan = solved.x.reshape(n, m)
    return torch.as_tensor(plan, dtype=cost.dtype, device=cost.device)


def wasserstein(x: Tensor, y: Tensor, x_weights: Tensor | None = None, y_weights: Tensor | None = None,
                p: float = 2.0) -> Tensor:
    """The exact W_p between discrete measures on samples ``(n, d)`` and ``(m, d)`` -> ``()``.

    Weights are non-negative (normalised here; None: uniform). Differentiable in the samples: the optimal plan
    P is held fixed and W_p = (Σ P_ij |x_i - y_j|^p)^(1/p) (the envelope theorem; exact where the optimum is
    unique). Not differentiable in the weights.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"wasserstein takes samples (n, d) and (m, d) with the same d, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if p < 1:
        raise ValueError(f"the Wasserstein order p must be >= 1, got {p}")
    for weights, samples, side in ((x_weights, x, "x"), (y_weights, y, "y")):
        if weights is not None and (weights.shape != samples.shape[:1] or bool((weights < 0).any())
                                    or not bool(weights.sum() > 0)):
            raise ValueError(f"{side}_weights must be ({len(samples)},), non-negative with a positive sum; got shape "
                             f"{tuple(weights.shape)}")
    cost = transport_cost(x, y, p)
    return _root((_optimal_plan(cost, x_weights, y_weights) * cost).sum(), p)


class Wasserstein(Divergence):
    """The exact p-Wasserstein distance between two sample sets in any dimension (scipy's solvers).

    An assignment for equal sizes (O(n³), up to 4096 points a side), a linear program otherwise (up to 250,000
    pairs): for small sets and as a test oracle; ``sinkhorn`` scales. Differentiable in the samples.

    Args:
        p: the order, ``p >= 1``.

    ``forward(q, p, q_weights=None, p_weights=None)``: samples ``(n, d)`` and ``(m, d)`` (optionally weighted)
    -> ``()``. Either side may be a distribution with event shape ``(d,)``, sampled as for ``sinkhorn``.
    """

    batch_level = True

    def __init__(self, *, p: Order = 2.0):
        super().__init__()
        self.p = p

    def forward(self, q: Distribution | Tensor, p: Distribution | Tensor, q_weights: Tensor | None = None,
                p_weights: Tensor | None = None) -> Tensor:
        q, p = as_sample_sets(q, p)
        return wasserstein(q, p, q_weights, p_weights, p=self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# --- between Gaussians, in closed form ----------------------------------------------------------------------------


def _gaussian(dist: Distribution, role: str) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """(mean ``(..., d)``, standard deviations ``(..., d)`` or None, Cholesky factor ``(..., d, d)`` or None).

    A diagonal Gaussian over events of any shape (``Independent(Normal, k)``: a hierarchical VAE's ``(c, h, w)``)
    is one over their ``d`` numbers, flattened."""
    if isinstance(dist, Independent) and isinstance(dist.base_dist, Normal):
        loc, scale = torch.broadcast_tensors(dist.base_dist.loc, dist.base_dist.scale)
        k = dist.reinterpreted_batch_ndims
        return (loc.flatten(-k), scale.flatten(-k), None) if k > 1 else (loc, scale, None)
    if isinstance(dist, MultivariateNormal):
        return dist.loc, None, dist.scale_tril
    raise ValueError(f"wasserstein-gaussian compares Gaussians, Independent(Normal(loc, scale), k) (diagonal) or "
                     f"MultivariateNormal (full covariance); {role} is {type(dist).__name__}: for other "
                     f"distributions use a sample-set divergence (sinkhorn, wasserstein)")


def _full(scale: Tensor | None, tril: Tensor | None) -> Tensor:
    """The Cholesky factor ``(..., d, d)`` of a diagonal (``scale``) or full (``tril``) covariance."""
    return torch.diag_embed(scale) if tril is None else tril


def gaussian_wasserstein(q: Distribution, p: Distribution, *, squared: bool = False) -> Tensor:
    """W_2 (or W_2² with ``squared``) between Gaussians per example: ``(*batch)``, q's and p's broadcast.

    Diagonal pairs use |μ_q - μ_p|² + |σ_q - σ_p|²; a full covariance tr(Σ_q) + tr(Σ_p) - 2 tr((Σ_q Σ_p)^½), the
    last from the eigenvalues of L_pᵀ Σ_q L_p (similar to Σ_q Σ_p, with Σ_p = L_p L_pᵀ): symmetric, so its
    gradient is stable where eigenvalues repeat (identity covariances).
    """
    mean_q, scale_q, tril_q = _gaussian(q, "q")
    mean_p, scale_p, tril_p = _gaussian(p, "p")
    if mean_q.shape[-1] != mean_p.shape[-1]:
        raise ValueError(f"q is over {mean_q.shape[-1]} dimensions and p over {mean_p.shape[-1]}")
    means = (mean_q - mean_p).pow(2).sum(-1)
    if tril_q is None and tril_p is None:
        spread = (scale_q - scale_p).pow(2).sum(-1)
    else:
        lq, lp = _full(scale_q, tril_q), _full(scale_p, tril_p)
        cov_q = lq @ lq.mT
        middle = lp.mT @ cov_q @ lp
        roots = torch.linalg.eigvalsh(0.5 * (middle + middle.mT)).clamp_min(0).sqrt()
        spread = cov_q.diagonal(dim1=-2, dim2=-1).sum(-1) + lp.pow(2).sum((-2, -1)) - 2 * roots.sum(-1)
        spread = spread.clamp_min(0)  # rounding: Σ_q = Σ_p can leave a tiny negative
    distance = means + spread
    return distance if squared else _root(distance, 2)


class GaussianWasserstein(Divergence):
    """The 2-Wasserstein distance between Gaussians in closed form, per example (diagonal or full covariance).

    Args:
        squared: return W_2² (smooth at 0, as a prior term) rather than W_2.

    ``forward(q, p)``: Gaussians (``Independent(Normal, k)`` or ``MultivariateNormal``) whose batch shapes
    broadcast to ``(b,)`` -> ``(b,)``.
    """

    def __init__(self, *, squared: bool = False):
        super().__init__()
        self.squared = squared

    def forward(self, q: Distribution, p: Distribution) -> Tensor:
        return gaussian_wasserstein(q, p, squared=self.squared)

    def extra_repr(self) -> str:
        return f"squared={self.squared}"
