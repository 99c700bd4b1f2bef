"""Evaluation numbers shared by every model: the ELBO and its terms, the IWAE bound, bits/dim, PSNR.

Latent-variable models (VAE, GON, VDVAE) hand these functions their pieces — the data ``x``, the
posterior q(z|x), a ``decode`` callable z -> p(x|z) (any ``zoo.interfaces.Decoder``) and the prior p(z)
— and get per-example numbers back, in nats:

- ``elbo``: log p(x) >= E_q[log p(x|z)] - KL(q(z|x) ‖ p(z)) (Kingma & Welling 2014, arXiv:1312.6114).
- ``iwae_bound``: log p(x) >= E[log (1/K) Σ_k p(x, z_k) / q(z_k|x)], z_k ~ q(z|x) (Burda et al. 2016,
  arXiv:1509.00519); tighter as K grows and the standard test log-likelihood estimate at K = 1000.
  Samples are drawn in chunks, so K = 1000 needs the memory of one chunk: ``importance_weighted`` does the
  chunking for any model's log weights (a hierarchical VAE's too).
- ``log_importance_weights`` (the K log weights log p(x, z_k) / q(z_k|x), reparameterised) and
  ``renyi_bound``, the variational Rényi bound of Li & Turner 2016 (arXiv:1602.02311) estimated from them:
  α = 1 is the ELBO, α = 0 the IWAE bound; what a model trains on when its objective is a bound
  (``BOUNDS``, ``check_bound``).
- ``estimate_nll`` / ``exact_nll``: a model's test NLL, estimated by importance sampling (``iwae_nll``) or
  computed (``nll``), in nats per example and bits/dim.
- ``bits_per_dim`` / ``nats_from_bits_per_dim``: NLL in nats per example <-> bits per data dimension.
- ``psnr``: peak signal-to-noise ratio in dB; ``ssim``: structural similarity (pytorch-msssim's).
- ``chamfer_distance`` and ``normal_consistency`` between two oriented point sets sampled on surfaces (the
  symmetric means over nearest neighbours of Occupancy Networks, Mescheder et al. 2019, arXiv:1812.03828),
  ``nearest_neighbours`` beneath them (a k-d tree: scipy's ``cKDTree``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np
import torch
from einops import rearrange, repeat
from torch import Tensor
from torch.distributions import Distribution, kl_divergence

__all__ = ["BOUNDS", "Objective", "bits_per_dim", "chamfer_distance", "check_bound", "elbo", "estimate_nll",
           "exact_nll", "importance_weighted", "iwae_bound", "log_importance_weights", "nats_from_bits_per_dim",
           "nearest_neighbours", "normal_consistency", "psnr", "renyi_bound", "ssim"]

Decode = Callable[[Tensor], Distribution]

#: The objectives a latent-variable model may train on, each the Rényi bound at its α (None: the α given).
BOUNDS = {"elbo": 1.0, "iwae": 0.0, "renyi": None}
Objective = Literal["elbo", "iwae", "renyi"]  # BOUNDS' names, as an argument's annotation


def _kl(posterior: Distribution, prior: Distribution, z: Tensor) -> Tensor:
    """KL(q ‖ p) per example: closed form when torch knows the pair, else the Monte Carlo mean over ``z``."""
    try:
        return kl_divergence(posterior, prior)
    except NotImplementedError:
        return (posterior.log_prob(z) - prior.log_prob(z)).mean(0)


def elbo(
    x: Tensor, posterior: Distribution, decode: Decode, prior: Distribution, *, num_samples: int = 1
) -> dict[str, Tensor]:
    """The evidence lower bound and its two terms, per example, in nats.

    ``x`` ``(b, ...)``; ``posterior`` q(z|x) with batch ``(b,)``; ``decode`` maps ``(n, d)`` latents to
    p(x|z) with batch ``(n,)``; ``prior`` p(z) with batch ``()``. The reconstruction term is a Monte Carlo
    mean over ``num_samples`` reparameterised draws (gradients flow to the posterior); KL is analytic
    when torch knows the pair. Returns ``{"elbo", "reconstruction", "kl"}``, each ``(b,)``, with
    ``elbo = -(reconstruction + kl)``.
    """
    z = posterior.rsample((num_samples,))  # (s, b, d)
    px = decode(rearrange(z, "s b d -> (s b) d"))
    log_px = px.log_prob(repeat(x, "b ... -> (s b) ...", s=num_samples))
    reconstruction = -rearrange(log_px, "(s b) -> s b", s=num_samples).mean(0)
    kl = _kl(posterior, prior, z)
    return {"elbo": -(reconstruction + kl), "reconstruction": reconstruction, "kl": kl}


def importance_weighted(log_weights: Callable[[int], Tensor], *, num_samples: int, chunk_size: int) -> Tensor:
    """log (1/K) Σ_k w_k per example ``(b,)`` for K = ``num_samples`` importance weights drawn in chunks.

    ``log_weights(k)`` draws ``k`` (at most ``chunk_size``) samples per example and returns their log weights
    ``(k, b)``; each chunk is reduced by a log-sum-exp before the next is drawn, so K = 1000 needs the memory
    of one chunk.
    """
    if num_samples < 1 or chunk_size < 1:
        raise ValueError(f"num_samples and chunk_size must be >= 1, got {num_samples} and {chunk_size}")
    partial = [torch.logsumexp(log_weights(min(chunk_size, num_samples - start)), dim=0)  # log Σ_k w_k, (b,)
               for start in range(0, num_samples, chunk_size)]
    return torch.logsumexp(torch.stack(partial), dim=0) - math.log(num_samples)


def iwae_bound(
    x: Tensor,
    posterior: Distribution,
    decode: Decode,
    prior: Distribution,
    *,
    num_samples: int = 1000,
    chunk_size: int = 100,
) -> Tensor:
    """The importance-weighted bound log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x), per example ``(b,)``, nats.

    Same arguments as ``elbo``. ``K = num_samples`` latents per example are decoded ``chunk_size`` at a
    time (``chunk_size * b`` decoder evaluations at once, ``importance_weighted``). With K = 1 this is a
    single-sample ELBO estimate; it increases towards log p(x) as K grows. Wrap the call in
    ``torch.no_grad()`` for evaluation.
    """

    def log_weights(k: int) -> Tensor:
        return log_importance_weights(x, posterior, decode, prior, num_samples=k)

    return importance_weighted(log_weights, num_samples=num_samples, chunk_size=chunk_size)


def log_importance_weights(
    x: Tensor, posterior: Distribution, decode: Decode, prior: Distribution, *, num_samples: int
) -> Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for K = ``num_samples`` draws z_k ~ q(z|x): ``(K, b)``.

    Same arguments as ``elbo``; the draws are reparameterised where q allows it, so gradients reach q's
    parameters, the decoder's and the prior's. All K * b latents are decoded at once.
    """
    k = num_samples
    z = posterior.rsample((k,)) if posterior.has_rsample else posterior.sample((k,))  # (k, b, d)
    px = decode(rearrange(z, "k b d -> (k b) d"))
    log_px = rearrange(px.log_prob(repeat(x, "b ... -> (k b) ...", k=k)), "(k b) -> k b", k=k)
    return log_px + prior.log_prob(z) - posterior.log_prob(z)


