"""zoo-hellinger: a genzoo plugin that adds the squared Hellinger distance, a prior term for a VAE.

H²(q, p) = 1 - ∫ √(q(z) p(z)) dz = ½ ∫ (√q - √p)² (Hellinger 1909; Le Cam & Yang 2000, ch. 2): symmetric,
bounded by 1, and zero exactly when q = p. It is estimated by Monte Carlo from draws of the mixture
m = ½ (q + p), half from each side: H² = E_m[1 - sech(½ (log p(z) - log q(z)))], every term in [0, 1], so the
estimate never leaves the bounds (1 - E_q[√(p/q)], from q alone, does).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution

import zoo
from zoo.interfaces import Divergence

__all__ = ["Hellinger"]

PAPER = "Hellinger 1909, Neue Begründung der Theorie quadratischer Formen von unendlichvielen Veränderlichen"


class Hellinger(Divergence):
    """Squared Hellinger distance 1 - ∫ √(q p) by Monte Carlo, per example, in [0, 1].

    The expectation is estimated from ``num_samples`` draws of q and as many of p, reparameterised where the
    distribution allows it, so gradients reach q's parameters. At q = p every draw contributes exactly 0.
    """

    batch_level = False  # per example: q and p are distributions, the result is (b,)

    def __init__(self, num_samples: int = 16):
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.num_samples = num_samples

    def forward(self, q: Distribution, p: Distribution) -> Tensor:
        """q and p with batch shape ``(b,)`` (or broadcasting to it) -> ``(b,)``, in [0, 1] on average."""
        batch = torch.broadcast_shapes(q.batch_shape, p.batch_shape)  # a prior's () against a posterior's (b,)
        q, p = q.expand(batch), p.expand(batch)
        draws = [d.rsample((self.num_samples,)) if d.has_rsample else d.sample((self.num_samples,)) for d in (q, p)]
        z = torch.cat(draws)  # (2s, b, ...): draws of the mixture m = ½ (q + p)
        return (1 - 1 / torch.cosh(0.5 * (p.log_prob(z) - q.log_prob(z)))).mean(0)


@zoo.hookimpl
def register_components(register):
    register("divergence", "hellinger", Hellinger, paper=PAPER)
