"""How a latent code enters a field: checked against the field's ``latent_dim`` and appended to every point.

A conditioned field (``latent_dim > 0``) takes coordinates ``(b, n, k)`` and one latent ``(b, latent_dim)``
per batch row (the ``ImplicitField`` contract); an unconditioned one takes no latent.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["append_latent", "check_latent"]


def check_latent(coords: Tensor, latent: Tensor | None, latent_dim: int) -> None:
    """Raise a ValueError saying what to pass when ``latent`` does not fit a field with ``latent_dim``."""
    if latent_dim == 0:
        if latent is not None:
            raise ValueError("this field is unconditioned (latent_dim=0) but a latent was passed")
        return
    if latent is None:
        raise ValueError(
            f"this field is conditioned (latent_dim={latent_dim}): pass a latent (b, {latent_dim})"
        )
    if coords.dim() != 3 or latent.shape != (coords.shape[0], latent_dim):
        raise ValueError(
            f"a conditioned field takes coords (b, n, k) and latent (b, {latent_dim}); "
            f"got coords {tuple(coords.shape)} and latent {tuple(latent.shape)}"
        )


def append_latent(features: Tensor, latent: Tensor | None, latent_dim: int) -> Tensor:
    """Append one latent per batch row to every point: ``(b, n, f)`` + ``(b, d)`` -> ``(b, n, f + d)``."""
    check_latent(features, latent, latent_dim)
    if latent is None:
        return features
    return torch.cat([features, latent[:, None, :].expand(-1, features.shape[1], -1)], dim=-1)
