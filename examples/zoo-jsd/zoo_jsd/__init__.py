"""zoo-jsd: a genzoo plugin that adds the Jensen-Shannon divergence, a prior term for a VAE.

JS(q ‖ p) = ½ KL(q ‖ m) + ½ KL(p ‖ m) with the mixture m = ½ (q + p) (Lin 1991, "Divergence measures
based on the Shannon entropy", IEEE Trans. Inf. Theory 37(1)). Symmetric, and bounded by log 2 nats,
where KL is not. No closed form exists even for two Gaussians, so it is estimated by Monte Carlo.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Distribution

import zoo
from zoo.interfaces import Divergence

__all__ = ["JensenShannon"]

PAPER = "Lin 1991, Divergence measures based on the Shannon entropy (IEEE Trans. Inf. Theory 37)"


class JensenShannon(Divergence):
    """Jensen-Shannon divergence ½ KL(q ‖ m) + ½ KL(p ‖ m), m = ½ (q + p), by Monte Carlo, per example.

    Each half is estimated from ``num_samples`` draws of its own distribution, reparameterised where the
    distribution allows it, so gradients reach q's parameters. At q = p every draw contributes exactly 0.
    """

    batch_level = False  # per example: q and p are distributions, the result is (b,)

    def __init__(self, num_samples: int = 16):
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.num_samples = num_samples

    def forward(self, q: Distribution, p: Distribution) -> Tensor:
        """q and p with batch shape ``(b,)`` (or broadcasting to it) -> ``(b,)`` nats, in [0, log 2] on average."""
        batch = torch.broadcast_shapes(q.batch_shape, p.batch_shape)  # a prior's () against a posterior's (b,)
        q, p = q.expand(batch), p.expand(batch)
        return 0.5 * (self._kl_to_mixture(q, p) + self._kl_to_mixture(p, q))

    def _kl_to_mixture(self, a: Distribution, b: Distribution) -> Tensor:
        """KL(a ‖ ½ (a + b)) from draws x ~ a: log a(x) - log m(x) = log 2 - softplus(log b(x) - log a(x))."""
        x = a.rsample((self.num_samples,)) if a.has_rsample else a.sample((self.num_samples,))  # (s, b, ...)
        log_ratio = b.log_prob(x) - a.log_prob(x)  # (s, b): the softplus form never overflows
        return (math.log(2.0) - F.softplus(log_ratio)).mean(0)


@zoo.hookimpl
def register_components(register):
    register("divergence", "jsd", JensenShannon, paper=PAPER)
