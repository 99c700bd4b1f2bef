"""SIREN and the baselines it is compared against, as ``ImplicitField`` components.

- ``Siren``: sine activations with the paper's initialisation (Sitzmann et al. 2020, §3.2 and supplement
  §1.5); optional latent conditioning by concatenation or FiLM (as in π-GAN, Chan et al. 2021).
- ``ReluField``: a ReLU MLP on raw coordinates (``relu-mlp``).
- ``ReluPEField``: a ReLU MLP on NeRF's positional encoding (``relu-pe``).
- ``FourierFeatureField``: a ReLU MLP on random Gaussian Fourier features (``fourier-features``,
  Tancik et al. 2020).

All take coordinates ``(..., in_dim)`` and return ``(..., out_dim)``; with ``latent_dim > 0`` they take
coordinates ``(b, n, in_dim)`` and a latent ``(b, latent_dim)``. ``num_layers`` counts hidden layers as
``zoo.nn.MLP`` does: the official SIREN notebook's ``hidden_layers=3`` (first layer + 3 hidden + a linear
head) is ``num_layers=4`` here.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from zoo.interfaces import ImplicitField
from zoo.nn import MLP
from zoo.nn.conditioning import append_latent, check_latent
from zoo.nn.encodings import FourierFeatures, PositionalEncoding
from zoo.recipes import NonNegativeInt, PositiveFloat, PositiveInt

__all__ = ["Siren", "SineLayer", "ReluField", "ReluPEField", "FourierFeatureField"]


class SineLayer(nn.Module):
    """``sin(w0 · (W x + b))`` with SIREN's initialisation.

    First layer: ``W ~ U(-1/n, 1/n)``; later layers: ``W ~ U(-√(6/n)/w0, √(6/n)/w0)`` (``n`` = fan-in),
    so that ``w0 · W x`` has unit variance and every layer's pre-activations keep the same distribution
    (the paper's §3.2). The bias keeps PyTorch's default ``U(-1/√n, 1/√n)``, as the reference code does.

    ``w0`` multiplies the (small) weight matrix and bias rather than the ``(n, out)`` pre-activations:
    the same function and the same parameter gradients, one full-size elementwise pass fewer.
    """

    def __init__(self, in_dim: int, out_dim: int, *, w0: float = 30.0, first: bool = False):
        super().__init__()
        self.w0 = w0
        self.linear = nn.Linear(in_dim, out_dim)
        bound = 1 / in_dim if first else math.sqrt(6 / in_dim) / w0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def preactivation(self, x: Tensor) -> Tensor:
        """``(..., in_dim)`` -> ``w0 · (W x + b)``, ``(..., out_dim)``."""
        return F.linear(x, self.w0 * self.linear.weight, self.w0 * self.linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_dim)`` -> ``(..., out_dim)``."""
        return torch.sin(self.preactivation(x))


class Siren(ImplicitField):
    """SIREN: an MLP with sine activations, able to fit signals together with their derivatives.

    ``w0_initial`` is the first layer's frequency (30 for images on ``[-1, 1]``; far higher for audio,
    3000 in the paper); ``w0`` that of the later layers. The head is linear, initialised like a hidden
    layer. ``conditioning`` says how a latent enters when ``latent_dim > 0``: ``"concat"`` appends it to
    the coordinates, ``"film"`` modulates every sine layer, ``sin(w0 · (γ(z) ⊙ (W x + b) + β(z)))`` with
    ``γ = 1 + A z``, ``β = B z``.
    """

    def __init__(
        self,
        in_dim: PositiveInt = 2,
        out_dim: PositiveInt = 1,
        latent_dim: NonNegativeInt = 0,
        *,
        hidden_dim: PositiveInt = 256,
        num_layers: PositiveInt = 4,
        w0: PositiveFloat = 30.0,
        w0_initial: PositiveFloat = 30.0,
        conditioning: Literal["concat", "film"] = "concat",
    ):
        super().__init__()
        self.in_dim, self.out_dim, self.latent_dim = in_dim, out_dim, latent_dim
        self.conditioning = conditioning
        concat = latent_dim if conditioning == "concat" else 0
        dims = [in_dim + concat] + [hidden_dim] * num_layers
        self.layers = nn.ModuleList(
            SineLayer(d_in, d_out, w0=w0_initial if i == 0 else w0, first=i == 0)
            for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:]))
        )
        self.head = nn.Linear(hidden_dim, out_dim)
        bound = math.sqrt(6 / hidden_dim) / w0
        with torch.no_grad():
            self.head.weight.uniform_(-bound, bound)
        # FiLM: one (γ - 1, β) pair of hidden_dim vectors per sine layer, linear in the latent and without
        # a bias, so z = 0 is exactly the unmodulated SIREN (a GON's first, origin-at-zero evaluation).
        film = latent_dim > 0 and conditioning == "film"
        self.film = nn.Linear(latent_dim, 2 * num_layers * hidden_dim, bias=False) if film else None

    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        """``(..., in_dim)`` [, ``(b, latent_dim)`` with coords ``(b, n, in_dim)``] -> ``(..., out_dim)``."""
        if self.film is None:
            x = append_latent(coords, latent, self.latent_dim)
            for layer in self.layers:
                x = layer(x)
            return self.head(x)
        check_latent(coords, latent, self.latent_dim)
        num = len(self.layers)
        gammas, betas = self.film(latent)[:, None, :].chunk(2, dim=-1)  # (b, 1, num * hidden) each
        x = coords
        for layer, gamma, beta in zip(self.layers, gammas.chunk(num, dim=-1), betas.chunk(num, dim=-1)):
            # sin(w0 (γ ⊙ (Wx + b) + β)), with w0 folded in as in SineLayer
            x = torch.sin((1 + gamma) * layer.preactivation(x) + layer.w0 * beta)
        return self.head(x)


