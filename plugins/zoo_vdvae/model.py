"""The Very Deep VAE: a bottom-up encoder and a top-down decoder of stochastic blocks over several resolutions.

x ``(b, c, s, s)`` goes up through residual bottleneck blocks (``encoder_layout``), leaving an activation at
every resolution; the decoder starts from a learned state at its coarsest resolution and goes down through
``decoder_layout``, each block drawing z_i from its posterior q(z_i | x, z_<i) (training, reconstruction)
or its prior p(z_i | z_<i) (sampling), and finally emits ``likelihood.num_params(c)`` maps per pixel for
any registered ``Likelihood`` (a mixture of discretised logistics for 8-bit images, Bernoulli for binarised
ones). The loss is the negative ELBO in nats per data dimension, as the reference reports it:

    -ELBO / D = [ -log p(x | z) + Σ_i KL(q(z_i | x, z_<i) ‖ p(z_i | z_<i)) ] / D,

each KL through the ``divergence`` component (the registry's ``kl`` by default: closed form for these
Gaussians). Stability as in the reference: the residual branches and latent projections start scaled by
1/√depth, the priors' heads at zero; the shared loop supplies gradient clipping, update skipping
(``train.skip_threshold``) and EMA weights.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

import zoo
from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import Divergence, Likelihood, LikelihoodEstimator, Model, Reconstructor, Sampler
from zoo.likelihoods import at_least_float32
from zoo.metrics import importance_weighted
from zoo.recipes import PositiveFloat, PositiveInt, renamed_arguments

from .blocks import Bottleneck, Latent, TopDownBlock
from .layout import check_layouts, check_memory, parameter_count, parse_layout

__all__ = ["LAYER_KL", "VDVAE", "TemperedSampler"]

LAYER_KL = "kl_layer_"  # the metrics' per-layer KLs: kl_layer_00, kl_layer_01, ... (top first)


class TemperedSampler(Sampler):
    """A Sampler whose prior's spread can be scaled: ``sample(n, *, temperature)`` -> ``(n, ...)``.

    ``temperature`` multiplies every prior's standard deviation (1: the model's own samples; below 1
    smoother, more typical ones; 0: each layer at its prior's mean). ``zoo sample --temperature`` and the
    pictures of a finished run (``zoo_vdvae.pictures``) draw every such model.
    """

    @abstractmethod
    def sample(self, n: int, *, temperature: float = 1.0) -> Tensor: ...


class VDVAE(Model, TemperedSampler, Reconstructor, LikelihoodEstimator):
    """A hierarchical VAE of ``len(decoder_layout)`` stochastic layers on square images ``shape = (c, s, s)``.

    ``width``: channels of the residual stream at every resolution; ``latent_channels``: channels of each
    layer's z (a ``(latent_channels, r, r)`` map at its resolution r); ``bottleneck``: the blocks' inner width
    as a fraction of ``width``. ``dynamic_binarize`` draws x ~ Bernoulli(x) from every batch (dynamic binarisation,
    for a Bernoulli likelihood on grey MNIST). Loss terms (nats per dimension): ``reconstruction`` and ``kl``.
    """

    data_kinds = ("images",)

    @renamed_arguments(binarize="dynamic_binarize")
    def __init__(
        self,
        shape: tuple[PositiveInt, ...],
        likelihood: Likelihood,
        divergence: Divergence | None = None,
        *,
        encoder_layout: str = "8x2,8d2,4x2,4d4,1x2",
        decoder_layout: str = "1x2,4m1,4x2,8m4,8x2",
        width: PositiveInt = 64,
        latent_channels: PositiveInt = 8,
        bottleneck: PositiveFloat = 0.25,
        dynamic_binarize: bool = False,
    ):
        super().__init__()
        shape = tuple(shape)
        if len(shape) != 3 or shape[1] != shape[2]:
            raise IncompatibleComponentsError(
                f"VDVAE works on square images (c, s, s), got shape {shape}; resize the data to a square")
        self.divergence = divergence if divergence is not None else zoo.create("divergence", "kl")
        if self.divergence.batch_level:
            raise IncompatibleComponentsError(
                f"VDVAE compares every layer's posterior with its prior per example, but divergence "
                f"{type(self.divergence).__name__} is batch-level; use a per-example one such as kl")
        encoder_blocks = parse_layout(encoder_layout, "encoder")
        decoder_blocks = parse_layout(decoder_layout, "decoder")
        check_layouts(encoder_blocks, decoder_blocks, shape[1])
        check_memory(parameter_count(encoder_blocks, decoder_blocks, channels=shape[0], width=width,
                                     latent_channels=latent_channels, bottleneck=bottleneck,
                                     out_channels=likelihood.num_params(shape[0])),
                     f"width ({width}), bottleneck ({bottleneck}) or the layouts' block counts "
                     f"({len(encoder_blocks)} and {len(decoder_blocks)})")
        self.shape, self.num_dims, self.likelihood = shape, math.prod(shape), likelihood
        self.binarize = dynamic_binarize
        middle = max(1, int(width * bottleneck))

        self.encoder_in = nn.Conv2d(shape[0], width, 3, padding=1)
        self.encoder = nn.ModuleList([
            Bottleneck(width, middle, width, resolution=b.resolution, residual=True, down=b.down,
                       out_scale=1.0 / math.sqrt(len(encoder_blocks)))
            for b in encoder_blocks
        ])
        self.decoder = nn.ModuleList([
            TopDownBlock(width, latent_channels, resolution=b.resolution, depth=len(decoder_blocks),
                         bottleneck=bottleneck)
            for b in decoder_blocks
        ])
        self.resolutions = [b.resolution for b in decoder_blocks]
        self.mixins = [b.mixin for b in decoder_blocks]
        # the decoder's starting state at each of its resolutions, learned
        self.initial_state = nn.ParameterDict({
            str(r): nn.Parameter(torch.zeros(1, width, r, r)) for r in dict.fromkeys(self.resolutions)
        })
        self.out_gain = nn.Parameter(torch.ones(1, width, 1, 1))
        self.out_bias = nn.Parameter(torch.zeros(1, width, 1, 1))
        self.out_conv = nn.Conv2d(width, likelihood.num_params(shape[0]), 1)

    # --- the two paths -------------------------------------------------------------------------------

    def _data(self, batch: Tensor) -> Tensor:
        if not isinstance(batch, Tensor) or tuple(batch.shape[1:]) != self.shape:
            got = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
            raise IncompatibleComponentsError(f"the vdvae was built for images {self.shape} but got a batch {got}; "
                                              f"set model.shape to {list(batch.shape[1:])}")
        return torch.bernoulli(batch) if self.binarize else batch

    def activations(self, x: Tensor) -> dict[int, Tensor]:
        """x ``(b, c, s, s)`` in [0, 1] -> the encoder's last activation at each resolution ``{r: (b, w, r, r)}``."""
        h = self.encoder_in(2.0 * x - 1.0)
        found = {h.shape[-1]: h}
        for block in self.encoder:
            h = block(h)
            found[h.shape[-1]] = h
        return found

    def top_down(self, n: int, activations: dict[int, Tensor] | None = None, *, layers: int | None = None,
                 temperature: float = 1.0, posterior_mean: bool = False) -> tuple[Tensor, list[Latent]]:
        """Run the decoder for ``n`` examples -> (the likelihood's params ``(n, num_params(c), s, s)``, latents).

        The first ``layers`` blocks (all, when None) draw from the posterior given ``activations`` (their
        means with ``posterior_mean``); the others, and all of them without activations, draw from the
        prior at ``temperature``.
        """
        states = {r: p.expand(n, -1, -1, -1) for r, p in ((int(k), v) for k, v in self.initial_state.items())}
        latents = []
        for index, (block, resolution, mixin) in enumerate(zip(self.decoder, self.resolutions, self.mixins)):
            h = states[resolution]
            if mixin is not None:
                h = h + F.interpolate(states[mixin], scale_factor=resolution // mixin, mode="nearest")
            use_posterior = activations is not None and (layers is None or index < layers)
            h, latent = block(h, activations[resolution] if use_posterior else None, temperature=temperature,
                              posterior_mean=posterior_mean)
            states[resolution] = h
            latents.append(latent)
        h = states[self.shape[-1]] * self.out_gain + self.out_bias
        return self.out_conv(h), latents

    # --- the objective -------------------------------------------------------------------------------

    def _terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """-log p(x | z) ``(b,)`` and every layer's KL ``(layers, b)``, in nats, z drawn from the posterior."""
        params, latents = self.top_down(x.shape[0], self.activations(x))
        reconstruction = -self.likelihood(params).log_prob(x)
        kls = torch.stack([self.divergence(latent.posterior, latent.prior) for latent in latents])
        return reconstruction, kls

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """x ``(b, c, s, s)`` -> ``{"reconstruction", "kl"}``: the negative ELBO's two terms in nats per dimension."""
        x = self._data(batch)
        reconstruction, kls = self._terms(x)
        return {"reconstruction": reconstruction.mean() / self.num_dims,
                "kl": kls.sum(0).mean() / self.num_dims}

    @torch.no_grad()
    def metrics(self, batch: Tensor) -> dict[str, Tensor]:
        """Held-out ``loss`` (= -ELBO per dimension), its terms, ``bits_per_dim`` and ``kl_layer_00``, ... (the KL
        of each layer, top first, nats per dimension: they sum to ``kl``)."""
        reconstruction, kls = self._terms(self._data(batch))
        reconstruction, kls = reconstruction.mean() / self.num_dims, kls.mean(1) / self.num_dims
        loss = reconstruction + kls.sum()
        return {"loss": loss, "reconstruction": reconstruction, "kl": kls.sum(), "bits_per_dim": loss / math.log(2),
                **{f"{LAYER_KL}{i:02d}": kl for i, kl in enumerate(kls)}}

    # --- capabilities --------------------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, *, temperature: float = 1.0) -> Tensor:
        """``n`` images ``(n, c, s, s)``: every layer's z from its prior with its standard deviation times
        ``temperature`` (below 1: smoother, more typical samples; 0: deterministic), shown as p(x | z)'s mean."""
        params, _ = self.top_down(n, temperature=temperature)
        return self.likelihood(params).mean

    @torch.no_grad()
    def reconstruct(self, x: Tensor, *, layers: int | None = None, temperature: float = 0.0) -> Tensor:
        """The mean of p(x | z) ``(b, c, s, s)`` with the top ``layers`` layers' z at their posterior means
        (all layers when None) and the rest from the prior at ``temperature``: what the top layers encode."""
        params, _ = self.top_down(x.shape[0], self.activations(self._data(x)), layers=layers,
                                  temperature=temperature, posterior_mean=True)
        return self.likelihood(params).mean

    @torch.no_grad()
    def log_likelihood(self, x: Tensor, *, num_samples: int = 1000, chunk_size: int = 16) -> Tensor:
        """The importance-weighted bound on log p(x) ``(b,)`` in nats, with ``num_samples`` draws of all layers
        from the posterior: log (1/K) Σ_k p(x | z_k) Π_i p(z_ik | z_<i) / q(z_ik | x, z_<i), ``chunk_size``
        draws per example at a time."""
        x = self._data(x)
        activations = self.activations(x)

        def log_weights(k: int) -> Tensor:  # (k, b)
            repeated = {r: a.repeat_interleave(k, dim=0) for r, a in activations.items()}
            params, latents = self.top_down(x.shape[0] * k, repeated)
            log_w = self.likelihood(params).log_prob(x.repeat_interleave(k, dim=0))
            for latent in latents:
                z = at_least_float32(latent.z)
                log_w = log_w + latent.prior.log_prob(z) - latent.posterior.log_prob(z)
            return rearrange(log_w, "(b k) -> k b", k=k)

        return importance_weighted(log_weights, num_samples=num_samples, chunk_size=chunk_size)
