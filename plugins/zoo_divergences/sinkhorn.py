"""Entropic optimal transport: the debiased Sinkhorn divergence between (weighted) sample sets.

For samples x ``(n, d)`` with weights a and y ``(m, d)`` with weights b, and the cost C_ij = |x_i - y_j|^p,
the entropic transport cost is

    OT_ε(a, b) = min_P <P, C> + ε KL(P ‖ a ⊗ b)   over plans P with marginals a and b,

whose dual is solved by Sinkhorn's iterations, here in the log domain (stable for small ε):

    f_i = -ε log Σ_j b_j exp((g_j - C_ij) / ε),   g_j = -ε log Σ_i a_i exp((f_i - C_ij) / ε),

and OT_ε = <a, f> + <b, g> at the fixed point (Cuturi 2013; Peyré & Cuturi 2019, "Computational Optimal
Transport", ch. 4, https://arxiv.org/abs/1803.00567). OT_ε(a, a) is not 0; the debiased Sinkhorn divergence

    S_ε(a, b) = OT_ε(a, b) - ½ OT_ε(a, a) - ½ OT_ε(b, b)

is, it is non-negative and convex, and it interpolates between W_p^p (ε -> 0) and an energy-like MMD
(ε -> ∞) (Genevay et al. 2018, https://arxiv.org/abs/1706.00292; Feydy et al. 2019, "Interpolating between
Optimal Transport and MMD using Sinkhorn Divergences", https://arxiv.org/abs/1810.08278).

Every iteration is two batched log-sum-exps over the ``(n, m)`` cost matrix, no loop over points. ε is
reached by ε-scaling (one iteration at each of ε_0 = diameter^p, ε_0·s, ε_0·s², ... > ε, then iterations at
ε until the marginal error is below the tolerance), the annealing of Kosowsky & Yuille 1994 and Schmitzer
2019 that geomloss also uses. The iterations run without autograd; the value is then taken as
<a, T(g)> + <b, g> with g fixed, whose gradient is the envelope theorem's (the plan's), exact at the fixed
point, so the divergence is differentiable in both sample sets and both weight vectors at the cost of one
more iteration.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
from torch import Tensor
from torch.distributions import Distribution

from zoo.interfaces import Divergence
from zoo.recipes import Interval, PositiveFloat, PositiveInt

from ._samples import as_sample_sets
from .transport import Order, transport_cost

__all__ = ["Sinkhorn", "entropic_transport", "sinkhorn_divergence"]

Scaling = Annotated[float, Interval(gt=0, lt=1), "ε-scaling factor: ε_k = diameter^p · scaling^k down to eps"]


def _log_weights(weights: Tensor | None, n: int, like: Tensor, side: str) -> Tensor:
    """Normalised log-weights ``(n,)``; uniform when ``weights`` is None."""
    if weights is None:
        return torch.full((n,), -math.log(n), dtype=like.dtype, device=like.device)
    if weights.shape != (n,):
        raise ValueError(f"{side}_weights has shape {tuple(weights.shape)}; give one weight per sample, ({n},)")
    if bool((weights < 0).any()) or not bool(weights.sum() > 0):
        raise ValueError(f"{side}_weights must be non-negative with a positive sum")
    return (weights / weights.sum()).log()


def _softmin(cost_over_eps: Tensor, eps: float, h: Tensor, dim: int) -> Tensor:
    """-ε log Σ exp(h - C/ε) along ``dim`` of the ``(n, m)`` matrix ``cost_over_eps``, h broadcast along it."""
    shaped = h[None, :] if dim == 1 else h[:, None]
    return -eps * torch.logsumexp(shaped - cost_over_eps, dim=dim)


def _schedule(diameter: float, p: float, eps: float, scaling: float) -> list[float]:
    """ε_0 = diameter^p, ε_0·s, ... (those above ``eps``), then ``eps``."""
    steps = max(0, math.ceil(math.log(max(diameter**p, eps) / eps) / math.log(1 / scaling)))
    return [diameter**p * scaling**k for k in range(steps) if diameter**p * scaling**k > eps] + [eps]


def entropic_transport(cost: Tensor, log_a: Tensor, log_b: Tensor | None = None, *, eps: float, diameter: float,
                       p: float, max_iter: int, tol: float, scaling: float) -> tuple[Tensor, int]:
    """OT_ε(a, b) for a cost matrix ``(n, m)`` and log-weights ``(n,)``, ``(m,)`` -> (value ``()``, iterations).

    ``log_b=None`` is the symmetric problem OT_ε(a, a) of a symmetric cost ``(n, n)``: its potentials are equal,
    f = g, and the averaged update f <- ½ (f + T(f)) converges where alternating ones oscillate (Feydy et al.
    2019, §3.1). ``tol`` bounds the error of the plan's marginal, ‖Σ_i P_ij - b_j‖₂ (POT's criterion; the other
    marginal is exact after each update); iterations stop there or after ``max_iter`` at the final ε.
    """
    symmetric = log_b is None
    log_b = log_a if symmetric else log_b
    step = _symmetric_step if symmetric else _alternating_step
    with torch.no_grad():
        c = cost.detach()
        g = torch.zeros_like(log_b)
        for level in _schedule(diameter, p, eps, scaling)[:-1]:
            g, _ = step(c / level, level, log_a, log_b, g)
        scaled, done = c / eps, 0
        while done < max_iter:
            g, error = step(scaled, eps, log_a, log_b, g)
            done += 1
            if error < tol:
                break
    f = _softmin(cost / eps, eps, log_b + g / eps, dim=1)  # with autograd: the envelope gradient
    return (log_a.exp() * f).sum() + (log_b.exp() * g).sum(), done


def _alternating_step(cost_over_eps: Tensor, eps: float, log_a: Tensor, log_b: Tensor,
                      g: Tensor) -> tuple[Tensor, Tensor]:
    """f = T(g), then g' = T(f) -> (g', the error of the plan of (f, g): its second marginal's, the first being
    exact)."""
    f = _softmin(cost_over_eps, eps, log_b + g / eps, dim=1)
    g_next = _softmin(cost_over_eps, eps, log_a + f / eps, dim=0)
    return g_next, (log_b.exp() * torch.expm1((g - g_next) / eps)).norm()


def _symmetric_step(cost_over_eps: Tensor, eps: float, log_a: Tensor, log_b: Tensor,
                    f: Tensor) -> tuple[Tensor, Tensor]:
    """f' = ½ (f + T(f)) -> (f', the error of the marginal of the plan of (f, f))."""
    target = _softmin(cost_over_eps, eps, log_a + f / eps, dim=1)
    return 0.5 * (f + target), (log_a.exp() * torch.expm1((f - target) / eps)).norm()


def sinkhorn_divergence(x: Tensor, y: Tensor, x_weights: Tensor | None = None, y_weights: Tensor | None = None, *,
                        eps: float = 0.01, p: float = 2.0, max_iter: int = 1000, tol: float = 1e-4,
                        scaling: float = 0.5, debias: bool = True) -> Tensor:
    """The Sinkhorn divergence S_ε between samples ``(n, d)`` and ``(m, d)`` (optionally weighted) -> ``()``.

    In the units of the cost |x - y|^p: as ε -> 0 it tends to W_p^p. ``debias=False`` gives OT_ε(a, b) itself
    (not zero for identical sets). Weights are non-negative, normalised here; None means uniform.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"sinkhorn takes samples (n, d) and (m, d) with the same d, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if p < 1 or not eps > 0 or not 0 < scaling < 1 or max_iter < 1 or not tol > 0:
        raise ValueError(f"sinkhorn needs p >= 1, eps > 0, 0 < scaling < 1, max_iter >= 1 and tol > 0; got p={p}, "
                         f"eps={eps}, scaling={scaling}, max_iter={max_iter}, tol={tol}")
    log_a, log_b = _log_weights(x_weights, len(x), x, "x"), _log_weights(y_weights, len(y), y, "y")
    both = torch.cat([x.detach(), y.detach()])
    diameter = max(float((both.amax(0) - both.amin(0)).norm()), 1e-12)
    solve = dict(eps=eps, diameter=diameter, p=p, max_iter=max_iter, tol=tol, scaling=scaling)
    cross, _ = entropic_transport(transport_cost(x, y, p), log_a, log_b, **solve)
    if not debias:
        return cross
    self_x, _ = entropic_transport(transport_cost(x, x, p), log_a, **solve)
    self_y, _ = entropic_transport(transport_cost(y, y, p), log_b, **solve)
    return cross - 0.5 * (self_x + self_y)


