"""Multi-view scenes for models of 3-D scenes (NeRF): pictures of one scene with the cameras that took them.

- ``procedural_scene`` (embedded, registered as ``procedural-scene``): a few analytic primitives —
  spheres and boxes standing on a checkered ground square — with colours, Lambert + Blinn-Phong shading
  and hard shadows, ray-traced (surface rendering, not a volume renderer) from cameras on a sphere around
  them. Any resolution, exact poses, and the same pictures for the same seed on every machine.
- ``blender_scene`` (registered as ``blender``): the NeRF synthetic format from a local folder,
  ``transforms_{train,val,test}.json`` + RGBA PNGs, optionally at half resolution.

Items are dicts ``{"image": (c, h, w) in [0, 1], "alpha": (1, h, w), "pose": (4, 4) camera-to-world,
"intrinsics": (3, 3)}`` (conventions of ``zoo_nerf.cameras``); the DataLoader stacks them into a dict batch. The
image is composited onto the scene's ``background`` colour; ``alpha`` is each pixel's coverage by the
scene (0 where the background shows), so a model can recomposite the image onto another background.
``shape`` is the image's ``(c, h, w)`` and ``camera(i)`` the ``zoo_nerf.cameras.Camera`` of view ``i``. World
coordinates have z up, so ``zoo_nerf.cameras.orbit`` circles both kinds of scene.

A scene file is untrusted: every pose must be finite with a proper rotation (orthonormal, determinant +1)
and the last row ``(0, 0, 0, 1)``, ``camera_angle_x`` must lie in (0, π), and every frame's PNG must lie
inside the scene folder once its path is complete and resolved, symlinks included.
"""

from __future__ import annotations

import colorsys
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor
from torch.utils.data import Dataset

from zoo.data import DataError, DataNotFoundError, declare_facts
from zoo.data.core import check_split
from zoo.recipes import Interval, PositiveFloat, PositiveInt
from zoo_nerf.cameras import Camera, intrinsics_from_fov, look_at

__all__ = ["BACKGROUNDS", "ProceduralScene", "ViewDataset", "blender_scene", "procedural_scene"]

#: Background colours a scene's transparent pixels are composited onto (RGB in [0, 1]).
BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0)}
SCENE_SPLITS = ("train", "val", "test")
ROTATION_TOLERANCE = 1e-3  # how far R^T R may be from I: Blender writes float32 poses, rounded to ~1e-7


def _background(name: str) -> Tensor:
    if name not in BACKGROUNDS:
        raise DataError(f"unknown background {name!r}: expected one of {', '.join(BACKGROUNDS)}")
    return torch.tensor(BACKGROUNDS[name])


class ViewDataset(Dataset):
    """Views of one scene held in memory: item ``i`` is ``{"image", "alpha", "pose", "intrinsics"}`` of view ``i``.

    ``images`` ``(n, c, h, w)`` composited onto the background and ``alphas`` ``(n, 1, h, w)``, uint8 (kept
    as bytes, converted per item) or float in [0, 1]; ``poses`` ``(n, 4, 4)`` camera-to-world;
    ``intrinsics`` ``(n, 3, 3)``. Its ``shape`` is an image's; uint8 images have 256 ``levels``.
    """

    kind = "views"

    def __init__(self, images: Tensor, alphas: Tensor, poses: Tensor, intrinsics: Tensor):
        n, _, h, w = images.shape
        if alphas.shape != (n, 1, h, w) or poses.shape != (n, 4, 4) or intrinsics.shape != (n, 3, 3):
            raise ValueError(f"expected images (n, c, h, w), alphas (n, 1, h, w), poses (n, 4, 4) and intrinsics "
                             f"(n, 3, 3); got {tuple(images.shape)}, {tuple(alphas.shape)}, {tuple(poses.shape)} "
                             f"and {tuple(intrinsics.shape)}")
        self.images, self.alphas = images, alphas
        self.poses, self.intrinsics = poses.float(), intrinsics.float()
        self.shape: tuple[int, ...] = tuple(images.shape[1:])
        self.levels = 256 if images.dtype == torch.uint8 else None

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"image": _to_float(self.images[index]), "alpha": _to_float(self.alphas[index]),
                "pose": self.poses[index], "intrinsics": self.intrinsics[index]}

    def camera(self, index: int) -> Camera:
        """The camera of view ``index``."""
        _, h, w = self.shape
        return Camera(self.poses[index], self.intrinsics[index], h, w)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, shape={self.shape})"


