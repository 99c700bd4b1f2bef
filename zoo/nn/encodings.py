"""Coordinate encodings: lift low-dimensional coordinates to features an MLP can fit high frequencies from.

- ``PositionalEncoding``: NeRF's deterministic encoding, sin/cos of the coordinates at octave-spaced
  frequencies (Mildenhall et al. 2020, https://arxiv.org/abs/2003.08934, eq. 4).
- ``FourierFeatures``: random Gaussian Fourier features (Tancik et al. 2020, "Fourier Features Let
  Networks Learn High Frequency Functions in Low Dimensional Domains", https://arxiv.org/abs/2006.10739).

Both are small modules in the style of nerfstudio's ``field_components/encodings.py``: they know their
``in_dim`` and ``out_dim`` and map ``(..., in_dim)`` to ``(..., out_dim)``, so fields (SIREN's baselines,
NeRF) compose them with an MLP.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["PositionalEncoding", "FourierFeatures"]


class PositionalEncoding(nn.Module):
    """NeRF's positional encoding: ``x -> (x, sin(2^k π x), cos(2^k π x))`` for ``k`` in the octaves.

    The frequencies are ``2^k π`` for ``num_frequencies`` exponents ``k`` evenly spaced from
    ``min_freq_exp`` to ``max_freq_exp`` (default ``num_frequencies - 1``: NeRF's ``k = 0 .. L-1``), for
    coordinates normalised to ``[-1, 1]``. Features are ordered ``[x, sin(all), cos(all)]``, where each
    block runs over frequencies, then coordinates.
    """

    def __init__(
        self,
        in_dim: int,
        num_frequencies: int = 10,
        *,
        min_freq_exp: float = 0.0,
        max_freq_exp: float | None = None,
        include_input: bool = True,
    ):
        super().__init__()
        if num_frequencies < 1:
            raise ValueError(f"num_frequencies must be at least 1, got {num_frequencies}")
        max_freq_exp = num_frequencies - 1 if max_freq_exp is None else max_freq_exp
        self.in_dim, self.include_input = in_dim, include_input
        exponents = torch.linspace(min_freq_exp, max_freq_exp, num_frequencies)
        self.register_buffer("frequencies", math.pi * 2.0**exponents, persistent=False)  # (f,)
        self.out_dim = in_dim * 2 * num_frequencies + (in_dim if include_input else 0)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_dim)`` -> ``(..., out_dim)``."""
        scaled = (x[..., None, :] * self.frequencies[:, None]).flatten(-2)  # (..., f * in_dim)
        features = [torch.sin(scaled), torch.cos(scaled)]
        return torch.cat([x, *features] if self.include_input else features, dim=-1)


class FourierFeatures(nn.Module):
    """Random Fourier features: ``x -> (cos(2π B x), sin(2π B x))`` with a fixed ``B ~ N(0, sigma²)``.

    ``B`` is ``(num_features, in_dim)``, drawn once from the global RNG at construction (seed it for
    reproducibility) and stored as a buffer, so it is saved with the model but never trained. ``sigma``
    sets the bandwidth: Tancik et al. use 10 for images with coordinates in ``[0, 1]``, which is 5 for
    the zoo's ``[-1, 1]`` grids (the same frequencies per pixel). ``out_dim = 2 * num_features``
    (+ ``in_dim`` with ``include_input``).
    """

    def __init__(
        self, in_dim: int, num_features: int = 256, *, sigma: float = 5.0, include_input: bool = False
    ):
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be at least 1, got {num_features}")
        self.in_dim, self.include_input = in_dim, include_input
        self.register_buffer("B", torch.randn(num_features, in_dim) * sigma)  # (m, in_dim)
        self.out_dim = 2 * num_features + (in_dim if include_input else 0)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_dim)`` -> ``(..., out_dim)``."""
        projected = 2 * math.pi * x @ self.B.T  # (..., m)
        features = [torch.cos(projected), torch.sin(projected)]
        return torch.cat([x, *features] if self.include_input else features, dim=-1)
