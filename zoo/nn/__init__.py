"""Shared layers any plugin may use: MLPs, coordinate grids, encodings, differential operators, posterior
heads, ``eval_mode``."""

import warnings

from zoo.nn.coords import coordinate_grid
from zoo.nn.diff import divergence, gradient, jacobian, laplacian
from zoo.nn.encodings import FourierFeatures, HashGridEncoding, PositionalEncoding
from zoo.nn.heads import MIN_POSTERIOR_SCALE, gaussian_posterior
from zoo.nn.mlp import MLP
from zoo.nn.modes import eval_mode

__all__ = [
    "MLP",
    "MIN_POSTERIOR_SCALE",
    "coordinate_grid",
    "PositionalEncoding",
    "FourierFeatures",
    "HashGridEncoding",
    "gaussian_posterior",
    "gradient",
    "jacobian",
    "divergence",
    "laplacian",
    "eval_mode",
]


def __getattr__(name: str):
    if name == "FittedGaussianPrior":  # genzoo 0.1's post-hoc prior layer, now the prior component
        warnings.warn("zoo.nn.FittedGaussianPrior is deprecated since genzoo 0.2.0 and goes in 0.3: it is the prior "
                      "component zoo.priors.FittedGaussian (prior 'fitted-gaussian'); call it for the distribution "
                      "instead of reading .distribution, and give a model prior: {name: fitted-gaussian, "
                      "components: k}", DeprecationWarning, stacklevel=2)
        from zoo.priors import FittedGaussian

        return FittedGaussian
    raise AttributeError(f"module 'zoo.nn' has no attribute {name!r}")