def _to_float(x: Tensor) -> Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def _to_bytes(images: Tensor) -> Tensor:
    """Float images in [0, 1] -> uint8, as a PNG would store them."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


# --- the procedural scene ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProceduralScene:
    """Spheres and axis-aligned boxes on a checkered ground square at z = 0, lit by a directional light.

    ``spheres`` ``(s, 4)``: centre and radius; ``boxes`` ``(k, 6)``: lower and upper corners; the colours
    ``(s, 3)`` / ``(k, 3)`` are albedos in [0, 1]. ``trace`` renders rays against it.
    """

    spheres: Tensor
    sphere_colours: Tensor
    boxes: Tensor
    box_colours: Tensor
    ground_half_size: float = 1.2
    tile_size: float = 0.3
    ground_colours: tuple[tuple[float, ...], tuple[float, ...]] = ((0.85, 0.85, 0.85), (0.3, 0.3, 0.35))
    light: tuple[float, float, float] = (-0.45, 0.35, 0.82)  # towards the light (unit)
    ambient: float = 0.3
    specular: float = 0.35  # strength of the objects' white highlights (the ground is matte)
    shininess: float = 24.0

    @classmethod
    def random(cls, seed: int, *, num_spheres: int = 3, num_boxes: int = 2) -> ProceduralScene:
        """Objects of seeded sizes, places and hues, standing on the ground without touching each other."""
        rng = np.random.default_rng(seed)
        placed: list[tuple[float, float, float]] = []  # (x, y, footprint radius)

        def place(radius: float) -> tuple[float, float]:
            for _ in range(1000):
                x, y = rng.uniform(-0.8, 0.8, size=2)
                if all(math.hypot(x - px, y - py) > radius + pr + 0.05 for px, py, pr in placed):
                    placed.append((x, y, radius))
                    return x, y
            raise DataError(f"could not place {num_spheres + num_boxes} objects on the ground: use fewer")

        def colour() -> list[float]:
            return list(colorsys.hsv_to_rgb(rng.uniform(), 0.75, 0.9))

        spheres, boxes = [], []
        for _ in range(num_spheres):
            r = rng.uniform(0.2, 0.4)
            x, y = place(r)
            spheres.append([x, y, r, r])
        for _ in range(num_boxes):
            half = rng.uniform(0.15, 0.3, size=3)
            x, y = place(float(np.hypot(*half[:2])))
            boxes.append([x - half[0], y - half[1], 0.0, x + half[0], y + half[1], 2 * half[2]])
        sphere_colours = [colour() for _ in spheres]
        box_colours = [colour() for _ in boxes]
        return cls(_rows(spheres, 4), _rows(sphere_colours, 3), _rows(boxes, 6), _rows(box_colours, 3))

    def intersect(self, origins: Tensor, directions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The first surface each ray hits: ``(n, 3)`` rays -> distance ``(n,)`` (inf on a miss), unit
        normal ``(n, 3)``, albedo ``(n, 3)`` and whether it is an object (not the ground) ``(n,)``."""
        n = origins.shape[0]
        best = torch.full((n,), math.inf, dtype=origins.dtype)
        normal = torch.zeros(n, 3, dtype=origins.dtype)
        albedo = torch.zeros(n, 3, dtype=origins.dtype)
        is_object = torch.zeros(n, dtype=torch.bool)

        def keep(t: Tensor, hit_normal: Tensor, hit_albedo: Tensor, obj: bool) -> None:
            closer = t < best
            best[closer] = t[closer]
            normal[closer] = hit_normal[closer]
            albedo[closer] = hit_albedo[closer]
            is_object[closer] = obj

        eps = 1e-6
        for (cx, cy, cz, radius), c in zip(self.spheres.tolist(), self.sphere_colours):
            offset = origins - origins.new_tensor([cx, cy, cz])
            b = (offset * directions).sum(-1)
            disc = b**2 - (offset.square().sum(-1) - radius**2)
            t = -b - disc.clamp(min=0).sqrt()
            t = torch.where((disc > 0) & (t > eps), t, math.inf)
            hit = origins + t[:, None].clamp(max=1e9) * directions
            keep(t, (hit - hit.new_tensor([cx, cy, cz])) / radius, c.expand(n, 3), True)
        safe = torch.where(directions.abs() < 1e-12, 1e-12, directions)
        for box, c in zip(self.boxes, self.box_colours):
            t1, t2 = (box[:3] - origins) / safe, (box[3:] - origins) / safe
            entry, axis = torch.minimum(t1, t2).max(-1)
            leave = torch.maximum(t1, t2).min(-1).values
            t = torch.where((entry <= leave) & (entry > eps), entry, math.inf)
            face = F.one_hot(axis, 3).to(origins.dtype) * -torch.sign(directions.gather(-1, axis[:, None]))
            keep(t, face, c.expand(n, 3), True)
        dz = directions[:, 2]
        t = torch.where(dz < -1e-12, -origins[:, 2] / torch.where(dz < -1e-12, dz, -1.0), math.inf)
        t = torch.where(t > eps, t, math.inf)
        xy = origins[:, :2] + t[:, None].clamp(max=1e9) * directions[:, :2]
        t = torch.where((xy.abs() <= self.ground_half_size).all(-1), t, math.inf)
        tiles = torch.floor(xy / self.tile_size).sum(-1).remainder(2).bool()
        light, dark = (torch.tensor(c, dtype=origins.dtype) for c in self.ground_colours)
        keep(t, normal.new_tensor([0.0, 0.0, 1.0]).expand(n, 3), torch.where(tiles[:, None], dark, light), False)
        return best, normal, albedo, is_object

    def trace(self, origins: Tensor, directions: Tensor, background: Tensor) -> tuple[Tensor, Tensor]:
        """Colours ``(n, 3)`` in [0, 1] seen along rays ``(n, 3)`` (unit directions), misses seeing
        ``background``, and whether each ray hit the scene ``(n,)``."""
        t, normal, albedo, is_object = self.intersect(origins, directions)
        hit = torch.isfinite(t)
        light = origins.new_tensor(self.light)
        point = origins + t[:, None].clamp(max=1e9) * directions + 1e-4 * normal  # lifted: no self-shadowing
        lit = ~torch.isfinite(self.intersect(point, light.expand_as(point))[0])
        lambert = (normal @ light).clamp(min=0) * lit
        halfway = light - directions
        halfway = halfway / halfway.norm(dim=-1, keepdim=True)
        highlight = self.specular * (normal * halfway).sum(-1).clamp(min=0) ** self.shininess * lit * is_object
        colour = albedo * (self.ambient + (1 - self.ambient) * lambert)[:, None] + highlight[:, None]
        return torch.where(hit[:, None], colour.clamp(0, 1), background.to(colour)), hit

    def render(self, camera: Camera, background: Tensor, *, supersample: int = 2) -> tuple[Tensor, Tensor]:
        """The picture ``(3, h, w)`` a camera takes and its coverage ``(1, h, w)``, each pixel the mean of
        ``supersample``² rays (antialiasing)."""
        fine = camera.resized(camera.height * supersample, camera.width * supersample)
        fine = Camera(fine.pose.double(), fine.intrinsics.double(), fine.height, fine.width)
        origins, directions = fine.rays()
        colours, hit = self.trace(origins, directions, background.double())
        picture = rearrange(torch.cat([colours, hit[:, None].double()], dim=-1), "(h w) c -> 1 c h w", h=fine.height)
        picture = F.avg_pool2d(picture, supersample)[0].float()
        return picture[:3], picture[3:]


