"""The autoencoder (``ae``) and the variational autoencoder (``vae``), built from any encoder and decoder.

- ``VAE``: q(z|x) from the encoder, p(x|z) from the decoder, any registered prior p(z) (N(0, I) by
  default; a learned Gaussian mixture, ...); the loss is the reconstruction NLL -log p(x|z) at a
  reparameterised z ~ q(z|x) plus β · D(q ‖ p) for *any* registered divergence. A per-example one
  (``kl``) gives the classic negative ELBO (Kingma & Welling 2014); a batch-level one
  (``sliced-wasserstein``, ``mmd``) compares the codes of the batch with prior samples, a Wasserstein
  autoencoder (Tolstikhin et al. 2018; Kolouri et al. 2019). β (Higgins et al. 2017) can
  be warmed up linearly from 0 (Bowman et al. 2016). ``objective: iwae`` trains on the importance-weighted
  bound of K samples instead (Burda et al. 2016), ``renyi`` on the variational Rényi bound of order α
  (Li & Turner 2016). Evaluation reports the ELBO, its terms, the bound trained on and the IWAE bound as
  the test log-likelihood.
- ``AE``: a deterministic code z = mean of q(z|x), trained on the reconstruction NLL (or MSE). Its codes
  follow no prior, so N(0, I) samples decode to garbage; its prior (``fitted-gaussian`` by default) is
  fitted to the training codes after training, a Gaussian or a small Gaussian mixture, the ex-post
  density estimate of Ghosh et al. 2020.

Both check their parts when built — latent sizes, the data shape the decoder produces against what the
encoder takes, a deterministic encoder with a per-example divergence — by one probe pass on a tiny batch,
and raise ``IncompatibleComponentsError`` naming both sides.

Papers: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114; Rezende et al. 2014,
arXiv:1401.4082; Burda et al. 2016, "Importance Weighted Autoencoders", arXiv:1509.00519; Higgins et al.
2017, β-VAE (ICLR); Bowman et al. 2016, arXiv:1511.06349; Tolstikhin et al. 2018, arXiv:1711.01558;
Kolouri et al. 2019, arXiv:1804.01947; Ghosh et al. 2020, "From Variational to Deterministic
Autoencoders", arXiv:1903.12436; Li & Turner 2016, "Rényi Divergence Variational Inference",
arXiv:1602.02311.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution

import zoo
from zoo.decoders import check_batch, decoded_shape
from zoo.errors import IncompatibleComponentsError, ZooError
from zoo.interfaces import (
    BeforeUpdate,
    Decoder,
    Divergence,
    Encoder,
    Fittable,
    LatentModel,
    LikelihoodEstimator,
    Model,
    PointMass,
    PosthocPrior,
    Prior,
    Reconstructor,
    Sampler,
)
from zoo.metrics import (
    Objective,
    bits_per_dim,
    check_bound,
    elbo,
    iwae_bound,
    log_importance_weights,
    psnr,
    renyi_bound,
)
from zoo.priors import FittedGaussian, StandardNormal, check_prior
from zoo.recipes import NonNegativeFloat, NonNegativeInt, PositiveInt, renamed_arguments

__all__ = ["AE", "VAE", "probe_components"]


def _name(module: torch.nn.Module) -> str:
    return type(module).__name__


def probe_components(encoder: Encoder, decoder: Decoder) -> tuple[Distribution, tuple[int, ...]]:
    """Check that ``decoder`` and ``encoder`` fit, with one pass on a batch of 2 in eval mode, no grad.

    Decodes zero latents, reads the data shape p(x|z) is over, encodes zero data of that shape and checks
    q(z|x)'s shapes. Returns (that q(z|x), the data shape). Raises ``IncompatibleComponentsError``.
    """
    if encoder.latent_dim != decoder.latent_dim:
        raise IncompatibleComponentsError(
            f"encoder {_name(encoder)} has latent_dim={encoder.latent_dim} but decoder {_name(decoder)} has "
            f"latent_dim={decoder.latent_dim}; set both to the same size"
        )
    d, shape = encoder.latent_dim, decoded_shape(decoder)
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            try:
                q = encoder(torch.zeros(2, *shape))
            except Exception as error:
                raise IncompatibleComponentsError(
                    f"encoder {_name(encoder)} cannot take data of shape {shape}, the shape decoder "
                    f"{_name(decoder)} produces: {error}"
                ) from error
            if tuple(q.batch_shape) != (2,) or tuple(q.event_shape) != (d,):
                raise IncompatibleComponentsError(
                    f"encoder {_name(encoder)} returned q(z|x) with batch shape {tuple(q.batch_shape)} and "
                    f"event shape {tuple(q.event_shape)} for 2 examples; expected batch (2,) and event ({d},)"
                )
    finally:
        encoder.train(was_training)
    return q, shape


class VAE(Model, Sampler, Reconstructor, LatentModel, LikelihoodEstimator, BeforeUpdate):
    """A VAE: reconstruction NLL + β · D(q(z|x) ‖ p(z)), for any encoder, decoder, divergence and prior.

    ``prior`` is p(z): N(0, I) (``standard-normal``) by default, or any prior the VAE can train with (a
    learned ``gaussian-mixture``: the ``kl`` divergence estimates the KL to it by Monte Carlo). Sampling,
    the prior term and the IWAE bound all use it. ``beta`` weights the prior term; with
    ``kl_warmup_steps > 0`` the weight grows linearly from 0 to ``beta`` over that many optimizer updates
    (the loop's ``before_update``; kept in the ``updates`` buffer, so a loaded model evaluates with the weight it
    was trained with). ``warmup_steps`` is the deprecated name of ``kl_warmup_steps``.
    ``dynamic_binarize`` draws binary data x ~ Bernoulli(x) from every batch of grey values, afresh each time
    (dynamic binarisation, the MNIST protocol of Burda et al. 2016). Loss terms: ``reconstruction``
    (nats per example) and ``prior`` (the weighted divergence). Without a ``divergence`` the prior term is
    the KL divergence (the registered ``kl``).

    ``objective`` is what it maximises: the ``elbo`` (the terms above), or a tighter bound on log p(x)
    from ``num_samples`` = K draws of q(z|x) per example, whose importance weights p(x|z) p(z) / q(z|x) hold
    the prior itself: ``iwae`` (Burda et al. 2016) or ``renyi``, the variational Rényi bound of order
    ``alpha`` (Li & Turner 2016; α = 0 is ``iwae``, α -> 1 the ELBO). Then the loss term is
    ``negative_iwae_bound`` / ``negative_renyi_bound`` and the metrics add the bound (``iwae_bound``,
    ``renyi_bound``) next to the ELBO; the divergence is used where the ELBO is, in the metrics.
    """

    data_kinds = ("images",)

    @renamed_arguments(binarize="dynamic_binarize", warmup_steps="kl_warmup_steps")
    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        divergence: Divergence | None = None,
        *,
        prior: Prior | None = None,
        beta: NonNegativeFloat = 1.0,
        kl_warmup_steps: NonNegativeInt = 0,
        dynamic_binarize: bool = False,
        objective: Objective = "elbo",
        num_samples: PositiveInt = 1,
        alpha: NonNegativeFloat = 0.5,
    ):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.divergence = divergence if divergence is not None else zoo.create("divergence", "kl")
        self.beta, self.kl_warmup_steps, self.binarize = beta, kl_warmup_steps, dynamic_binarize
        bound_alpha = check_bound(objective, num_samples=num_samples, beta=beta, prior_weight_warmup=kl_warmup_steps,
                                  batch_level=self.divergence.batch_level, model="vae")
        self.objective, self.num_samples = objective, num_samples
        self.alpha = alpha if bound_alpha is None else bound_alpha
        d = encoder.latent_dim
        self.prior = prior if prior is not None else StandardNormal(d)
        check_prior(self.prior, d, model="vae", codes=f"encoder {_name(encoder)}'s codes", trains_prior=True)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        q, self.shape = probe_components(encoder, decoder)
        self.num_dims = math.prod(self.shape)
        self._probe_divergence(q)

    def _probe_divergence(self, q: Distribution) -> None:
        name = _name(self.divergence)
        if isinstance(q, PointMass) and not self.divergence.batch_level:
            raise IncompatibleComponentsError(
                f"divergence {name} compares q(z|x) with the prior per example, but encoder "
                f"{_name(self.encoder)} is deterministic (a point mass has no density); set the encoder's "
                f"deterministic=false, or use a batch-level divergence (sliced-wasserstein, mmd)"
            )
        self.divergence.check_prior_term(q, self.prior(), codes=f"{self.encoder.latent_dim}-dimensional codes from "
                                                            f"encoder {_name(self.encoder)}")

    def _data(self, batch: Tensor) -> Tensor:
        x = check_batch(batch, self.shape, model="vae", components="encoder and decoder")
        return torch.bernoulli(x) if self.binarize else x

    def before_update(self, updates_applied: int) -> None:
        """The loop's count of optimizer updates so far: it sets the prior term's weight."""
        self.updates.fill_(updates_applied)

    def prior_weight(self) -> Tensor | float:
        """β, ramped linearly from 0 over the first ``kl_warmup_steps`` updates (a tensor: no device sync)."""
        if self.kl_warmup_steps == 0:
            return self.beta
        return self.beta * torch.clamp(self.updates / self.kl_warmup_steps, max=1.0)

    def bound(self, x: Tensor, q: Distribution) -> Tensor:
        """The objective's bound on log p(x) per example ``(b,)``: the Rényi bound of order ``alpha`` from
        ``num_samples`` draws of q(z|x), with the prior ``self.prior()`` in every importance weight."""
        log_weights = log_importance_weights(x, q, self.decoder, self.prior(), num_samples=self.num_samples)
        return renyi_bound(log_weights, self.alpha)

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """x ``(b, *shape)`` -> ``{"reconstruction": E_b[-log p(x|z)], "prior": β · D}`` (scalars); for a bound
        objective ``{"negative_<objective>_bound": E_b[-bound]}``."""
        x = self._data(batch)
        q = self.encoder(x)
        if self.objective != "elbo":
            return {f"negative_{self.objective}_bound": -self.bound(x, q).mean()}
        z = q.rsample()  # (b, d), reparameterised: gradients reach the encoder
        reconstruction = -self.decoder(z).log_prob(x)  # (b,)
        prior = self.prior_weight() * self.divergence.prior_term(q, z, self.prior())
        return {"reconstruction": reconstruction.mean(), "prior": prior}

    @torch.no_grad()
    def metrics(self, batch: Tensor) -> dict[str, Tensor]:
        """Held-out numbers: loss, reconstruction, prior; with a stochastic encoder also ELBO, KL, bits/dim.

        ``loss = reconstruction + prior`` and ``elbo = -(reconstruction + kl)`` hold exactly (one
        reparameterised sample per example); ``bits_per_dim`` is -ELBO in bits per dimension, an upper
        bound on the model's (use ``evaluate`` for the tighter IWAE estimate). With a bound objective the
        loss is minus that bound, reported too (``iwae_bound``, ``renyi_bound``).
        """
        x = self._data(batch)
        q, p = self.encoder(x), self.prior()
        extra = {}
        if isinstance(q, PointMass):
            reconstruction = -self.decoder(q.mean).log_prob(x)
        else:
            terms = elbo(x, q, self.decoder, p)
            reconstruction, mean_elbo = terms["reconstruction"], terms["elbo"].mean()
            extra = {
                "elbo": mean_elbo,
                "kl": terms["kl"].mean(),
                "bits_per_dim": bits_per_dim(-mean_elbo, self.num_dims),
            }
        prior = self.prior_weight() * self.divergence.prior_term(q, q.rsample(), p)
        if self.objective != "elbo":
            bound = self.bound(x, q).mean()
            extra |= {"loss": -bound, f"{self.objective}_bound": bound}
        return {
            "loss": reconstruction.mean() + prior,
            "reconstruction": reconstruction.mean(),
            "prior": prior,
            **extra,
        }

    @torch.no_grad()
    def log_likelihood(self, batch: Tensor, *, num_samples: int = 1000, chunk_size: int = 100) -> Tensor:
        """The IWAE estimate of log p(x) per example ``(b,)``, nats, from ``num_samples`` draws of q(z|x)."""
        x = self._data(batch)
        q = self.encoder(x)
        if isinstance(q, PointMass):
            raise ZooError(
                f"encoder {_name(self.encoder)} is deterministic, so the model has no log-likelihood to "
                f"estimate; train with deterministic=false for an IWAE estimate"
            )
        return iwae_bound(x, q, self.decoder, self.prior(), num_samples=num_samples, chunk_size=chunk_size)

    @torch.no_grad()
    def sample(self, n: int, *, spatial: tuple[int, ...] | None = None) -> Tensor:
        """``n`` draws z ~ p(z), decoded to the mean of p(x|z): ``(n, *shape)``."""
        return self.decode(self.prior().sample((n,)), spatial=spatial)

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """x ``(b, *shape)`` -> the posterior mean ``(b, latent_dim)``."""
        return self.encoder(check_batch(x, self.shape, model="vae", components="encoder and decoder")).mean

    @torch.no_grad()
    def reconstruct(self, x: Tensor, *, spatial: tuple[int, ...] | None = None) -> Tensor:
        """x ``(b, *shape)`` -> the mean of p(x | z = mean of q(z|x)), ``(b, *shape)``."""
        return self.decode(self.encode(x), spatial=spatial)



class AE(Model, Sampler, Reconstructor, LatentModel, PosthocPrior):
    """A plain autoencoder: deterministic code, reconstruction loss, a prior fitted after training to sample.

    z = mean of q(z|x); loss = -log p(x|z) (``"nll"``) or the MSE of its mean (``"mse"``).

    Sampling needs a prior over codes: ``prior`` is ``fitted-gaussian`` by default, which ``fit_prior(codes)``
    fits after training (a full-covariance Gaussian, or a Gaussian mixture of its ``components``);
    ``standard-normal`` shows why it is needed. ``prior_components`` is the deprecated shorthand for
    ``prior: {name: fitted-gaussian, components: N}``.

    Its code is a point, so it asks its encoder for one (``part_sizes``: ``deterministic=true`` unless the
    recipe says otherwise) and refuses a stochastic encoder, whose scale would never be trained.
    """

    data_kinds = ("images",)
    own_parts = ("prior",)  # fitted to its codes after training: it carries only to a model that does so too
    part_sizes: ClassVar = {"encoder": {"deterministic": lambda: True}}

    reconstructions = ("nll", "mse")

    def __init__(
        self, encoder: Encoder, decoder: Decoder, *, prior: Prior | None = None, reconstruction: str = "nll",
        prior_components: PositiveInt | None = None,
    ):
        super().__init__()
        if reconstruction not in self.reconstructions:
            raise ValueError(
                f"reconstruction must be one of {', '.join(self.reconstructions)}, got {reconstruction!r}"
            )
        self.encoder, self.decoder = encoder, decoder
        self.reconstruction = reconstruction
        q, self.shape = probe_components(encoder, decoder)
        if not isinstance(q, PointMass):
            raise IncompatibleComponentsError(
                f"the autoencoder's code is the mean of q(z|x), so the scale of encoder {_name(encoder)}'s stochastic "
                f"posterior would never be trained: set the encoder's deterministic=true (or use model=vae)"
            )
        d = encoder.latent_dim
        if prior_components is not None:
            warnings.warn("the ae's prior_components is deprecated since genzoo 0.2.0 and goes in 0.3: write prior: "
                          f"{{name: fitted-gaussian, components: {prior_components}}}", DeprecationWarning,
                          stacklevel=2)
            if prior is not None:
                raise ValueError("give prior only: prior_components is its deprecated shorthand")
            prior = FittedGaussian(d, prior_components)
        # a fitted prior keeps what it fitted in buffers, so it is saved and restored with the weights
        self.prior = prior if prior is not None else FittedGaussian(d)
        check_prior(self.prior, d, model="autoencoder", codes=f"encoder {_name(encoder)}'s codes",
                    trains_prior=False)

    def encode(self, x: Tensor) -> Tensor:
        """x ``(b, *shape)`` -> codes ``(b, latent_dim)`` (the mean of q(z|x))."""
        return self.encoder(check_batch(x, self.shape, model="ae", components="encoder and decoder")).mean

    def _reconstruction(self, x: Tensor) -> tuple[Tensor, Distribution]:
        px = self.decoder(self.encode(x))
        if self.reconstruction == "mse":
            return ((px.mean - x) ** 2).mean(), px
        return -px.log_prob(x).mean(), px

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """x ``(b, *shape)`` -> ``{"reconstruction": mean NLL (nats per example) or MSE (per element)}``."""
        return {"reconstruction": self._reconstruction(batch)[0]}

    @torch.no_grad()
    def metrics(self, batch: Tensor) -> dict[str, Tensor]:
        """Held-out ``loss``, ``reconstruction``, and the MSE and PSNR (dB) of the mean reconstruction."""
        reconstruction, px = self._reconstruction(batch)
        return {
            "loss": reconstruction,
            "reconstruction": reconstruction,
            "mse": ((px.mean - batch) ** 2).mean(),
            "psnr": psnr(px.mean, batch),
        }

    @torch.no_grad()
    def fit_prior(self, codes: Tensor) -> None:
        """Fit the sampling prior to training codes ``(n, latent_dim)`` (from ``encode``), when it is one that is
        fitted (``fitted-gaussian``); N(0, I) stays as it is. Call it after training, on the training set's codes."""
        if isinstance(self.prior, Fittable):
            self.prior.fit(codes)

    @torch.no_grad()
    def sample(self, n: int, *, standard_normal: bool = False, spatial: tuple[int, ...] | None = None) -> Tensor:
        """Decode ``n`` codes from the prior: ``(n, *shape)``.

        ``standard_normal=True`` draws them from N(0, I) instead, which an autoencoder was never trained
        to decode (the lecture's point: compare the two side by side).
        """
        if standard_normal:
            like = next(self.decoder.parameters())
            z = torch.randn(n, self.prior.latent_dim, device=like.device, dtype=like.dtype)
        else:
            z = self.prior().sample((n,))
        return self.decode(z, spatial=spatial)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, *, spatial: tuple[int, ...] | None = None) -> Tensor:
        """x ``(b, *shape)`` -> the mean of p(x | encode(x)), ``(b, *shape)``."""
        return self.decode(self.encode(x), spatial=spatial)
