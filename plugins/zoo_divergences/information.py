"""Information-theoretic divergences: KL(q ‖ p), cross entropy H(q, p), entropy H(q) and Jensen-Shannon.

All three are expectations under q, E_q[f(z)], computed in closed form where one is known and by Monte
Carlo otherwise:

- KL(q ‖ p) = E_q[log q(z) - log p(z)]; closed form from ``torch.distributions.kl_divergence`` (which
  knows diagonal Gaussians, ``Independent(Normal)``, Categoricals, Bernoullis, ...).
- H(q, p) = -E_q[log p(z)]; closed form for Normal/Categorical pairs (and ``Independent`` wrappings of
  them), else KL(q ‖ p) + H(q) when both are closed form.
- H(q) = -E_q[log q(z)]; closed form from ``q.entropy()``.

So KL(q ‖ p) = H(q, p) - H(q), and the tests check it with the two sides computed by different code.

- JS(q ‖ p) = ½ KL(q ‖ m) + ½ KL(p ‖ m) with the mixture m = ½ (q + p) (Lin 1991): symmetric, bounded by
  log 2 nats, and with no closed form even for two Gaussians, so always by Monte Carlo, each half from draws
  of its own distribution.

Monte Carlo estimates are differentiable in the parameters of q and p: through ``rsample`` when q has
one (the reparameterisation trick, Kingma & Welling 2014), otherwise through the score-function
estimator with a leave-one-out baseline (Williams 1992; Kool et al. 2019), so the value is the plain
sample mean and its gradient is unbiased.

Papers: Kullback & Leibler 1951, "On Information and Sufficiency", Ann. Math. Statist. 22(1);
Shannon 1948, "A Mathematical Theory of Communication"; Cover & Thomas 2006, "Elements of Information
Theory", ch. 2; Lin 1991, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37(1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.distributions import Categorical, Distribution, Independent, Normal

from zoo.interfaces import Divergence
from zoo.recipes import PositiveInt

__all__ = ["KLDivergence", "CrossEntropy", "JensenShannon", "kl_divergence", "cross_entropy", "entropy",
           "jensen_shannon"]


# --- Monte Carlo -------------------------------------------------------------------------------------


def _monte_carlo(q: Distribution, f: Callable[[Tensor], Tensor], num_samples: int) -> Tensor:
    """E_{z ~ q}[f(z)] from ``num_samples`` draws: f maps ``(s, *batch, *event)`` to ``(s, *batch)``."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1 for a Monte Carlo estimate, got {num_samples}")
    if q.has_rsample:
        return f(q.rsample((num_samples,))).mean(0)
    # q cannot be reparameterised (Categorical, mixtures): add the score-function term, which is zero in
    # value and E[(f - baseline) ∇log q(z)] in gradient; the leave-one-out baseline keeps it unbiased.
    z = q.sample((num_samples,))
    values = f(z)
    log_q = q.log_prob(z)
    signal = values.detach()
    if num_samples > 1:
        signal = signal - (signal.sum(0, keepdim=True) - signal) / (num_samples - 1)
    return (values + signal * (log_q - log_q.detach())).mean(0)


def _log_prob(dist: Distribution, z: Tensor, role: str) -> Tensor:
    try:
        return dist.log_prob(z)
    except NotImplementedError:
        raise NotImplementedError(
            f"{role} ({type(dist).__name__}) has no log_prob, so a density-based divergence is undefined for "
            f"it; a deterministic encoder needs a batch-level divergence instead (sliced-wasserstein, mmd)"
        ) from None


def _check_same_event(q: Distribution, p: Distribution) -> None:
    if q.event_shape != p.event_shape:
        raise ValueError(
            f"q has event shape {tuple(q.event_shape)} but p has {tuple(p.event_shape)}: both must "
            f"describe the same random variable. Wrap the factorised one in "
            f"torch.distributions.Independent(dist, 1), e.g. a prior Normal(zeros(d), ones(d)) -> "
            f"Independent(Normal(zeros(d), ones(d)), 1)"
        )


# --- closed forms ------------------------------------------------------------------------------------


def _analytic_cross_entropy(q: Distribution, p: Distribution) -> Tensor:
    """H(q, p) in closed form; raises NotImplementedError when neither a formula nor KL + H(q) is known."""
    if isinstance(q, Independent) and isinstance(p, Independent):
        if q.reinterpreted_batch_ndims != p.reinterpreted_batch_ndims:
            raise NotImplementedError
        per_dim = _analytic_cross_entropy(q.base_dist, p.base_dist)
        return per_dim.sum(tuple(range(-q.reinterpreted_batch_ndims, 0)))
    if isinstance(q, Normal) and isinstance(p, Normal):
        # -E_q[log N(z; mu_p, s_p)] = log(s_p sqrt(2 pi)) + (s_q^2 + (mu_q - mu_p)^2) / (2 s_p^2)
        return (
            torch.log(p.scale)
            + 0.5 * math.log(2 * math.pi)
            + (q.scale**2 + (q.loc - p.loc) ** 2) / (2 * p.scale**2)
        )
    if isinstance(q, Categorical) and isinstance(p, Categorical):
        # -sum_k q_k log p_k, where q_k = 0 contributes 0 even if p_k = 0 (log p_k = -inf)
        terms = q.probs * p.logits
        return -torch.where(q.probs > 0, terms, torch.zeros_like(terms)).sum(-1)
    return torch.distributions.kl_divergence(q, p) + q.entropy()


# --- public functions --------------------------------------------------------------------------------


