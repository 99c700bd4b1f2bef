"""VDVAE's two blocks: the residual bottleneck (both paths) and the top-down block with its prior and posterior.

- ``Bottleneck``: GELU -> 1x1 -> GELU -> 3x3 -> GELU -> 3x3 -> GELU -> 1x1, a quarter of the width inside
  (3x3 become 1x1 at resolutions of 2 and below), optionally residual and followed by average pooling.
  Its last convolution is where the depth scaling goes: in a stack of n residual blocks each one's output is
  scaled by 1/√n at initialisation, so the residual stream's variance stays O(1) however deep the stack.
- ``TopDownBlock``: from the decoder state h and (when encoding) the encoder's activation at this
  resolution, a prior p(z | h) and a posterior q(z | h, x) over a ``(latent_channels, r, r)`` map; z (a
  posterior draw when encoding, a prior draw otherwise) is projected and added to h, then a residual
  bottleneck. The prior's head starts at zero, so at initialisation every prior is N(0, I) and the state
  passes through unchanged.

Both are written from the paper's description (Child 2021, section 3 and figure 3).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from zoo.likelihoods import at_least_float32

__all__ = ["Bottleneck", "Latent", "TopDownBlock"]


def _conv(width_in: int, width_out: int, kernel: int) -> nn.Conv2d:
    conv = nn.Conv2d(width_in, width_out, kernel, padding=kernel // 2)
    nn.init.zeros_(conv.bias)
    return conv


class Bottleneck(nn.Module):
    """``(b, width_in, r, r)`` -> ``(b, width_out, r / down, r / down)``: four convolutions through a narrow middle.

    ``residual`` adds the input (width_in == width_out). ``out_scale`` multiplies the last convolution's
    initial weights (1/√depth in a residual stack, 0 for a head that must start silent).
    """

    def __init__(self, width_in: int, width_mid: int, width_out: int, *, resolution: int, residual: bool = False,
                 down: int | None = None, out_scale: float = 1.0):
        super().__init__()
        if residual and width_in != width_out:
            raise ValueError(f"a residual block keeps its width, got {width_in} -> {width_out}")
        kernel = 3 if resolution > 2 else 1  # a 3x3 kernel on a 2x2 or 1x1 map sees mostly padding
        self.convs = nn.ModuleList([
            _conv(width_in, width_mid, 1), _conv(width_mid, width_mid, kernel),
            _conv(width_mid, width_mid, kernel), _conv(width_mid, width_out, 1),
        ])
        with torch.no_grad():
            self.convs[-1].weight.mul_(out_scale)
        self.residual, self.down = residual, down

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for conv in self.convs:
            h = conv(F.gelu(h))
        out = x + h if self.residual else h
        return F.avg_pool2d(out, self.down) if self.down else out


class Latent(NamedTuple):
    """What one top-down block drew: z ``(b, z, r, r)``, its prior p(z | z_<i) and, when encoding, the
    posterior q(z | x, z_<i) (both with batch ``(b,)`` and event ``(z, r, r)``)."""

    z: Tensor
    prior: Independent
    posterior: Independent | None


def _gaussian(raw: Tensor) -> Independent:
    """``(b, 2z, r, r)`` (means, log standard deviations) -> a diagonal Gaussian, batch ``(b,)``, event ``(z, r, r)``.

    The log standard deviation is used as is, as in the reference: the shared loop's gradient clipping and
    update skipping are what keep it in range.
    """
    loc, log_scale = at_least_float32(raw).chunk(2, dim=1)
    return Independent(Normal(loc, torch.exp(log_scale), validate_args=False), 3, validate_args=False)


class TopDownBlock(nn.Module):
    """One stochastic layer of the top-down path at resolution ``resolution``; ``depth``: the decoder's block count."""

    def __init__(self, width: int, latent_channels: int, *, resolution: int, depth: int, bottleneck: float = 0.25):
        super().__init__()
        middle = max(1, int(width * bottleneck))
        scale = 1.0 / math.sqrt(depth)
        self.posterior_net = Bottleneck(2 * width, middle, 2 * latent_channels, resolution=resolution)
        # the prior's head also feeds the state (the last `width` channels); zero at first: N(0, I), h unchanged
        self.prior_net = Bottleneck(width, middle, 2 * latent_channels + width, resolution=resolution, out_scale=0.0)
        self.z_proj = _conv(latent_channels, width, 1)
        with torch.no_grad():
            self.z_proj.weight.mul_(scale)
        self.resnet = Bottleneck(width, middle, width, resolution=resolution, residual=True, out_scale=scale)
        self.latent_channels = latent_channels

    def forward(self, h: Tensor, activation: Tensor | None = None, *, temperature: float = 1.0,
                posterior_mean: bool = False) -> tuple[Tensor, Latent]:
        """State ``(b, w, r, r)`` [+ encoder activation ``(b, w, r, r)``] -> new state and the block's ``Latent``.

        With an activation z is drawn from the posterior (its mean with ``posterior_mean``); without, from
        the prior with its standard deviation times ``temperature`` (0: the prior mean).
        """
        features = self.prior_net(h)
        prior = _gaussian(features[:, : 2 * self.latent_channels])
        posterior = None
        if activation is not None:
            posterior = _gaussian(self.posterior_net(torch.cat([h, activation], dim=1)))
            z = posterior.mean if posterior_mean else posterior.rsample()
        else:
            normal = prior.base_dist
            z = normal.loc + temperature * normal.scale * torch.randn_like(normal.loc) if temperature else normal.loc
        h = h + features[:, 2 * self.latent_channels:] + self.z_proj(z.to(h.dtype))
        return self.resnet(h), Latent(z, prior, posterior)
