"""What a run of ``distribution-fit`` draws: the fit over training as a GIF, and its last frame as a PNG."""

from __future__ import annotations

from pathlib import Path

import torch
from einops import repeat

from zoo import viz
from zoo.artifacts import Run

from .model import DistributionFit

__all__ = ["fit_pictures"]

ZOOM = 3  # pixels of the written pictures per pixel of a frame


def fit_pictures(run: Run, out: Path) -> list[Path]:
    """Into the folder ``out``: the frames kept over training (target blue, fit red) and the fit as it is now as
    ``training.gif``, the latter alone as ``final.png``."""
    model: DistributionFit = run.model
    frames = model.frames[: int(model.recorded)].float().cpu() / 255
    frames = torch.cat([frames, model.picture()[None].float().cpu() / 255])  # and the fit as it ended
    frames = repeat(frames, "n c h w -> n c (h a) (w b)", a=ZOOM, b=ZOOM)
    out.mkdir(parents=True, exist_ok=True)
    viz.save_image_grid(frames[-1:], out / "final.png", min_tile=0)
    viz.save_gif(frames, out / "training.gif", fps=12)
    return [out]