def kl_divergence(q: Distribution, p: Distribution, *, analytic: bool = True, num_samples: int = 1) -> Tensor:
    """KL(q ‖ p) per example: ``(*batch)``, the broadcast of q's and p's batch shapes.

    Closed form when ``analytic`` and torch knows the pair, else the mean of log q(z) - log p(z) over
    ``num_samples`` draws z ~ q.
    """
    _check_same_event(q, p)
    if analytic:
        try:
            return torch.distributions.kl_divergence(q, p)
        except NotImplementedError:
            pass
    return _monte_carlo(q, lambda z: _log_prob(q, z, "q") - _log_prob(p, z, "p"), num_samples)


def cross_entropy(q: Distribution, p: Distribution, *, analytic: bool = True, num_samples: int = 1) -> Tensor:
    """H(q, p) = -E_q[log p(z)] per example: ``(*batch)``, closed form when possible, else Monte Carlo."""
    _check_same_event(q, p)
    if analytic:
        try:
            return _analytic_cross_entropy(q, p)
        except NotImplementedError:
            pass
    return _monte_carlo(q, lambda z: -_log_prob(p, z, "p"), num_samples)


def entropy(q: Distribution, *, analytic: bool = True, num_samples: int = 1) -> Tensor:
    """H(q) = -E_q[log q(z)] per example: ``(*batch)``; ``q.entropy()`` when known, else Monte Carlo."""
    if analytic:
        try:
            return q.entropy()
        except NotImplementedError:
            pass
    return _monte_carlo(q, lambda z: -_log_prob(q, z, "q"), num_samples)


def jensen_shannon(q: Distribution, p: Distribution, *, num_samples: int = 16) -> Tensor:
    """JS(q ‖ p) per example, in [0, log 2] nats: ``(*batch)``, by Monte Carlo (``num_samples`` draws a side).

    Each half is KL(a ‖ m) = E_a[log 2 - softplus(log b(x) - log a(x))], which never overflows; at q = p every
    draw contributes exactly 0.
    """
    _check_same_event(q, p)
    batch = torch.broadcast_shapes(q.batch_shape, p.batch_shape)  # a prior's () against a posterior's (b,)
    q, p = q.expand(batch), p.expand(batch)

    def to_mixture(a: Distribution, b: Distribution, roles: str) -> Tensor:
        def log_a_over_m(x: Tensor) -> Tensor:
            return math.log(2.0) - F.softplus(_log_prob(b, x, roles[1]) - _log_prob(a, x, roles[0]))

        return _monte_carlo(a, log_a_over_m, num_samples)

    return 0.5 * (to_mixture(q, p, "qp") + to_mixture(p, q, "pq"))


# --- components --------------------------------------------------------------------------------------


class _ClosedFormOrMonteCarlo(Divergence):
    """What KL and cross entropy share: closed form when known (``analytic``), else ``num_samples`` draws."""

    def __init__(self, *, analytic: bool = True, num_samples: PositiveInt = 1):
        super().__init__()
        self.analytic = analytic
        self.num_samples = num_samples

    def extra_repr(self) -> str:
        return f"analytic={self.analytic}, num_samples={self.num_samples}"


class KLDivergence(_ClosedFormOrMonteCarlo):
    """Kullback-Leibler divergence KL(q ‖ p) per example, closed form where known, else Monte Carlo.

    Args:
        analytic: use the closed form when torch knows the pair; ``False`` forces Monte Carlo.
        num_samples: draws z ~ q per example for the Monte Carlo estimate (1 is the usual VAE choice:
            unbiased, and the minibatch averages the noise).

    ``forward(q, p)``: distributions with batch shapes broadcasting to ``(b,)`` and equal event shapes
    -> ``(b,)``.
    """

    def forward(self, q: Distribution, p: Distribution) -> Tensor:
        return kl_divergence(q, p, analytic=self.analytic, num_samples=self.num_samples)


class CrossEntropy(_ClosedFormOrMonteCarlo):
    """Cross entropy H(q, p) = -E_q[log p] per example: KL(q ‖ p) + H(q), closed form where known.

    Not zero at q = p (it is H(q) there); as a prior term it is KL plus the posterior's entropy, the
    form in which the ELBO's "cross entropy to the prior" appears.

    Args:
        analytic: use the closed form when known; ``False`` forces Monte Carlo.
        num_samples: draws z ~ q per example for the Monte Carlo estimate.

    ``forward(q, p)``: distributions with batch shapes broadcasting to ``(b,)`` -> ``(b,)``.
    """

    def forward(self, q: Distribution, p: Distribution) -> Tensor:
        return cross_entropy(q, p, analytic=self.analytic, num_samples=self.num_samples)


class JensenShannon(Divergence):
    """Jensen-Shannon divergence ½ KL(q ‖ m) + ½ KL(p ‖ m), m = ½ (q + p), by Monte Carlo, per example.

    Symmetric and bounded by log 2 nats, where KL is neither; as a prior term it stays finite where the
    posterior and the prior barely overlap.

    Args:
        num_samples: draws per side and example (reparameterised where the distribution allows it).

    ``forward(q, p)``: distributions with batch shapes broadcasting to ``(b,)`` and equal event shapes
    -> ``(b,)``.
    """

    def __init__(self, *, num_samples: PositiveInt = 16):
        super().__init__()
        self.num_samples = num_samples

    def forward(self, q: Distribution, p: Distribution) -> Tensor:
        return jensen_shannon(q, p, num_samples=self.num_samples)

    def extra_repr(self) -> str:
        return f"num_samples={self.num_samples}"
