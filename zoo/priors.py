"""Priors p(z) over the codes of a latent-variable model: the ``prior`` kind's components in the core.

- ``standard-normal``: N(0, I), the VAE's classic prior (Kingma & Welling 2014, arXiv:1312.6114).
- ``gaussian-mixture``: a learned mixture of diagonal Gaussians Σ_k π_k N(μ_k, diag σ_k²), whose means,
  log-scales and mixture logits are parameters trained with the model through its prior term (a mixture
  prior as in Dilokthanakul et al. 2016, arXiv:1611.02648; a learned prior in the sense of Tomczak &
  Welling 2018, arXiv:1705.07120). torch knows no closed-form KL to a mixture, so the ``kl`` divergence
  estimates it by Monte Carlo.
- ``fitted-gaussian``: fitted, not learned: after training, a full-covariance Gaussian (or a mixture of
  them, by EM) is fitted to the training codes — the ex-post density estimate that lets a plain
  autoencoder or a GON sample (Ghosh et al. 2020, arXiv:1903.12436; the reference implicit GON samples from
  its latents' mean and covariance). It is ``Fittable``: a model fits it in ``fit_prior``.

Each is a ``zoo.interfaces.Prior``: calling it gives p(z), batch ``()``, event ``(latent_dim,)``. A model
takes one as ``prior: Prior`` and samples, scores (the prior term, the IWAE bound) through it.
"""

from __future__ import annotations

import torch
from einops import repeat
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, MultivariateNormal, Normal

from zoo.errors import IncompatibleComponentsError, ZooError
from zoo.hookspecs import hookimpl
from zoo.interfaces import Fittable, Prior
from zoo.arguments import PositiveFloat, PositiveInt

__all__ = ["FittedGaussian", "GaussianMixture", "StandardNormal", "check_prior"]

UNFITTED = ("the fitted-gaussian prior has not been fitted yet: it is fitted to the codes of the training data after "
            "training (zoo train does this at its end; by hand: model.fit_prior(codes) with codes = model.encode(x) "
            "of the training set)")


class StandardNormal(Prior):
    """The standard normal N(0, I) over the codes: the classic VAE prior."""

    def __init__(self, latent_dim: PositiveInt):
        super().__init__()
        self.latent_dim = latent_dim
        # constants, not state: they follow the model's device and dtype but are not saved with it
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(latent_dim), persistent=False)

    def forward(self) -> Distribution:
        """N(0, I), batch ``()``, event ``(latent_dim,)``."""
        return Independent(Normal(self.loc, self.scale), 1)

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"


class GaussianMixture(Prior):
    """A learned mixture of diagonal Gaussians, trained with the model through its prior term.

    ``components`` Gaussians over ``latent_dim`` codes. The means start at N(0, spread² I) draws, every
    scale at 1 and the weights equal; means, log-scales and mixture logits are parameters, trained with the
    model through its prior term (the KL to a mixture is estimated by Monte Carlo).
    """

    def __init__(self, latent_dim: PositiveInt, components: PositiveInt = 10, *, spread: PositiveFloat = 1.0):
        super().__init__()
        self.latent_dim = latent_dim
        self.means = nn.Parameter(spread * torch.randn(components, latent_dim))
        self.log_scales = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def forward(self) -> Distribution:
        """Σ_k softmax(logits)_k N(means_k, diag exp(log_scales_k)²), batch ``()``, event ``(latent_dim,)``."""
        return MixtureSameFamily(Categorical(logits=self.logits),
                                 Independent(Normal(self.means, self.log_scales.exp()), 1))

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, components={len(self.logits)}"