def renyi_bound(log_weights: Tensor, alpha: float) -> Tensor:
    """The variational Rényi bound estimated from K log weights ``(K, b)`` -> ``(b,)``, nats (Li & Turner 2016).

    ``1/(1-α) log (1/K) Σ_k w_k^(1-α)``: a power mean of the weights, so it does not increase with α for
    the same weights. α = 0 is the IWAE bound ``log (1/K) Σ_k w_k``; α = 1, its limit, the ELBO estimate
    ``(1/K) Σ_k log w_k``. For 0 <= α <= 1 its expectation is a lower bound on log p(x) that does not
    decrease with K (their Theorem 2); α < 0 bounds log p(x) from above.
    """
    k = log_weights.shape[0]
    if alpha == 1.0:
        return log_weights.mean(0)
    return (torch.logsumexp((1.0 - alpha) * log_weights, dim=0) - math.log(k)) / (1.0 - alpha)


def check_bound(objective: str, *, num_samples: int, beta: float, prior_weight_warmup: int = 0,
                batch_level: bool = False, model: str) -> float:
    """The α of ``objective`` (one of ``BOUNDS``; ``renyi``'s is the model's own, so None), or an error naming
    what does not fit it: the IWAE and Rényi bounds weigh each draw by p(z) / q(z|x) and have no separately
    weighted prior term (β, its warm-up, a batch-level divergence), and the ELBO objective draws one sample."""
    from zoo.errors import IncompatibleComponentsError

    if objective not in BOUNDS:
        raise ValueError(f"objective must be one of {', '.join(BOUNDS)}, got {objective!r}")
    if objective == "elbo":
        if num_samples != 1:
            raise IncompatibleComponentsError(f"{model}: num_samples={num_samples} is the K of the iwae and renyi "
                                              "objectives; the elbo draws one sample (set objective: iwae)")
        return BOUNDS[objective]
    unfit = [what for what, bad in [(f"beta={beta:g}", beta != 1.0),
                                    (f"a prior-term warm-up of {prior_weight_warmup} steps", prior_weight_warmup),
                                    ("a batch-level divergence", batch_level)] if bad]
    if unfit:
        raise IncompatibleComponentsError(f"{model}: objective {objective!r} is a bound on log p(x) with the prior "
                                          f"inside each importance weight, so {' and '.join(unfit)} would weigh "
                                          "nothing; leave beta=1 without warm-up and use a per-example divergence "
                                          "(kl) for the reported ELBO, or use objective: elbo")
    return BOUNDS[objective]


