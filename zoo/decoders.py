"""The bridge from implicit fields to decoders: ``FieldDecoder`` (a core component, not a paper's).

Registered as decoder ``field``: ``decoder: {name: field, field: {name: siren}, likelihood: ...}`` puts
any ImplicitField inside a VAE or a GON, and the decoder renders at any resolution.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor
from torch.distributions import Distribution

from zoo.errors import IncompatibleComponentsError
from zoo.hookspecs import hookimpl
from zoo.interfaces import Decoder, ImplicitField, Likelihood
from zoo.nn.coords import coordinate_grid


class FieldDecoder(Decoder):
    """Decode z by evaluating a latent-conditioned implicit field on the data's coordinate grid.

    ``shape`` is the data shape ``(c, *spatial)``: the field maps ``len(spatial)`` coordinates (+ the
    latent) to ``likelihood.num_params(c)`` numbers, which the likelihood turns into p(x | z).
    A field is defined everywhere, so this decoder is resizable: ``forward(z, spatial=(h, w))`` decodes on
    a grid of any size.
    """

    resizable = True

    def __init__(self, field: ImplicitField, likelihood: Likelihood, shape: tuple[int, ...]):
        super().__init__()
        channels, *spatial = shape
        needed = likelihood.num_params(channels)
        if field.in_dim != len(spatial):
            raise IncompatibleComponentsError(
                f"the field takes {field.in_dim}-D coordinates but data of shape {tuple(shape)} has "
                f"{len(spatial)} spatial dims; set field.in_dim={len(spatial)}"
            )
        if field.out_dim != needed:
            raise IncompatibleComponentsError(
                f"the field outputs {field.out_dim} values per point but {type(likelihood).__name__} needs "
                f"{needed} for {channels} channel(s); set field.out_dim={needed}"
            )
        if field.latent_dim <= 0:
            raise IncompatibleComponentsError(
                "a FieldDecoder needs a latent-conditioned field (field.latent_dim > 0)"
            )
        self.field, self.likelihood = field, likelihood
        self.shape = tuple(shape)
        self.latent_dim = field.latent_dim

    def forward(self, z: Tensor, spatial: tuple[int, ...] | None = None) -> Distribution:
        """``(b, latent_dim)`` -> p(x | z) over ``(b, c, *spatial)``; ``spatial`` defaults to the data's."""
        spatial = tuple(spatial or self.shape[1:])
        grid = coordinate_grid(spatial, device=z.device, dtype=z.dtype)
        coords = rearrange(grid, "... k -> (...) k").expand(z.shape[0], -1, -1)  # (b, n, k)
        values = self.field(coords, z)  # (b, n, out)
        params = rearrange(values, "b n o -> b o n").unflatten(2, spatial)
        return self.likelihood(params)


@hookimpl
def register_components(register):
    register("decoder", "field", FieldDecoder)
