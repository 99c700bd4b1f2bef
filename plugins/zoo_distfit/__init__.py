"""Fitting a distribution by a divergence, so that each divergence can be watched at work.

The lecture's first section shows what a divergence does by fitting with it: KL(p ‖ q) covers every mode of
p, KL(q ‖ p) settles on one ("sensitive at the tails"); the Sinkhorn divergence transports a cloud of
particles onto a target by its gradient flow (Feydy et al. 2019, "Interpolating between Optimal Transport and
MMD using Sinkhorn Divergences", https://arxiv.org/abs/1810.08278; Peyré & Cuturi 2019, ch. 9).

A plugin of its own, not part of zoo_divergences: that one is a library of divergence components which
every model uses, and it stays that; this one is a model, its data, a prior and pictures, which only
these demos need, and it takes any divergence through the registry (a third party's too).

- ``targets.py``: the 2-D targets (Gaussian mixtures with exact densities) and ``target-draws``, their data;
- ``model.py``: ``distribution-fit`` and the ``learned-gaussian`` prior (a full-covariance Gaussian with
  ``rsample``, what a sample-set divergence needs of q);
- ``pictures.py``: the ``fit-over-training`` artifact, the fit over training as a GIF.

Recipes: ``kl-forward-bimodal``, ``kl-reverse-bimodal``, ``sinkhorn-particles`` (and their ``-tiny``
variants), under ``zoo_distfit`` in registry.yaml.
"""

from __future__ import annotations

from zoo import hookimpl

from .model import DistributionFit, LearnedGaussian
from .pictures import fit_pictures
from .targets import TARGETS, target_draws

__all__ = ["DistributionFit", "LearnedGaussian", "TARGETS", "fit_pictures", "target_draws"]

PAPER = "Feydy et al. 2019, Interpolating between Optimal Transport and MMD using Sinkhorn Divergences " \
        "(arXiv:1810.08278)"


@hookimpl
def register_components(register):
    register("model", "distribution-fit", DistributionFit, paper=PAPER)
    register("prior", "learned-gaussian", LearnedGaussian)
    register("dataset", "target-draws", target_draws)


@hookimpl
def register_artifacts(register):
    register("fit-over-training", fit_pictures, applies_to=DistributionFit, output="fit/")
