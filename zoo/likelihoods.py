"""Likelihoods: a decoder network's outputs -> a distribution over data (a core component kind).

A decoder emits ``params_per_channel`` numbers for each data channel; a ``Likelihood`` turns those
params ``(b, c * k, ...)`` into p(x | params) with batch shape ``(b,)`` and event shape ``(c, ...)``, so
``log_prob(x)`` is one log-likelihood per example in nats. Data are in [0, 1] (the zoo's convention).

- ``bernoulli``: binary data (binarised MNIST). On grey values in [0, 1] ``log_prob`` is minus the binary
  cross entropy, which is a loss but *not* a normalised likelihood: report NLLs only on binary data.
- ``gaussian``: a density over real x; the scale is fixed, one learned number (Rybkin et al. 2021,
  "Simple and Effective VAE Training with Calibrated Decoders"), or predicted per pixel.
- ``discretized-logistic``: ``num_bins`` evenly spaced levels on [0, 1] (256 for 8-bit images), each
  getting the logistic's mass over its bin, the edge bins its tails (Salimans et al. 2017, PixelCNN++),
  so it sums to one over the levels and its NLL converts to bits/dim that compare across papers.

Bits/dim: ``zoo.metrics.bits_per_dim(nll, num_dims)``. It is meaningful for the two discrete
likelihoods; a Gaussian's NLL is a density's and can be negative.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal, constraints

from zoo.hookspecs import hookimpl
from zoo.interfaces import Likelihood

__all__ = [
    "BernoulliLikelihood",
    "DiscretizedLogistic",
    "DiscretizedLogisticLikelihood",
    "GaussianLikelihood",
    "at_least_float32",
]


def at_least_float32(x: Tensor) -> Tensor:
    """Half-precision params (a decoder under bf16 autocast) in float32: log-likelihoods sum over thousands
    of pixels, more than bf16's 8 bits of mantissa can add up. float32 and float64 pass through."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _event(dist: Distribution, params: Tensor) -> Distribution:
    """Make every dimension after the batch one event: batch ``(b,)``, event ``(c, ...)``."""
    return Independent(dist, params.dim() - 1)


def _split_params(params: Tensor, k: int) -> tuple[Tensor, ...]:
    """``(b, c * k, ...)`` -> k tensors ``(b, c, ...)``; channel-major: a channel's k params are adjacent."""
    if params.dim() < 2 or params.shape[1] % k:
        raise ValueError(
            f"expected params (b, c * {k}, ...) with {k} numbers per data channel, got shape "
            f"{tuple(params.shape)}; the decoder must emit channels x params_per_channel outputs"
        )
    return tuple(rearrange(params, "b (c k) ... -> k b c ...", k=k).unbind(0))