class _EncodedReluField(ImplicitField):
    """A ReLU MLP on ``encoding(coords)`` (+ the latent): the three baselines differ only in the encoding.

    Subclasses pick the encoding in their constructor (whose typed arguments recipes validate); the
    forward pass is this one.
    """

    def __init__(
        self, encoding: nn.Module, encoded_dim: int, in_dim: int, out_dim: int, latent_dim: int,
        hidden_dim: int, num_layers: int,
    ):
        super().__init__()
        self.in_dim, self.out_dim, self.latent_dim = in_dim, out_dim, latent_dim
        self.encoding = encoding
        self.mlp = MLP(encoded_dim + latent_dim, out_dim, hidden_dim=hidden_dim, num_layers=num_layers)

    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        """``(..., in_dim)`` [, ``(b, latent_dim)``] -> ``(..., out_dim)``."""
        return self.mlp(append_latent(self.encoding(coords), latent, self.latent_dim))


class ReluField(_EncodedReluField):
    """A ReLU MLP on raw coordinates: the baseline that cannot fit high frequencies (spectral bias)."""

    def __init__(
        self,
        in_dim: PositiveInt = 2,
        out_dim: PositiveInt = 1,
        latent_dim: NonNegativeInt = 0,
        *,
        hidden_dim: PositiveInt = 256,
        num_layers: NonNegativeInt = 4,
    ):
        super().__init__(nn.Identity(), in_dim, in_dim, out_dim, latent_dim, hidden_dim, num_layers)


class ReluPEField(_EncodedReluField):
    """A ReLU MLP on NeRF's positional encoding (the SIREN paper's "ReLU P.E." baseline).

    The paper picks ``num_frequencies`` from the Nyquist rate of the signal: 6 octaves for a 256-pixel
    image on ``[-1, 1]`` (highest frequency 2^5 π, a period of 8 pixels).
    """

    def __init__(
        self,
        in_dim: PositiveInt = 2,
        out_dim: PositiveInt = 1,
        latent_dim: NonNegativeInt = 0,
        *,
        hidden_dim: PositiveInt = 256,
        num_layers: NonNegativeInt = 4,
        num_frequencies: PositiveInt = 6,
    ):
        encoding = PositionalEncoding(in_dim, num_frequencies)
        super().__init__(encoding, encoding.out_dim, in_dim, out_dim, latent_dim, hidden_dim, num_layers)


class FourierFeatureField(_EncodedReluField):
    """A ReLU MLP on random Gaussian Fourier features (Tancik et al. 2020).

    ``sigma`` is the standard deviation of the frequencies for coordinates on ``[-1, 1]`` (the paper's
    σ = 10 on ``[0, 1]`` is 5 here).
    """

    def __init__(
        self,
        in_dim: PositiveInt = 2,
        out_dim: PositiveInt = 1,
        latent_dim: NonNegativeInt = 0,
        *,
        hidden_dim: PositiveInt = 256,
        num_layers: NonNegativeInt = 4,
        num_features: PositiveInt = 256,
        sigma: PositiveFloat = 5.0,
    ):
        encoding = FourierFeatures(in_dim, num_features, sigma=sigma)
        super().__init__(encoding, encoding.out_dim, in_dim, out_dim, latent_dim, hidden_dim, num_layers)
