"""genzoo's divergences: KL, cross entropy, exact 1-D and sliced Wasserstein, MMD.

The lecture's first section as ``divergence`` components. Per-example divergences (``kl``,
``cross-entropy``) compare distributions and return ``(b,)``; batch-level ones (``wasserstein-1d``,
``sliced-wasserstein``, ``mmd``) compare sample sets and return ``()``. Any of them is a VAE's prior term.

- ``information.py``: KL, cross entropy, entropy (Kullback & Leibler 1951; Shannon 1948).
- ``transport.py``: exact 1-D Wasserstein, sliced Wasserstein (Kolouri et al. 2019; Deshpande et al. 2018).
- ``kernel.py``: MMD (Gretton et al. 2012; Tolstikhin et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable

from zoo import hookimpl

from .information import CrossEntropy, KLDivergence, cross_entropy, entropy, kl_divergence
from .kernel import MMD, mmd_squared
from .transport import SlicedWasserstein, Wasserstein1D, wasserstein_1d

__all__ = [
    "KLDivergence",
    "CrossEntropy",
    "Wasserstein1D",
    "SlicedWasserstein",
    "MMD",
    "kl_divergence",
    "cross_entropy",
    "entropy",
    "wasserstein_1d",
    "mmd_squared",
]


@hookimpl
def register_components(register: Callable[..., None]) -> None:
    register(
        "divergence", "kl", KLDivergence, paper="Kullback & Leibler 1951, On Information and Sufficiency"
    )
    register(
        "divergence",
        "cross-entropy",
        CrossEntropy,
        paper="Shannon 1948, A Mathematical Theory of Communication; Cover & Thomas 2006, ch. 2",
    )
    register(
        "divergence",
        "wasserstein-1d",
        Wasserstein1D,
        paper="Santambrogio 2015, Optimal Transport for Applied Mathematicians, ch. 2 (1-D transport)",
    )
    register(
        "divergence",
        "sliced-wasserstein",
        SlicedWasserstein,
        paper="Kolouri et al. 2019, Sliced-Wasserstein Autoencoder (arXiv:1804.01947); "
        "Deshpande et al. 2018, Generative Modeling using the Sliced Wasserstein Distance (arXiv:1803.11188)",
    )
    register(
        "divergence",
        "mmd",
        MMD,
        paper="Gretton et al. 2012, A Kernel Two-Sample Test (JMLR 13); "
        "Tolstikhin et al. 2018, Wasserstein Auto-Encoders (arXiv:1711.01558)",
    )
