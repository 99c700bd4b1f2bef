"""A flow posterior: q(z|x) = the law of f(z0; x), z0 ~ q0(z|x), any encoder's Gaussian q0 carried through a flow.

Inverse autoregressive flow in the sense of Kingma et al. 2016 (arXiv:1606.04934): the flow is conditioned on
x, here through the base posterior's parameters (its mean and log standard deviation), and it runs the fast
direction when sampling, so a code and its log q(z|x) cost one pass each. The KL to any prior then has no
closed form, and the ``kl`` divergence (and ``zoo.metrics.elbo``) fall back to Monte Carlo.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution, Transform, TransformedDistribution, constraints

import zoo
from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import Encoder, PointMass
from zoo.recipes import PositiveInt

from .families import build_flow

__all__ = ["FlowPosterior", "TransformedPosterior"]


class _Remembering(Transform):
    """``transform`` that remembers its last output: the inverse of a code it just made is looked up, not computed.

    (zuko's composed transforms build a fresh inverse on each ``.inv``, so torch's own cache never sees one: this
    wrapper is what keeps log q(z|x) of a code just drawn at one pass of the flow, not ``latent_dim`` of them.)
    """

    bijective = True

    def __init__(self, transform: Transform):
        super().__init__(cache_size=1)
        self.transform = transform

    @property
    def domain(self) -> constraints.Constraint:
        return self.transform.domain

    @property
    def codomain(self) -> constraints.Constraint:
        return self.transform.codomain

    def _call(self, x: Tensor) -> Tensor:
        return self.transform(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return self.transform.inv(y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return self.transform.log_abs_det_jacobian(x, y)


class TransformedPosterior(TransformedDistribution):
    """q(z|x), batch ``(b,)``, event ``(d,)``: a base posterior carried through one (cached) flow transform.

    ``mean`` is the flow's image of the base posterior's mean, the code ``encode`` gives: the expectation of
    f(z0) has no closed form. The transform remembers its last sample, so ``log_prob`` of a code just drawn is
    one pass, not an inversion.
    """

    @property
    def mean(self) -> Tensor:
        return self.transforms[0](self.base_dist.mean)


class FlowPosterior(Encoder):
    """Any encoder's Gaussian q0(z|x) transformed by a flow conditioned on x (an IAF-style posterior).

    In a recipe: ``encoder: {name: flow-posterior, base: {name: mlp}}``. ``base`` (by default the registered
    ``mlp`` encoder) is built with this encoder's ``shape`` and ``latent_dim`` and must be stochastic; ``family``
    is zuko's flow by name (``maf``: the fast direction is the one that samples, as in an IAF), sized by
    ``transforms``, ``hidden_dim`` and ``num_layers``; its context is the base posterior's mean and log standard
    deviation ``(b, 2d)``.
    """

    part_sizes: ClassVar = {"base": {"shape": lambda shape: shape, "latent_dim": lambda latent_dim: latent_dim,
                                     "deterministic": lambda: False}}

    def __init__(self, shape: tuple[PositiveInt, ...], latent_dim: PositiveInt, base: Encoder | None = None, *,
                 family: str = "maf", transforms: PositiveInt = 2, hidden_dim: PositiveInt = 64,
                 num_layers: PositiveInt = 2):
        super().__init__()
        self.shape, self.latent_dim, self.family = tuple(shape), latent_dim, family
        self.base = base if base is not None else zoo.create("encoder", "mlp", shape=self.shape, latent_dim=latent_dim)
        if self.base.latent_dim != latent_dim:
            raise IncompatibleComponentsError(f"flow-posterior has latent_dim={latent_dim} but its base encoder "
                                              f"{type(self.base).__name__} has {self.base.latent_dim}; set both alike")
        self.flow = build_flow(family, latent_dim, context=2 * latent_dim, transforms=transforms,
                               hidden_dim=hidden_dim, num_layers=num_layers)

    def forward(self, x: Tensor) -> Distribution:
        """x ``(b, *shape)`` -> q(z|x), batch ``(b,)``, event ``(latent_dim,)``."""
        q0 = self.base(x)
        if isinstance(q0, PointMass):
            raise IncompatibleComponentsError(
                f"flow-posterior transforms its base encoder's posterior, but {type(self.base).__name__} returned a "
                "point mass, which has no density to transform: set the base's deterministic=false")
        context = torch.cat([q0.mean, q0.stddev.log()], dim=-1)  # (b, 2d)
        return TransformedPosterior(q0, [_Remembering(self.flow.transform(context))])

    def extra_repr(self) -> str:
        return f"shape={self.shape}, latent_dim={self.latent_dim}, family={self.family!r}"