def _rows(rows: list[list[float]], width: int) -> Tensor:
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, width)  # (0, width) when there are none


def _cameras_on_sphere(azimuths: np.ndarray, elevations: np.ndarray, distance: float) -> Tensor:
    """Poses ``(n, 4, 4)`` of cameras at ``distance`` from the origin looking at it, angles in radians."""
    poses = []
    for azimuth, elevation in zip(azimuths, elevations):
        eye = distance * torch.tensor([math.cos(elevation) * math.cos(azimuth),
                                       math.cos(elevation) * math.sin(azimuth), math.sin(elevation)])
        poses.append(look_at(eye.double(), torch.zeros(3, dtype=torch.float64), torch.tensor([0.0, 0.0, 1.0])))
    return torch.stack(poses).float()


@declare_facts(lambda *, size=32, **_: {"shape": (3, size, size), "levels": 256, "kind": "views"})
def procedural_scene(
    *,
    root: str | None = None,
    split: str = "train",
    size: PositiveInt = 32,
    num_train: PositiveInt = 50,
    num_test: PositiveInt = 8,
    seed: int = 0,
    background: str = "white",
    distance: PositiveFloat = 4.0,
    fov: Annotated[float, Interval(gt=0, lt=180)] = 40.0,
) -> ViewDataset:
    """An embedded scene (see `ProceduralScene`) seen by ``num_train`` or ``num_test`` cameras: size x size RGB.

    The cameras sit ``distance`` from the origin and look at it with a horizontal field of view ``fov``
    (degrees). Training cameras are at seeded random azimuths and elevations between 15° and 65°; the
    held-out ones (``split="test"`` or ``"val"``) evenly spaced around the scene at 30°, between the
    training views. ``seed`` picks the objects and the training cameras. Everything lies within 1.8 of the
    origin, so rays from ``near=2`` to ``far=6`` cover it. ``root`` is unused. The annotations bound the
    numbers (recipes and zoo.create check values against them): a camera at distance 0 sees nothing.
    """
    check_split(split, "procedural-scene", SCENE_SPLITS)
    if split == "train":
        rng = np.random.default_rng([seed, 1])
        azimuths = rng.uniform(0, 2 * math.pi, num_train)
        elevations = np.radians(rng.uniform(15, 65, num_train))
    else:
        azimuths = (np.arange(num_test) + 0.5) * (2 * math.pi / num_test)
        elevations = np.full(num_test, math.radians(30))
    poses = _cameras_on_sphere(azimuths, elevations, distance)
    intrinsics = intrinsics_from_fov(math.radians(fov), size, size)
    scene, colour = ProceduralScene.random(seed), _background(background)
    images, alphas = zip(*(scene.render(Camera(pose, intrinsics, size, size), colour) for pose in poses))
    return ViewDataset(_to_bytes(torch.stack(images)), _to_bytes(torch.stack(alphas)), poses,
                       intrinsics.expand(len(poses), 3, 3))