class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli pixels from logits: for binary data (binarised MNIST)."""

    params_per_channel = 1

    def forward(self, params: Tensor) -> Distribution:
        """Logits ``(b, c, ...)`` -> p(x), batch ``(b,)``, event ``(c, ...)``; mean: pixel probabilities."""
        # validate_args=False: grey values in [0, 1] are accepted and scored by binary cross entropy.
        return _event(Bernoulli(logits=at_least_float32(params), validate_args=False), params)


class GaussianLikelihood(Likelihood):
    """Independent Gaussian pixels N(x; μ, σ²) with a fixed, a learned or a per-pixel predicted σ.

    ``scale_mode``: ``"fixed"`` (σ = ``scale``; then the NLL is MSE / 2σ² + const), ``"learned"`` (one
    σ for all pixels, trained with the model, starting at ``scale``), ``"predicted"`` (the decoder emits
    μ and a raw σ per channel: ``params_per_channel = 2``). σ never falls below ``min_scale``.
    """

    modes = ("fixed", "learned", "predicted")

    def __init__(self, *, scale: float = 0.1, scale_mode: str = "fixed", min_scale: float = 1e-3):
        super().__init__()
        if scale_mode not in self.modes:
            raise ValueError(f"unknown scale_mode {scale_mode!r}: choose one of {', '.join(self.modes)}")
        if not scale > min_scale > 0:
            raise ValueError(f"need scale > min_scale > 0, got scale={scale}, min_scale={min_scale}")
        self.scale_mode, self.scale, self.min_scale = scale_mode, scale, min_scale
        self.params_per_channel = 2 if scale_mode == "predicted" else 1
        if scale_mode == "learned":  # σ = min_scale + softplus(raw), starting at σ = scale
            self.raw_scale = nn.Parameter(torch.tensor(scale - min_scale).expm1().log())

    def forward(self, params: Tensor) -> Distribution:
        """``(b, c * params_per_channel, ...)`` -> N(x; μ, σ²), batch ``(b,)``, event ``(c, ...)``."""
        params = at_least_float32(params)
        if self.scale_mode == "fixed":
            return _event(Normal(params, torch.full_like(params, self.scale)), params)
        if self.scale_mode == "learned":
            loc, raw = params, self.raw_scale.expand_as(params)
        else:
            loc, raw = _split_params(params, 2)
        return _event(Normal(loc, self.min_scale + F.softplus(raw)), params)


class DiscretizedLogistic(Distribution):
    """One logistic per element, discretised to ``num_bins`` levels on [0, 1]; elementwise ``log_prob``.

    Level ``i`` is the value ``i / (num_bins - 1)``; its probability is the logistic's mass over the bin
    around it, and the two edge bins take the tails, so the probabilities of the levels sum to one.
    ``loc`` is in data units ([0, 1]); ``log_scale`` is the log of the logistic's scale in the same units.
    """

    arg_constraints: ClassVar[dict] = {"loc": constraints.real, "log_scale": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, loc: Tensor, log_scale: Tensor, num_bins: int = 256, validate_args: bool = False):
        self.loc, self.log_scale = torch.broadcast_tensors(loc, log_scale)
        self.num_bins = num_bins
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def half_width(self) -> float:
        return 0.5 / (self.num_bins - 1)

    @property
    def mean(self) -> Tensor:
        """The location clamped to [0, 1] (the discretised mean differs from it only near the edges)."""
        return self.loc.clamp(0.0, 1.0)

    def log_prob(self, value: Tensor) -> Tensor:
        """log P(x) per element, for x on the levels ``i / (num_bins - 1)`` (other x are rounded to one)."""
        level = torch.round(value * (self.num_bins - 1))
        x = level / (self.num_bins - 1)
        inv_scale = torch.exp(-self.log_scale)
        upper = inv_scale * (x - self.loc + self.half_width)  # a: standardised upper bin edge
        lower = inv_scale * (x - self.loc - self.half_width)  # b: standardised lower bin edge
        # log(σ(a) - σ(b)) = log σ(a) + log σ(-b) + log(1 - e^{b-a}): exact and stable for any a > b
        log_upper_cdf = -F.softplus(-upper)  # log σ(a), the whole mass below the upper edge
        log_above_lower = -F.softplus(lower)  # log (1 - σ(b)), the whole mass above the lower edge
        log_width = torch.log(-torch.expm1(lower - upper))
        first, last = level <= 0, level >= self.num_bins - 1
        zero = torch.zeros_like(log_width)
        return (
            torch.where(last, zero, log_upper_cdf)
            + torch.where(first, zero, log_above_lower)
            + torch.where(first | last, zero, log_width)
        )

    @torch.no_grad()
    def sample(self, sample_shape: tuple[int, ...] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, device=self.loc.device, dtype=self.loc.dtype).clamp_(1e-6, 1 - 1e-6)
        x = self.loc + torch.exp(self.log_scale) * (torch.log(u) - torch.log1p(-u))
        return torch.round(x.clamp(0.0, 1.0) * (self.num_bins - 1)) / (self.num_bins - 1)


class DiscretizedLogisticLikelihood(Likelihood):
    """Discretised logistic pixels for data with num_bins levels (8-bit images: 256), as in PixelCNN++.

    The decoder emits ``(b, 2c, ...)``: a location (in [0, 1] units, unconstrained) and a log scale per
    channel, the log scale clamped below at ``min_log_scale`` as in PixelCNN++.
    """

    params_per_channel = 2

    def __init__(self, *, num_bins: int = 256, min_log_scale: float = -7.0):
        super().__init__()
        if num_bins < 2:
            raise ValueError(f"num_bins must be >= 2 (256 for 8-bit data), got {num_bins}")
        self.num_bins, self.min_log_scale = num_bins, min_log_scale

    def forward(self, params: Tensor) -> Distribution:
        """``(b, 2c, ...)`` -> p(x), batch ``(b,)``, event ``(c, ...)``."""
        loc, log_scale = _split_params(at_least_float32(params), 2)
        # the raw location is centred on the middle of the data range, so a zero-initialised head means grey
        dist = DiscretizedLogistic(loc + 0.5, log_scale.clamp(min=self.min_log_scale), self.num_bins)
        return _event(dist, params)


@hookimpl
def register_components(register):
    register("likelihood", "bernoulli", BernoulliLikelihood)
    register("likelihood", "gaussian", GaussianLikelihood, paper="Rybkin et al. 2021 (learned scale)")
    register(
        "likelihood",
        "discretized-logistic",
        DiscretizedLogisticLikelihood,
        paper="Salimans et al. 2017, PixelCNN++ (arXiv:1701.05517)",
    )
