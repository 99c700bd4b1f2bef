"""Radiance fields as ``ImplicitField`` components: position (+ view direction) -> colour and density.

A radiance field's coordinates are a point and the direction it is seen from. Within the field contract
(coordinates ``(..., in_dim)``) they are one vector: with ``view_dependent`` the first half of the
coordinates is the position and the second half the unit direction, so ``in_dim = 2k`` in k-D space (6 for
scenes); without it every coordinate is a position. By default (``view_dependent=None``) a field reads a
direction when its coordinates are a 3-D position and direction (``in_dim=6``, what NeRF gives it), and
otherwise reads them all as a position, so in a 2-D fit it sees both axes. The outputs are raw numbers,
colour channels first and density last (``out_dim = channels + 1``; with ``out_dim=1`` the density alone,
and the direction is unused): the model turns them into colour and density (sigmoid and its density
activation), so any field with those sizes — a plain ``siren`` too — can be a NeRF, and these fields fit
other signals (a decoder's field in a VAE) like any other.

Every field here is an encoding of the position, a *trunk* network on it giving features, and heads on
the features. View-dependent fields follow the NeRF paper's figure 7: the density is a linear function of
the trunk's features alone (so it cannot depend on the direction), the colour comes from a small ReLU
head on the features and the encoded direction. Others have one linear head.

- ``NeRFField`` (``nerf``): positional encoding, the paper's 8 x 256 ReLU MLP with the input
  concatenated again after its fifth layer.
- ``SirenNeRFField`` (``siren-nerf``): a SIREN trunk on the raw position (the registered ``siren`` field).
- ``HashGridField`` (``hashgrid``): Instant-NGP's multiresolution hash encoding and a tiny MLP; without
  ``view_dependent`` it fits images too (``hashgrid-camera``).
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor, nn

import zoo
from zoo.interfaces import ImplicitField
from zoo.nn import MLP
from zoo.nn.conditioning import append_latent
from zoo.nn.encodings import HashGridEncoding, PositionalEncoding
from zoo.recipes import Interval, NonNegativeInt, PositiveFloat, PositiveInt

__all__ = ["HashGridField", "NeRFField", "SirenNeRFField", "SkipMLP"]


class SkipMLP(nn.Module):
    """A ReLU MLP of ``num_layers`` layers whose input is concatenated to its hidden features after each
    layer in ``skips`` (0-based), as NeRF's trunk does after layer 4. ``(..., in_dim)`` -> ``(..., hidden_dim)``,
    ReLU features."""

    def __init__(self, in_dim: int, hidden_dim: int, num_layers: int, skips: tuple[int, ...] = ()):
        super().__init__()
        if num_layers < 1 or any(not 0 <= k < num_layers - 1 for k in skips):
            raise ValueError(f"a trunk of num_layers={num_layers} layers can skip after layers 0..{num_layers - 2}, "
                             f"got skips={tuple(skips)}")
        self.skips = tuple(skips)
        dims = [in_dim] + [hidden_dim + (in_dim if k - 1 in self.skips else 0) for k in range(1, num_layers)]
        self.layers = nn.ModuleList(nn.Linear(d, hidden_dim) for d in dims)

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for k, layer in enumerate(self.layers):
            h = layer(h).relu()
            if k in self.skips:
                h = torch.cat([h, x], dim=-1)
        return h


class _RadianceField(ImplicitField):
    """``encoding`` of the position (+ the latent) -> ``trunk`` -> features of size ``feature_dim`` -> heads.

    Subclasses build the encoding and the trunk in their constructors (whose typed arguments recipes
    validate); the splitting of the coordinates, the heads and the forward pass are this one.
    """

    def __init__(self, encoding: nn.Module, trunk: nn.Module, feature_dim: int, *, in_dim: int, out_dim: int,
                 latent_dim: int, view_dependent: bool | None, direction_frequencies: int, head_dim: int):
        super().__init__()
        self.in_dim, self.out_dim, self.latent_dim = in_dim, out_dim, latent_dim
        self.position_dim = position_dim(in_dim, view_dependent)
        # one output is a density alone: no colour for the direction to change, so it goes unused
        self.view_dependent = reads_direction(in_dim, view_dependent) and out_dim > 1
        self.encoding, self.trunk = encoding, trunk
        if not self.view_dependent:
            self.head = nn.Linear(feature_dim, out_dim)
            return
        self.direction_encoding = PositionalEncoding(self.position_dim, direction_frequencies)
        self.density = nn.Linear(feature_dim, 1)
        self.bottleneck = nn.Linear(feature_dim, feature_dim)
        self.colour = MLP(feature_dim + self.direction_encoding.out_dim, out_dim - 1, hidden_dim=head_dim,
                          num_layers=1)

    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        """``(..., in_dim)`` [, ``(b, latent_dim)``] -> ``(..., out_dim)``: raw colour channels, then density."""
        position = coords[..., : self.position_dim]
        features = self.trunk(append_latent(self.encoding(position), latent, self.latent_dim))
        if not self.view_dependent:
            return self.head(features)
        direction = self.direction_encoding(coords[..., self.position_dim :])
        colour = self.colour(torch.cat([self.bottleneck(features), direction], dim=-1))
        return torch.cat([colour, self.density(features)], dim=-1)


def reads_direction(in_dim: int, view_dependent: bool | None) -> bool:
    """Whether a field's ``in_dim`` coordinates end with a view direction: as ``view_dependent`` says, or
    (None) when they are a 3-D position and direction, ``in_dim=6``."""
    return in_dim == 6 if view_dependent is None else view_dependent


def position_dim(in_dim: int, view_dependent: bool | None) -> int:
    """How many of a field's ``in_dim`` coordinates are the position (the rest is the view direction)."""
    if not reads_direction(in_dim, view_dependent):
        return in_dim
    if in_dim % 2 or in_dim < 4:
        raise ValueError(f"a view-dependent field takes a position and a direction of the same size, at least 2-D: "
                         f"in_dim = 2k with k >= 2 (6 for 3-D scenes), got in_dim={in_dim}; or set "
                         f"view_dependent=false to read every coordinate as a position")
    return in_dim // 2


