"""Gradient Origin Networks: ``gon`` and ``variational-gon``, with any registered decoder as F.

A GON has no encoder. The latent of x is a gradient step from the origin on the decoder's own loss,

    z = z0 - η ∇_{z0} Σ_b -log p(x_b | F(z0_b)),      z0 = 0 (or learned), η = 1 (or learned)

and F is trained on -log p(x | F(z)) *through* that step: the gradient is taken with
``create_graph=True``, so the outer loss differentiates it again (second-order gradients reach F).
``inner_steps > 1`` repeats the step from the last z. The inner loss is the decoder likelihood's NLL, so
the reference code's summed squared error is the Gaussian of fixed scale, and Bernoulli, discretised
logistic, ... work the same way.

Three things users trip on, handled here:

- the inner loss is *summed* over the batch, not averaged: example b's latent is then the gradient of
  its own NLL, whatever the batch size (a mean would scale every latent by 1/batch size);
- autograd is needed to encode, at evaluation too: ``encode`` turns it on itself, so it works under a
  caller's ``torch.no_grad()`` (it then returns a plain tensor; with autograd on, a differentiable one);
- a decoder norm with running statistics (BatchNorm's default) is refused: the latent is computed with
  the batch's statistics in training and would be computed with the running ones in eval mode, which is
  another latent (the reference configuration's test MSE is 30x worse in eval mode, benchmarks/RESULTS.md).

The models:

- ``GON``: loss ``reconstruction`` (mean NLL per example). Samples through its prior, by default a
  Gaussian fitted to the training latents after training (``fitted-gaussian``, a ``PosthocPrior``, as the
  reference implicit GON samples from the latents' mean and covariance). With a resizable decoder
  (``field``: the implicit GON, a SIREN inside a GON) it reconstructs and samples at any resolution from
  the same latents.
- ``VariationalGON``: the gradient latent g is mapped to q(z|x) = N(μ(g), σ(g)²) by a linear head (the
  reference's fc21/fc22); the loss is the negative ELBO, the reconstruction NLL at a reparameterised
  z ~ q plus β · D(q ‖ p(z)) for any registered divergence and prior (as the ``vae``'s prior term). Its
  inner step is the reconstruction NLL at the posterior mean (not a sample, so that encoding is
  deterministic; nor the prior term, which at the origin is the same for every example and, for a
  batch-level divergence, would tie examples together). ``objective: iwae | renyi`` trains on a bound
  tighter than the ELBO from K posterior samples instead, as the ``vae`` does (Burda et al. 2016; Li &
  Turner 2016). Samples from its prior (N(0, I) by default); IWAE test NLL.

The step size η to start from depends on how fast the decoder's output moves with z and on the
likelihood's scale and number of pixels (the gradient is a sum over them): 1 suits the ``dcgan``
decoder; a SIREN's output is a sine of z, so ``gon-siren-digits`` starts at 3e-4. ``learn_step_size``
lets training adjust it.

Paper: Bond-Taylor & Willcocks, "Gradient Origin Networks", ICLR 2021, arXiv:2007.02798.
Reference code: https://github.com/cwkx/GON (GON.py, Variational-GON.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal
from torch.nn.modules.batchnorm import _NormBase

import zoo
from zoo.decoders import check_batch, decoded_shape
from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import (
    Decoder,
    Divergence,
    Fittable,
    LatentModel,
    LikelihoodEstimator,
    Model,
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
from zoo.nn import gaussian_posterior
from zoo.priors import FittedGaussian, StandardNormal, check_prior
from zoo.recipes import NonNegativeFloat, PositiveFloat, PositiveInt

__all__ = ["GON", "GradientOrigin", "VariationalGON", "refuse_running_statistics"]


class GradientOrigin(nn.Module):
    """Latents as gradient steps from an origin: ``z_{k+1} = z_k - η ∇_{z_k} Σ_b nll(z_k)_b``, ``z_0 = origin``.

    ``origin`` is zero, or a learned ``(dim,)`` vector with ``learn_origin``; the step size η starts at
    ``step_size`` and is learned (as log η) with ``learn_step_size``.
    """

    def __init__(
        self, dim: int, *, steps: int = 1, step_size: float = 1.0, learn_step_size: bool = False,
        learn_origin: bool = False,
    ):
        super().__init__()
        if steps < 1 or not step_size > 0:
            raise ValueError(f"inner_steps must be >= 1 and step_size > 0, got {steps} and {step_size}")
        self.steps = steps
        log_step_size = torch.tensor(math.log(step_size))
        if learn_step_size:
            self.log_step_size = nn.Parameter(log_step_size)
        else:
            self.register_buffer("log_step_size", log_step_size)
        if learn_origin:
            self.origin = nn.Parameter(torch.zeros(dim))
        else:
            self.register_buffer("origin", torch.zeros(dim))

    def forward(self, nll: Callable[[Tensor], Tensor], batch_size: int) -> Tensor:
        """``nll(z (b, d)) -> (b,)`` -> latents ``(b, d)``.

        With autograd on at the call the steps are differentiable (``create_graph``: the outer loss trains
        what ``nll`` depends on through them); under ``torch.no_grad()`` they still run, and the result is
        detached.
        """
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            z = self.origin.expand(batch_size, -1)
            if not z.requires_grad:  # a fixed origin (or a learned one under no_grad): a fresh leaf
                z = z.clone().requires_grad_()
            step_size = self.log_step_size.exp()
            for _ in range(self.steps):
                # summed, not averaged: each example's latent is the gradient of its own NLL
                (grad,) = torch.autograd.grad(nll(z).sum(), z, create_graph=create_graph)
                z = z - step_size * grad
        return z if create_graph else z.detach()


def refuse_running_statistics(decoder: Decoder) -> None:
    """Raise ``IncompatibleComponentsError`` when ``decoder`` has a norm layer that keeps running statistics.

    A GON's latent is a gradient through the decoder. In training a BatchNorm normalises with the batch's
    statistics, in eval mode with running averages of them: another function, hence another latent, and
    test losses far worse than training ones (the BatchNorm trap). Norms that use the statistics at hand
    in both modes are fine.
    """
    for name, module in decoder.named_modules():
        if isinstance(module, _NormBase) and module.track_running_stats:
            raise IncompatibleComponentsError(
                f"decoder {type(decoder).__name__} has a {type(module).__name__} with running statistics "
                f"({name}): a GON's latent is a gradient through the decoder, computed with the batch's "
                f"statistics in training but with the running ones in eval mode, which gives other latents "
                f"and far worse test losses. Build the norm with track_running_stats=False (the dcgan "
                f"decoder's norm=batch does), use a per-example norm (norm=layer) or none"
            )


class GON(Model, Sampler, Reconstructor, LatentModel, PosthocPrior):
    """A Gradient Origin Network: F is any decoder, the latent is -∇ of its NLL at the origin.

    ``inner_steps`` gradient steps of size ``step_size`` (learned with ``learn_step_size``) from the
    origin (learned with ``learn_origin``). Loss term: ``reconstruction``, the NLL per example at the
    gradient latent, averaged over the batch. Sampling goes through ``prior``, by default the Gaussian
    ``fit_prior`` fits to the training latents (``zoo train`` does it at the end of training).
    """

    data_kinds = ("images",)
    own_parts = ("prior",)  # fitted to its codes after training: it carries only to a model that does so too

    def __init__(
        self,
        decoder: Decoder,
        *,
        prior: Prior | None = None,
        inner_steps: PositiveInt = 1,
        step_size: PositiveFloat = 1.0,
        learn_step_size: bool = False,
        learn_origin: bool = False,
    ):
        super().__init__()
        refuse_running_statistics(decoder)
        self.decoder = decoder
        self.shape = decoded_shape(decoder)
        d = decoder.latent_dim
        self.gradient_origin = GradientOrigin(
            d, steps=inner_steps, step_size=step_size, learn_step_size=learn_step_size, learn_origin=learn_origin
        )
        # a fitted prior keeps what it fitted in buffers, so it is saved and restored with the weights
        self.prior = prior if prior is not None else FittedGaussian(d)
        check_prior(self.prior, d, model="gon", codes=f"decoder {type(decoder).__name__}'s latents",
                    trains_prior=False)

    def encode(self, x: Tensor) -> Tensor:
        """x ``(b, *shape)`` -> the gradient latents ``(b, latent_dim)`` (differentiable when autograd is on)."""
        x = check_batch(x, self.shape, model="gon")
        return self.gradient_origin(lambda z: -self.decoder(z).log_prob(x), len(x))

    def _reconstruction(self, x: Tensor) -> tuple[Tensor, Distribution]:
        px = self.decoder(self.encode(x))
        return -px.log_prob(x), px

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """x ``(b, *shape)`` -> ``{"reconstruction": E_b[-log p(x | F(z(x)))]}``, z(x) the gradient latent."""
        return {"reconstruction": self._reconstruction(batch)[0].mean()}

    @torch.no_grad()
    def metrics(self, batch: Tensor) -> dict[str, Tensor]:
        """Held-out ``loss`` and ``reconstruction`` (NLL per example), the MSE and PSNR (dB) of the mean."""
        nll, px = self._reconstruction(batch)
        return {
            "loss": nll.mean(),
            "reconstruction": nll.mean(),
            "mse": ((px.mean - batch) ** 2).mean(),
            "psnr": psnr(px.mean, batch),
        }

    @torch.no_grad()
    def fit_prior(self, codes: Tensor) -> None:
        """Fit the sampling prior to training latents ``(n, latent_dim)`` when it is one that is fitted
        (``fitted-gaussian``); N(0, I) stays as it is."""
        if isinstance(self.prior, Fittable):
            self.prior.fit(codes)

    @torch.no_grad()
    def sample(self, n: int, *, spatial: tuple[int, ...] | None = None) -> Tensor:
        """Decode ``n`` latents from the prior: ``(n, *shape)``, or ``(n, c, *spatial)``."""
        return self.decode(self.prior().sample((n,)), spatial=spatial)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, *, spatial: tuple[int, ...] | None = None) -> Tensor:
        """x ``(b, *shape)`` -> the mean of p(x | F(z(x))); at ``spatial`` a super-resolved reconstruction."""
        return self.decode(self.encode(x), spatial=spatial)


class VariationalGON(Model, Sampler, Reconstructor, LatentModel, LikelihoodEstimator):
    """A variational GON: the gradient latent g gives q(z|x) = N(μ(g), σ(g)²); loss = negative ELBO.

    ``divergence`` is the prior term D(q ‖ p(z)) weighted by ``beta`` (per example, or batch level
    between the batch's codes and prior samples, as in ``vae``); ``prior`` is p(z), N(0, I) by default. The
    inner step options are ``gon``'s.
    Loss terms: ``reconstruction`` (NLL per example at z ~ q) and ``prior``. Without a ``divergence`` the
    prior term is the KL divergence (the registered ``kl``). ``objective``, ``num_samples`` and ``alpha``
    are the ``vae``'s: ``iwae`` or ``renyi`` train on that bound of K = ``num_samples`` draws of q(z|x)
    (loss term ``negative_iwae_bound`` / ``negative_renyi_bound``, the bound in the metrics).
    """

    data_kinds = ("images",)

    def __init__(
        self,
        decoder: Decoder,
        divergence: Divergence | None = None,
        *,
        prior: Prior | None = None,
        beta: NonNegativeFloat = 1.0,
        inner_steps: PositiveInt = 1,
        step_size: PositiveFloat = 1.0,
        learn_step_size: bool = False,
        learn_origin: bool = False,
        objective: Objective = "elbo",
        num_samples: PositiveInt = 1,
        alpha: NonNegativeFloat = 0.5,
    ):
        super().__init__()
        refuse_running_statistics(decoder)
        self.decoder, self.beta = decoder, beta
        self.divergence = divergence if divergence is not None else zoo.create("divergence", "kl")
        bound_alpha = check_bound(objective, num_samples=num_samples, beta=beta,
                                  batch_level=self.divergence.batch_level, model="variational-gon")
        self.objective, self.num_samples = objective, num_samples
        self.alpha = alpha if bound_alpha is None else bound_alpha
        self.shape = decoded_shape(decoder)
        self.num_dims = math.prod(self.shape)
        d = decoder.latent_dim
        self.gradient_origin = GradientOrigin(
            d, steps=inner_steps, step_size=step_size, learn_step_size=learn_step_size, learn_origin=learn_origin
        )
        self.head = nn.Linear(d, 2 * d)  # g -> (μ, raw σ)
        self.prior = prior if prior is not None else StandardNormal(d)
        check_prior(self.prior, d, model="variational-gon", codes=f"decoder {type(decoder).__name__}'s latents",
                    trains_prior=True)
        codes = Independent(Normal(torch.zeros(2, d), torch.ones(2, d)), 1)  # a stand-in q(z|x) of 2 examples
        self.divergence.check_prior_term(codes, self.prior(), codes=f"{d}-dimensional codes")

    def _posterior(self, g: Tensor) -> Distribution:
        """Gradient latents ``(b, d)`` -> q(z|x), a diagonal Gaussian with batch ``(b,)``, event ``(d,)``."""
        return gaussian_posterior(self.head(g))

    def posterior(self, x: Tensor) -> Distribution:
        """x ``(b, *shape)`` -> q(z|x) from the gradient latent (differentiable when autograd is on)."""
        x = check_batch(x, self.shape, model="variational-gon")
        g = self.gradient_origin(lambda g0: -self.decoder(self._posterior(g0).mean).log_prob(x), len(x))
        return self._posterior(g)

    def bound(self, x: Tensor, q: Distribution) -> Tensor:
        """The objective's bound on log p(x) per example ``(b,)`` (the Rényi bound of order ``alpha``, K draws)."""
        log_weights = log_importance_weights(x, q, self.decoder, self.prior(), num_samples=self.num_samples)
        return renyi_bound(log_weights, self.alpha)

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """x ``(b, *shape)`` -> ``{"reconstruction": E_b[-log p(x|z)], "prior": β · D}``, z ~ q(z|x); for a bound
        objective ``{"negative_<objective>_bound": E_b[-bound]}``."""
        q = self.posterior(batch)
        if self.objective != "elbo":
            return {f"negative_{self.objective}_bound": -self.bound(batch, q).mean()}
        z = q.rsample()  # (b, d), reparameterised
        reconstruction = -self.decoder(z).log_prob(batch)
        prior = self.beta * self.divergence.prior_term(q, z, self.prior())
        return {"reconstruction": reconstruction.mean(), "prior": prior}

    @torch.no_grad()
    def metrics(self, batch: Tensor) -> dict[str, Tensor]:
        """Held-out loss, reconstruction, prior, ELBO, KL, bits/dim (-ELBO), and the MSE of the mean at μ.

        ``loss = reconstruction + prior`` and ``elbo = -(reconstruction + kl)`` (one sample per example).
        """
        q, p = self.posterior(batch), self.prior()
        terms = elbo(batch, q, self.decoder, p)
        reconstruction, mean_elbo = terms["reconstruction"].mean(), terms["elbo"].mean()
        prior = self.beta * self.divergence.prior_term(q, q.rsample(), p)
        bound = self.bound(batch, q).mean() if self.objective != "elbo" else None
        return {
            "loss": reconstruction + prior if bound is None else -bound,
            "reconstruction": reconstruction,
            "prior": prior,
            "elbo": mean_elbo,
            **({} if bound is None else {f"{self.objective}_bound": bound}),
            "kl": terms["kl"].mean(),
            "bits_per_dim": bits_per_dim(-mean_elbo, self.num_dims),
            "mse": ((self.decoder(q.mean).mean - batch) ** 2).mean(),
        }

    @torch.no_grad()
    def log_likelihood(self, batch: Tensor, *, num_samples: int = 1000, chunk_size: int = 100) -> Tensor:
        """The IWAE estimate of log p(x) per example ``(b,)``, nats, with q(z|x) as the proposal."""
        return iwae_bound(batch, self.posterior(batch), self.decoder, self.prior(), num_samples=num_samples,
                          chunk_size=chunk_size)

    @torch.no_grad()
    def sample(self, n: int, *, spatial: tuple[int, ...] | None = None) -> Tensor:
        """``n`` draws z ~ p(z), decoded to the mean of p(x|z): ``(n, *shape)`` (or at ``spatial``)."""
        return self.decode(self.prior().sample((n,)), spatial=spatial)

    def encode(self, x: Tensor) -> Tensor:
        """x ``(b, *shape)`` -> the posterior mean ``(b, latent_dim)``."""
        return self.posterior(x).mean

    @torch.no_grad()
    def reconstruct(self, x: Tensor, *, spatial: tuple[int, ...] | None = None) -> Tensor:
        """x ``(b, *shape)`` -> the mean of p(x | z = mean of q(z|x)), at ``spatial`` if given."""
        return self.decode(self.encode(x), spatial=spatial)
