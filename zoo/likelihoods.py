"""Likelihoods: a decoder network's outputs -> a distribution over data (a core component kind).

A decoder emits ``likelihood.num_params(c)`` numbers per position for data with c channels; a
``Likelihood`` turns those params ``(b, num_params(c), ...)`` into p(x | params) with batch shape ``(b,)``
and event shape ``(c, ...)``, so ``log_prob(x)`` is one log-likelihood per example in nats. Data are in
[0, 1] (the zoo's convention).

- ``bernoulli``: binary data (binarised MNIST). On grey values in [0, 1] ``log_prob`` is minus the binary
  cross entropy, which is a loss but *not* a normalised likelihood: report NLLs only on binary data.
- ``gaussian``: a density over real x; the scale is fixed, one learned number (Rybkin et al. 2021,
  "Simple and Effective VAE Training with Calibrated Decoders"), or predicted per pixel.
- ``discretized-logistic``: ``num_bins`` evenly spaced levels on [0, 1] (256 for 8-bit images), each
  getting the logistic's mass over its bin, the edge bins its tails (Salimans et al. 2017, PixelCNN++),
  so it sums to one over the levels and its NLL converts to bits/dim that compare across papers.
- ``discretized-logistic-mixture``: PixelCNN++'s likelihood for 8-bit images: per position a mixture of
  ``num_mix`` such logistics over all c channels at once, channel i's location shifted by a learned linear
  function of channels 0..i-1 of the same pixel (red -> green -> blue), so one pixel's channels are
  correlated. VDVAE's output distribution.

Bits/dim: ``zoo.metrics.bits_per_dim(nll, num_dims)``. It is meaningful for the two discrete
likelihoods; a Gaussian's NLL is a density's and can be negative.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal, constraints

from zoo.hookspecs import hookimpl
from zoo.interfaces import Likelihood
from zoo.arguments import Interval, PositiveFloat, PositiveInt

__all__ = [
    "BernoulliLikelihood",
    "DiscretizedLogistic",
    "DiscretizedLogisticLikelihood",
    "DiscretizedLogisticMixture",
    "DiscretizedLogisticMixtureLikelihood",
    "GaussianLikelihood",
    "at_least_float32",
]


Levels = Annotated[int, Interval(ge=2)]  # a discretisation's number of levels (bins): 256 for 8-bit data
ScaleMode = Literal["fixed", "learned", "predicted"]


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
            f"{tuple(params.shape)}; the decoder must emit likelihood.num_params(channels) outputs"
        )
    return tuple(rearrange(params, "b (c k) ... -> k b c ...", k=k).unbind(0))


class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli pixels from logits: for binary data (binarised MNIST)."""

    def num_params(self, channels: int) -> int:
        return channels  # one logit per channel

    def forward(self, params: Tensor) -> Distribution:
        """Logits ``(b, c, ...)`` -> p(x), batch ``(b,)``, event ``(c, ...)``; mean: pixel probabilities."""
        # validate_args=False: grey values in [0, 1] are accepted and scored by binary cross entropy.
        return _event(Bernoulli(logits=at_least_float32(params), validate_args=False), params)


