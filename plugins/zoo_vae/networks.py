"""MLP and convolutional encoders and decoders for small images, and the posterior head they share.

Encoders map x ``(b, *shape)`` to q(z|x): a diagonal Gaussian ``Independent(Normal(μ, σ), 1)``, or with
``deterministic=True`` a ``PointMass`` (a plain autoencoder's, or a Wasserstein autoencoder's code).
Decoders map z ``(b, latent_dim)`` to ``likelihood.num_params(c)`` numbers per pixel and hand
them to their ``Likelihood``, which makes p(x|z).

The convolutional pair handles any image size: each stage halves the resolution rounding up (3x3,
stride 2, padding 1), and the decoder retraces the exact sizes with transposed convolutions whose
``output_padding`` is chosen per stage, so 25x25 faces decode to 25x25 without cropping.
"""

from __future__ import annotations

import math

from einops import rearrange
from torch import Tensor, nn
from torch.distributions import Distribution

from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import Decoder, Encoder, Likelihood, PointMass
from zoo.likelihoods import at_least_float32
from zoo.nn import MLP, gaussian_posterior
from zoo.recipes import NonNegativeInt, PositiveInt

__all__ = ["ConvDecoder", "ConvEncoder", "MLPDecoder", "MLPEncoder", "check_input", "posterior"]

def posterior(raw: Tensor, deterministic: bool) -> Distribution:
    """Head outputs -> q(z|x): ``(b, d)`` -> ``PointMass``; ``(b, 2d)`` (μ, raw σ) -> diagonal Gaussian."""
    return PointMass(at_least_float32(raw)) if deterministic else gaussian_posterior(raw)


def head_dim(latent_dim: int, deterministic: bool) -> int:
    """Numbers a posterior head emits: d for a point mass, 2d (μ and σ) for a Gaussian."""
    return latent_dim if deterministic else 2 * latent_dim


def check_input(x: Tensor, shape: tuple[int, ...], who: str) -> None:
    """Raise a ValueError saying what ``who`` expected when ``x`` is not ``(b, *shape)``."""
    if tuple(x.shape[1:]) != shape:
        raise ValueError(
            f"{who} was built for data of shape {shape} and got a batch of shape {tuple(x.shape)}; "
            f"set its shape to {list(x.shape[1:])}"
        )


def _image_shape(shape: tuple[int, ...], kind: str) -> tuple[int, int, int]:
    if len(shape) != 3 or min(shape) < 1:
        raise IncompatibleComponentsError(
            f"the conv {kind} works on images (c, h, w), got shape {tuple(shape)}; "
            f"for other shapes use the mlp {kind}"
        )
    return shape  # type: ignore[return-value]


def _stage_sizes(size: tuple[int, int], stages: int) -> list[tuple[int, int]]:
    """Spatial sizes after 0..stages stride-2 convolutions: each halves, rounding up."""
    sizes = [size]
    for _ in range(stages):
        h, w = sizes[-1]
        sizes.append((math.ceil(h / 2), math.ceil(w / 2)))
    return sizes


class MLPEncoder(Encoder):
    """Flatten the image, then an MLP to the posterior's parameters (Gaussian or point mass)."""

    def __init__(
        self,
        shape: tuple[PositiveInt, ...],
        latent_dim: PositiveInt,
        *,
        hidden_dim: PositiveInt = 256,
        num_layers: NonNegativeInt = 2,
        deterministic: bool = False,
    ):
        super().__init__()
        self.shape, self.latent_dim, self.deterministic = tuple(shape), latent_dim, deterministic
        self.net = MLP(
            math.prod(shape),
            head_dim(latent_dim, deterministic),
            hidden_dim=hidden_dim,
            num_layers=num_layers,
        )

    def forward(self, x: Tensor) -> Distribution:
        """``(b, *shape)`` -> q(z|x), batch ``(b,)``, event ``(latent_dim,)``."""
        check_input(x, self.shape, "the mlp encoder")
        return posterior(self.net(rearrange(x, "b ... -> b (...)")), self.deterministic)


