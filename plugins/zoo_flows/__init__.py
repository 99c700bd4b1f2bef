"""Normalizing flows on zuko: exact likelihoods, and flows as the prior, posterior and sampler of other models.

Papers: Rezende & Mohamed 2015, Variational Inference with Normalizing Flows (arXiv:1505.05770); Dinh et al.
2017, Real NVP (arXiv:1605.08803); Papamakarios et al. 2017, MAF (arXiv:1705.07057); Kingma et al. 2016, IAF
(arXiv:1606.04934); Durkan et al. 2019, Neural Spline Flows (arXiv:1906.04032); Theis et al. 2016, A note on the
evaluation of generative models (arXiv:1511.01844, dequantisation); Ho et al. 2019, Flow++ (arXiv:1902.00275).
The flows themselves are zuko's (Rozet et al., https://github.com/probabilists/zuko): this plugin writes no
bijector, only the zoo's side.

Registers the model ``flow`` (density estimation with an exact log-likelihood, an ``ExactLikelihood``), the
priors ``flow`` (learned with a ``vae`` or ``variational-gon``) and ``fitted-flow`` (fitted after training to an
``ae``'s or ``gon``'s codes), the encoder ``flow-posterior`` (an IAF-style posterior around any encoder's
Gaussian), the 2-D datasets ``moons``, ``circles`` and ``swiss-roll``, and the picture ``density`` (``zoo
sample`` draws 2-D samples as the core's histogram). The flow families are named by a string argument
(``family: nsf``; ``zoo_flows.families.FAMILIES``). Recipes: ``flow-*``, ``vae-flowprior-digits``, ``vae-iaf-digits``,
``ae-flowprior-digits`` in registry.yaml.
"""

from __future__ import annotations

from zoo import hookimpl
from zoo_flows.data import circles, moons, swiss_roll
from zoo_flows.families import FAMILIES, build_flow
from zoo_flows.model import Flow
from zoo_flows.pictures import density
from zoo_flows.posterior import FlowPosterior
from zoo_flows.priors import FittedFlow, FlowPrior

__all__ = ["FAMILIES", "FittedFlow", "Flow", "FlowPosterior", "FlowPrior", "build_flow"]

PAPER = "Papamakarios et al. 2021, Normalizing Flows for Probabilistic Modeling and Inference (arXiv:1912.02762)"


@hookimpl
def register_components(register):
    register("model", "flow", Flow, paper=PAPER)
    register("prior", "flow", FlowPrior, paper="Chen et al. 2017, Variational Lossy Autoencoder (arXiv:1611.02731)")
    register("prior", "fitted-flow", FittedFlow,
             paper="Ghosh et al. 2020, From Variational to Deterministic Autoencoders (arXiv:1903.12436), with a flow")
    register("encoder", "flow-posterior", FlowPosterior,
             paper="Kingma et al. 2016, Improved Variational Inference with Inverse Autoregressive Flow "
                   "(arXiv:1606.04934)")
    sklearn = "scikit-learn's generated datasets (sklearn.datasets)"
    register("dataset", "moons", moons, paper=sklearn)
    register("dataset", "circles", circles, paper=sklearn)
    register("dataset", "swiss-roll", swiss_roll, paper=sklearn)


@hookimpl
def register_artifacts(register):
    register("density", density, applies_to=Flow, output="density.png")
