"""Coordinate encodings: lift low-dimensional coordinates to features an MLP can fit high frequencies from.

- ``PositionalEncoding``: NeRF's deterministic encoding, sin/cos of the coordinates at octave-spaced
  frequencies (Mildenhall et al. 2020, https://arxiv.org/abs/2003.08934, eq. 4).
- ``FourierFeatures``: random Gaussian Fourier features (Tancik et al. 2020, "Fourier Features Let
  Networks Learn High Frequency Functions in Low Dimensional Domains", https://arxiv.org/abs/2006.10739).
- ``HashGridEncoding``: trainable multiresolution hash grids (Müller et al. 2022, "Instant Neural Graphics
  Primitives with a Multiresolution Hash Encoding", https://arxiv.org/abs/2201.05989).

Both are small modules in the style of nerfstudio's ``field_components/encodings.py``: they know their
``in_dim`` and ``out_dim`` and map ``(..., in_dim)`` to ``(..., out_dim)``, so fields (SIREN's baselines,
NeRF, the hash-grid field) compose them with an MLP.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["PositionalEncoding", "FourierFeatures", "HashGridEncoding"]


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


# Instant-NGP's spatial hash: the coordinates times large primes, XOR-ed (the first prime is 1 for cache
# coherence along x). Extra primes for more than 3 dimensions follow tiny-cuda-nn.
_HASH_PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)


def _cell_corners(terms: Tensor, combine) -> Tensor:
    """Per-axis terms ``(..., d, 2)`` (for a cell's lower and upper vertex) -> ``(..., 2^d)``, one per corner.

    Corners are numbered in binary with axis 0 the most significant bit; corner ``c`` combines, over the
    axes, the term its bit picks (0: lower, 1: upper). d - 1 small broadcasts instead of ``2^d x d`` values.
    """
    out = terms[..., 0, :]
    for k in range(1, terms.shape[-2]):
        out = combine(out[..., :, None], terms[..., k, None, :]).flatten(-2)
    return out


class HashGridEncoding(nn.Module):
    """Instant-NGP's multiresolution hash encoding (Müller et al. 2022, §3), in plain PyTorch.

    ``num_levels`` grids cover ``[-1, 1]^in_dim`` with resolutions growing geometrically from
    ``base_resolution`` to ``max_resolution`` cells per side. Every vertex of a level owns
    ``features_per_level`` trainable numbers, kept in that level's table: indexed directly while the level
    has at most ``2**log2_table_size`` vertices (the coarse levels), else through the spatial hash, whose
    collisions the training resolves (the paper's argument). A point's features at a level are the
    d-linear interpolation of its cell's ``2**in_dim`` vertices, so the encoding is continuous in the
    coordinates and differentiable in them and in the tables. Coordinates outside ``[-1, 1]`` are clamped.
    ``out_dim = num_levels * features_per_level``.

    All levels and corners at once: ``(n, levels, 2^d)`` table rows gathered by one ``index_select``
    (whose backward, an index-add into the table, is several times faster on a CPU than
    ``F.embedding``'s), weighted by an einsum that never materialises the weighted rows.
    """

    def __init__(
        self,
        in_dim: int,
        *,
        num_levels: int = 16,
        features_per_level: int = 2,
        log2_table_size: int = 19,
        base_resolution: int = 16,
        max_resolution: int = 2048,
        init_scale: float = 1e-4,
    ):
        super().__init__()
        if not 1 <= in_dim <= len(_HASH_PRIMES):
            raise ValueError(f"the hash grid encodes 1 to {len(_HASH_PRIMES)} dimensions, got in_dim={in_dim}")
        if num_levels < 1 or features_per_level < 1 or not 1 <= base_resolution <= max_resolution:
            raise ValueError(f"need num_levels >= 1, features_per_level >= 1 and 1 <= base_resolution <= "
                             f"max_resolution; got {num_levels}, {features_per_level}, {base_resolution}, "
                             f"{max_resolution}")
        self.in_dim, self.num_levels, self.features_per_level = in_dim, num_levels, features_per_level
        self.out_dim = num_levels * features_per_level
        growth = math.exp(math.log(max_resolution / base_resolution) / max(1, num_levels - 1))
        resolutions = [math.floor(base_resolution * growth**level) for level in range(num_levels)]
        capacity = 2**log2_table_size
        sizes = [min(capacity, (r + 1) ** in_dim) for r in resolutions]
        dense = [(r + 1) ** in_dim <= capacity for r in resolutions]
        self.register_buffer("resolutions", torch.tensor(resolutions), persistent=False)  # (l,)
        self.register_buffer("dense", torch.tensor(dense), persistent=False)  # (l,)
        self.register_buffer("sizes", torch.tensor(sizes), persistent=False)  # (l,)
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), persistent=False)  # (l,)
        strides = torch.tensor([[(r + 1) ** k for k in range(in_dim)] for r in resolutions])
        self.register_buffer("strides", strides, persistent=False)  # (l, d): row-major vertex index of a dense level
        self.register_buffer("primes", torch.tensor(_HASH_PRIMES[:in_dim]), persistent=False)  # (d,)
        self.table = nn.Parameter(torch.empty(sum(sizes), features_per_level).uniform_(-init_scale, init_scale))

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_dim)`` on ``[-1, 1]`` -> ``(..., num_levels * features_per_level)``."""
        lead = x.shape[:-1]
        unit = ((x.reshape(-1, self.in_dim) + 1) / 2).clamp(0.0, 1.0)  # (n, d) on [0, 1]
        scaled = unit[:, None, :] * self.resolutions[:, None]  # (n, l, d) in cells
        cell = scaled.detach().floor().clamp(max=self.resolutions[:, None] - 1)  # the last vertex closes the grid
        fraction = scaled - cell  # (n, l, d) in [0, 1]: where the point sits in its cell
        vertex = torch.stack([cell, cell + 1], dim=-1).long()  # (n, l, d, 2): each axis's two vertex coordinates
        # levels are sorted coarse to fine, so the directly indexed ones come first
        k = int(self.dense.sum())
        direct = _cell_corners(vertex[:, :k] * self.strides[:k, :, None], torch.add)  # row-major vertex index
        hashed = _cell_corners(vertex[:, k:] * self.primes[:, None], torch.bitwise_xor) & (self.sizes[k:, None] - 1)
        index = torch.cat([direct, hashed], dim=1) + self.offsets[:, None]  # (n, l, 2^d) rows of the table
        # d-linear interpolation: a vertex weighs the product over axes of (1 - fraction) or fraction
        weights = _cell_corners(torch.stack([1 - fraction, fraction], dim=-1), torch.mul)  # (n, l, 2^d)
        n, levels, corners = index.shape
        # the feature size spelled out: a view of zero points can't infer it (-1), and NeRF's occupancy grid
        # can leave a chunk of rays with no sample to evaluate
        features = self.table.index_select(0, index.flatten()).view(n, levels, corners, self.features_per_level)
        return torch.einsum("nlc,nlcf->nlf", weights, features).reshape(*lead, self.out_dim)

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, levels={self.num_levels}, features={self.features_per_level}, "
                f"resolutions={self.resolutions[0].item()}..{self.resolutions[-1].item()}, "
                f"table={self.table.shape[0]}")