@torch.no_grad()
def estimate_nll(model, batches: Iterable[Tensor], *, num_samples: int = 1000) -> dict[str, float]:
    """The test NLL of a ``LikelihoodEstimator`` over ``batches``: nats per example and bits/dim.

    ``-model.log_likelihood(x, num_samples=...)`` averaged over every example (for a VAE, the IWAE
    bound with ``num_samples`` importance samples: an upper bound on the NLL that tightens as it grows).
    """
    total, count, num_dims = 0.0, 0, 0
    for x in batches:
        total += float(-model.log_likelihood(x, num_samples=num_samples).sum())
        count, num_dims = count + x.shape[0], math.prod(x.shape[1:])
    if not count:
        raise ValueError("estimate_nll got no batches")
    nll = total / count
    return {"iwae_nll": nll, "iwae_bits_per_dim": bits_per_dim(nll, num_dims)}


@torch.no_grad()
def exact_nll(model, batches: Iterable[Tensor]) -> dict[str, float]:
    """The test NLL of an ``ExactLikelihood`` over ``batches``: nats per example (``nll``) and ``bits_per_dim``.

    ``-model.log_likelihood(x)`` averaged over every example: no importance samples, nothing to tighten.
    """
    total, count, num_dims = 0.0, 0, 0
    for x in batches:
        total += float(-model.log_likelihood(x).sum())
        count, num_dims = count + x.shape[0], math.prod(x.shape[1:])
    if not count:
        raise ValueError("exact_nll got no batches")
    return {"nll": total / count, "bits_per_dim": bits_per_dim(total / count, num_dims)}


def bits_per_dim(nll: Tensor | float, num_dims: int) -> Tensor | float:
    """NLL in nats per example -> bits per dimension: ``nll / (num_dims * ln 2)``.

    ``num_dims`` is the number of data dimensions of one example (c * h * w for an image). Only a
    discrete likelihood's NLL gives bits/dim comparable across papers.
    """
    return nll / (num_dims * math.log(2.0))