# --- Blender synthetic scenes (NeRF's format) ---------------------------------------------------------------


def _read_transforms(folder: Path, split: str) -> dict:
    path = folder / f"transforms_{split}.json"
    if not path.is_file():
        raise DataNotFoundError(
            f"{path} not found: a Blender scene folder holds transforms_train.json, transforms_val.json and "
            f"transforms_test.json beside the images they name (set it with --set data.root=PATH)"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        float(meta["camera_angle_x"])
        if not meta["frames"]:
            raise ValueError("no frames")
        for frame in meta["frames"]:
            str(frame["file_path"])
            if np.asarray(frame["transform_matrix"], dtype=np.float64).shape != (4, 4):
                raise ValueError("a transform_matrix is not 4x4")
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path} is not a Blender transforms file ({type(error).__name__}: {error}); expected "
                        '{"camera_angle_x": ..., "frames": [{"file_path": ..., "transform_matrix": 4x4}, ...]}') \
            from error
    angle = float(meta["camera_angle_x"])
    if not 0 < angle < math.pi:  # NaN fails too
        raise DataError(f"{path}: camera_angle_x is {angle}, but a horizontal field of view lies in (0, π) radians")
    for frame in meta["frames"]:
        _check_pose(np.asarray(frame["transform_matrix"], dtype=np.float64), f"{path}: frame {frame['file_path']!r}")
    return meta


