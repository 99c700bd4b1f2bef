"""Oriented point clouds to fit a signed distance field to: sampled on exact shapes, or read from a user's file.

Both datasets hold one item (as a single signal does): the cloud ``(n, 6)``, each row a point and its unit
outward normal ``(x, y, z, nx, ny, nz)``, inside ``[-1, 1]^3``. Its kind is ``surface-points``: one cloud of
oriented points (``points`` is another kind: a data set of vectors, each item one point).

- ``shapes`` (embedded): ``n`` points sampled uniformly by area on one of ``zoo_sdf.shapes.SHAPES`` (a sphere,
  a torus, a rounded box, a union, a smooth union, the objects of zoo_nerf's procedural scene). The test split
  is another sample of the same surface, so metrics compare a fitted surface with the exact one.
- ``point-cloud`` (yours, ``root=FILE``): ``.xyz`` (text, six numbers a line: x y z nx ny nz), ``.ply`` (ASCII or
  binary) with per-vertex normals ``nx ny nz``, or a ``.ply`` mesh with faces, which is sampled uniformly by
  area (normals from the faces' winding, counter-clockwise seen from outside). The cloud is centred and scaled
  into ``[-0.9, 0.9]^3``; both splits are the whole cloud. The file is parsed as numbers only (numpy's text
  reader, plyfile); nothing in it is executed, and a file that is not such a cloud is one ``DataError`` naming
  it and what was wrong.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset

from zoo.data import DataError, DataNotFoundError, declare_facts
from zoo.data.core import check_split
from zoo.meshes import Mesh, sample_surface
from zoo.recipes import PositiveInt
from zoo_sdf.shapes import MARGIN, SHAPES, sample_oriented

__all__ = ["OrientedPoints", "point_cloud", "read_point_cloud", "shapes"]

SUFFIXES = (".xyz", ".ply")


class OrientedPoints(Dataset):
    """One oriented point cloud ``(n, 6)`` to fit: points and unit normals. ``shape`` is ``(n, 6)``."""

    kind = "surface-points"
    levels = None

    def __init__(self, points: Tensor, normals: Tensor):
        if points.dim() != 2 or points.shape[1] != 3 or normals.shape != points.shape:
            raise ValueError(f"expected points and normals (n, 3), got {tuple(points.shape)} and "
                             f"{tuple(normals.shape)}")
        self.cloud = torch.cat([points, normals], dim=-1).float()
        self.shape: tuple[int, ...] = tuple(self.cloud.shape)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> Tensor:
        if index not in (0, -1):
            raise IndexError(f"an oriented point cloud is one item (index 0), got index {index}")
        return self.cloud

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.shape[0]})"


@declare_facts(lambda *, num_points=100_000, **_: {"shape": (num_points, 6), "levels": None,
                                                   "kind": "surface-points"})
def shapes(*, root: str | None = None, split: str = "train", shape: str = "torus", num_points: PositiveInt = 100_000,
           seed: int = 0) -> OrientedPoints:
    """``num_points`` oriented points on an exact shape (sphere, torus, rounded-box, union, smooth-union, scene).

    ``seed`` draws the points (the test split its own draw) and picks the procedural scene's objects. ``root``
    is unused.
    """
    check_split(split, "shapes")
    if shape not in SHAPES:
        raise DataError(f"unknown shape {shape!r}: expected one of {', '.join(SHAPES)} (set it with "
                        "--set data.shape=torus)")
    return OrientedPoints(*_sampled(shape, num_points, seed, split == "test"))


@functools.lru_cache(maxsize=8)  # a recipe builds its data more than once (train, test, every tiny mix)
def _sampled(shape: str, num_points: int, seed: int, test: bool) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(2 * seed + test)
    return sample_oriented(SHAPES[shape](seed), num_points, generator=generator)


def _xyz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file: said below
            rows = np.loadtxt(path, dtype=np.float64, comments="#", ndmin=2)
    except ValueError as error:
        raise DataError(f"{path} is not an .xyz point cloud: {error}; expected six numbers a line, "
                        "x y z nx ny nz") from None
    if rows.size == 0:
        raise DataError(f"{path} holds no points")
    if rows.shape[1] != 6:
        raise DataError(f"{path} has {rows.shape[1]} numbers a line, not 6: an .xyz cloud for a signed distance "
                        "needs x y z nx ny nz (points with their normals)")
    return rows[:, :3], rows[:, 3:]


def _ply(path: Path, num_points: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    from plyfile import PlyData

    try:
        ply = PlyData.read(str(path))
        vertex = ply["vertex"]
        names = {prop.name for prop in vertex.properties}
        points = np.stack([np.asarray(vertex[a], dtype=np.float64) for a in "xyz"], axis=-1)
    except Exception as error:  # plyfile raises PlyParseError, KeyError, ValueError, ... on a damaged file
        raise DataError(f"{path} is not a PLY file with vertices x, y, z ({type(error).__name__}: {error})") from None
    faces = None
    if "face" in ply:
        try:
            faces = np.stack([np.asarray(f, dtype=np.int64) for f in ply["face"]["vertex_indices"]])
        except (ValueError, KeyError):
            raise DataError(f"{path}: its faces are not all triangles with vertex_indices (triangulate the mesh "
                            "first)") from None
    if faces is not None and len(faces):
        if faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= len(points):
            raise DataError(f"{path}: its faces name vertices outside 0..{len(points) - 1}, or are not triangles")
        return _sample_mesh(path, points, faces, num_points, generator)
    if not {"nx", "ny", "nz"} <= names:
        raise DataError(f"{path} has points but neither normals (vertex properties nx, ny, nz) nor faces: a signed "
                        "distance is fitted to oriented points; export the cloud with its normals, or give a mesh")
    return points, np.stack([np.asarray(vertex[a], dtype=np.float64) for a in ("nx", "ny", "nz")], axis=-1)


def _sample_mesh(path: Path, points: np.ndarray, faces: np.ndarray, num_points: int,
                 generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    vertices, index = torch.from_numpy(points), torch.from_numpy(faces)
    corners = vertices[index]
    face_normals = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    if not (face_normals.norm(dim=-1) > 0).any():
        raise DataError(f"{path}: every face of the mesh has zero area")
    normals = torch.zeros_like(vertices).index_add_(0, index.flatten(), face_normals.repeat_interleave(3, dim=0))
    sampled, sampled_normals = sample_surface(Mesh(vertices, index, F.normalize(normals, dim=-1)), num_points,
                                              generator=generator)
    return sampled.numpy(), sampled_normals.numpy()


def read_point_cloud(path: str | Path, *, num_points: int = 100_000, seed: int = 0) -> OrientedPoints:
    """An oriented point cloud from ``path`` (see the module docstring), centred and scaled into ``[-0.9, 0.9]^3``.

    A mesh is sampled at ``num_points`` points (drawn with ``seed``); a cloud keeps all its points.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"point cloud {path} not found: set it with --set data.root=FILE (.xyz or .ply)")
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(f"{path}: a point cloud is read from {' or '.join(SUFFIXES)} files, not "
                        f"{path.suffix or 'a file without a suffix'}")
    generator = torch.Generator().manual_seed(seed)
    points, normals = _xyz(path) if path.suffix.lower() == ".xyz" else _ply(path, num_points, generator)
    if len(points) == 0:
        raise DataError(f"{path} holds no points")
    if not (np.isfinite(points).all() and np.isfinite(normals).all()):
        raise DataError(f"{path} has coordinates or normals that are not finite numbers (nan, inf)")
    lengths = np.linalg.norm(normals, axis=-1)
    if (lengths < 1e-8).any():
        raise DataError(f"{path}: {int((lengths < 1e-8).sum())} of its {len(points)} normals are zero vectors; every "
                        "point needs the direction out of the surface")
    lower, upper = points.min(0), points.max(0)
    scale = max(float((upper - lower).max()) / (2 * MARGIN), 1e-12)
    points = (points - (lower + upper) / 2) / scale
    return OrientedPoints(torch.from_numpy(points).float(), torch.from_numpy(normals / lengths[:, None]).float())


@declare_facts(lambda **_: {"levels": None, "kind": "surface-points"})  # the number of points is in the file
def point_cloud(*, root: str | None = None, split: str = "train", num_points: PositiveInt = 100_000,
                seed: int = 0) -> OrientedPoints:
    """Your oriented point cloud or mesh from the file ``root`` (.xyz, .ply), scaled into the box; see the module."""
    check_split(split, "point-cloud")
    if root is None:
        raise DataNotFoundError("point-cloud needs a file: set it with --set data.root=FILE (.xyz with x y z nx ny nz "
                                "a line, or .ply with normals or faces)")
    return read_point_cloud(root, num_points=num_points, seed=seed)
