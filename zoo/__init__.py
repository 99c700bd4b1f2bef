"""genzoo: a plugin-based zoo of generative and implicit models.

The public API. Importing ``zoo`` is cheap; the registry (and torch) load on first use.

    import zoo
    zoo.list_components("field")              # what is installed
    field = zoo.create("field", "siren", in_dim=2, out_dim=1)
    run = zoo.train("siren-camera", "runs/camera", steps=200)     # the CLI's `zoo train`
    model, recipe = zoo.load(run)
    model, recipe = zoo.load_pretrained("vae-digits")             # the weights its plugin ships
"""

from __future__ import annotations

from zoo.hookspecs import hookimpl

__version__ = "0.2.0"
__all__ = ["hookimpl", "create", "list_components", "get_registry", "train", "load", "load_pretrained",
           "__version__"]

_LAZY = {
    "create": "zoo.registry",
    "list_components": "zoo.registry",
    "get_registry": "zoo.registry",
    "load": "zoo.training",
    "load_pretrained": "zoo.pretrained",
}


def train(recipe, out, **options):
    """Train a recipe (a name, a YAML path or a recipe dict) into the run directory ``out``; returns it.

    The CLI's ``zoo train``; ``options`` are those of ``zoo.training.train`` (steps, device, quiet, pictures).
    Ctrl-C saves a checkpoint and raises ``zoo.errors.TrainingInterrupted``; ``zoo.training.resume`` goes on.
    """
    from zoo.training import train as train_recipe

    return train_recipe(recipe, out, **options)


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