class Sinkhorn(Divergence):
    """The debiased Sinkhorn divergence S_ε between sample sets: entropic optimal transport, log domain.

    S_ε = OT_ε(q, p) - ½ OT_ε(q, q) - ½ OT_ε(p, p) for the cost |x - y|^p, zero for identical sets and W_p^p in
    the limit ε -> 0 (in the cost's units, so ``eps`` scales with the data: around 1e-3 to 1e-1 of the squared
    spread for p = 2).

    Args:
        eps: the entropic regularisation ε (smaller: closer to exact transport, more iterations).
        p: the cost's exponent, ``p >= 1``.
        max_iter: the iteration budget at the final ε (after ε-scaling).
        tol: stop when the plan's marginal error (the L2 norm, as POT's ``stopThr``) is below this.
        scaling: the ε-scaling factor (closer to 1: more annealing steps, fewer iterations at the end).

    ``forward(q, p, q_weights=None, p_weights=None)``: samples ``(n, d)`` and ``(m, d)`` (with optional
    non-negative weights ``(n,)``, ``(m,)``) -> ``()``. Either side may be a distribution with event shape
    ``(d,)``: batch shape ``()`` is sampled as often as the other side has samples, ``(b,)`` once per example.
    """

    batch_level = True

    def __init__(self, *, eps: PositiveFloat = 0.01, p: Order = 2.0, max_iter: PositiveInt = 1000,
                 tol: PositiveFloat = 1e-4, scaling: Scaling = 0.5):
        super().__init__()
        self.eps, self.p, self.max_iter, self.tol, self.scaling = eps, p, max_iter, tol, scaling

    def forward(self, q: Distribution | Tensor, p: Distribution | Tensor, q_weights: Tensor | None = None,
                p_weights: Tensor | None = None) -> Tensor:
        q, p = as_sample_sets(q, p)
        return sinkhorn_divergence(q, p, q_weights, p_weights, eps=self.eps, p=self.p, max_iter=self.max_iter,
                                   tol=self.tol, scaling=self.scaling)

    def extra_repr(self) -> str:
        return f"eps={self.eps}, p={self.p}, max_iter={self.max_iter}, tol={self.tol}, scaling={self.scaling}"
