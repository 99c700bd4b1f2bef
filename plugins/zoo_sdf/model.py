"""Fitting a signed distance field to an oriented point cloud: the SIREN paper's 3-D shape experiment (§4.2).

``SdfFit`` is a ``Model`` whose dataset is one cloud ``(n, 6)`` of points on a surface with their unit outward
normals, and a ``ScalarVolume``: its field over ``[-1, 1]^3`` is the signed distance whose zero level set
``zoo export --mesh`` meshes. Any registered field fits (siren, hashgrid, relu-pe, a third party's): it sees
3-D coordinates and gives one value.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import ImplicitField, Model, ScalarVolume
from zoo.meshes import NoSurface, extract_mesh, sample_surface
from zoo.metrics import chamfer_distance, normal_consistency
from zoo.nn.diff import gradient
from zoo.recipes import NonNegativeFloat, PositiveFloat, PositiveInt

__all__ = ["SdfFit"]

BOUNDS = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))
SEARCH_RADIUS = 0.03  # of the diagonal: nearer neighbours are found fast; farther ones are slow to search, so
FAR_SAMPLE = 10_000  # of the points farther than that, at most this many are searched (a poor fit's estimate)


class SdfFit(Model, ScalarVolume):
    """Fit a field Φ to oriented surface points with SIREN's four terms, so that Φ is their signed distance.

    Each step takes ``points_per_step`` random points of the cloud and as many uniform in the box ``[-1, 1]^3``;
    like the reference code, every term is a mean over all ``2 m`` of them (zero where it does not apply), so
    the weights are the paper's:

    - ``surface``: ``surface_weight · |Φ(x)|`` on the surface (Φ = 0 there; reference 3e3);
    - ``normal``: ``normal_weight · (1 - cos(∇Φ(x), n(x)))`` on the surface (the normals align; 1e2);
    - ``eikonal``: ``eikonal_weight · | |∇Φ| - 1 |`` at every point (a distance has a unit gradient; 5e1);
    - ``off_surface``: ``off_surface_weight · exp(-off_surface_alpha |Φ|)`` off it (no surface where there are
      no points; 1e2 with α = 100).

    A weight of 0 drops its term. Gradients are autograd's (``zoo.nn.diff.gradient``), trained through
    (second order: the field must differentiate twice, as siren and hashgrid do; a ReLU field's is zero).

    Metrics on the held-out cloud (another sample of the same surface): the loss terms and ``loss``;
    ``chamfer`` and ``normal_consistency`` between the fitted surface (marching cubes at ``metrics_resolution``,
    ``metrics_points`` points sampled on it by area) and the cloud, the Chamfer distance as a fraction of the
    diagonal of the cloud's bounding box; ``surface_abs``, the mean |Φ| on the cloud; ``eikonal_error``, the
    mean | |∇Φ| - 1 | at uniform points in the box. The geometry is exact while at most 10,000 points of either
    set lie farther than 3 % of the diagonal from the other (floaters, a poor fit): beyond that, 10,000 of them,
    drawn at random, stand for all. Where the field has no zero level set yet, ``chamfer`` is 1 (a diagonal)
    and ``normal_consistency`` 0.
    ``chunk_size`` bounds how many points are evaluated at once when meshing (memory, not results).
    """

    data_kinds = ("surface-points",)
    part_sizes: ClassVar = {"field": {"in_dim": lambda: 3, "out_dim": lambda: 1}}
    volume_bounds = BOUNDS

    def __init__(
        self,
        field: ImplicitField,
        *,
        points_per_step: PositiveInt = 4096,
        surface_weight: NonNegativeFloat = 3e3,
        normal_weight: NonNegativeFloat = 1e2,
        eikonal_weight: NonNegativeFloat = 5e1,
        off_surface_weight: NonNegativeFloat = 1e2,
        off_surface_alpha: PositiveFloat = 1e2,
        metrics_resolution: PositiveInt = 96,
        metrics_points: PositiveInt = 100_000,
        chunk_size: PositiveInt = 65536,
    ):
        super().__init__()
        if field.in_dim != 3 or field.out_dim != 1 or field.latent_dim:
            raise IncompatibleComponentsError(
                f"a signed distance field maps 3-D points to one value, unconditioned: set field.in_dim=3, "
                f"field.out_dim=1, field.latent_dim=0; got in_dim={field.in_dim}, out_dim={field.out_dim}, "
                f"latent_dim={field.latent_dim}")
        if metrics_resolution < 2:
            raise ValueError(f"metrics_resolution={metrics_resolution}: marching cubes needs 2 or more points a side")
        self.field = field
        self.points_per_step, self.chunk_size = points_per_step, chunk_size
        self.weights = {"surface": surface_weight, "normal": normal_weight, "eikonal": eikonal_weight,
                        "off_surface": off_surface_weight}
        self.off_surface_alpha = off_surface_alpha
        self.metrics_resolution, self.metrics_points = metrics_resolution, metrics_points
        self.register_buffer("lower", torch.tensor(BOUNDS[0]), persistent=False)
        self.register_buffer("upper", torch.tensor(BOUNDS[1]), persistent=False)

    def _cloud(self, batch: Tensor) -> Tensor:
        """A batch of one cloud ``(1, n, 6)`` (or the cloud) -> ``(n, 6)``."""
        cloud = batch[0] if batch.dim() == 3 else batch
        if cloud.dim() != 2 or cloud.shape[1] != 6:
            raise ValueError(f"SdfFit takes one oriented point cloud (n, 6) a batch (batch_size: 1), got a batch of "
                             f"shape {tuple(batch.shape)}")
        return cloud

    def _uniform(self, n: int) -> Tensor:
        """``n`` points uniform in the box ``(n, 3)``."""
        return torch.lerp(self.lower, self.upper, torch.rand(n, 3, device=self.lower.device, dtype=self.lower.dtype))

    def terms(self, surface: Tensor, normals: Tensor, off_surface: Tensor) -> dict[str, Tensor]:
        """The weighted terms at points on the surface ``(m, 3)`` with their unit ``normals`` ``(m, 3)`` and points
        off it ``(k, 3)``, each a mean over all ``m + k`` points; terms of weight 0 are left out."""
        coords = torch.cat([surface, off_surface]).detach().requires_grad_()
        values = self.field(coords)  # (m + k, 1)
        grad = gradient(values, coords)
        m, total = surface.shape[0], coords.shape[0]
        raw = {
            "surface": values[:m].abs().sum() / total,
            "normal": (1 - F.cosine_similarity(grad[:m], normals, dim=-1)).sum() / total,
            "eikonal": (grad.norm(dim=-1) - 1).abs().mean(),
            "off_surface": torch.exp(-self.off_surface_alpha * values[m:].abs()).sum() / total,
        }
        return {name: weight * raw[name] for name, weight in self.weights.items() if weight}

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """The batch ``(1, n, 6)`` -> ``{"surface", "normal", "eikonal", "off_surface": ()}``."""
        cloud = self._cloud(batch)
        index = torch.randint(cloud.shape[0], (self.points_per_step,), device=cloud.device)
        chosen = cloud[index]
        return self.terms(chosen[:, :3], chosen[:, 3:], self._uniform(self.points_per_step))

    def metrics(self, batch: Tensor) -> dict[str, Tensor]:
        """Geometry of the fitted surface against the held-out cloud (see the class docstring)."""
        cloud = self._cloud(batch)
        points, normals = cloud[:, :3], cloud[:, 3:]
        with torch.enable_grad():
            coords = self._uniform(min(self.metrics_points, 65536)).requires_grad_()
            eikonal_error = (gradient(self.field(coords), coords).norm(dim=-1) - 1).abs().mean().detach()
        with torch.no_grad():
            surface_abs = torch.cat([self.field(part) for part in points.split(self.chunk_size)]).abs().mean()
        found = {**super().metrics(batch), "surface_abs": surface_abs, "eikonal_error": eikonal_error}
        try:
            mesh = extract_mesh(self, self.metrics_resolution, chunk_size=self.chunk_size)
        except NoSurface:  # no zero level set in the box yet: as far from the surface as the box allows
            return {**found, "chamfer": points.new_tensor(1.0), "normal_consistency": points.new_tensor(0.0)}
        fitted, fitted_normals = sample_surface(mesh, self.metrics_points,
                                                generator=torch.Generator().manual_seed(0))
        diagonal = (points.amax(0) - points.amin(0)).norm()
        fitted, fitted_normals = fitted.to(points), fitted_normals.to(points)
        search = {"search_radius": SEARCH_RADIUS * float(diagonal), "far_sample": FAR_SAMPLE,
                  "generator": torch.Generator().manual_seed(0)}
        return {**found, "chamfer": chamfer_distance(fitted, points, **search) / diagonal,
                "normal_consistency": normal_consistency(fitted, fitted_normals, points, normals, **search)}

    @torch.no_grad()
    def scalar_field(self, points: Tensor) -> Tensor:
        """Φ at ``points`` ``(n, 3)`` -> ``(n,)``: negative inside, zero on the fitted surface."""
        return self.field(points.to(self.lower))[:, 0]

    def extra_repr(self) -> str:
        weights = ", ".join(f"{name}={weight:g}" for name, weight in self.weights.items())
        return f"points_per_step={self.points_per_step}, {weights}, alpha={self.off_surface_alpha:g}"
