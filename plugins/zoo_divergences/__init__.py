"""genzoo's divergences: KL, cross entropy, Jensen-Shannon, optimal transport (exact, sliced, entropic), MMD, energy.

The lecture's first section as ``divergence`` components. Per-example divergences (``kl``,
``cross-entropy``, ``jensen-shannon``, ``wasserstein-gaussian``) compare distributions and return ``(b,)``;
batch-level ones (``wasserstein-1d``, ``wasserstein``, ``sliced-wasserstein``, ``sinkhorn``, ``mmd``,
``energy``) compare sample sets and return ``()``. Any of them is a VAE's prior term.

- ``information.py``: KL, cross entropy, entropy, Jensen-Shannon (Kullback & Leibler 1951; Shannon 1948; Lin 1991).
- ``transport.py``: exact Wasserstein in 1-D, between sample sets in any dimension (scipy's assignment and
  linear-program solvers) and between Gaussians (closed form); sliced Wasserstein (Kolouri et al. 2019).
- ``sinkhorn.py``: the debiased Sinkhorn divergence, log-domain with ε-scaling (Cuturi 2013; Feydy et al. 2019).
- ``kernel.py``: MMD (Gretton et al. 2012; Tolstikhin et al. 2018), energy distance (Székely & Rizzo 2013).
"""

from __future__ import annotations

from collections.abc import Callable

from zoo import hookimpl

from .information import (
    CrossEntropy,
    JensenShannon,
    KLDivergence,
    cross_entropy,
    entropy,
    jensen_shannon,
    kl_divergence,
)
from .kernel import MMD, Energy, energy_distance, mmd_squared
from .sinkhorn import Sinkhorn, sinkhorn_divergence
from .transport import (
    GaussianWasserstein,
    SlicedWasserstein,
    Wasserstein,
    Wasserstein1D,
    gaussian_wasserstein,
    wasserstein,
    wasserstein_1d,
)

__all__ = [
    "KLDivergence",
    "CrossEntropy",
    "Wasserstein1D",
    "SlicedWasserstein",
    "MMD",
    "JensenShannon",
    "Wasserstein",
    "GaussianWasserstein",
    "Sinkhorn",
    "Energy",
    "kl_divergence",
    "cross_entropy",
    "entropy",
    "wasserstein_1d",
    "mmd_squared",
    "jensen_shannon",
    "wasserstein",
    "gaussian_wasserstein",
    "sinkhorn_divergence",
    "energy_distance",
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
    register(
        "divergence",
        "jensen-shannon",
        JensenShannon,
        paper="Lin 1991, Divergence measures based on the Shannon entropy (IEEE Trans. Inf. Theory 37)",
    )
    register(
        "divergence",
        "wasserstein",
        Wasserstein,
        paper="Kantorovich 1942; Peyré & Cuturi 2019, Computational Optimal Transport, ch. 3 (arXiv:1803.00567)",
    )
    register(
        "divergence",
        "wasserstein-gaussian",
        GaussianWasserstein,
        paper="Dowson & Landau 1982, The Fréchet distance between multivariate normal distributions (J. Multivar. "
        "Anal. 12); Givens & Shortt 1984",
    )
    register(
        "divergence",
        "sinkhorn",
        Sinkhorn,
        paper="Cuturi 2013, Sinkhorn Distances (arXiv:1306.0895); Feydy et al. 2019, Interpolating between Optimal "
        "Transport and MMD using Sinkhorn Divergences (arXiv:1810.08278)",
    )
    register(
        "divergence",
        "energy",
        Energy,
        paper="Székely & Rizzo 2013, Energy statistics: A class of statistics based on distances (J. Stat. Plan. "
        "Inference 143)",
    )