class GaussianLikelihood(Likelihood):
    """Independent Gaussian pixels N(x; μ, σ²) with a fixed, a learned or a per-pixel predicted σ.

    ``scale_mode``: ``"fixed"`` (σ = ``scale``; then the NLL is MSE / 2σ² + const), ``"learned"`` (one
    σ for all pixels, trained with the model, starting at ``scale``), ``"predicted"`` (the decoder emits
    μ and a raw σ per channel: ``num_params(c) = 2c``). σ never falls below ``min_scale``.
    """

    modes = get_args(ScaleMode)

    def __init__(self, *, scale: PositiveFloat = 0.1, scale_mode: ScaleMode = "fixed", min_scale: PositiveFloat = 1e-3):
        super().__init__()
        if not scale > min_scale:
            raise ValueError(f"the scale starts above its floor: need scale > min_scale, got scale={scale}, "
                             f"min_scale={min_scale}")
        self.scale_mode, self.scale, self.min_scale = scale_mode, scale, min_scale
        if scale_mode == "learned":  # σ = min_scale + softplus(raw), starting at σ = scale
            self.raw_scale = nn.Parameter(torch.tensor(scale - min_scale).expm1().log())

    def num_params(self, channels: int) -> int:
        return 2 * channels if self.scale_mode == "predicted" else channels

    def forward(self, params: Tensor) -> Distribution:
        """``(b, num_params(c), ...)`` -> N(x; μ, σ²), batch ``(b,)``, event ``(c, ...)``."""
        params = at_least_float32(params)
        if self.scale_mode == "fixed":
            return _event(Normal(params, torch.full_like(params, self.scale)), params)
        if self.scale_mode == "learned":
            loc, raw = params, self.raw_scale.expand_as(params)
        else:
            loc, raw = _split_params(params, 2)
        return _event(Normal(loc, self.min_scale + F.softplus(raw)), params)


def _to_levels(value: Tensor, num_bins: int) -> Tensor:
    """Data in [0, 1] -> the nearest of the levels ``i / (num_bins - 1)``."""
    return torch.round(value * (num_bins - 1)) / (num_bins - 1)


def _log_sigmoid(t: Tensor) -> Tensor:
    """log σ(t) = min(t, 0) - log(1 + e^{-|t|}), stable for any t, from exp and log only: torch's own
    logsigmoid and softplus run ~10x slower than exp and log on a CPU (not vectorised), and this is the
    likelihood's hot path."""
    return t.clamp(max=0.0) - torch.log(1.0 + torch.exp(-t.abs()))


def _one_minus_exp(d: Tensor) -> Tensor:
    """1 - e^{-d} for d >= 0, to a few ulps even for tiny d, without the slow expm1 (Kahan's trick: the
    rounding error of e = exp(-d) cancels in (1 - e) d / -log e)."""
    d = d.clamp(max=80.0)  # 1 - e^-80 is 1 in any float, and e^-80 is still normal: log e stays finite
    e = torch.exp(-d)
    return torch.where(e == 1.0, d, (1.0 - e) * d / -torch.log(e))


def _d_over_expm1(d: Tensor) -> Tensor:
    """d / (e^d - 1) for d >= 0 (1 at 0, 0 as d grows), by the same trick: log e / (e - 1) with e = exp(d)."""
    e = torch.exp(d.clamp(max=80.0))
    return torch.where(e == 1.0, torch.ones_like(d), torch.log(e) / (e - 1.0))


class _LogBinMass(torch.autograd.Function):
    """log P(level x) of a discretised logistic, with its gradient in closed form.

    With a = (x - loc + h) / s and b = (x - loc - h) / s (h: half a bin) and d = a - b = 2h / s,
    log P = log σ(a) + log σ(-b) + log(1 - e^{-d}), where the first level drops the lower-edge terms
    and the last the upper-edge ones. The derivatives are short (dlogP/da = σ(-a), dlogP/db = -σ(b),
    dlogP/dd = 1 / (e^d - 1)), so one fused forward and backward replace autograd's graph of a dozen
    elementwise ops: the likelihood is evaluated for every pixel of every step.

    The backward is itself a function with a closed-form backward (``_LogBinMassGradient``), so the
    gradient is differentiable: a GON differentiates its inner NLL with ``create_graph=True`` and then
    backpropagates through that gradient. Without a graph for the gradient (an ordinary step) nothing
    more is computed.
    """

    @staticmethod
    def forward(ctx, x: Tensor, loc: Tensor, log_scale: Tensor, num_bins: int) -> Tensor:
        half_width = 0.5 / (num_bins - 1)
        inv_scale = torch.exp(-log_scale)
        centred = x - loc
        upper = (centred + half_width) * inv_scale  # a: the standardised upper bin edge
        lower = (centred - half_width) * inv_scale  # b: the standardised lower bin edge
        width = (2 * half_width) * inv_scale  # d = a - b, computed without the cancellation
        first, last = x <= half_width, x >= 1 - half_width  # the edge levels own the tails
        log_p = _log_sigmoid(upper).masked_fill_(last, 0.0)  # log σ(a): the mass below the upper edge
        log_p += _log_sigmoid(-lower).masked_fill_(first, 0.0)  # log σ(-b): the mass above the lower edge
        log_p += torch.log(_one_minus_exp(width)).masked_fill_(first | last, 0.0)
        ctx.save_for_backward(loc, log_scale, upper, lower, width, inv_scale, first, last)
        return log_p

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor, Tensor, None]:
        return None, *_LogBinMassGradient.apply(grad, *ctx.saved_tensors), None