class FittedGaussian(Prior, Fittable):
    """A Gaussian (or a mixture of them) fitted to the training codes after training, so a model can sample.

    Over ``latent_dim`` codes: a full-covariance Gaussian, or a mixture of ``components`` of them.

    ``fit(codes)`` sets it from codes ``(n, latent_dim)``: one component is their mean and covariance
    (+ 1e-5 I); more are fitted by EM (scikit-learn's ``GaussianMixture``, seeded). Its buffers ``weights``
    ``(k,)``, ``means`` ``(k, d)``, ``covariances`` ``(k, d, d)`` and ``fitted`` are saved with the model that
    owns it; calling it before the first fit raises a ZooError that says what to do.
    """

    def __init__(self, latent_dim: PositiveInt, components: PositiveInt = 1):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("weights", torch.full((components,), 1.0 / components))
        self.register_buffer("means", torch.zeros(components, latent_dim))
        self.register_buffer("covariances", repeat(torch.eye(latent_dim), "d e -> k d e", k=components).clone())
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, codes: Tensor) -> None:
        """Fit to codes ``(n, latent_dim)``, n >= max(2, components)."""
        k, d = self.means.shape
        if codes.dim() != 2 or codes.shape[1] != d or codes.shape[0] < max(2, k):
            raise ValueError(f"fitting the prior needs codes (n, {d}) with n >= {max(2, k)} (at least 2, and one "
                             f"per component), got {tuple(codes.shape)}")
        codes = codes.detach().double().cpu()
        if k == 1:
            means, covariances = codes.mean(0), torch.cov(codes.T) + 1e-5 * torch.eye(d, dtype=codes.dtype)
            weights = torch.ones(1)
        else:
            from sklearn.mixture import GaussianMixture as EM

            mixture = EM(k, covariance_type="full", reg_covar=1e-5, random_state=0).fit(codes.numpy())
            means, covariances = torch.from_numpy(mixture.means_), torch.from_numpy(mixture.covariances_)
            weights = torch.from_numpy(mixture.weights_)
        for buffer, value in ((self.weights, weights), (self.means, means), (self.covariances, covariances)):
            buffer.copy_(value.reshape(buffer.shape))
        self.fitted.fill_(True)

    def forward(self) -> Distribution:
        """The fitted Gaussian (mixture), batch ``()``, event ``(latent_dim,)``; a ZooError before ``fit``."""
        if not self.fitted:
            raise ZooError(UNFITTED)
        if len(self.weights) == 1:
            return MultivariateNormal(self.means[0], covariance_matrix=self.covariances[0])
        return MixtureSameFamily(Categorical(probs=self.weights),
                                 MultivariateNormal(self.means, covariance_matrix=self.covariances))

    def extra_repr(self) -> str:
        k, d = self.means.shape
        return f"latent_dim={d}, components={k}, fitted={bool(self.fitted)}"


@hookimpl
def register_components(register):
    register("prior", "standard-normal", StandardNormal, paper="Kingma & Welling 2014 (arXiv:1312.6114)")
    register("prior", "gaussian-mixture", GaussianMixture,
             paper="Dilokthanakul et al. 2016, Gaussian mixture VAEs (arXiv:1611.02648)")
    register("prior", "fitted-gaussian", FittedGaussian,
             paper="Ghosh et al. 2020, From Variational to Deterministic Autoencoders (arXiv:1903.12436)")


def check_prior(prior: Prior, latent_dim: int, *, model: str, codes: str, trains_prior: bool) -> None:
    """Raise ``IncompatibleComponentsError`` when ``prior`` can't serve ``model``'s codes.

    ``codes`` says where the codes come from, for the message (``"encoder MLPEncoder's codes"``). The prior
    must be over ``latent_dim`` dimensions. A model whose prior term compares q(z|x) with the prior while it
    trains (``trains_prior``: a VAE) can't use a prior that is fitted only after training; a model without a
    prior term (an autoencoder, a GON) can't use one with parameters, which nothing would train.
    """
    name = type(prior).__name__
    if prior.latent_dim != latent_dim:
        raise IncompatibleComponentsError(
            f"prior {name} has latent_dim={prior.latent_dim} but {codes} have {latent_dim} dimensions; set the "
            f"prior's latent_dim to {latent_dim}"
        )
    if trains_prior and isinstance(prior, Fittable):
        raise IncompatibleComponentsError(
            f"prior {name} is fitted to the codes after training, but the {model}'s prior term compares q(z|x) "
            "with its prior from the first step on: use a prior it can train with (standard-normal, gaussian-mixture)"
        )
    learned = [n for n, p in prior.named_parameters() if p.requires_grad]
    if not trains_prior and learned:
        raise IncompatibleComponentsError(
            f"prior {name} has parameters ({', '.join(learned)}) that only a prior term would train, and the "
            f"{model} has none: use fitted-gaussian (fitted to the codes after training) or standard-normal"
        )
