"""Decoders in the core: the checks every model holding a decoder makes, and ``FieldDecoder``.

``decoded_shape`` and ``check_batch`` are what a VAE, an autoencoder or a GON asks of any decoder before
training: the data shape it decodes, and whether a batch has it.

``FieldDecoder`` is the bridge from implicit fields to decoders (a core component, not a paper's).
Registered as decoder ``field``: ``decoder: {name: field, field: {name: siren}, likelihood: ...}`` puts
any ImplicitField inside a VAE or a GON, and the decoder renders at any resolution.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from einops import rearrange
from torch import Tensor
from torch.distributions import Distribution

from zoo.errors import IncompatibleComponentsError
from zoo.hookspecs import hookimpl
from zoo.interfaces import Decoder, ImplicitField, Likelihood
from zoo.nn.coords import coordinate_grid
from zoo.nn.modes import eval_mode
from zoo.arguments import PositiveInt


def decoded_shape(decoder: Decoder) -> tuple[int, ...]:
    """The data shape ``decoder``'s p(x|z) is over, from two zero latents (eval mode, no gradients).

    Raises ``IncompatibleComponentsError`` when it can't decode them or returns other than batch ``(2,)``.
    """
    try:
        with eval_mode(decoder), torch.no_grad():
            px = decoder(torch.zeros(2, decoder.latent_dim))
    except Exception as error:
        raise IncompatibleComponentsError(
            f"decoder {type(decoder).__name__} failed to decode latents of shape (2, {decoder.latent_dim}): {error}"
        ) from error
    if tuple(px.batch_shape) != (2,):
        raise IncompatibleComponentsError(
            f"decoder {type(decoder).__name__} returned p(x|z) with batch shape {tuple(px.batch_shape)} for 2 "
            f"latents; a Decoder returns batch shape (b,), with the data shape as its event"
        )
    return tuple(px.event_shape)


def check_batch(batch: Tensor, shape: tuple[int, ...], *, model: str, components: str = "decoder") -> Tensor:
    """``batch`` if it is a tensor ``(b, *shape)``, else an ``IncompatibleComponentsError`` that names both
    shapes and what to build with the data's shape (``components`` of ``model``)."""
    if isinstance(batch, Tensor) and tuple(batch.shape[1:]) == shape:
        return batch
    if not isinstance(batch, Tensor):
        raise IncompatibleComponentsError(f"the {model} takes a tensor batch (b, {', '.join(map(str, shape))}), "
                                          f"got {type(batch).__name__}")
    raise IncompatibleComponentsError(
        f"the {model}'s decoder produces data of shape {shape} but the batch is {tuple(batch.shape)}; build "
        f"the {components} with shape {list(batch.shape[1:])}"
    )


class FieldDecoder(Decoder):
    """Decode z by evaluating a latent-conditioned implicit field on the data's coordinate grid.

    ``shape`` is the data shape ``(c, *spatial)``: the field maps ``len(spatial)`` coordinates (+ the
    latent) to ``likelihood.num_params(c)`` numbers, which the likelihood turns into p(x | z); a recipe
    leaves the field's ``in_dim`` and ``out_dim`` out, and this decoder gives them (``part_sizes``).
    A field is defined everywhere, so this decoder is resizable: ``forward(z, spatial=(h, w))`` decodes on
    a grid of any size.
    """

    resizable = True
    part_sizes: ClassVar = {
        "field": {"in_dim": lambda shape: len(shape) - 1,
                  "out_dim": lambda shape, likelihood: likelihood.num_params(shape[0])},
    }

    def __init__(self, field: ImplicitField, likelihood: Likelihood, shape: tuple[PositiveInt, ...]):
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
