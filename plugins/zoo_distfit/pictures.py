"""What a run of ``distribution-fit`` draws: the fit over training as a GIF, and its last frame as a PNG."""

from __future__ import annotations

from pathlib import Path

import torch
from einops import repeat

from zoo import viz
from zoo.artifacts import NothingToDraw, Run

from .model import DistributionFit

__all__ = ["fit_pictures"]

ZOOM = 3  # pixels of the written pictures per pixel of a frame


def fit_pictures(run: Run, out: Path) -> list[Path]:
    """The frames kept over training (target blue, fit red) as ``training.gif``, the last as ``final.png``."""
    model: DistributionFit = run.model
    recorded = int(model.recorded)
    if recorded == 0:
        raise NothingToDraw("no frame was recorded: the run stopped before its first frame_every updates")
    frames = model.frames[:recorded].float().cpu() / 255
    frames = torch.cat([frames, model.picture()[None].float().cpu() / 255])  # and the fit as it ended
    frames = repeat(frames, "n c h w -> n c (h a) (w b)", a=ZOOM, b=ZOOM)
    out.mkdir(parents=True, exist_ok=True)
    return [viz.save_image_grid(frames[-1:], out / "final.png", min_tile=0), viz.save_gif(frames, out / "training.gif",
                                                                                         fps=12)]
