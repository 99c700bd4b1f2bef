"""NeRF: representing scenes as neural radiance fields for view synthesis.

Mildenhall, Srinivasan, Tancik, Barron, Ramamoorthi, Ng. "NeRF: Representing Scenes as Neural Radiance
Fields for View Synthesis", ECCV 2020. https://arxiv.org/abs/2003.08934
Reference code: https://github.com/bmild/nerf (and yenchenlin/nerf-pytorch)

The fast path follows Müller, Evans, Schied, Keller. "Instant Neural Graphics Primitives with a
Multiresolution Hash Encoding", SIGGRAPH 2022. https://arxiv.org/abs/2201.05989

Registers the fields ``nerf``, ``siren-nerf`` and ``hashgrid`` (which fits images too) and the model
``nerf``, which fits any of them to the views of a scene (optionally skipping empty space with an
occupancy grid). Rendering (sampling, compositing) is in ``zoo_nerf.rendering``; the scenes are the
datasets ``procedural-scene`` and ``blender`` (``zoo.data.scenes``). Recipes: ``nerf-toy-vanilla`` and
friends in registry.yaml.
"""

from __future__ import annotations

from zoo import hookimpl
from zoo_nerf.fields import HashGridField, NeRFField, SirenNeRFField
from zoo_nerf.model import NeRF

__all__ = ["HashGridField", "NeRF", "NeRFField", "SirenNeRFField"]

PAPER = "Mildenhall et al. 2020, NeRF: Representing Scenes as Neural Radiance Fields for View Synthesis"
NGP = "Müller et al. 2022, Instant Neural Graphics Primitives with a Multiresolution Hash Encoding"


@hookimpl
def register_components(register):
    register("field", "nerf", NeRFField, paper=PAPER)
    register("field", "siren-nerf", SirenNeRFField, paper=PAPER + "; Sitzmann et al. 2020 (SIREN trunk)")
    register("field", "hashgrid", HashGridField, paper=NGP)
    register("model", "nerf", NeRF, paper=PAPER)
