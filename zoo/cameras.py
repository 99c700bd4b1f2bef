"""Deprecated alias: NeRF's cameras live in the zoo_nerf plugin, ``zoo_nerf.cameras``. This module goes in 0.3."""

from zoo._aliases import moved

__getattr__ = moved("zoo.cameras", dict.fromkeys(
    ["Camera", "ViewRenderer", "intrinsics_from_fov", "look_at", "orbit", "pixel_centres", "pixel_rays"],
    "zoo_nerf.cameras"))
