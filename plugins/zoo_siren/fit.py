"""Fitting one signal with an implicit field: the SIREN paper's image, video, audio and Poisson experiments.

``SignalFit`` is a ``Model`` whose whole dataset is one signal ``(c, *spatial)`` (an image ``(c, h, w)``,
a sound ``(1, n)``, a video ``(c, t, h, w)``, fitted as Φ(t, y, x) -> RGB): every training step evaluates
the field on the signal's coordinate grid (or a random subset of it) and compares either the values, or
only the gradient or the Laplacian of the field with those of the signal (Poisson reconstruction: the
field recovers the signal up to what the operator loses). It is also a ``Renderer``: the fitted field
re-samples the signal at any resolution (a video at any frame rate too).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from einops import rearrange
from torch import Tensor
from torch.nn import functional as F

from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import ImplicitField, Model, Renderer
from zoo.metrics import psnr
from zoo.nn.coords import coordinate_grid
from zoo.nn.diff import jacobian, laplacian
from zoo.recipes import NonNegativeInt, PositiveInt

__all__ = ["SignalFit"]

Supervision = Literal["values", "gradient", "laplacian"]
VIDEO_DIMS = 4  # a video is (c, t, h, w): frames along the first coordinate


class SignalFit(Model, Renderer):
    """Fit one signal with an implicit field, supervised on its values, its gradient or its Laplacian.

    ``shape`` is the signal's shape ``(c, *spatial)``; the field maps ``len(spatial)``-D coordinates on
    ``[-1, 1]`` to ``c`` values. The signal's values span ``value_range`` (``(0, 1)`` for images,
    ``(-1, 1)`` for audio) and are mapped to ``[-1, 1]`` for the field, as in the paper.

    - ``supervision="values"``: loss ``mse``, the mean squared error in the signal's own units
      (so ``psnr = 10 log10(range² / mse)``).
    - ``"gradient"`` / ``"laplacian"``: loss ``gradient_mse`` / ``laplacian_mse`` between the field's
      derivatives (autograd, w.r.t. the coordinates) and finite differences of the signal (central
      differences / 3-point second differences per axis), both on the ``[-1, 1]`` value scale. The
      field then equals the signal up to a constant (gradient) or an affine function (Laplacian), which
      ``metrics`` removes by least squares before computing the PSNR.

    ``points_per_step`` samples that many random points per step (0: all of them, the paper's setup).
    ``chunk_size`` evaluates the field that many points at a time (0: all at once); it changes no result,
    only speed and memory. On a CPU small chunks are much faster (4096 points: 0.68 s a step for the
    256² camera against 1.03 s at once; activations that fit in the caches and the allocator's heap, not
    64 MB ones page-faulted in afresh every step, see benchmarks/RESULTS.md); on a GPU use large chunks
    or 0, keeping chunks only to bound the memory of big renders.

    It takes one signal (``data_kinds``) and gives its field the signal's sizes (``part_sizes``): a recipe
    states neither ``in_dim`` nor ``out_dim``.
    """

    data_kinds = ("signals",)
    part_sizes: ClassVar = {"field": {"in_dim": lambda shape: len(shape) - 1, "out_dim": lambda shape: shape[0]}}

    def __init__(
        self,
        field: ImplicitField,
        shape: tuple[PositiveInt, ...] = (1, 256, 256),
        supervision: Supervision = "values",
        points_per_step: NonNegativeInt = 0,
        value_range: tuple[float, float] = (0.0, 1.0),
        chunk_size: NonNegativeInt = 4096,
    ):
        super().__init__()
        channels, *spatial = shape
        if field.in_dim != len(spatial) or field.out_dim != channels:
            raise IncompatibleComponentsError(
                f"a signal of shape {tuple(shape)} needs a field with in_dim={len(spatial)} and "
                f"out_dim={channels}; got in_dim={field.in_dim}, out_dim={field.out_dim}"
            )
        if field.latent_dim:
            raise IncompatibleComponentsError(
                f"SignalFit fits one signal with an unconditioned field; set field.latent_dim=0 "
                f"(got {field.latent_dim})"
            )
        lo, hi = value_range
        if not hi > lo:
            raise ValueError(f"value_range must be (low, high) with low < high, got {tuple(value_range)}")
        self.field = field
        self.shape, self.supervision = tuple(shape), supervision
        self.points_per_step, self.chunk_size = points_per_step, chunk_size
        self.value_range = (float(lo), float(hi))
        grid = rearrange(coordinate_grid(spatial), "... k -> (...) k")  # (n, k)
        self.register_buffer("coords", grid, persistent=False)

    # -- the signal and its targets ---------------------------------------------------------------------

    def _signal(self, batch: Tensor) -> Tensor:
        """A batch of one signal ``(1, c, *spatial)`` (or the signal itself) -> ``(c, *spatial)``."""
        signal = batch[0] if batch.dim() == len(self.shape) + 1 else batch
        if tuple(signal.shape) != self.shape:
            raise ValueError(
                f"SignalFit was built for a signal of shape {self.shape} but got a batch of shape "
                f"{tuple(batch.shape)}; set model.shape to the dataset's (c, *spatial) and use batch_size: 1"
            )
        return signal

    def _to_unit(self, values: Tensor) -> Tensor:
        """Signal units -> the field's ``[-1, 1]``."""
        lo, hi = self.value_range
        return 2 * (values - lo) / (hi - lo) - 1

    def _from_unit(self, values: Tensor) -> Tensor:
        """The field's ``[-1, 1]`` -> signal units."""
        lo, hi = self.value_range
        return (values + 1) / 2 * (hi - lo) + lo

    def _spacing(self) -> list[float]:
        """Distance between neighbouring grid points along each axis, in coordinate units."""
        return [2.0 / size for size in self.shape[1:]]

    def _gradient_target(self, signal: Tensor) -> Tensor:
        """``(c, *spatial)`` -> central-difference gradient ``(n, c, k)`` on the ``[-1, 1]`` scale."""
        unit = self._to_unit(signal)
        dims = tuple(range(1, unit.dim()))
        grads = torch.gradient(unit, spacing=self._spacing(), dim=dims)  # k tensors (c, *spatial)
        return rearrange(torch.stack(grads, dim=-1), "c ... k -> (...) c k")

    def _laplacian_target(self, signal: Tensor) -> Tensor:
        """``(c, *spatial)`` -> Laplacian ``(n, c)`` on the ``[-1, 1]`` scale, by 3-point second differences.

        On the border the nearest interior second difference is used (one-sided, first-order accurate).
        """
        unit = self._to_unit(signal)
        total = torch.zeros_like(unit)
        for axis, h in enumerate(self._spacing(), start=1):
            n = unit.shape[axis]
            if n < 3:
                raise ValueError(f"Laplacian supervision needs 3 or more samples per axis, got {self.shape}")
            before, centre, after = (unit.narrow(axis, start, n - 2) for start in (0, 1, 2))
            inner = (after - 2 * centre + before) / h**2
            total += torch.cat([inner.narrow(axis, 0, 1), inner, inner.narrow(axis, -1, 1)], dim=axis)
        return rearrange(total, "c ... -> (...) c")

    # -- the field on the grid ----------------------------------------------------------------------------

    def _evaluate(self, coords: Tensor) -> Tensor:
        """``(n, k)`` -> ``(n, c)``, ``chunk_size`` points at a time."""
        if not self.chunk_size or coords.shape[0] <= self.chunk_size:
            return self.field(coords)
        return torch.cat([self.field(part) for part in coords.split(self.chunk_size)])

    def _sample(self) -> Tensor | None:
        """Indices of this step's random points, or None for all of them."""
        n = self.coords.shape[0]
        if not self.points_per_step or self.points_per_step >= n:
            return None
        return torch.randperm(n, device=self.coords.device)[: self.points_per_step]

    # -- Model ----------------------------------------------------------------------------------------------

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """The batch ``(1, c, *spatial)`` -> ``{"mse" | "gradient_mse" | "laplacian_mse": ()}``."""
        signal = self._signal(batch)
        index = self._sample()
        coords = self.coords if index is None else self.coords[index]
        if self.supervision == "values":
            target = rearrange(signal, "c ... -> (...) c")
            target = target if index is None else target[index]
            return {"mse": F.mse_loss(self._from_unit(self._evaluate(coords)), target)}
        coords = coords.detach().requires_grad_()
        values = self._evaluate(coords)  # (n, c)
        if self.supervision == "gradient":
            target = self._gradient_target(signal)
            target = target if index is None else target[index]
            return {"gradient_mse": (jacobian(values, coords) - target).pow(2).sum(-1).mean()}
        target = self._laplacian_target(signal)
        target = target if index is None else target[index]
        return {"laplacian_mse": F.mse_loss(laplacian(values, coords), target)}

    @torch.no_grad()
    def metrics(self, batch: Tensor) -> dict[str, Tensor]:
        """PSNR (dB, on the signal's range) and MSE of the fitted signal on the whole grid; for a video also
        the PSNR of its worst and best frames (``psnr_frame_min``, ``psnr_frame_max``; every frame's:
        `frame_psnr`).

        For gradient (Laplacian) supervision the constant (affine function) the operator cannot see is
        first removed by least squares, as the SIREN paper does for its Poisson reconstructions.
        """
        signal = self._signal(batch)
        target = rearrange(signal, "c ... -> (...) c")
        fitted = self._from_unit(self._evaluate(self.coords))  # (n, c)
        if self.supervision != "values":
            fitted = fitted + self._lost_component(target - fitted)
        data_range = self.value_range[1] - self.value_range[0]
        metrics = {"psnr": psnr(fitted, target, data_range), "mse": F.mse_loss(fitted, target)}
        if len(self.shape) == VIDEO_DIMS:
            frames = self.frame_psnr(fitted, target)
            metrics |= {"psnr_frame_min": frames.min(), "psnr_frame_max": frames.max()}
        return metrics

    def frame_psnr(self, fitted: Tensor, target: Tensor) -> Tensor:
        """The PSNR (dB) of each frame of a video: ``fitted``, ``target`` ``(n, c)`` on the grid -> ``(t,)``."""
        t = self.shape[1]
        frames = [rearrange(v, "(t rest) c -> t (rest c)", t=t) for v in (fitted, target)]
        return psnr(*frames, self.value_range[1] - self.value_range[0], per_example=True)

    def _lost_component(self, residual: Tensor) -> Tensor:
        """Least-squares fit of ``residual (n, c)`` by what the operator loses (constant or affine map)."""
        if self.supervision == "gradient":
            return residual.mean(dim=0, keepdim=True).expand_as(residual)
        basis = torch.cat([torch.ones_like(self.coords[:, :1]), self.coords], dim=-1)  # (n, 1 + k)
        solution = torch.linalg.lstsq(basis.double(), residual.double()).solution
        return (basis.double() @ solution).to(residual.dtype)

    # -- Renderer -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def render(self, shape: tuple[int, ...], offset: float = 0.0) -> Tensor:
        """Re-sample the fitted signal on a grid of ``shape`` (any resolution) -> ``(c, *shape)``.

        Values are clipped to ``value_range``. ``offset`` shifts the samples by that fraction of a pixel of
        the new grid (sub-pixel rendering). For Poisson fits the result is the field itself, i.e. the
        signal up to the constant/affine part the operator loses.
        """
        shape = tuple(shape)
        if len(shape) != len(self.shape) - 1:
            raise ValueError(
                f"this model fits {len(self.shape) - 1}-D signals; render needs a shape of that many sizes, "
                f"got {shape}"
            )
        coords = coordinate_grid(shape, offset=offset, device=self.coords.device, dtype=self.coords.dtype)
        values = self._from_unit(self._evaluate(rearrange(coords, "... k -> (...) k")))
        values = values.clamp(*self.value_range)
        return rearrange(values, "n c -> c n").unflatten(1, shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, supervision={self.supervision!r}, points_per_step={self.points_per_step}"

