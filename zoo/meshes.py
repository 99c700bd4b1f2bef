"""Triangle meshes from any scalar field: extraction, sampling, PLY files and shaded pictures, with numpy and torch.

- ``extract_mesh``: the level set of a ``zoo.interfaces.ScalarVolume`` on a grid of ``resolution``³ points over
  its box, by marching cubes (Lorensen & Cline 1987, scikit-image's ``measure.marching_cubes``), normals
  pointing out of the solid;
- ``sample_surface``: points drawn uniformly by area on a mesh, with the interpolated unit normals;
- ``write_ply``: a binary little-endian PLY (positions, normals, faces) that standard viewers open, written
  atomically (``zoo.files.atomic_path``);
- ``render_mesh``: a few shaded views of a mesh, rasterised here (a z-buffer over the triangles' pixels, normals
  interpolated per pixel, Lambertian light), so a picture needs no graphics library.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from einops import rearrange
from torch import Tensor

from zoo.artifacts import NothingToDraw
from zoo.errors import ZooError
from zoo.files import atomic_path
from zoo.interfaces import ScalarVolume

__all__ = ["Mesh", "NoSurface", "extract_mesh", "grid_points", "render_mesh", "sample_surface", "write_ply"]

BACKGROUND = 1.0  # white behind the mesh
ALBEDO = (0.78, 0.8, 0.86)
AMBIENT = 0.25


class NoSurface(NothingToDraw):
    """The field never crosses the level inside its box: there is nothing to mesh (an untrained field, a level
    outside its values)."""


class Mesh(NamedTuple):
    """``vertices`` ``(v, 3)`` float, ``faces`` ``(f, 3)`` int64 (counter-clockwise seen from outside), unit
    vertex ``normals`` ``(v, 3)`` pointing out of the solid."""

    vertices: Tensor
    faces: Tensor
    normals: Tensor


def grid_points(bounds, resolution: int) -> tuple[Tensor, Tensor]:
    """``resolution``³ points evenly spaced over the box ``bounds`` (corners included) as ``(r, r, r, 3)`` (x, y, z
    indexing), and the spacing ``(3,)``."""
    lower, upper = (torch.as_tensor(corner, dtype=torch.float32) for corner in bounds)
    axes = [torch.linspace(float(lo), float(hi), resolution) for lo, hi in zip(lower, upper)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1), (upper - lower) / (resolution - 1)


def extract_mesh(volume: ScalarVolume, resolution: int = 128, *, level: float | None = None,
                 chunk_size: int = 65536) -> Mesh:
    """The surface ``scalar_field = level`` (default: the model's ``surface_level``) over the volume's box.

    The field is evaluated ``chunk_size`` points at a time (float32 points on the CPU, which the model moves
    where it computes). A level that the field never crosses inside the box is ``NoSurface``, which gives the
    range of values it takes.
    """
    from skimage.measure import marching_cubes

    if resolution < 2:
        raise ZooError(f"resolution={resolution}: marching cubes needs at least 2 grid points per side")
    level = volume.surface_level if level is None else float(level)
    points, spacing = grid_points(volume.volume_bounds, resolution)
    flat = rearrange(points, "x y z k -> (x y z) k")
    values = torch.cat([volume.scalar_field(part).detach().float().cpu() for part in flat.split(chunk_size)])
    grid = values.reshape(points.shape[:3]).numpy()
    low, high = float(grid.min()), float(grid.max())
    if not low < level < high:
        raise NoSurface(f"no surface at level {level:g}: over its box {volume.volume_bounds} the field takes values in "
                       f"[{low:.4g}, {high:.4g}] on a {resolution}³ grid; train longer, or pick a level inside them")
    # scikit-image's normals point towards decreasing values whatever gradient_direction says, which only winds
    # the faces: "ascent" winds them counter-clockwise seen from the decreasing side
    vertices, faces, normals, _ = marching_cubes(grid, level, spacing=tuple(spacing.tolist()),
                                                 gradient_direction="ascent" if volume.solid_above else "descent")
    lower = torch.as_tensor(volume.volume_bounds[0], dtype=torch.float32)
    normals = torch.from_numpy(normals.copy()).float() * (1.0 if volume.solid_above else -1.0)
    return Mesh(torch.from_numpy(vertices.copy()).float() + lower, torch.from_numpy(faces.astype(np.int64)),
                normals / normals.norm(dim=-1, keepdim=True).clamp(min=1e-12))


def sample_surface(mesh: Mesh, n: int, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` points uniform by area on the mesh ``(n, 3)`` and their unit normals ``(n, 3)``, interpolated from the
    vertices' (barycentric coordinates drawn uniformly on each triangle)."""
    corners = mesh.vertices[mesh.faces]  # (f, 3 corners, 3)
    areas = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]).norm(dim=-1)
    face = torch.multinomial(areas, n, replacement=True, generator=generator)
    u, v = torch.rand(2, n, 1, generator=generator)
    flip = (u + v) > 1  # fold the unit square onto the triangle
    u, v = torch.where(flip, 1 - u, u), torch.where(flip, 1 - v, v)
    weights = torch.cat([1 - u - v, u, v], dim=-1)[:, :, None]  # (n, 3, 1)
    points = (weights * corners[face]).sum(1)
    normals = (weights * mesh.normals[mesh.faces[face]]).sum(1)
    return points, normals / normals.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def write_ply(mesh: Mesh, path: str | Path) -> Path:
    """Write ``mesh`` as a binary little-endian PLY (x, y, z, nx, ny, nz as float32; faces as uchar + int32 lists)."""
    path = Path(path)
    vertices = torch.cat([mesh.vertices, mesh.normals], dim=-1).numpy().astype("<f4")
    faces = np.empty(len(mesh.faces), dtype=[("n", "u1"), ("index", "<i4", (3,))])
    faces["n"], faces["index"] = 3, mesh.faces.numpy()
    header = "\n".join(["ply", "format binary_little_endian 1.0", "comment written by genzoo",
                        f"element vertex {len(vertices)}", *(f"property float {a}" for a in ("x", "y", "z", "nx", "ny",
                                                                                             "nz")),
                        f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header", ""])
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        file.write(header.encode("ascii"))
        file.write(vertices.tobytes())
        file.write(faces.tobytes())
    return path


def _camera(azimuth: float, elevation: float) -> Tensor:
    """Rows right, up, towards-the-viewer ``(3, 3)`` of a camera looking at the origin from those angles."""
    back = torch.tensor([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                         math.sin(elevation)])
    right = torch.linalg.cross(torch.tensor([0.0, 0.0, 1.0]), back)
    right = right / right.norm()
    return torch.stack([right, torch.linalg.cross(back, right), back])


def _rasterise(mesh: Mesh, frame: Tensor, centre: Tensor, extent: float, size: int) -> Tensor:
    """One orthographic view ``(3, size, size)``: for every pixel the nearest triangle covering its centre."""
    local = (mesh.vertices - centre) @ frame.T  # (v, 3): right, up, towards the viewer
    pixel = torch.stack([(local[:, 0] / extent + 1) * size / 2, (1 - local[:, 1] / extent) * size / 2], dim=-1)
    corners, depth = pixel[mesh.faces], local[mesh.faces, 2]  # (f, 3, 2), (f, 3)
    a, b, c = corners.unbind(1)
    area = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]  # twice the signed area
    keep = area.abs() > 1e-9
    corners, depth, faces, area = corners[keep], depth[keep], mesh.faces[keep], area[keep]
    start = corners.amin(1).floor().clamp(0, size - 1).long()  # (f, 2)
    width = int((corners.amax(1).ceil().clamp(0, size) - start).amax().clamp(min=1))
    zbuffer = torch.full((size * size,), -math.inf)
    normal = torch.zeros(size * size, 3)
    step = max(1, 2**22 // width**2)  # candidate pixels held at once
    offsets = torch.stack(torch.meshgrid(torch.arange(width), torch.arange(width), indexing="ij"), -1).reshape(-1, 2)
    for part in range(0, len(faces), step):
        sl = slice(part, part + step)
        px = start[sl, None, :] + offsets  # (f, k, 2) pixel columns and rows
        centres = px + 0.5
        a, b, c = corners[sl].unbind(1)

        def edge(p: Tensor, q: Tensor) -> Tensor:  # twice the signed area of (p, q, pixel centre), (f, k)
            return (q - p)[:, None, 0] * (centres[..., 1] - p[:, None, 1]) - (q - p)[:, None, 1] * (
                centres[..., 0] - p[:, None, 0])

        weights = torch.stack([edge(b, c), edge(c, a), edge(a, b)], dim=-1) / area[sl, None, None]  # barycentric
        inside = (weights >= 0).all(-1) & (px < size).all(-1)
        z = (weights * depth[sl, None, :]).sum(-1)
        index = (px[..., 1] * size + px[..., 0])[inside]
        z, weights, face = z[inside], weights[inside], faces[sl, None, :].expand(-1, inside.shape[1], -1)[inside]
        zbuffer.scatter_reduce_(0, index, z, "amax")
        nearest = z >= zbuffer[index]
        normal[index[nearest]] = (weights[nearest, :, None] * mesh.normals[face[nearest]]).sum(1)
    light = frame.T @ torch.tensor([-0.35, 0.5, 1.0])
    light = light / light.norm()
    shade = AMBIENT + (1 - AMBIENT) * (torch.nn.functional.normalize(normal, dim=-1) @ light).clamp(min=0)
    colour = torch.where(torch.isfinite(zbuffer)[:, None], shade[:, None] * torch.tensor(ALBEDO), BACKGROUND)
    return rearrange(colour, "(h w) c -> c h w", h=size)


def render_mesh(mesh: Mesh, *, size: int = 256, views: int = 4, elevation: float = 30.0) -> Tensor:
    """``views`` shaded pictures ``(views, 3, size, size)`` in [0, 1] of ``mesh``, seen from evenly spaced azimuths
    at ``elevation`` degrees, orthographically, each framing the mesh's bounding box."""
    lower, upper = mesh.vertices.amin(0), mesh.vertices.amax(0)
    centre, extent = (lower + upper) / 2, 1.05 * float((upper - lower).norm()) / 2
    cameras = [_camera(2 * math.pi * (i + 0.125) / views, math.radians(elevation)) for i in range(views)]
    return torch.stack([_rasterise(mesh, frame, centre, extent, size) for frame in cameras])
