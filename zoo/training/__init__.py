"""The shared training loop and the Python API of `zoo train | resume | eval | sample | render | export`.

    import zoo
    run = zoo.train("vae-digits", "runs/vae")            # zoo.training.train, re-exported
    model, recipe = zoo.load(run)
    zoo.training.evaluate(run)

``fit`` is the loop itself (loop.py, one function to read top to bottom); ``TrainSettings`` is a
recipe's ``train:`` section; checkpoint.py, distributed.py, runtime.py, sampler.py and report.py hold
the pieces it uses.
"""

from __future__ import annotations

from zoo.errors import TrainingInterrupted
from zoo.training.api import build, evaluate, export, interpolate, load, render, resume, sample, shipped, train
from zoo.training.checkpoint import CheckpointError, MissingPluginError
from zoo.training.loop import FitResult, fit, learning_rate
from zoo.training.settings import TrainSettings

__all__ = [
    "CheckpointError",
    "FitResult",
    "MissingPluginError",
    "TrainSettings",
    "TrainingInterrupted",
    "build",
    "evaluate",
    "export",
    "fit",
    "interpolate",
    "learning_rate",
    "load",
    "render",
    "resume",
    "sample",
    "shipped",
    "train",
]
