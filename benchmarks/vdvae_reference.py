"""The reference VDVAE restated in plain PyTorch: what openai/vdvae computes in one training step, to time it here.

Child 2021 (arXiv:2011.10650); reference code https://github.com/openai/vdvae (``vae.py``, ``vae_helpers.py``
and the ``cifar10`` settings in ``hps.py``). Written from reading that code, layer by layer, so that
``benchmarks/vdvae.py --speed`` can time the reference's forward + backward in the same run and on the same
batch as the zoo's ``vdvae-cifar10``. Like ``NotebookSiren`` in benchmarks/siren.py it is a timing anchor,
not a zoo model: it is built from keyword arguments, not registered, and only its loss is written.

Kept because they cost time, as the reference does them: images arrive channels-last and are permuted (and
copied) to channels-first; each decoder bias map is copied to the batch (``repeat``), not broadcast; every
layer's KL is the element-wise Gaussian closed form on log standard deviations (the reference scripts it
with TorchScript, which on a CPU without a fuser runs the same kernels); the output is permuted back to
channels-last and scored by the PixelCNN++ mixture-of-logistics loss, all four branches of its ``where``
evaluated. Left out: the data pipeline, the optimizer, EMA and distributed training, which are not part of a
forward + backward. The input normalisation (the reference standardises the encoder's input with the data
set's mean and spread, and scores targets in [-1, 1]) is one affine map, so one tensor in [-1, 1] serves as
both here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from zoo_vdvae import parse_layout

__all__ = ["CIFAR10", "ReferenceVDVAE"]

# hps.py's `cifar10` set with the defaults it leaves in place (bottleneck_multiple, num_mixtures, no custom widths)
CIFAR10 = {
    "encoder_layout": "32x11,32d2,16x6,16d2,8x6,8d2,4x3,4d4,1x3",
    "decoder_layout": "1x1,4m1,4x2,8m4,8x5,16m8,16x10,32m16,32x21",
    "width": 384, "latent_channels": 16, "bottleneck": 0.25, "num_mix": 10, "size": 32,
}


def _conv(width_in: int, width_out: int, kernel: int, *, silent: bool = False) -> nn.Conv2d:
    """A same-padded convolution with zero bias (and zero weights when ``silent``), as the reference makes them."""
    conv = nn.Conv2d(width_in, width_out, kernel, padding=kernel // 2)
    with torch.no_grad():
        conv.bias.zero_()
        if silent:
            conv.weight.zero_()
    return conv


class _Block(nn.Module):
    """``(b, width_in, r, r)`` -> ``(b, width_out, r / down, r / down)``: GELU before each of 1x1, 3x3, 3x3, 1x1
    convolutions (1x1 throughout at resolutions of 2 and below), the input added when ``residual``, then
    average pooling by ``down``."""

    def __init__(self, width_in: int, width_mid: int, width_out: int, *, resolution: int, residual: bool = False,
                 down: int | None = None, silent: bool = False):
        super().__init__()
        kernel = 3 if resolution > 2 else 1
        self.convs = nn.ModuleList([_conv(width_in, width_mid, 1), _conv(width_mid, width_mid, kernel),
                                    _conv(width_mid, width_mid, kernel), _conv(width_mid, width_out, 1, silent=silent)])
        self.residual, self.down = residual, down

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for conv in self.convs:
            h = conv(F.gelu(h))
        out = x + h if self.residual else h
        return F.avg_pool2d(out, kernel_size=self.down, stride=self.down) if self.down else out


def _gaussian_kl(mean_q: Tensor, mean_p: Tensor, log_std_q: Tensor, log_std_p: Tensor) -> Tensor:
    """KL(N(mean_q, e^log_std_q) ‖ N(mean_p, e^log_std_p)) per element, written as the reference writes it."""
    return -0.5 + log_std_p - log_std_q + 0.5 * (log_std_q.exp() ** 2 + (mean_q - mean_p) ** 2) / log_std_p.exp() ** 2


class _TopDownBlock(nn.Module):
    """One stochastic layer: posterior and prior nets, the z projection and a residual block at ``resolution``."""

    def __init__(self, width: int, latent_channels: int, *, resolution: int, mixin: int | None, depth: int,
                 bottleneck: float):
        super().__init__()
        middle = int(width * bottleneck)
        self.posterior = _Block(2 * width, middle, 2 * latent_channels, resolution=resolution)
        self.prior = _Block(width, middle, 2 * latent_channels + width, resolution=resolution, silent=True)
        self.z_proj = _conv(latent_channels, width, 1)
        self.resnet = _Block(width, middle, width, resolution=resolution, residual=True)
        with torch.no_grad():
            self.z_proj.weight.mul_(math.sqrt(1 / depth))
            self.resnet.convs[-1].weight.mul_(math.sqrt(1 / depth))
        self.resolution, self.mixin, self.latent_channels = resolution, mixin, latent_channels

    def forward(self, states: dict[int, Tensor], activation: Tensor) -> Tensor:
        """Advance ``states[resolution]`` (``(1 or b, w, r, r)``) given the encoder's ``activation`` ``(b, w, r, r)``;
        returns this layer's KL per element ``(b, z, r, r)``."""
        x = states[self.resolution]
        if x.shape[0] != activation.shape[0]:
            x = x.repeat(activation.shape[0], 1, 1, 1)  # the reference copies the bias map to the batch
        if self.mixin is not None:
            x = x + F.interpolate(states[self.mixin][:, : x.shape[1]], scale_factor=self.resolution // self.mixin)
        mean_q, log_std_q = self.posterior(torch.cat([x, activation], dim=1)).chunk(2, dim=1)
        z_channels = self.latent_channels
        features = self.prior(x)
        mean_p, log_std_p = features[:, :z_channels], features[:, z_channels: 2 * z_channels]
        x = x + features[:, 2 * z_channels:]
        z = torch.exp(log_std_q) * torch.empty_like(mean_q).normal_() + mean_q
        x = x + self.z_proj(z)
        states[self.resolution] = self.resnet(x)
        return _gaussian_kl(mean_q, mean_p, log_std_q, log_std_p)


def _mixture_nll(x: Tensor, params: Tensor, num_mix: int) -> Tensor:
    """PixelCNN++'s discretised mixture of logistics over 256 levels, RGB, channels-last as in the reference:
    x ``(b, h, w, 3)`` in [-1, 1], params ``(b, h, w, num_mix * 10)`` -> -log p(x) per dimension ``(b,)``."""
    b, h, w, c = x.shape
    logits = params[..., :num_mix]
    rest = params[..., num_mix:].reshape(b, h, w, c, 3 * num_mix)
    means = rest[..., :num_mix]
    log_scales = torch.max(rest[..., num_mix: 2 * num_mix], torch.full_like(means, -7.0))
    coeffs = torch.tanh(rest[..., 2 * num_mix:])
    x = x.unsqueeze(-1) + torch.zeros(b, h, w, c, num_mix)  # the reference materialises the broadcast
    # green's mean moves with red, blue's with red and green (autoregressive over the channels of one pixel)
    red, green = x[:, :, :, 0:1], x[:, :, :, 1:2]
    means = torch.cat([means[:, :, :, 0:1],
                       means[:, :, :, 1:2] + coeffs[:, :, :, 0:1] * red,
                       means[:, :, :, 2:3] + coeffs[:, :, :, 1:2] * red + coeffs[:, :, :, 2:3] * green], dim=3)
    centred, inverse_scale = x - means, torch.exp(-log_scales)
    upper, lower = inverse_scale * (centred + 1 / 255), inverse_scale * (centred - 1 / 255)
    bin_mass = torch.sigmoid(upper) - torch.sigmoid(lower)
    log_cdf_upper = upper - F.softplus(upper)  # the lowest level's bin reaches -inf
    log_survival_lower = -F.softplus(lower)  # the highest level's bin reaches +inf
    middle = inverse_scale * centred
    log_density_middle = middle - log_scales - 2.0 * F.softplus(middle)  # for bins too thin to subtract CDFs
    log_probs = torch.where(x < -0.999, log_cdf_upper, torch.where(
        x > 0.999, log_survival_lower, torch.where(
            bin_mass > 1e-5, torch.log(torch.max(bin_mass, torch.full_like(bin_mass, 1e-12))),
            log_density_middle - math.log(127.5))))
    top = logits.max(dim=-1, keepdim=True).values
    log_weights = logits - top - torch.log(torch.exp(logits - top).sum(dim=-1, keepdim=True))
    log_px = torch.logsumexp(log_probs.sum(dim=3) + log_weights, dim=-1)  # (b, h, w)
    return -log_px.sum(dim=(1, 2)) / (h * w * c)


class ReferenceVDVAE(nn.Module):
    """openai/vdvae's ``VAE`` for RGB images ``size`` x ``size`` (one width at every resolution); ``CIFAR10``
    holds its CIFAR-10 settings: ``ReferenceVDVAE(**CIFAR10)``."""

    def __init__(self, *, encoder_layout: str, decoder_layout: str, width: int, latent_channels: int,
                 bottleneck: float, num_mix: int, size: int):
        super().__init__()
        encoder_blocks = parse_layout(encoder_layout, "encoder")
        decoder_blocks = parse_layout(decoder_layout, "decoder")
        middle = int(width * bottleneck)
        self.in_conv = _conv(3, width, 3)
        self.encoder = nn.ModuleList([_Block(width, middle, width, resolution=b.resolution, residual=True, down=b.down)
                                      for b in encoder_blocks])
        with torch.no_grad():
            for block in self.encoder:
                block.convs[-1].weight.mul_(math.sqrt(1 / len(encoder_blocks)))
        self.decoder = nn.ModuleList([
            _TopDownBlock(width, latent_channels, resolution=b.resolution, mixin=b.mixin, depth=len(decoder_blocks),
                          bottleneck=bottleneck)
            for b in decoder_blocks])
        resolutions = sorted({b.resolution for b in decoder_blocks})
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(1, width, r, r)) for r in resolutions])
        self.gain = nn.Parameter(torch.ones(1, width, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, width, 1, 1))
        # per mixture component: a logit, then 3 means, 3 log scales and 3 coefficients
        self.out_conv = _conv(width, num_mix * 10, 1)
        self.num_mix, self.size = num_mix, size

    def loss(self, images: Tensor) -> Tensor:
        """Images ``(b, size, size, 3)`` in [-1, 1], channels-last -> the negative ELBO per dimension, batch mean."""
        h = self.in_conv(rearrange(images, "b h w c -> b c h w").contiguous())
        activations = {h.shape[2]: h}
        for block in self.encoder:
            h = block(h)
            activations[h.shape[2]] = h
        states = {bias.shape[2]: bias for bias in self.biases}
        kls = [block(states, activations[block.resolution]) for block in self.decoder]
        out = states[self.size] * self.gain + self.bias
        params = rearrange(self.out_conv(out), "b p h w -> b h w p")
        distortion = _mixture_nll(images, params, self.num_mix)
        rate = sum(kl.sum(dim=(1, 2, 3)) for kl in kls) / images[0].numel()
        return (distortion + rate).mean()
