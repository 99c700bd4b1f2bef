"""Differential operators of a field with respect to its input coordinates, by autograd.

The lecture's implicit equation R(c, Φ, ∇Φ, ∇²Φ, ...) = 0 needs derivatives of a field's output ``y`` with
respect to the coordinates ``x`` it was evaluated at. ``x`` must have ``requires_grad=True`` *before*
the field is evaluated (``coords = coords.requires_grad_()``). Every operator builds its graph
(``create_graph=True``), so the result can appear in a loss and be trained through (the SIREN paper's
gradient/Laplacian supervision, eikonal terms), and operators compose (``laplacian`` is
``divergence(gradient)``).

They rely on what makes a field a field: output row ``i`` depends only on coordinate row ``i`` (a shared
latent is fine). Then one backward pass with a vector of ones gives every point's derivative at once.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gradient", "jacobian", "divergence", "laplacian"]


def _check(y: Tensor, x: Tensor) -> None:
    if not x.requires_grad:
        raise ValueError(
            "the coordinates do not require grad, so the field's output does not depend on them in the "
            "autograd graph; call coords.requires_grad_() before evaluating the field"
        )
    if y.shape[:-1] != x.shape[:-1]:
        raise ValueError(
            f"output {tuple(y.shape)} and coordinates {tuple(x.shape)} must share their leading "
            "(point) dimensions: pass the coordinates the field was evaluated at"
        )


def _grad(y: Tensor, x: Tensor) -> Tensor:
    (g,) = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y), create_graph=True)
    return g


def gradient(y: Tensor, x: Tensor) -> Tensor:
    """∇y of a scalar field: ``y (..., 1)``, ``x (..., k)`` -> ``(..., k)``.

    For fields with several outputs use ``jacobian``.
    """
    _check(y, x)
    if y.shape[-1] != 1:
        raise ValueError(f"gradient takes a scalar field (..., 1), got {tuple(y.shape)}; use jacobian")
    return _grad(y, x)


def jacobian(y: Tensor, x: Tensor) -> Tensor:
    """∂y_i/∂x_j: ``y (..., m)``, ``x (..., k)`` -> ``(..., m, k)`` (one backward pass per output)."""
    _check(y, x)
    return torch.stack([_grad(y[..., i], x) for i in range(y.shape[-1])], dim=-2)


def divergence(v: Tensor, x: Tensor) -> Tensor:
    """∇·v of a vector field: ``v (..., k)``, ``x (..., k)`` -> ``(..., 1)``."""
    _check(v, x)
    if v.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"divergence needs as many components as coordinates: v {tuple(v.shape)} vs x {tuple(x.shape)}"
        )
    return sum(_grad(v[..., i], x)[..., i : i + 1] for i in range(v.shape[-1]))


def laplacian(y: Tensor, x: Tensor) -> Tensor:
    """Δy = ∇·∇y for every output channel: ``y (..., m)``, ``x (..., k)`` -> ``(..., m)``."""
    _check(y, x)
    return torch.cat([divergence(_grad(y[..., i], x), x) for i in range(y.shape[-1])], dim=-1)
