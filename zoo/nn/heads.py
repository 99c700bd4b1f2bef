"""Posterior heads: a network's raw outputs -> q(z|x), for every encoder that emits a diagonal Gaussian.

The VAE's encoders and the variational GON's gradient-latent head both end in ``2 d`` numbers per example,
a mean and an unconstrained scale; ``gaussian_posterior`` makes them the distribution, in float32 at least
(the KL and the log-densities sum over many terms, more than bf16 autocast's mantissa adds up), with the
scale kept above ``MIN_POSTERIOR_SCALE`` (a collapsing scale makes log q(z|x) blow up).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from zoo.likelihoods import at_least_float32

__all__ = ["MIN_POSTERIOR_SCALE", "gaussian_posterior"]

MIN_POSTERIOR_SCALE = 1e-4


def gaussian_posterior(raw: Tensor) -> Distribution:
    """``(b, 2d)`` -> N(μ, diag σ²) with batch ``(b,)``, event ``(d,)``: the first d numbers are μ, the last d
    give σ = MIN_POSTERIOR_SCALE + softplus(·)."""
    loc, raw_scale = at_least_float32(raw).chunk(2, dim=-1)
    return Independent(Normal(loc, MIN_POSTERIOR_SCALE + F.softplus(raw_scale)), 1)