class _LogBinMassGradient(torch.autograd.Function):
    """``_LogBinMass``'s backward, (g, loc, log_scale) -> (g dlogP/dloc, g dlogP/dlog_scale), and its own
    backward from the second derivatives.

    With s = e^{log_scale}, a and b move by -1/s with loc and by -a, -b with log s, and d by -d with log s;
    f_a = σ(-a), f_b = -σ(b), f_d = 1/(e^d - 1) (each zero where its edge term is dropped) have derivatives
    f_a' = -σ(a) σ(-a), f_b' = -σ(b) σ(-b), d² f_d' = -r² e^d with r = d f_d = d / (e^d - 1). Then
    dlogP/dloc = -(f_a + f_b) / s and dlogP/dlog s = -(a f_a + b f_b + r), and

        d²/dloc² = (f_a' + f_b') / s²,     d²/dloc dlog s = (f_a + f_b + a f_a' + b f_b') / s,
        d²/dlog s² = a (f_a + a f_a') + b (f_b + b f_b') + r (1 - r e^d),

    where r e^d = d / (1 - e^{-d}). ``loc`` and ``log_scale`` are inputs only so that autograd routes the
    second-order gradients to them; the values come from the saved standardised edges.
    """

    @staticmethod
    def forward(ctx, grad: Tensor, loc: Tensor, log_scale: Tensor, upper: Tensor, lower: Tensor, width: Tensor,
                inv_scale: Tensor, first: Tensor, last: Tensor) -> tuple[Tensor, Tensor]:
        d_upper = torch.sigmoid(-upper).masked_fill_(last, 0.0)  # f_a
        d_lower = torch.sigmoid(lower).masked_fill_(first, 0.0).neg_()  # f_b
        width_d_width = _d_over_expm1(width).masked_fill_(first | last, 0.0)  # r = d · f_d
        # kept for a second-order backward; without a graph for the gradient, ctx goes when this returns
        ctx.save_for_backward(grad, upper, lower, width, inv_scale, first, last, d_upper, d_lower, width_d_width)
        ctx.shapes = loc.shape, log_scale.shape
        d_loc = (d_upper + d_lower).mul_(inv_scale).neg_().mul_(grad)
        d_log_scale = (upper * d_upper + lower * d_lower + width_d_width).neg_().mul_(grad)
        return d_loc.sum_to_size(loc.shape), d_log_scale.sum_to_size(log_scale.shape)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, up_loc: Tensor, up_log_scale: Tensor):
        grad, upper, lower, width, inv_scale, first, last, f_a, f_b, r = ctx.saved_tensors
        d_loc, d_log_scale = -(f_a + f_b) * inv_scale, -(upper * f_a + lower * f_b + r)
        f_a_prime = torch.sigmoid(upper).mul_(f_a).neg_()  # zero where f_a is
        f_b_prime = torch.sigmoid(-lower).mul_(f_b)  # -σ(b) σ(-b), zero where f_b is
        r_term = (r * (1.0 - width / _one_minus_exp(width))).masked_fill_(first | last, 0.0)  # r (1 - r e^d)
        loc_loc = (f_a_prime + f_b_prime) * inv_scale.square()
        loc_log_scale = (f_a + f_b + upper * f_a_prime + lower * f_b_prime) * inv_scale
        log_scale_log_scale = upper * (f_a + upper * f_a_prime) + lower * (f_b + lower * f_b_prime) + r_term
        loc_shape, log_scale_shape = ctx.shapes
        d_grad = d_loc * up_loc + d_log_scale * up_log_scale
        d_loc_input = (grad * (loc_loc * up_loc + loc_log_scale * up_log_scale)).sum_to_size(loc_shape)
        d_log_scale_input = (grad * (loc_log_scale * up_loc + log_scale_log_scale * up_log_scale)).sum_to_size(
            log_scale_shape)
        return d_grad.sum_to_size(grad.shape), d_loc_input, d_log_scale_input, None, None, None, None, None, None


