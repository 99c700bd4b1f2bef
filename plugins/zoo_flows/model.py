"""The ``flow`` density model: a zuko flow fitted by maximum likelihood, on points or (dequantised) images.

On continuous data (points, ``levels=None``) log p(x) is the change of variables, exact: the flow maps x to
N(0, I) and adds its log |det J|. On discrete data (images whose values are ``levels`` evenly spaced levels of
[0, 1]: the digits' 17) a density can't be fitted to the levels themselves, so each level index k is spread
over its bin: y = (k + u) / L, u in [0, 1)^D drawn from

- ``uniform`` dequantisation, u ~ U[0, 1)^D (Theis et al. 2016, arXiv:1511.01844; Uria et al. 2013), or
- ``variational`` dequantisation, u ~ q(u | x), a flow conditioned on the image and squashed into the unit
  cube, learned with the model (Ho et al. 2019, Flow++, arXiv:1902.00275),

and the flow models y, through the logit of α + (1 - 2α) y (Dinh et al. 2017, Real NVP, arXiv:1605.08803).
Then, per image, with D pixels and P(k) the probability the flow gives the bin of k:

    log P(k) = log E_q[p(y) / (L^D q(u|k))] >= E_q[log p(y) - D log L - log q(u|k)]

(Jensen). ``log_likelihood`` returns the bracket for one draw of u: exact as the log-density of the
dequantised image (in units of the level grid, which is what ``- D log L`` converts to), an unbiased estimate
of a *lower bound* on the discrete log-likelihood. Its NLL is thus an upper bound on the discrete NLL, the
number to compare with a VAE's IWAE bound on the same levels, which bounds the same quantity from the same side.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

import torch
from einops import rearrange
from torch import Tensor
from torch.distributions import Distribution, SigmoidTransform, TransformedDistribution

from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import ExactLikelihood, Model, Sampler
from zoo.metrics import bits_per_dim
from zoo.recipes import Interval, PositiveInt

from .data import POINTS
from .families import build_flow

__all__ = ["ALPHA", "Flow"]

ALPHA = 0.05  # y in [0, 1] is modelled as logit(ALPHA + (1 - 2 ALPHA) y): the flow never meets an infinite logit
Levels = Annotated[int, Interval(ge=2)]


def _logit_with_log_det(y: Tensor) -> tuple[Tensor, Tensor]:
    """y ``(b, D)`` in [0, 1] -> s = logit(α + (1 - 2α) y) ``(b, D)`` and log |ds/dy| summed ``(b,)``."""
    v = ALPHA + (1 - 2 * ALPHA) * y
    log_det = math.log(1 - 2 * ALPHA) - torch.log(v) - torch.log1p(-v)
    return torch.logit(v), log_det.sum(-1)


def _from_logit(s: Tensor) -> Tensor:
    """The inverse of ``_logit_with_log_det``'s map: s ``(b, D)`` -> y ``(b, D)`` (in [0, 1] where s came from it)."""
    return (torch.sigmoid(s) - ALPHA) / (1 - 2 * ALPHA)


def _level_index(s: Tensor, levels: int) -> Tensor:
    """Logits s ``(b, D)`` -> the index k of the level whose cell [k / L, (k + 1) / L) holds y, ``(b, D)``."""
    return torch.floor(_from_logit(s) * levels).clamp(0, levels - 1)


