"""The shared training loop and the Python API of `zoo train | resume | eval | sample | render`.

    import zoo.train
    run = zoo.train.train("vae-digits", "runs/vae")       # or zoo.train("vae-digits", "runs/vae")
    model, recipe = zoo.train.load(run)

``fit`` is the loop itself (loop.py, one function to read top to bottom); ``TrainSettings`` is a
recipe's ``train:`` section; checkpoint.py, distributed.py, runtime.py, sampler.py and report.py hold
the pieces it uses.
"""

from __future__ import annotations

import sys
import types

from zoo.train.api import evaluate, load, render, resume, sample, train
from zoo.train.checkpoint import CheckpointError, MissingPluginError
from zoo.train.loop import FitResult, fit, learning_rate
from zoo.train.settings import TrainSettings

__all__ = [
    "CheckpointError",
    "FitResult",
    "MissingPluginError",
    "TrainSettings",
    "evaluate",
    "fit",
    "learning_rate",
    "load",
    "render",
    "resume",
    "sample",
    "train",
]


class _CallableModule(types.ModuleType):
    """Lets ``zoo.train(...)`` call ``zoo.train.train(...)``: the package and the verb share one name."""

    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
