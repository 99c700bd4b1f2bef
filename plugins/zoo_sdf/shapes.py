"""Shapes with exact ground truth: analytic signed distance functions, and oriented points sampled on them.

A ``Shape`` is a signed distance function ``sdf(points (n, 3)) -> (n,)``, negative inside, on the box
``[-1, 1]^3``: ``Sphere``, ``Torus`` (around the z axis), ``RoundedBox`` (a box with rounded edges; radius 0 is
a box), ``Union`` (the minimum: exact outside, and inside too for parts that do not overlap), ``SmoothUnion``
(the polynomial smooth minimum of Quilez, https://iquilezles.org/articles/smin: a blend, only approximately a
distance near the seams) and ``Scaled`` (a shape of other units mapped into the box). ``scene_shape`` is the
union of the objects of zoo_nerf's embedded procedural scene, built from that scene's own spheres and boxes.

``sample_oriented`` draws points uniformly by area on a shape's surface with their unit outward normals: it meshes
the zero level set finely, samples the triangles by area, then moves each point onto the exact surface with
Newton steps ``p <- p - sdf(p) ∇sdf(p) / |∇sdf(p)|²``, the normal being the unit gradient just outside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from zoo.errors import DataError
from zoo.interfaces import ScalarVolume
from zoo.meshes import extract_mesh, sample_surface
from zoo.nn.diff import gradient

__all__ = ["SHAPES", "RoundedBox", "Scaled", "Shape", "SmoothUnion", "Sphere", "Torus", "Union", "sample_oriented",
           "scene_shape"]

BOX = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))  # where every shape lies, as the fields' coordinates do
MARGIN = 0.9  # a shape of other units is scaled into [-MARGIN, MARGIN]^3: off-surface points surround it
NEWTON_STEPS = 4
OFFSET = 1e-6  # how far outside the surface a normal is read
MESH_RESOLUTION = 64  # of the mesh the samples start from (their density by area, not their accuracy)


class Shape(ABC):
    """A signed distance function on ``[-1, 1]^3``: negative inside, zero on the surface, |∇sdf| = 1."""

    @abstractmethod
    def sdf(self, points: Tensor) -> Tensor:
        """``(n, 3)`` -> ``(n,)``."""


@dataclass(frozen=True)
class Sphere(Shape):
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radius: float = 0.6

    def sdf(self, points: Tensor) -> Tensor:
        return (points - points.new_tensor(self.centre)).norm(dim=-1) - self.radius


@dataclass(frozen=True)
class Torus(Shape):
    """A ring of tube radius ``minor`` whose centre line is the circle of radius ``major`` around the z axis."""

    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    major: float = 0.55
    minor: float = 0.25

    def sdf(self, points: Tensor) -> Tensor:
        p = points - points.new_tensor(self.centre)
        ring = p[:, :2].norm(dim=-1) - self.major
        return torch.stack([ring, p[:, 2]], dim=-1).norm(dim=-1) - self.minor


@dataclass(frozen=True)
class RoundedBox(Shape):
    """An axis-aligned box of half sizes ``half`` whose edges and corners are rounded with ``radius``."""

    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    half: tuple[float, float, float] = (0.6, 0.45, 0.35)
    radius: float = 0.1

    def sdf(self, points: Tensor) -> Tensor:
        q = (points - points.new_tensor(self.centre)).abs() - points.new_tensor(self.half) + self.radius
        return q.clamp(min=0).norm(dim=-1) + q.amax(dim=-1).clamp(max=0) - self.radius


@dataclass(frozen=True)
class Union(Shape):
    parts: tuple[Shape, ...]

    def sdf(self, points: Tensor) -> Tensor:
        return torch.stack([part.sdf(points) for part in self.parts]).amin(0)


@dataclass(frozen=True)
class SmoothUnion(Shape):
    """The parts blended within ``k`` of each other by a polynomial smooth minimum (Quilez)."""

    parts: tuple[Shape, ...]
    k: float = 0.15

    def sdf(self, points: Tensor) -> Tensor:
        distance = self.parts[0].sdf(points)
        for part in self.parts[1:]:
            other = part.sdf(points)
            h = (0.5 + 0.5 * (other - distance) / self.k).clamp(0, 1)
            distance = torch.lerp(other, distance, h) - self.k * h * (1 - h)
        return distance


@dataclass(frozen=True)
class Scaled(Shape):
    """``shape`` (in its own units) seen through ``p -> centre + scale * p``: still an exact distance, in box units."""

    shape: Shape
    centre: tuple[float, float, float]
    scale: float

    def sdf(self, points: Tensor) -> Tensor:
        return self.shape.sdf(points.new_tensor(self.centre) + self.scale * points) / self.scale


def scene_shape(seed: int = 0) -> Shape:
    """The objects (not the ground) of zoo_nerf's procedural scene of ``seed``, scaled into ``[-0.9, 0.9]^3``."""
    from zoo_nerf.scenes import ProceduralScene

    scene = ProceduralScene.random(seed)
    spheres = [Sphere(tuple(row[:3]), row[3]) for row in scene.spheres.tolist()]
    boxes = [RoundedBox(tuple((lo + hi) / 2 for lo, hi in zip(row[:3], row[3:])),
                        tuple((hi - lo) / 2 for lo, hi in zip(row[:3], row[3:])), 0.0) for row in scene.boxes.tolist()]
    lower = torch.cat([scene.spheres[:, :3] - scene.spheres[:, 3:], scene.boxes[:, :3]]).amin(0)
    upper = torch.cat([scene.spheres[:, :3] + scene.spheres[:, 3:], scene.boxes[:, 3:]]).amax(0)
    return Scaled(Union((*spheres, *boxes)), tuple(((lower + upper) / 2).tolist()),
                  float((upper - lower).amax()) / (2 * MARGIN))