class MLPDecoder(Decoder):
    """An MLP from z to every pixel's likelihood parameters at once."""

    def __init__(
        self,
        shape: tuple[PositiveInt, ...],
        latent_dim: PositiveInt,
        likelihood: Likelihood,
        *,
        hidden_dim: PositiveInt = 256,
        num_layers: NonNegativeInt = 2,
    ):
        super().__init__()
        self.shape, self.latent_dim, self.likelihood = tuple(shape), latent_dim, likelihood
        self.param_shape = (likelihood.num_params(shape[0]), *shape[1:])
        self.net = MLP(latent_dim, math.prod(self.param_shape), hidden_dim=hidden_dim, num_layers=num_layers)

    def forward(self, z: Tensor) -> Distribution:
        """``(b, latent_dim)`` -> p(x|z), batch ``(b,)``, event ``shape``."""
        return self.likelihood(self.net(z).unflatten(1, self.param_shape))


class ConvEncoder(Encoder):
    """Stride-2 3x3 convolutions (SiLU), then a linear posterior head; any image size."""

    def __init__(
        self,
        shape: tuple[PositiveInt, ...],
        latent_dim: PositiveInt,
        *,
        channels: tuple[PositiveInt, ...] = (32, 64),
        deterministic: bool = False,
    ):
        super().__init__()
        c, h, w = _image_shape(tuple(shape), "encoder")
        self.shape, self.latent_dim, self.deterministic = (c, h, w), latent_dim, deterministic
        layers: list[nn.Module] = []
        for width_in, width_out in zip((c, *channels[:-1]), channels):
            layers += [nn.Conv2d(width_in, width_out, 3, stride=2, padding=1), nn.SiLU()]
        self.features = nn.Sequential(*layers)
        last_h, last_w = _stage_sizes((h, w), len(channels))[-1]
        self.head = nn.Linear(channels[-1] * last_h * last_w, head_dim(latent_dim, deterministic))

    def forward(self, x: Tensor) -> Distribution:
        """``(b, c, h, w)`` -> q(z|x), batch ``(b,)``, event ``(latent_dim,)``."""
        check_input(x, self.shape, "the conv encoder")
        features = rearrange(self.features(x), "b c h w -> b (c h w)")
        return posterior(self.head(features), self.deterministic)


class ConvDecoder(Decoder):
    """Linear to a coarse grid, then stride-2 transposed convolutions (SiLU) back to the exact image size.

    ``channels`` are the widths from the coarsest stage up (the encoder's, reversed); a final 3x3
    convolution emits ``likelihood.num_params(c)`` maps.
    """

    def __init__(
        self,
        shape: tuple[PositiveInt, ...],
        latent_dim: PositiveInt,
        likelihood: Likelihood,
        *,
        channels: tuple[PositiveInt, ...] = (64, 32),
    ):
        super().__init__()
        c, h, w = _image_shape(tuple(shape), "decoder")
        self.shape, self.latent_dim, self.likelihood = (c, h, w), latent_dim, likelihood
        sizes = _stage_sizes((h, w), len(channels))[::-1]  # coarsest first
        self.base = (channels[0], *sizes[0])
        self.project = nn.Sequential(nn.Linear(latent_dim, math.prod(self.base)), nn.SiLU())
        layers: list[nn.Module] = []
        for width_in, width_out, target in zip(channels, (*channels[1:], channels[-1]), sizes[1:]):
            # out = 2 * in - 1 + output_padding: 1 for an even target size, 0 for an odd one
            padding_out = tuple(1 - t % 2 for t in target)
            layers += [
                nn.ConvTranspose2d(width_in, width_out, 3, stride=2, padding=1, output_padding=padding_out),
                nn.SiLU(),
            ]
        self.upsample = nn.Sequential(*layers)
        self.out = nn.Conv2d(channels[-1], likelihood.num_params(c), 3, padding=1)

    def forward(self, z: Tensor) -> Distribution:
        """``(b, latent_dim)`` -> p(x|z), batch ``(b,)``, event ``(c, h, w)``."""
        grid = self.project(z).unflatten(1, self.base)  # (b, channels[0], h_coarse, w_coarse)
        return self.likelihood(self.out(self.upsample(grid)))
