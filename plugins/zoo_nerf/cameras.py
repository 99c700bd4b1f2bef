"""Pinhole cameras, the rays through their pixels, and ``ViewRenderer``, a model that renders what a camera sees.

Conventions are NeRF's and Blender's (OpenGL): a camera-to-world ``pose`` ``(4, 4)`` maps camera
coordinates to the world; the camera looks down its -z axis with x to the right and y up. ``intrinsics``
is the matrix K ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels, with the image's top-left corner at
(0, 0): pixel (row i, column j) covers ``[j, j + 1] x [i, i + 1]`` and its ray goes through its centre
``(j + 0.5, i + 0.5)``. Ray directions are unit vectors, so distances along a ray (``near``, ``far``,
depth maps) are Euclidean distances from the camera's centre.

``ViewRenderer`` is this plugin's capability: a model that renders what any camera sees. The pictures of a
finished run and ``zoo render`` draw every such model (``zoo_nerf.pictures``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor

__all__ = ["Camera", "ViewRenderer", "intrinsics_from_fov", "look_at", "orbit", "pixel_centres", "pixel_rays"]


def pixel_centres(height: int, width: int, *, device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """The centres ``(x, y)`` of an image's pixels, in pixels: ``(height, width, 2)``."""
    ys = torch.arange(height, device=device, dtype=dtype) + 0.5
    xs = torch.arange(width, device=device, dtype=dtype) + 0.5
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y], dim=-1)


def pixel_rays(pose: Tensor, intrinsics: Tensor, pixels: Tensor) -> tuple[Tensor, Tensor]:
    """Rays through image points: ``pose (..., 4, 4)``, ``intrinsics (..., 3, 3)``, ``pixels (..., 2)``.

    ``pixels`` are ``(x, y)`` positions in pixels (``pixel_centres`` for whole pixels); the leading shapes
    broadcast. Returns ray origins and unit directions in world coordinates, ``(..., 3)`` each.
    """
    fx, fy = intrinsics[..., 0, 0], intrinsics[..., 1, 1]
    cx, cy = intrinsics[..., 0, 2], intrinsics[..., 1, 2]
    x, y = pixels.unbind(-1)
    # camera frame: +x right, +y up (image rows grow downwards), looking down -z
    local = torch.stack([(x - cx) / fx, -(y - cy) / fy, -torch.ones_like(x)], dim=-1)  # (..., 3)
    directions = torch.einsum("...ij,...j->...i", pose[..., :3, :3], local)
    directions = directions / directions.norm(dim=-1, keepdim=True)
    origins = pose[..., :3, 3].expand_as(directions)
    return origins, directions


def intrinsics_from_fov(fov_x: float, width: int, height: int) -> Tensor:
    """K ``(3, 3)`` of a camera with square pixels, horizontal field of view ``fov_x`` (radians), centred."""
    focal = 0.5 * width / math.tan(0.5 * fov_x)
    return torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def look_at(eye: Tensor, target: Tensor, up: Tensor) -> Tensor:
    """The camera-to-world pose ``(4, 4)`` of a camera at ``eye`` looking at ``target``, ``up`` roughly up.

    All three are ``(3,)``; ``up`` must not be parallel to the viewing direction.
    """
    backward = eye - target  # the camera looks down its -z axis
    backward = backward / backward.norm()
    right = torch.linalg.cross(up.to(backward), backward)
    if right.norm() < 1e-6:
        raise ValueError(f"look_at: up {up.tolist()} is parallel to the viewing direction {(-backward).tolist()}")
    right = right / right.norm()
    true_up = torch.linalg.cross(backward, right)
    pose = torch.eye(4, dtype=backward.dtype)
    pose[:3, :3] = torch.stack([right, true_up, backward], dim=-1)
    pose[:3, 3] = eye
    return pose


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: a camera-to-world ``pose`` ``(4, 4)``, ``intrinsics`` K ``(3, 3)`` and an image size."""

    pose: Tensor
    intrinsics: Tensor
    height: int
    width: int

    def rays(self) -> tuple[Tensor, Tensor]:
        """Origins and unit directions of the rays through every pixel centre, ``(height * width, 3)`` each.

        Rays are in row-major pixel order: ``rearrange(values, "(h w) c -> c h w", h=height)`` is the image.
        """
        pixels = pixel_centres(self.height, self.width, device=self.pose.device, dtype=self.pose.dtype)
        origins, directions = pixel_rays(self.pose, self.intrinsics, rearrange(pixels, "h w k -> (h w) k"))
        return origins, directions

    def resized(self, height: int, width: int) -> Camera:
        """The same camera with an image of ``height`` x ``width`` pixels (same field of view)."""
        scale = torch.tensor([width / self.width, height / self.height, 1.0], dtype=self.intrinsics.dtype,
                             device=self.intrinsics.device)
        return Camera(self.pose, self.intrinsics * scale[:, None], height, width)

    def to(self, device: torch.device | str) -> Camera:
        return Camera(self.pose.to(device), self.intrinsics.to(device), self.height, self.width)


class ViewRenderer(ABC):
    """A model of a 3-D scene that renders what a camera sees: ``render_view(camera)`` -> ``(rgb, depth)``.

    ``camera`` is a ``Camera`` (any pose, intrinsics and image size); ``rgb`` is ``(c, h, w)`` in [0, 1] and
    ``depth`` ``(h, w)``, the distance along each pixel's ray at which it ends. Its data are the views of a
    scene (``zoo_nerf.scenes.ViewDataset``): ``zoo render`` renders their held-out cameras and an orbit
    around the scene, and the pictures of a finished run show held-out views beside their renders.
    """

    @abstractmethod
    def render_view(self, camera: Camera) -> tuple[Tensor, Tensor]: ...


def orbit(cameras: list[Camera], num_frames: int, *, up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> list[Camera]:
    """``num_frames`` cameras on a circle around the ``up`` axis through the origin, looking at the origin.

    The circle has the mean height and mean distance from the axis of ``cameras`` (a scene's held-out
    views), so the orbit sees the scene as they do; every frame has the first camera's intrinsics and size.
    Blender scenes and the procedural scene have z up.
    """
    if not cameras:
        raise ValueError("orbit needs at least one camera to take its height, distance and intrinsics from")
    axis = torch.tensor(up, dtype=torch.float64)
    axis = axis / axis.norm()
    centres = torch.stack([c.pose[:3, 3].double().cpu() for c in cameras])  # (n, 3)
    height = (centres @ axis).mean()
    radius = (centres - (centres @ axis)[:, None] * axis).norm(dim=-1).mean()
    # a basis (e1, e2) of the plane perpendicular to the axis
    helper = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    if torch.linalg.cross(helper, axis).norm() < 1e-3:
        helper = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    e1 = torch.linalg.cross(axis, helper)
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(axis, e1)
    first = cameras[0]
    frames = []
    for angle in torch.arange(num_frames, dtype=torch.float64) * (2 * math.pi / num_frames):
        eye = height * axis + radius * (torch.cos(angle) * e1 + torch.sin(angle) * e2)
        pose = look_at(eye, torch.zeros(3, dtype=torch.float64), axis).to(first.pose)
        frames.append(Camera(pose, first.intrinsics, first.height, first.width))
    return frames
