"""Signed distance fields: a field fitted to an oriented point cloud with the eikonal term, and shapes to fit.

Sitzmann, Martel, Bergman, Lindell, Wetzstein. "Implicit Neural Representations with Periodic Activation
Functions", NeurIPS 2020, §4.2 (shape representation with signed distance functions).
https://arxiv.org/abs/2006.09661 — reference code: https://github.com/vsitzmann/siren
The eikonal term |∇Φ| = 1 is Gropp et al. 2020, "Implicit Geometric Regularization for Learning Shapes".

Registers the model ``sdf-fit`` (any field, SIREN's four loss terms), the datasets ``shapes`` (oriented points
sampled on exact shapes: sphere, torus, rounded box, unions, the procedural NeRF scene's objects) and
``point-cloud`` (yours: .xyz, .ply). Its surface is meshed by the core's ``zoo export RUN --mesh out.ply``
(it is a ``zoo.interfaces.ScalarVolume``). Recipes: ``sdf-torus`` and friends, under ``zoo_sdf`` in
registry.yaml.

- ``shapes.py``: the analytic signed distances and the sampling of oriented points on them;
- ``data.py``: the two datasets (one cloud ``(n, 6)`` each) and the point-cloud file reader;
- ``model.py``: ``SdfFit``.
"""

from __future__ import annotations

from zoo import hookimpl
from zoo_sdf.data import OrientedPoints, point_cloud, shapes
from zoo_sdf.model import SdfFit

__all__ = ["OrientedPoints", "SdfFit"]

PAPER = "Sitzmann et al. 2020, Implicit Neural Representations with Periodic Activation Functions (§4.2)"


@hookimpl
def register_components(register):
    register("model", "sdf-fit", SdfFit, paper=PAPER)
    register("dataset", "shapes", shapes, paper="analytic signed distances (sphere, torus, rounded box, unions)")
    register("dataset", "point-cloud", point_cloud)
