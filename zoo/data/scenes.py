"""Deprecated alias: the multi-view scenes live in the zoo_nerf plugin, ``zoo_nerf.scenes``. This module goes in 0.3."""

from zoo._aliases import moved

__getattr__ = moved("zoo.data.scenes", dict.fromkeys(
    ["BACKGROUNDS", "ProceduralScene", "ViewDataset", "blender_scene", "procedural_scene"], "zoo_nerf.scenes"))
