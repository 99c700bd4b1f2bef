"""Two-dimensional densities for flows to learn: scikit-learn's moons, circles and swiss roll, generated offline.

Each is a fixed set of points (seeded, the same on every machine), standardised to zero mean and unit spread
and cut 90/10 into train and test by the zoo's seeded split (``zoo.data.split_indices``). Items are points
``(2,)``; the datasets state ``kind="points"`` (continuous, ``levels=None``), so only a model that takes points
(the ``flow``) trains on them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from zoo.data import declare_facts
from zoo.data.core import split_indices
from zoo.recipes import PositiveInt

__all__ = ["POINTS", "PointDataset", "circles", "moons", "swiss_roll"]

#: The kind of data these datasets hold, what a model's ``data_kinds`` names.
POINTS = "points"
SEED = 0


class PointDataset(Dataset):
    """Points held in memory: ``points`` ``(n, d)``; item ``i`` is a float ``(d,)`` tensor."""

    kind, levels = POINTS, None

    def __init__(self, points: Tensor):
        self.points = points.float()
        self.shape = tuple(self.points.shape[1:])

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: int) -> Tensor:
        return self.points[index]


def _standardised(points: np.ndarray) -> Tensor:
    """Zero mean, and one standard deviation over both coordinates (the shape's aspect ratio is kept)."""
    points = torch.from_numpy(points)
    return (points - points.mean(0)) / points.std()


def _split(points: np.ndarray, split: str, name: str) -> PointDataset:
    return PointDataset(_standardised(points)[split_indices(len(points), split, name)])


_FACTS = declare_facts(lambda **_: {"shape": (2,), "levels": None, "kind": POINTS})


@_FACTS
def moons(*, root: str | None = None, split: str = "train", num_points: PositiveInt = 4000,
          noise: float = 0.05) -> PointDataset:
    """Two interleaving half circles (``sklearn.datasets.make_moons``), standardised: items ``(2,)``.

    ``num_points`` points with Gaussian ``noise`` (before standardising), 90% train / 10% test. ``root`` is unused.
    """
    from sklearn.datasets import make_moons

    return _split(make_moons(num_points, noise=noise, random_state=SEED)[0], split, "moons")


@_FACTS
def circles(*, root: str | None = None, split: str = "train", num_points: PositiveInt = 4000,
            noise: float = 0.05, factor: float = 0.5) -> PointDataset:
    """Two concentric circles (``sklearn.datasets.make_circles``; the inner one ``factor`` times the outer),
    standardised: items ``(2,)``. ``root`` is unused."""
    from sklearn.datasets import make_circles

    return _split(make_circles(num_points, noise=noise, factor=factor, random_state=SEED)[0], split, "circles")


@_FACTS
def swiss_roll(*, root: str | None = None, split: str = "train", num_points: PositiveInt = 4000,
               noise: float = 0.5) -> PointDataset:
    """The swiss roll (``sklearn.datasets.make_swiss_roll``) seen from above, its (x, z) coordinates: a 2-D
    spiral, standardised: items ``(2,)``. ``root`` is unused."""
    from sklearn.datasets import make_swiss_roll

    return _split(make_swiss_roll(num_points, noise=noise, random_state=SEED)[0][:, [0, 2]], split, "swiss-roll")
