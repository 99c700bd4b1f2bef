"""What a Very Deep VAE's run draws: samples at a temperature, rows of them at three, and the KL of every layer.

- ``samples-at-temperature`` (``zoo sample``, a ``TemperedSampler``): the samples grid, ``--temperature`` scaling
  the priors' spread; for such a model it runs instead of the core's ``samples``.
- ``temperature-rows`` (after training): rows of samples at 0.6, 0.8 and 1.0, each labelled with its temperature.
- ``kl-per-layer`` (after training, a ``VDVAE``): the last evaluation's KL of each layer (``kl_layer_00``, ...,
  top first) as bars, to show which layers carry information and which collapsed (needs matplotlib).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch

from zoo import viz
from zoo.artifacts import NothingToDraw, Run, draw_samples
from zoo.recipes import Interval, PositiveInt

from .model import LAYER_KL

__all__ = ["TEMPERATURES", "kl_per_layer", "samples_at_temperature", "temperature_rows"]

TEMPERATURES = (0.6, 0.8, 1.0)  # the rows of samples-temperatures.png


def samples_at_temperature(
    run: Run, out: Path, *, n: Annotated[PositiveInt, "number of samples"] = 64,
    temperature: Annotated[float, Interval(ge=0, le=2), "scale the priors' spread (below 1: smoother, more typical "
                                                        "samples; 0: every layer at its prior's mean)"] = 1.0,
    seed: Annotated[int, "which random draws are shown"] = 0,
) -> list[Path]:
    """A grid of samples, every layer's prior spread scaled by a temperature."""
    return draw_samples(run, out, n=n, seed=seed, temperature=temperature)


def temperature_rows(run: Run, out: Path) -> list[Path]:
    """Rows of samples at the temperatures 0.6, 0.8 and 1, each labelled."""
    torch.manual_seed(0)
    rows = [run.model.sample(8, temperature=t).detach() for t in TEMPERATURES]
    return [viz.save_image_grid(torch.cat(rows), out, nrow=8, row_labels=[f"T = {t:g}" for t in TEMPERATURES])]


def kl_per_layer(run: Run, out: Path) -> list[Path]:
    """The KL of every stochastic layer at the last evaluation, top first, as bars (needs matplotlib)."""
    kls = {name.removeprefix(LAYER_KL): value for name, value in run.metrics.items() if name.startswith(LAYER_KL)}
    if not kls:
        raise NothingToDraw(f"{run.directory} has no evaluation with the KL of each layer")
    return [viz.plot_bars(kls, out, title="KL per layer (last evaluation)", xlabel="layer (top first)",
                          ylabel="KL (nats per dimension)")]

