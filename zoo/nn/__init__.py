"""Shared layers any plugin may use: MLPs, coordinate grids, encodings, differential operators, ``eval_mode``."""

from zoo.nn.coords import coordinate_grid
from zoo.nn.diff import divergence, gradient, jacobian, laplacian
from zoo.nn.encodings import FourierFeatures, HashGridEncoding, PositionalEncoding
from zoo.nn.mlp import MLP
from zoo.nn.modes import eval_mode
from zoo.nn.priors import FittedGaussianPrior

__all__ = [
    "MLP",
    "FittedGaussianPrior",
    "coordinate_grid",
    "PositionalEncoding",
    "FourierFeatures",
    "HashGridEncoding",
    "gradient",
    "jacobian",
    "divergence",
    "laplacian",
    "eval_mode",
]
