"""NeRF: representing scenes as neural radiance fields for view synthesis.

Mildenhall, Srinivasan, Tancik, Barron, Ramamoorthi, Ng. "NeRF: Representing Scenes as Neural Radiance
Fields for View Synthesis", ECCV 2020. https://arxiv.org/abs/2003.08934
Reference code: https://github.com/bmild/nerf (and yenchenlin/nerf-pytorch)

The fast path follows Müller, Evans, Schied, Keller. "Instant Neural Graphics Primitives with a
Multiresolution Hash Encoding", SIGGRAPH 2022. https://arxiv.org/abs/2201.05989

Registers the fields ``nerf``, ``siren-nerf`` and ``hashgrid`` (which fits images too) and the model
``nerf``, which fits any of them to the views of a scene (optionally skipping empty space with an
occupancy grid), and the datasets it trains on, the views of a scene: ``procedural-scene`` (embedded,
ray-traced) and ``blender`` (NeRF's synthetic format). The plugin owns its world:

- ``cameras.py``: pinhole cameras, their rays, orbits, and ``ViewRenderer`` (a model that renders a camera's view);
- ``scenes.py``: the views of a scene (``ViewDataset``), the procedural scene's ray tracer, the Blender loader;
- ``rendering.py``: sampling along rays and compositing; ``occupancy.py``: empty-space skipping;
- ``pictures.py``: what a run of a ``ViewRenderer`` draws (held-out views, an orbit, depth maps).

Recipes: ``nerf-toy``, ``nerf-toy-vanilla`` and friends, under ``zoo_nerf`` in registry.yaml.
"""

from __future__ import annotations

from zoo import hookimpl
from zoo_nerf.fields import HashGridField, NeRFField, SirenNeRFField
from zoo_nerf.cameras import ViewRenderer
from zoo_nerf.model import NeRF
from zoo_nerf.pictures import orbit_pictures, views
from zoo_nerf.scenes import ViewDataset, blender_scene, procedural_scene

__all__ = ["HashGridField", "NeRF", "NeRFField", "SirenNeRFField", "ViewDataset", "ViewRenderer"]

PAPER = "Mildenhall et al. 2020, NeRF: Representing Scenes as Neural Radiance Fields for View Synthesis"
NGP = "Müller et al. 2022, Instant Neural Graphics Primitives with a Multiresolution Hash Encoding"


@hookimpl
def register_components(register):
    register("field", "nerf", NeRFField, paper=PAPER)
    register("field", "siren-nerf", SirenNeRFField, paper=PAPER + "; Sitzmann et al. 2020 (SIREN trunk)")
    register("field", "hashgrid", HashGridField, paper=NGP)
    register("model", "nerf", NeRF, paper=PAPER)
    register("dataset", "procedural-scene", procedural_scene)
    register("dataset", "blender", blender_scene, paper=PAPER + ": the synthetic Blender scenes")


@hookimpl
def register_artifacts(register):
    register("views", views, applies_to=ViewRenderer, output="views.png")
    register("orbit", orbit_pictures, applies_to=ViewRenderer, output="render/", command="render", after_training=False)