def _log_bin_mass(x: Tensor, loc: Tensor, log_scale: Tensor, num_bins: int) -> Tensor:
    """log P(x) elementwise for a logistic(loc, e^log_scale) discretised to ``num_bins`` levels on [0, 1].

    ``x`` lies on the levels; level i gets the logistic's mass over [x - h, x + h] with h half a bin, the
    first level also the whole lower tail and the last the whole upper tail, so the levels sum to one.
    Differentiable in ``loc`` and ``log_scale`` (not in ``x``); the shapes broadcast.
    """
    return _LogBinMass.apply(x, loc, log_scale, num_bins)


def _sample_logistic(loc: Tensor, log_scale: Tensor, num_bins: int) -> Tensor:
    """One draw per element from the discretised logistic: a logistic draw, clamped to [0, 1], on a level."""
    u = torch.rand_like(loc).clamp_(1e-6, 1 - 1e-6)
    return _to_levels((loc + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))).clamp(0.0, 1.0), num_bins)


class DiscretizedLogistic(Distribution):
    """One logistic per element, discretised to ``num_bins`` levels on [0, 1].

    Level ``i`` is the value ``i / (num_bins - 1)``; its probability is the logistic's mass over the bin
    around it, and the two edge bins take the tails, so the probabilities of the levels sum to one.
    ``loc`` is in data units ([0, 1]); ``log_scale`` is the log of the logistic's scale in the same units.
    ``event_dims`` trailing dims form one event, whose ``log_prob`` is the sum over them (the likelihood makes
    every dim after the batch one event this way, without the cost of an ``Independent`` wrapper per step).
    """

    arg_constraints: ClassVar[dict] = {"loc": constraints.real, "log_scale": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, loc: Tensor, log_scale: Tensor, num_bins: int = 256, validate_args: bool = False, *,
                 event_dims: int = 0):
        self.loc, self.log_scale = torch.broadcast_tensors(loc, log_scale)
        self.num_bins, self.event_dims = num_bins, event_dims
        split = self.loc.dim() - event_dims
        super().__init__(self.loc.shape[:split], self.loc.shape[split:], validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        """The location clamped to [0, 1] (the discretised mean differs from it only near the edges)."""
        return self.loc.clamp(0.0, 1.0)

    def log_prob(self, value: Tensor) -> Tensor:
        """log P(x) per event, for x on the levels ``i / (num_bins - 1)`` (other x are rounded to one)."""
        log_p = _log_bin_mass(_to_levels(value, self.num_bins), self.loc, self.log_scale, self.num_bins)
        return log_p.sum(tuple(range(-self.event_dims, 0))) if self.event_dims else log_p

    @torch.no_grad()
    def sample(self, sample_shape: tuple[int, ...] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        return _sample_logistic(self.loc.expand(shape), self.log_scale.expand(shape), self.num_bins)


class DiscretizedLogisticLikelihood(Likelihood):
    """Discretised logistic pixels for data with num_bins levels (8-bit images: 256), as in PixelCNN++.

    The decoder emits ``(b, 2c, ...)``: a location (in [0, 1] units, unconstrained) and a log scale per
    channel, the log scale clamped below at ``min_log_scale`` as in PixelCNN++.
    """

    def __init__(self, *, num_bins: Levels = 256, min_log_scale: float = -7.0):
        super().__init__()
        self.num_bins, self.min_log_scale = num_bins, min_log_scale

    def num_params(self, channels: int) -> int:
        return 2 * channels  # a location and a log scale per channel

    def forward(self, params: Tensor) -> Distribution:
        """``(b, 2c, ...)`` -> p(x), batch ``(b,)``, event ``(c, ...)``."""
        loc, log_scale = _split_params(at_least_float32(params), 2)
        # the raw location is centred on the middle of the data range, so a zero-initialised head means grey
        return DiscretizedLogistic(loc + 0.5, log_scale.clamp(min=self.min_log_scale), self.num_bins,
                                   event_dims=params.dim() - 1)


def _num_pairs(channels: int) -> int:
    """Coefficients of the channel-autoregressive means: one per pair j < i (3 for RGB, 0 for grey)."""
    return channels * (channels - 1) // 2


class DiscretizedLogisticMixture(Distribution):
    """Per position, a mixture of k logistics over all c channels, discretised to ``num_bins`` levels on [0, 1].

    ``logits`` ``(b, k, *s)`` weigh the components; ``loc`` and ``log_scale`` ``(b, k, c, *s)`` are in data
    units; ``coeffs`` ``(b, k, c(c-1)/2, *s)`` make the channels of a pixel depend on each other within a
    component: channel i's location is ``loc_i + Σ_{j<i} coeff_ij x_j``, with the pairs (i, j) in the
    order (1, 0), (2, 0), (2, 1), ... (for RGB: green on red, blue on red, blue on green; Salimans et al.
    2017, eq. 3). Given the component the channels are then independent discretised logistics, so
    ``log_prob`` is exact and sums to one over all num_bins^c values of a pixel. Batch ``(b,)``, event
    ``(c, *s)``.
    """

    arg_constraints: ClassVar[dict] = {}
    has_rsample = False

    def __init__(self, logits: Tensor, loc: Tensor, log_scale: Tensor, coeffs: Tensor, num_bins: int = 256):
        self.logits, self.loc, self.log_scale, self.coeffs = logits, loc, log_scale, coeffs
        self.num_bins = num_bins
        channels, spatial = loc.shape[2], loc.shape[3:]
        super().__init__(loc.shape[:1], torch.Size((channels, *spatial)), validate_args=False)

    def _pairs(self) -> tuple[Tensor, Tensor]:
        """Rows i and columns j of the pairs j < i, in the order of ``coeffs``."""
        channels = self.loc.shape[2]
        return tuple(torch.tril_indices(channels, channels, -1, device=self.loc.device))

    def _shifted_loc(self, x: Tensor) -> Tensor:
        """Each component's channel locations given the pixel's other channels x ``(b, c, *s)``: ``(b, k, c, *s)``."""
        if self.coeffs.shape[2] == 0:
            return self.loc
        rows, cols = self._pairs()
        shift = torch.zeros_like(self.loc).index_add(2, rows, self.coeffs * x[:, None, cols])
        return self.loc + shift

    def log_prob(self, value: Tensor) -> Tensor:
        """log p(x) per example ``(b,)`` for x ``(b, c, *s)`` on the levels (other values are rounded to one)."""
        x = _to_levels(value, self.num_bins)
        per_channel = _log_bin_mass(x[:, None], self._shifted_loc(x), self.log_scale, self.num_bins)  # (b, k, c, *s)
        per_pixel = torch.logsumexp(F.log_softmax(self.logits, dim=1) + per_channel.sum(2), dim=1)  # (b, *s)
        return per_pixel.flatten(1).sum(1)

    def _channel_by_channel(self, draw) -> Tensor:
        """Channels in order, each from its location shifted by the earlier channels' values: ``(b, k, c, *s)``.

        ``draw(loc, log_scale)`` -> a value per component for one channel ``(b, k, *s)``.
        """
        values: list[Tensor] = []
        for i in range(self.loc.shape[2]):
            loc = self.loc[:, :, i]
            for j in range(i):
                loc = loc + self.coeffs[:, :, i * (i - 1) // 2 + j] * values[j]
            values.append(draw(loc, self.log_scale[:, :, i]))
        return torch.stack(values, dim=2)

    @property
    def mean(self) -> Tensor:
        """The mixture of the components' means ``(b, c, *s)``, clamped to [0, 1] channel by channel.

        Within a component, channel i's mean is its location shifted by the means of channels j < i; the
        discretisation and the clamping at the edges are ignored (exact away from 0 and 1).
        """
        means = self._channel_by_channel(lambda loc, log_scale: loc.clamp(0.0, 1.0))
        return (torch.softmax(self.logits, dim=1)[:, :, None] * means).sum(1)

    @torch.no_grad()
    def sample(self, sample_shape: tuple[int, ...] = ()) -> Tensor:
        """One draw ``(b, c, *s)`` on the levels: a component per pixel, then its channels in order."""
        if tuple(sample_shape):
            raise ValueError("DiscretizedLogisticMixture.sample draws one value per example (sample_shape=())")
        component = torch.distributions.Categorical(logits=rearrange(self.logits, "b k ... -> b ... k")).sample()
        chosen = F.one_hot(component, self.logits.shape[1]).movedim(-1, 1)[:, :, None]  # (b, k, 1, *s)
        values = self._channel_by_channel(lambda loc, log_scale: _sample_logistic(loc, log_scale, self.num_bins))
        return (chosen * values).sum(1)


class DiscretizedLogisticMixtureLikelihood(Likelihood):
    """PixelCNN++'s mixture of discretised logistics: 8-bit images (num_bins=256), VDVAE's output layer.

    Per position the decoder emits ``num_mix * (1 + 2c + c(c-1)/2)`` numbers (10 per component for RGB,
    3 for grey), in this order along dim 1: the k mixture logits, the k x c locations, the k x c log
    scales, the k x c(c-1)/2 channel coefficients (component-major within each group). Locations are
    centred on 0.5 (a zero head means grey), log scales clamped below at ``min_log_scale``, coefficients
    squashed by tanh, all as in PixelCNN++. See ``DiscretizedLogisticMixture``.
    """

    def __init__(self, *, num_mix: PositiveInt = 10, num_bins: Levels = 256, min_log_scale: float = -7.0):
        super().__init__()
        self.num_mix, self.num_bins, self.min_log_scale = num_mix, num_bins, min_log_scale

    def num_params(self, channels: int) -> int:
        return self.num_mix * (1 + 2 * channels + _num_pairs(channels))

    def _channels(self, num_params: int) -> int:
        channels = 1
        while self.num_params(channels) < num_params:
            channels += 1
        if self.num_params(channels) != num_params:
            raise ValueError(
                f"a mixture of {self.num_mix} logistics takes num_mix * (1 + 2c + c(c-1)/2) params per position "
                f"({self.num_params(1)} for 1 channel, {self.num_params(3)} for 3), got {num_params}; the decoder "
                f"must emit likelihood.num_params(channels) outputs"
            )
        return channels

    def forward(self, params: Tensor) -> Distribution:
        """``(b, num_params(c), *s)`` -> p(x), batch ``(b,)``, event ``(c, *s)``."""
        params = at_least_float32(params)
        c, k = self._channels(params.shape[1]), self.num_mix
        logits, loc, log_scale, coeffs = params.split([k, k * c, k * c, k * _num_pairs(c)], dim=1)
        loc, log_scale, coeffs = (rearrange(t, "b (k c) ... -> b k c ...", k=k) for t in (loc, log_scale, coeffs))
        return DiscretizedLogisticMixture(
            logits, loc + 0.5, log_scale.clamp(min=self.min_log_scale), torch.tanh(coeffs), self.num_bins
        )


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
    register(
        "likelihood",
        "discretized-logistic-mixture",
        DiscretizedLogisticMixtureLikelihood,
        paper="Salimans et al. 2017, PixelCNN++ (arXiv:1701.05517)",
    )