def nats_from_bits_per_dim(bpd: Tensor | float, num_dims: int) -> Tensor | float:
    """Bits per dimension -> NLL in nats per example: ``bpd * num_dims * ln 2`` (undoes ``bits_per_dim``)."""
    return bpd * num_dims * math.log(2.0)


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0, *, per_example: bool = False) -> Tensor:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range² / MSE(x, y))``.

    ``x`` and ``y`` have the same shape; ``data_range`` is max - min of the signal's scale (1.0 for
    images in [0, 1], 2.0 for [-1, 1]). By default the MSE is over all elements and the result is a
    scalar ``()`` (one image, or a whole batch pooled); with ``per_example`` dim 0 is the batch and the
    result is ``(b,)``. Identical inputs give ``inf``.
    """
    if x.shape != y.shape:
        raise ValueError(f"psnr needs tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    squared = (x.float() - y.float()) ** 2
    mse = squared.flatten(1).mean(1) if per_example else squared.mean()
    return 10.0 * torch.log10(data_range**2 / mse)


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0, *, per_example: bool = False) -> Tensor:
    """Structural similarity (Wang et al. 2004) of images ``(b, c, h, w)``: the mean over the batch ``()``, or ``(b,)``.

    pytorch-msssim's ``ssim``, with the paper's constants: an 11-pixel Gaussian window of σ = 1.5,
    K1 = 0.01, K2 = 0.03, statistics over the window's valid positions, averaged over channels; the same
    number as scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=data_range)``. Images smaller than the window are compared
    without smoothing along their short sides (pytorch-msssim warns).
    """
    try:
        from pytorch_msssim import ssim as structural_similarity
    except ImportError as error:
        raise ImportError("SSIM needs pytorch-msssim, one of genzoo's dependencies: pip install pytorch-msssim") \
            from error
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two image batches (b, c, h, w) of one shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    return structural_similarity(x.float(), y.float(), data_range=data_range, size_average=not per_example)


def nearest_neighbours(queries: Tensor, points: Tensor, *, max_distance: float = math.inf) -> tuple[Tensor, Tensor]:
    """For each of ``queries`` ``(n, k)`` its nearest of ``points`` ``(m, k)``: Euclidean distances ``(n,)`` and
    indices ``(n,)`` into ``points`` (on the queries' device, the distances in their dtype).

    With ``max_distance`` the search stops there: a query with no point that near gets ``max_distance`` and the
    index -1. (Points on a surface are slow to search from far away.)
    """
    from scipy.spatial import cKDTree

    tree = cKDTree(points.detach().cpu().double().numpy())
    distances, indices = tree.query(queries.detach().cpu().double().numpy(), distance_upper_bound=max_distance)
    far = np.isinf(distances)
    distances[far], indices[far] = max_distance, -1
    return (torch.from_numpy(distances).to(queries.device, queries.dtype),
            torch.from_numpy(indices).to(queries.device, torch.int64))


def _nearest_weighted(queries: Tensor, points: Tensor, search_radius: float, far_sample: int | None,
                      generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Rows of ``queries``, their nearest ``points`` (distances, indices) and weights whose weighted sums over
    the rows, divided by ``n``, are means over all queries: every query nearer than ``search_radius`` to a
    point, exactly; of the farther ones (slow to search), all of them when they are at most ``far_sample``, else
    that many drawn at random, each weighted for its share (an unbiased estimate of their part)."""
    distances, indices = nearest_neighbours(queries, points, max_distance=search_radius)
    far = (indices < 0).nonzero()[:, 0]
    near = (indices >= 0).nonzero()[:, 0]
    weight = 1.0
    if far_sample is not None and len(far) > far_sample:
        weight = len(far) / far_sample
        far = far[torch.randperm(len(far), generator=generator)[:far_sample].to(far.device)]
    far_distances, far_indices = nearest_neighbours(queries[far], points)
    rows = torch.cat([near, far])
    weights = torch.cat([torch.ones(len(near)), torch.full((len(far),), weight)]).to(queries)
    return rows, torch.cat([distances[near], far_distances]), torch.cat([indices[near], far_indices]), weights


def chamfer_distance(a: Tensor, b: Tensor, *, search_radius: float = math.inf, far_sample: int | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
    """The symmetric Chamfer distance ``()`` between point sets ``a`` ``(n, k)`` and ``b`` ``(m, k)``: the mean over
    ``a`` of the distance to the nearest point of ``b`` and the same from ``b`` to ``a``, averaged (L1-Chamfer:
    distances, not their squares, in the points' units).

    Exact unless more than ``far_sample`` points of a set lie farther than ``search_radius`` from the other (a
    poor fit's): then the mean over that many of them, drawn with ``generator``, stands for theirs.
    """
    means = []
    for x, y in ((a, b), (b, a)):
        _, distances, _, weights = _nearest_weighted(x, y, search_radius, far_sample, generator)
        means.append((weights * distances).sum() / len(x))
    return (means[0] + means[1]) / 2


def normal_consistency(a: Tensor, normals_a: Tensor, b: Tensor, normals_b: Tensor, *,
                       search_radius: float = math.inf, far_sample: int | None = None,
                       generator: torch.Generator | None = None) -> Tensor:
    """How well the unit normals of two oriented point sets agree ``()``, in [-1, 1]: the mean cosine between each
    point's normal and that of its nearest neighbour in the other set, both ways, averaged (1: the same surface
    with the same orientation; a flipped normal counts against it). ``search_radius`` and ``far_sample`` as
    for ``chamfer_distance``."""
    means = []
    for x, normals_x, y, normals_y in ((a, normals_a, b, normals_b), (b, normals_b, a, normals_a)):
        rows, _, indices, weights = _nearest_weighted(x, y, search_radius, far_sample, generator)
        means.append((weights * (normals_x[rows] * normals_y[indices]).sum(-1)).sum() / len(x))
    return (means[0] + means[1]) / 2
