"""SIREN: implicit neural representations with periodic activation functions.

Sitzmann, Martel, Bergman, Lindell, Wetzstein. "Implicit Neural Representations with Periodic Activation
Functions", NeurIPS 2020. https://arxiv.org/abs/2006.09661
Reference code: https://github.com/vsitzmann/siren

Registers the fields ``siren`` and the baselines it is compared against (``relu-mlp``, ``relu-pe``,
``fourier-features``), and the model ``signal-fit`` that fits one image or sound with any of them,
supervised on its values, its gradient or its Laplacian. Recipes: ``siren-camera`` and friends in
registry.yaml.
"""

from __future__ import annotations

from zoo import hookimpl
from zoo_siren.fields import FourierFeatureField, ReluField, ReluPEField, Siren
from zoo_siren.fit import SignalFit

__all__ = ["Siren", "ReluField", "ReluPEField", "FourierFeatureField", "SignalFit"]

PAPER = "Sitzmann et al. 2020, Implicit Neural Representations with Periodic Activation Functions"


@hookimpl
def register_components(register):
    register("field", "siren", Siren, paper=PAPER)
    register("field", "relu-mlp", ReluField, paper=PAPER + " (baseline)")
    register("field", "relu-pe", ReluPEField, paper="Mildenhall et al. 2020, NeRF (positional encoding)")
    register(
        "field",
        "fourier-features",
        FourierFeatureField,
        paper="Tancik et al. 2020, Fourier Features Let Networks Learn High Frequency Functions",
    )
    register("model", "signal-fit", SignalFit, paper=PAPER)
