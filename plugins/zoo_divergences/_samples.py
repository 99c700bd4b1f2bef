"""Turning the arguments of a batch-level divergence into two sample sets.

A batch-level divergence compares sample sets ``(n, ...)`` and ``(m, ...)``; either side may instead be
a distribution, which is sampled here (with ``rsample`` when it has one, so gradients flow):

- batch shape ``()`` (a prior such as ``Independent(Normal(zeros(d), ones(d)), 1)``): drawn as many
  times as the other side has samples;
- batch shape ``(b,)`` (a posterior q(z|x) for a minibatch): read as the aggregate posterior, the
  mixture (1/b) Σ_i q(z|x_i), and drawn once per component, ``(b, ...)``.
"""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution


def _draw(dist: Distribution, n: int | None, role: str) -> Tensor:
    draw = dist.rsample if dist.has_rsample else dist.sample
    if len(dist.batch_shape) == 1:
        return draw()
    if len(dist.batch_shape) == 0 and n is not None:
        return draw((n,))
    if len(dist.batch_shape) == 0:
        raise ValueError(
            f"cannot tell how many samples to draw from {role} ({type(dist).__name__} with batch shape ()) "
            f"when the other side is a distribution with batch shape () too: pass samples for one side"
        )
    raise ValueError(
        f"{role} has batch shape {tuple(dist.batch_shape)}; a batch-level divergence takes a distribution "
        f"with batch shape () (sampled as often as the other side) or (b,) (one draw per example)"
    )


def as_sample_sets(q: Distribution | Tensor, p: Distribution | Tensor) -> tuple[Tensor, Tensor]:
    """(q, p), each samples or a distribution -> two sample sets ``(n, ...)``, ``(m, ...)``."""
    if isinstance(q, Distribution) and isinstance(p, Distribution) and len(q.batch_shape) == 0:
        p = _draw(p, None, "p")  # p sets the count when q has none of its own
    if isinstance(q, Distribution):
        q = _draw(q, None if isinstance(p, Distribution) else len(p), "q")
    if isinstance(p, Distribution):
        p = _draw(p, len(q), "p")
    return q, p