def _check_pose(pose: np.ndarray, where: str) -> None:
    """A camera-to-world ``pose`` ``(4, 4)``: finite, last row ``(0, 0, 0, 1)``, a proper rotation; else DataError."""
    rotation = pose[:3, :3]
    if not np.isfinite(pose).all():
        problem = "has entries that are not finite numbers"
    elif not np.allclose(pose[3], [0, 0, 0, 1], atol=ROTATION_TOLERANCE):
        problem = f"has the last row {pose[3].tolist()}, not [0, 0, 0, 1]"
    elif not np.allclose(rotation.T @ rotation, np.eye(3), atol=ROTATION_TOLERANCE):
        problem = "has no rotation in its upper-left 3x3 block (its columns are not orthonormal)"
    elif np.linalg.det(rotation) < 0:
        problem = "mirrors the world (its rotation's determinant is -1)"
    else:
        return
    raise DataError(f"{where}: the transform_matrix {problem}; a camera-to-world pose is a rotation and a "
                    "translation, [[R, t], [0, 0, 0, 1]]")


def _frame_file(folder: Path, file_path: str) -> Path:
    """The PNG a frame names (without its extension, as Blender writes it), which must lie inside the scene.

    The path is resolved once it is complete (the extension added), symlinks included: a ``train/r_0.png``
    that links outside the folder is refused like ``../../etc/passwd``.
    """
    path = folder / file_path
    if path.suffix.lower() != ".png":
        path = path.with_name(path.name + ".png")
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise DataError(f"frame {file_path!r} points outside the scene folder {folder}: refusing to read {resolved}")
    return resolved


def _read_rgba(path: Path, half_res: bool) -> np.ndarray:
    """An RGBA PNG as float ``(h, w, 4)`` in [0, 1], halved by area averaging with ``half_res``."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            picture = picture.convert("RGBA")
            if half_res:
                picture = picture.resize((picture.width // 2, picture.height // 2), Image.Resampling.BOX)
            return np.asarray(picture, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise DataNotFoundError(f"image {path} named by the scene's transforms file is missing") from None
    except Exception as error:  # UnidentifiedImageError, truncated file, decompression bomb, ...
        raise DataError(f"corrupt image file {path}: {type(error).__name__}: {error}") from error


@declare_facts(lambda **_: {"levels": 256, "kind": "views"})  # the image size is in the files
def blender_scene(*, root: str | None = None, split: str = "train", half_res: bool = False,
                  background: str = "white") -> ViewDataset:
    """A NeRF synthetic (Blender) scene from the folder ``root``: RGB views composited onto ``background``.

    ``split`` is train, val or test (``transforms_{split}.json``). Each frame's PNG is RGBA; its alpha is
    composited onto ``background`` (white in the NeRF paper). The cameras share the focal length
    ``0.5 * width / tan(camera_angle_x / 2)`` with the principal point at the image centre. ``half_res``
    halves the images (averaging 2x2 blocks) and the intrinsics with them, as nerf-pytorch's ``--half_res``.
    """
    check_split(split, "blender", SCENE_SPLITS)
    if root is None:
        raise DataNotFoundError("blender needs a scene folder: set it with --set data.root=PATH (e.g. "
                                "nerf_synthetic/lego, holding transforms_train.json and the images)")
    folder = Path(root).expanduser()
    meta = _read_transforms(folder, split)
    colour = _background(background).numpy()
    images, alphas, poses = [], [], []
    for frame in meta["frames"]:
        rgba = _read_rgba(_frame_file(folder, frame["file_path"]), half_res)
        if images and rgba.shape[:2] != images[0].shape[:2]:
            raise DataError(f"{frame['file_path']} is {rgba.shape[1]}x{rgba.shape[0]} but the first frame is "
                            f"{images[0].shape[1]}x{images[0].shape[0]}: a scene's views share one size")
        images.append(rgba[..., :3] * rgba[..., 3:] + colour * (1 - rgba[..., 3:]))
        alphas.append(rgba[..., 3:])
        poses.append(np.asarray(frame["transform_matrix"], dtype=np.float32))
    h, w = images[0].shape[:2]
    focal = 0.5 * w / math.tan(0.5 * float(meta["camera_angle_x"]))
    intrinsics = torch.tensor([[focal, 0.0, w / 2], [0.0, focal, h / 2], [0.0, 0.0, 1.0]])
    pixels, alpha = (rearrange(torch.from_numpy(np.stack(x)), "n h w c -> n c h w") for x in (images, alphas))
    return ViewDataset(_to_bytes(pixels), _to_bytes(alpha), torch.from_numpy(np.stack(poses)),
                       intrinsics.expand(len(poses), 3, 3))
