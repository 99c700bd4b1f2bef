"""The targets p a distribution fit aims at: 2-D Gaussian mixtures with a density and draws, and their data.

Each target is a ``torch.distributions.MixtureSameFamily`` of isotropic Gaussians, so it has an exact
``log_prob`` (what KL(q ‖ p) needs) and exact draws (what a sample-set divergence compares against):

- ``bimodal``: two well separated modes, the picture of KL's tail sensitivity;
- ``moons``: two interleaved half circles (scikit-learn's ``make_moons`` shape), as a density: 64 narrow
  Gaussians along each arc;
- ``eight-gaussians``: eight modes on a circle, the classic mode-dropping test.

The targets are this plugin's own (not datasets of another plugin), so the model that fits them and the data
that holds their draws agree on what they are: the dataset ``target-draws`` holds ``size`` draws of one, and a
recipe's model names the same target with ``target: ${data.target}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, Normal

from zoo.data import declare_facts
from zoo.data.core import check_split
from zoo.recipes import PositiveInt

__all__ = ["TARGETS", "Target", "TargetName", "TargetDraws", "mixture", "target_draws"]

TargetName = Literal["bimodal", "moons", "eight-gaussians"]


def mixture(means: Tensor, scale: float) -> Distribution:
    """Equal-weight isotropic Gaussians of standard deviation ``scale`` at ``means`` ``(k, 2)``: batch ``()``,
    event ``(2,)``, on ``means``' device and in its dtype."""
    return MixtureSameFamily(Categorical(logits=torch.zeros(len(means), dtype=means.dtype, device=means.device)),
                             Independent(Normal(means, torch.full_like(means, scale)), 1))


def _bimodal() -> Tensor:
    return torch.tensor([[-2.0, 0.0], [2.0, 0.0]])


def _moons() -> Tensor:
    t = torch.linspace(0, math.pi, 64)
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=-1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=-1)
    return torch.cat([upper, lower]) - torch.tensor([0.5, 0.25])


def _eight_gaussians() -> Tensor:
    angles = torch.arange(8) * (2 * math.pi / 8)
    return 2.0 * torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


@dataclass(frozen=True)
class Target:
    """A target: the means ``(k, 2)`` of its Gaussians, their standard deviation, and the half-width of the square
    its pictures show (centred at 0)."""

    means: Callable[[], Tensor]
    scale: float
    extent: float

    def distribution(self) -> Distribution:
        return mixture(self.means(), self.scale)


TARGETS: dict[str, Target] = {
    "bimodal": Target(_bimodal, 0.6, 4.5),
    "moons": Target(_moons, 0.07, 2.0),
    "eight-gaussians": Target(_eight_gaussians, 0.15, 3.0),
}


class TargetDraws(torch.utils.data.Dataset):
    """``size`` draws of a target, fixed by ``seed``: items are points ``(2,)``, the data a fit is judged on."""

    kind = "points"
    levels = None

    def __init__(self, target: str, size: int, seed: int):
        self.target = target
        self.shape: tuple[int, ...] = (2,)
        generator_state = torch.random.fork_rng(devices=[])  # the draws are the data's: they leave the run's RNG be
        with generator_state:
            torch.manual_seed(seed)
            self.points = TARGETS[target].distribution().sample((size,))

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index: int) -> Tensor:
        return self.points[index]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target!r}, size={len(self)})"


@declare_facts(lambda **_: {"shape": (2,), "levels": None, "kind": "points"})
def target_draws(*, target: TargetName = "bimodal", size: PositiveInt = 4096, root=None,
                 split: str = "train") -> TargetDraws:
    """Draws of a 2-D target distribution (bimodal, moons, eight-gaussians): points ``(2,)``, test draws apart."""
    check_split(split, "target-draws")
    return TargetDraws(target, size, seed=0 if split == "train" else 1)