class NeRFField(_RadianceField):
    """The NeRF paper's field: γ(x) with ``num_frequencies`` octaves -> 8 x 256 ReLU layers (γ(x) again after
    the fifth) -> density, and with γ(d) (``direction_frequencies`` octaves) -> 128 ReLU -> colour.

    Positions are expected on ``[-1, 1]`` (the zoo's encodings put π in the frequencies, as the paper's
    eq. 4 does; the model scales the scene into that box). ``hidden_dim``, ``num_layers`` and ``skips``
    make small variants; the colour head is ``hidden_dim // 2`` wide.
    """

    def __init__(
        self,
        in_dim: PositiveInt = 6,
        out_dim: PositiveInt = 4,
        latent_dim: NonNegativeInt = 0,
        *,
        hidden_dim: PositiveInt = 256,
        num_layers: PositiveInt = 8,
        skips: tuple[NonNegativeInt, ...] = (4,),
        num_frequencies: PositiveInt = 10,
        direction_frequencies: PositiveInt = 4,
        view_dependent: bool | None = None,
    ):
        encoding = PositionalEncoding(position_dim(in_dim, view_dependent), num_frequencies)
        trunk = SkipMLP(encoding.out_dim + latent_dim, hidden_dim, num_layers, skips)
        super().__init__(encoding, trunk, hidden_dim, in_dim=in_dim, out_dim=out_dim, latent_dim=latent_dim,
                         view_dependent=view_dependent, direction_frequencies=direction_frequencies,
                         head_dim=hidden_dim // 2)


class SirenNeRFField(_RadianceField):
    """A radiance field whose trunk is a SIREN (the registered ``siren`` field) on the raw position.

    ``w0_initial`` is the first layer's frequency for positions on ``[-1, 1]``; the trunk's ``hidden_dim``
    linear outputs are the features the heads read.
    """

    def __init__(
        self,
        in_dim: PositiveInt = 6,
        out_dim: PositiveInt = 4,
        latent_dim: NonNegativeInt = 0,
        *,
        hidden_dim: PositiveInt = 256,
        num_layers: PositiveInt = 4,
        w0: PositiveFloat = 30.0,
        w0_initial: PositiveFloat = 30.0,
        direction_frequencies: PositiveInt = 4,
        view_dependent: bool | None = None,
    ):
        # through the registry, not an import: whichever plugin provides "siren" serves
        trunk = zoo.create("field", "siren", in_dim=position_dim(in_dim, view_dependent) + latent_dim,
                           out_dim=hidden_dim, hidden_dim=hidden_dim, num_layers=num_layers, w0=w0,
                           w0_initial=w0_initial)
        super().__init__(nn.Identity(), trunk, hidden_dim, in_dim=in_dim, out_dim=out_dim, latent_dim=latent_dim,
                         view_dependent=view_dependent, direction_frequencies=direction_frequencies,
                         head_dim=hidden_dim // 2)


class HashGridField(_RadianceField):
    """Instant-NGP's field: a multiresolution hash encoding of the position and a tiny ReLU MLP.

    The encoding's arguments are ``HashGridEncoding``'s (coordinates on ``[-1, 1]``); ``num_layers`` ReLU
    layers of ``hidden_dim`` follow. With ``view_dependent`` (scenes) the colour head sees the encoded
    direction; without it (images: ``in_dim=2``) one linear layer gives the values.
    """

    def __init__(
        self,
        in_dim: PositiveInt = 2,
        out_dim: PositiveInt = 1,
        latent_dim: NonNegativeInt = 0,
        *,
        num_levels: PositiveInt = 16,
        features_per_level: PositiveInt = 2,
        log2_table_size: Annotated[int, Interval(ge=1, le=24)] = 19,  # the paper's tables: 2^14 to 2^24
        base_resolution: PositiveInt = 16,
        max_resolution: PositiveInt = 2048,
        hidden_dim: PositiveInt = 64,
        num_layers: PositiveInt = 2,
        view_dependent: bool | None = None,
        direction_frequencies: PositiveInt = 4,
    ):
        encoding = HashGridEncoding(position_dim(in_dim, view_dependent), num_levels=num_levels,
                                    features_per_level=features_per_level, log2_table_size=log2_table_size,
                                    base_resolution=base_resolution, max_resolution=max_resolution)
        trunk = SkipMLP(encoding.out_dim + latent_dim, hidden_dim, num_layers)
        super().__init__(encoding, trunk, hidden_dim, in_dim=in_dim, out_dim=out_dim, latent_dim=latent_dim,
                         view_dependent=view_dependent, direction_frequencies=direction_frequencies,
                         head_dim=hidden_dim)
