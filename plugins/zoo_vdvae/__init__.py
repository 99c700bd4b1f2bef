"""Very Deep VAEs: a top-down hierarchical VAE with dozens of stochastic layers that trains stably.

Child, "Very Deep VAEs Generalize Autoregressive Models and Can Outperform Them on Images", ICLR 2021.
https://arxiv.org/abs/2011.10650 — reference code: https://github.com/openai/vdvae

- ``layout.py``: the compact block layouts (``"32x4,32d2,16x4"``) parsed and checked against each other.
- ``blocks.py``: the residual bottleneck block and the top-down block with its prior and posterior.
- ``model.py``: the model ``vdvae`` (bits/dim, KL per layer, samples at a temperature, reconstructions
  from the top layers, an importance-weighted likelihood) and ``TemperedSampler``, its capability.
- ``pictures.py``: what its runs draw: samples at a temperature (``zoo sample --temperature``), rows of them
  at three temperatures, and the KL of every layer.

Recipes: ``vdvae-digits``, ``vdvae-faces``, ``vdvae-mnist``, ``vdvae-cifar10`` in registry.yaml. The output
distribution is any registered likelihood; the paper's is ``discretized-logistic-mixture`` (in the core).
"""

from __future__ import annotations

from zoo import hookimpl

from .blocks import Bottleneck, TopDownBlock
from .layout import LayoutBlock, check_layouts, parse_layout
from .model import VDVAE, TemperedSampler
from .pictures import kl_per_layer, samples_at_temperature, temperature_rows

__all__ = ["VDVAE", "Bottleneck", "TemperedSampler", "TopDownBlock", "LayoutBlock", "check_layouts", "parse_layout"]

PAPER = ("Child 2021, Very Deep VAEs Generalize Autoregressive Models and Can Outperform Them on Images "
         "(arXiv:2011.10650)")


@hookimpl
def register_components(register):
    register("model", "vdvae", VDVAE, paper=PAPER)


@hookimpl
def register_artifacts(register):
    register("samples-at-temperature", samples_at_temperature, applies_to=TemperedSampler, output="samples.png",
             command="sample")
    register("temperature-rows", temperature_rows, applies_to=TemperedSampler, output="samples-temperatures.png")
    register("kl-per-layer", kl_per_layer, applies_to=VDVAE, output="kl-per-layer.png")
