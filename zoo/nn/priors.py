"""A sampling prior fitted after training: what lets a model whose codes follow no fixed prior sample.

A plain autoencoder's codes and a GON's gradient latents have no prior of their own; after training, a
Gaussian (or a mixture of them) is fitted to the training set's codes, and sampling decodes draws from it
(the lecture's answer to "why can't an autoencoder sample").
"""

from __future__ import annotations

import torch
from einops import repeat
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, MixtureSameFamily, MultivariateNormal

from zoo.errors import ZooError

__all__ = ["FittedGaussianPrior"]


class FittedGaussianPrior(nn.Module):
    """A full-covariance Gaussian over ``latent_dim`` codes, or a mixture of ``components`` of them.

    ``fit(codes)`` sets it from codes ``(n, latent_dim)``: one component is their mean and covariance (+ 1e-5 I);
    more are fitted by EM (scikit-learn's ``GaussianMixture``, seeded). Its buffers ``weights`` ``(k,)``,
    ``means`` ``(k, d)``, ``covariances`` ``(k, d, d)`` and ``fitted`` are saved with the model that owns it.
    ``distribution`` raises ``ZooError(unfitted)`` before the first fit: ``unfitted`` tells a person what to do.
    """

    def __init__(self, latent_dim: int, components: int = 1, *, unfitted: str = "the prior has not been fitted"):
        super().__init__()
        if components < 1:
            raise ValueError(f"a fitted prior needs at least one component, got {components}")
        self.unfitted = unfitted
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
            from sklearn.mixture import GaussianMixture

            mixture = GaussianMixture(k, covariance_type="full", reg_covar=1e-5, random_state=0).fit(codes.numpy())
            means, covariances = torch.from_numpy(mixture.means_), torch.from_numpy(mixture.covariances_)
            weights = torch.from_numpy(mixture.weights_)
        for buffer, value in ((self.weights, weights), (self.means, means), (self.covariances, covariances)):
            buffer.copy_(value.reshape(buffer.shape))
        self.fitted.fill_(True)

    @property
    def distribution(self) -> Distribution:
        """The fitted prior, batch ``()``, event ``(latent_dim,)``."""
        if not self.fitted:
            raise ZooError(self.unfitted)
        if len(self.weights) == 1:
            return MultivariateNormal(self.means[0], covariance_matrix=self.covariances[0])
        return MixtureSameFamily(Categorical(probs=self.weights),
                                 MultivariateNormal(self.means, covariance_matrix=self.covariances))

    def extra_repr(self) -> str:
        k, d = self.means.shape
        return f"latent_dim={d}, components={k}, fitted={bool(self.fitted)}"
