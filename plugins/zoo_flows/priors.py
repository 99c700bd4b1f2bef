"""Flows as priors p(z) over a latent-variable model's codes: learned with the model, or fitted after training.

- ``flow``: a flow prior trained jointly with its model through the model's prior term (the KL to it has no
  closed form; the ``kl`` divergence estimates it by Monte Carlo), for ``vae`` and ``variational-gon``: a
  learned prior in the sense of Tomczak & Welling 2018 (arXiv:1705.07120), a flow prior as in Chen et al.
  2017, Variational Lossy Autoencoder (arXiv:1611.02731).
- ``fitted-flow``: fitted, not learned: after training, a flow is fitted by maximum likelihood to the training
  codes of an ``ae`` or a ``gon`` (the ex-post density estimate of Ghosh et al. 2020, arXiv:1903.12436, with a
  flow where ``fitted-gaussian`` has a Gaussian mixture), so they sample better without retraining.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.distributions import AffineTransform, Distribution, TransformedDistribution

from zoo.errors import ZooError
from zoo.interfaces import Fittable, Prior
from zoo.recipes import PositiveFloat, PositiveInt

from .families import build_flow

__all__ = ["FittedFlow", "FlowPrior"]


class FlowPrior(Prior):
    """A learned flow p(z) over ``latent_dim`` codes, trained with the model through its prior term.

    ``family`` is zuko's flow by name (``maf`` by default: its density, what the prior term needs, is one pass),
    sized by ``transforms``, ``hidden_dim`` and ``num_layers``.
    """

    def __init__(self, latent_dim: PositiveInt, *, family: str = "maf", transforms: PositiveInt = 3,
                 hidden_dim: PositiveInt = 64, num_layers: PositiveInt = 2):
        super().__init__()
        self.latent_dim, self.family = latent_dim, family
        self.flow = build_flow(family, latent_dim, transforms=transforms, hidden_dim=hidden_dim, num_layers=num_layers)

    def forward(self) -> Distribution:
        """The flow's p(z), batch ``()``, event ``(latent_dim,)``."""
        return self.flow()

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, family={self.family!r}"


class FittedFlow(Prior, Fittable):
    """A flow fitted by maximum likelihood to the training codes after training, so an AE or a GON can sample.

    ``fit(codes)`` standardises the codes ``(n, latent_dim)`` (their mean and standard deviation, kept in
    buffers) and trains a ``family`` flow on them for ``steps`` Adam steps of ``batch_size`` codes at ``lr``,
    drawn by a generator seeded with 0 (the same codes give the same prior). A tenth of the codes (from 20 on)
    is held out, and the weights it scores best, checked every 25 steps, are the ones kept: a flow learns a few
    thousand codes by heart long before it stops improving on them. Its weights are frozen outside the fit:
    nothing else trains it. Calling it before the first fit raises a ZooError that says what to do. The
    defaults (2 transforms of 32 units, 100 steps) are a quick fit; ``ae-flowprior-digits`` fits 3 of 64 for up to
    2000 steps.
    """

    def __init__(self, latent_dim: PositiveInt, *, family: str = "maf", transforms: PositiveInt = 2,
                 hidden_dim: PositiveInt = 32, num_layers: PositiveInt = 2, steps: PositiveInt = 100,
                 batch_size: PositiveInt = 256, lr: PositiveFloat = 3e-3):
        super().__init__()
        self.latent_dim, self.family = latent_dim, family
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.flow = build_flow(family, latent_dim, transforms=transforms, hidden_dim=hidden_dim,
                               num_layers=num_layers).requires_grad_(False)
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))
        self.register_buffer("fitted", torch.tensor(False))

    def _distribution(self) -> Distribution:
        return TransformedDistribution(self.flow(), [AffineTransform(self.loc, self.scale, event_dim=1)])

    def fit(self, codes: Tensor) -> None:
        """Fit to codes ``(n, latent_dim)``, n >= 2 (a model calls it under ``torch.no_grad``: the fit enables
        gradients for itself)."""
        d = self.latent_dim
        if codes.dim() != 2 or codes.shape[1] != d or codes.shape[0] < 2:
            raise ValueError(f"fitting the flow prior needs codes (n, {d}) with n >= 2, got {tuple(codes.shape)}")
        codes = codes.detach().to(self.loc)
        self.loc.copy_(codes.mean(0))
        self.scale.copy_(codes.std(0).clamp_min(1e-6))
        generator = torch.Generator().manual_seed(0)
        order = torch.randperm(len(codes), generator=generator).to(codes.device)
        held = len(codes) // 10 if len(codes) >= 20 else 0
        train, held_out = codes[order[held:]], codes[order[:held]]
        parameters = list(self.flow.parameters())
        optimizer = torch.optim.Adam(parameters, lr=self.lr)
        best, kept = float("inf"), copy.deepcopy(self.flow.state_dict())
        with torch.enable_grad():
            self.flow.requires_grad_(True)
            try:
                for step in range(1, self.steps + 1):
                    batch = train[torch.randint(len(train), (min(self.batch_size, len(train)),), generator=generator)]
                    loss = -self._distribution().log_prob(batch).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(parameters, 10.0)
                    optimizer.step()
                    if held and (step % 25 == 0 or step == self.steps):
                        with torch.no_grad():
                            score = float(-self._distribution().log_prob(held_out).mean())
                        if score < best:
                            best, kept = score, copy.deepcopy(self.flow.state_dict())
            finally:
                self.flow.requires_grad_(False)
        if held:
            self.flow.load_state_dict(kept)
        self.fitted.fill_(True)

    def forward(self) -> Distribution:
        """The fitted flow over the codes, batch ``()``, event ``(latent_dim,)``; a ZooError before ``fit``."""
        if not self.fitted:
            raise ZooError("the fitted-flow prior has not been fitted yet: it is fitted to the codes of the training "
                           "data after training (zoo train does this at its end; by hand: model.fit_prior(codes) with "
                           "codes = model.encode(x) of the training set)")
        return self._distribution()

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, family={self.family!r}, fitted={bool(self.fitted)}"