#: The shapes the ``shapes`` dataset offers, each built from the dataset's seed (only the scene uses it).
SHAPES: dict[str, Callable[[int], Shape]] = {
    "sphere": lambda seed: Sphere(),
    "torus": lambda seed: Torus(),
    "rounded-box": lambda seed: RoundedBox(),
    "union": lambda seed: Union((Sphere((-0.4, 0.0, 0.1), 0.35), Torus((0.35, 0.0, 0.0), 0.3, 0.12),
                                 RoundedBox((0.0, 0.0, -0.45), (0.7, 0.4, 0.12), 0.05))),
    "smooth-union": lambda seed: SmoothUnion((Sphere((-0.3, 0.0, 0.0), 0.4), Sphere((0.3, 0.1, 0.1), 0.3),
                                              RoundedBox((0.0, -0.1, -0.35), (0.6, 0.35, 0.12), 0.05))),
    "scene": scene_shape,
}


class _Volume(ScalarVolume):
    """A shape as a scalar field over the box, for marching cubes."""

    volume_bounds = BOX

    def __init__(self, shape: Shape):
        self.shape = shape

    def scalar_field(self, points: Tensor) -> Tensor:
        return self.shape.sdf(points.double()).float()


def _newton(shape: Shape, points: Tensor) -> tuple[Tensor, Tensor]:
    """``points`` ``(n, 3)`` moved onto the zero level set, and the unit gradient there (the outward normal)."""
    def value_and_gradient(x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            value = shape.sdf(x)[:, None]
            return value.detach(), gradient(value, x).detach()

    outward = None
    for _ in range(NEWTON_STEPS):
        value, grad = value_and_gradient(points)
        outward = grad if outward is None else outward  # the first, from the mesh's point: off the surface
        points = points - value * grad / grad.square().sum(-1, keepdim=True).clamp(min=1e-12)
    # on a box's face its sdf has a kink (autograd's gradient there is 0); a hair outside, along the first step's
    # gradient, the gradient is the normal itself
    return points, F.normalize(value_and_gradient(points + OFFSET * F.normalize(outward, dim=-1))[1], dim=-1)


def sample_oriented(shape: Shape, n: int, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` points uniformly by area on the surface of ``shape`` ``(n, 3)`` and their unit outward normals ``(n, 3)``
    (float32; computed in float64)."""
    mesh = extract_mesh(_Volume(shape), MESH_RESOLUTION)
    points, _ = sample_surface(mesh, n, generator=generator)
    points, normals = _newton(shape, points.double())
    if not torch.isfinite(points).all():
        raise DataError(f"sampling the surface of {shape} diverged: its sdf is not a distance near its surface")
    return points.float(), normals.float()