class Flow(Model, Sampler, ExactLikelihood):
    """A normalizing flow over the data, trained by maximum likelihood: ``family`` is zuko's flow by name.

    ``shape`` is one item's (``${data.shape}``: ``(2,)`` for points, ``(c, h, w)`` for images), flattened to D
    dimensions. ``transforms``, ``hidden_dim`` and ``num_layers`` size the flow. ``levels`` is how many levels
    the data takes (``${data.levels}``; None for continuous data); with levels, ``dequantization`` says how a
    level is spread over its bin (``uniform`` or a learned ``variational`` q(u|x), sized like the flow). Loss
    term: ``nll``, -log p per example in nats (a bound on discrete data: see the module docstring).
    """

    data_kinds: ClassVar[tuple[str, ...]] = ("images", POINTS)

    def __init__(
        self,
        shape: tuple[PositiveInt, ...],
        *,
        family: str = "nsf",
        transforms: PositiveInt = 3,
        hidden_dim: PositiveInt = 64,
        num_layers: PositiveInt = 2,
        levels: Levels | None = None,
        dequantization: Literal["uniform", "variational"] = "uniform",
    ):
        super().__init__()
        self.shape, self.num_dims = tuple(shape), math.prod(shape)
        self.family, self.levels, self.dequantization = family, levels, dequantization
        sizes = {"transforms": transforms, "hidden_dim": hidden_dim, "num_layers": num_layers}
        self.flow = build_flow(family, self.num_dims, **sizes)
        # q(u | x): a flow over the noise in R^D conditioned on the (centred) image, squashed into (0, 1)^D
        self.noise = (build_flow(family, self.num_dims, context=self.num_dims, **sizes)
                      if levels is not None and dequantization == "variational" else None)

    def _flat(self, batch: Tensor) -> Tensor:
        if not isinstance(batch, Tensor) or tuple(batch.shape[1:]) != self.shape:
            got = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
            raise IncompatibleComponentsError(f"the flow was built for items of shape {self.shape} and got a batch "
                                              f"{got}; set its shape to the data's (shape: ${{data.shape}})")
        return rearrange(batch, "b ... -> b (...)")

    def density(self) -> Distribution:
        """The flow's distribution over the D flattened dimensions (over the logits of y on discrete data)."""
        return self.flow()

    def _noise(self, k: Tensor) -> tuple[Tensor, Tensor]:
        """Level indices ``(b, D)`` -> dequantisation noise u ``(b, D)`` in [0, 1) and log q(u|k) ``(b,)``."""
        if self.noise is None:
            return torch.rand_like(k), k.new_zeros(k.shape[0])
        q = TransformedDistribution(self.noise(k / (self.levels - 1) - 0.5), [SigmoidTransform()])
        u = q.rsample()
        return u, q.log_prob(u)

    def log_likelihood(self, x: Tensor) -> Tensor:
        """x ``(b, *shape)`` -> ``(b,)`` nats: log p(x), exact, on continuous data; on discrete data, for one draw
        of the dequantisation noise u, log p(y) - D log L - log q(u|x), the exact log-density of the
        dequantised item, whose expectation is a lower bound on log P(x) (see the module docstring)."""
        x = self._flat(x)
        if self.levels is None:
            return self.density().log_prob(x)
        k = torch.round(x * (self.levels - 1))
        u, log_q = self._noise(k)
        return self.cube_log_density((k + u) / self.levels) - self.num_dims * math.log(self.levels) - log_q

    def cube_log_density(self, y: Tensor) -> Tensor:
        """On discrete data: dequantised items y ``(b, D)`` in [0, 1]^D -> log p(y) ``(b,)``, the flow's density
        carried back through the logit (level index k owns the cell [k / L, (k + 1) / L) of each axis)."""
        s, log_det = _logit_with_log_det(y)
        return self.density().log_prob(s) + log_det

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """x ``(b, *shape)`` -> ``{"nll": E_b[-log p(x)]}`` (nats per example)."""
        return {"nll": -self.log_likelihood(batch).mean()}

    @torch.no_grad()
    def metrics(self, batch: Tensor) -> dict[str, Tensor]:
        """Held-out ``nll`` (= ``loss``), nats per example, and ``bits_per_dim``."""
        nll = -self.log_likelihood(batch).mean()
        return {"nll": nll, "loss": nll, "bits_per_dim": bits_per_dim(nll, self.num_dims)}

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """``n`` draws ``(n, *shape)``; on discrete data each pixel is the level whose bin the draw falls in."""
        s = self.density().sample((n,))  # (n, D)
        if self.levels is not None:
            s = _level_index(s, self.levels) / (self.levels - 1)
        return s.reshape(n, *self.shape)

    def extra_repr(self) -> str:
        return (f"shape={self.shape}, family={self.family!r}, levels={self.levels}, "
                f"dequantization={self.dequantization!r}")
