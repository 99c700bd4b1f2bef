"""Tests of the zoo_divergences plugin against closed forms, scipy, identities and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal
from zoo_divergences import (
    MMD,
    CrossEntropy,
    KLDivergence,
    SlicedWasserstein,
    Wasserstein1D,
    cross_entropy,
    entropy,
    kl_divergence,
    mmd_squared,
    register_components,
    wasserstein_1d,
)

from zoo.errors import RecipeError
from zoo.interfaces import Divergence, PointMass
from zoo.recipes import build_component

f64 = torch.float64


def diagonal_gaussian(loc: torch.Tensor, scale: torch.Tensor) -> Independent:
    return Independent(Normal(loc, scale), 1)


def random_gaussians(batch: int = 3, dim: int = 4, seed: int = 0) -> tuple[Independent, Independent]:
    g = torch.Generator().manual_seed(seed)
    q = diagonal_gaussian(
        torch.randn(batch, dim, generator=g, dtype=f64), torch.rand(batch, dim, generator=g, dtype=f64) + 0.5
    )
    p = diagonal_gaussian(
        torch.randn(batch, dim, generator=g, dtype=f64), torch.rand(batch, dim, generator=g, dtype=f64) + 0.5
    )
    return q, p


def random_categoricals(batch: int = 3, k: int = 5, seed: int = 0) -> tuple[Categorical, Categorical]:
    g = torch.Generator().manual_seed(seed)
    return (
        Categorical(logits=torch.randn(batch, k, generator=g, dtype=f64)),
        Categorical(logits=torch.randn(batch, k, generator=g, dtype=f64)),
    )


def gaussian_kl_by_hand(mq, sq, mp, sp):
    """KL(N(mq, sq²) ‖ N(mp, sp²)) per dimension, written out."""
    return torch.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2) - 0.5


# --- KL, cross entropy, entropy -----------------------------------------------------------------------


def test_analytic_kl_of_diagonal_gaussians_matches_the_closed_form():
    q, p = random_gaussians()
    expected = gaussian_kl_by_hand(
        q.base_dist.loc, q.base_dist.scale, p.base_dist.loc, p.base_dist.scale
    ).sum(-1)
    got = KLDivergence()(q, p)
    assert got.shape == (3,)
    torch.testing.assert_close(got, expected)


def test_analytic_kl_in_one_dimension_and_against_a_standard_prior():
    mq, sq = torch.tensor([0.0, 1.0, -2.0], dtype=f64), torch.tensor([1.0, 0.5, 2.0], dtype=f64)
    got = KLDivergence()(Normal(mq, sq), Normal(torch.tensor(0.0, dtype=f64), torch.tensor(1.0, dtype=f64)))
    # KL(N(m, s²) ‖ N(0, 1)) = (s² + m² - 1) / 2 - log s, the VAE's prior term
    torch.testing.assert_close(got, (sq**2 + mq**2 - 1) / 2 - torch.log(sq))
    # a prior with batch shape () broadcasts against a posterior with batch shape (b,)
    q = diagonal_gaussian(torch.randn(5, 3, dtype=f64), torch.rand(5, 3, dtype=f64) + 0.5)
    prior = diagonal_gaussian(torch.zeros(3, dtype=f64), torch.ones(3, dtype=f64))
    assert KLDivergence()(q, prior).shape == (5,)


def test_monte_carlo_kl_converges_to_the_analytic_value():
    q, p = random_gaussians()
    num_samples = 40_000
    torch.manual_seed(0)
    estimate = KLDivergence(analytic=False, num_samples=num_samples)(q, p)
    # the tolerance is 5 standard errors of the sample mean, from the spread of log q - log p under q
    z = q.sample((4_000,))
    standard_error = (q.log_prob(z) - p.log_prob(z)).std(0) / math.sqrt(num_samples)
    assert (estimate - KLDivergence()(q, p)).abs().lt(5 * standard_error).all()


def test_monte_carlo_kl_without_a_closed_form_matches_quadrature():
    # torch knows no KL between a Gaussian mixture and a Gaussian, so this is the Monte Carlo path
    weights, locs, scales = [0.3, 0.7], [-1.0, 1.5], [0.5, 0.8]
    q = MixtureSameFamily(
        Categorical(probs=torch.tensor(weights, dtype=f64)),
        Normal(torch.tensor(locs, dtype=f64), torch.tensor(scales, dtype=f64)),
    )
    p = Normal(torch.tensor(0.0, dtype=f64), torch.tensor(2.0, dtype=f64))
    with pytest.raises(NotImplementedError):
        torch.distributions.kl_divergence(q, p)

    def q_pdf(x):
        return sum(w * scipy.stats.norm.pdf(x, m, s) for w, m, s in zip(weights, locs, scales, strict=True))

    def integrand(x):
        return q_pdf(x) * (np.log(q_pdf(x)) - scipy.stats.norm.logpdf(x, 0.0, 2.0))

    expected, _ = scipy.integrate.quad(integrand, -12, 12)
    num_samples = 100_000
    torch.manual_seed(0)
    estimate = KLDivergence(num_samples=num_samples)(q, p)
    z = q.sample((4_000,))
    standard_error = (q.log_prob(z) - p.log_prob(z)).std() / math.sqrt(num_samples)
    assert abs(estimate.item() - expected) < 5 * standard_error.item()


def test_score_function_gradient_of_monte_carlo_kl_matches_the_analytic_gradient():
    # Categoricals have no rsample: the Monte Carlo path must still give the right gradient
    logits = torch.tensor([0.5, -1.0, 0.2, 1.0], dtype=f64, requires_grad=True)
    p = Categorical(logits=torch.tensor([0.0, 0.3, -0.5, 0.1], dtype=f64))
    (analytic,) = torch.autograd.grad(KLDivergence()(Categorical(logits=logits), p), logits)
    torch.manual_seed(0)
    value = KLDivergence(analytic=False, num_samples=50_000)(Categorical(logits=logits), p)
    (estimate,) = torch.autograd.grad(value, logits)
    torch.testing.assert_close(estimate, analytic, atol=0.02, rtol=0)
    assert analytic.abs().max() > 0.1  # the comparison is not between two zeros


def test_kl_of_a_distribution_with_itself_is_zero():
    q, _ = random_gaussians()
    c, _ = random_categoricals()
    for dist in (q, c):
        torch.testing.assert_close(KLDivergence()(dist, dist), torch.zeros(3, dtype=f64))
        torch.testing.assert_close(
            KLDivergence(analytic=False, num_samples=8)(dist, dist), torch.zeros(3, dtype=f64)
        )


@pytest.mark.parametrize("family", ["diagonal-gaussian", "gaussian-1d", "categorical"])
def test_kl_is_cross_entropy_minus_entropy(family):
    if family == "diagonal-gaussian":
        q, p = random_gaussians()
    elif family == "gaussian-1d":
        q, p = (d.base_dist for d in random_gaussians())
    else:
        q, p = random_categoricals()
    # cross entropy has its own closed forms for these families, so the two sides are computed differently
    torch.testing.assert_close(KLDivergence()(q, p), CrossEntropy()(q, p) - entropy(q))


def test_categorical_entropy_kl_and_cross_entropy_match_scipy():
    q, p = random_categoricals(batch=4, k=6)
    qk, pk = q.probs.numpy(), p.probs.numpy()
    scipy_entropy = scipy.stats.entropy(qk, axis=-1)
    scipy_kl = scipy.stats.entropy(qk, pk, axis=-1)
    np.testing.assert_allclose(entropy(q).numpy(), scipy_entropy, rtol=1e-10)
    np.testing.assert_allclose(kl_divergence(q, p).numpy(), scipy_kl, rtol=1e-10)
    np.testing.assert_allclose(cross_entropy(q, p).numpy(), scipy_entropy + scipy_kl, rtol=1e-10)


def test_categorical_cross_entropy_ignores_outcomes_q_never_takes():
    q = Categorical(probs=torch.tensor([0.5, 0.5, 0.0], dtype=f64))
    p = Categorical(probs=torch.tensor([0.25, 0.75, 0.0], dtype=f64))
    torch.testing.assert_close(
        cross_entropy(q, p), -(0.5 * math.log(0.25) + 0.5 * math.log(0.75)) * torch.ones((), dtype=f64)
    )


def test_monte_carlo_entropy_and_cross_entropy_converge_to_closed_forms():
    q, p = random_gaussians()
    mq, sq, mp, sp = q.base_dist.loc, q.base_dist.scale, p.base_dist.loc, p.base_dist.scale
    closed_entropy = (0.5 * torch.log(2 * math.pi * math.e * sq**2)).sum(-1)
    closed_cross_entropy = (
        0.5 * torch.log(2 * math.pi * sp**2) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2)
    ).sum(-1)
    torch.testing.assert_close(entropy(q), closed_entropy)
    torch.testing.assert_close(cross_entropy(q, p), closed_cross_entropy)
    num_samples = 40_000
    torch.manual_seed(0)
    z = q.sample((4_000,))
    se_entropy = q.log_prob(z).std(0) / math.sqrt(num_samples)
    se_cross = p.log_prob(z).std(0) / math.sqrt(num_samples)
    mc_entropy = entropy(q, analytic=False, num_samples=num_samples)
    mc_cross = CrossEntropy(analytic=False, num_samples=num_samples)(q, p)
    assert (mc_entropy - closed_entropy).abs().lt(5 * se_entropy).all()
    assert (mc_cross - closed_cross_entropy).abs().lt(5 * se_cross).all()


def test_mismatched_event_shapes_and_point_masses_are_explained():
    q = diagonal_gaussian(torch.zeros(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="Independent"):
        KLDivergence()(q, Normal(torch.zeros(2, 3), torch.ones(2, 3)))
    with pytest.raises(NotImplementedError, match="sliced-wasserstein"):
        KLDivergence()(PointMass(torch.zeros(2, 3)), diagonal_gaussian(torch.zeros(3), torch.ones(3)))
    with pytest.raises(RecipeError, match="^divergence.num_samples: expected int >= 1, got 0$"):
        build_component("divergence", {"name": "kl", "num_samples": 0})


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-5, 5), min_size=4, max_size=4),
    st.lists(st.floats(-2, 2), min_size=4, max_size=4),
)
def test_kl_of_gaussians_is_non_negative(locs, log_scales):
    locs, log_scales = torch.tensor(locs, dtype=f64), torch.tensor(log_scales, dtype=f64)
    q = diagonal_gaussian(locs[:2], log_scales[:2].exp())
    p = diagonal_gaussian(locs[2:], log_scales[2:].exp())
    assert KLDivergence()(q, p).item() >= -1e-12


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=6, max_size=6))
def test_kl_of_categoricals_is_non_negative(logits):
    logits = torch.tensor(logits, dtype=f64)
    q, p = Categorical(logits=logits[:3]), Categorical(logits=logits[3:])
    assert KLDivergence()(q, p).item() >= -1e-12


def test_analytic_kl_passes_gradcheck():
    def kl(mq, log_sq, mp, log_sp):
        return KLDivergence()(diagonal_gaussian(mq, log_sq.exp()), diagonal_gaussian(mp, log_sp.exp()))

    inputs = tuple(torch.randn(2, 3, dtype=f64, requires_grad=True) for _ in range(4))
    assert torch.autograd.gradcheck(kl, inputs)


# --- exact 1-D Wasserstein -----------------------------------------------------------------------------


@pytest.mark.parametrize("n, m", [(5, 5), (7, 13), (40, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_wasserstein_1d_matches_scipy(n, m, weighted):
    g = torch.Generator().manual_seed(n * m)
    u = torch.randn(n, generator=g, dtype=f64)
    v = 2 * torch.randn(m, generator=g, dtype=f64) + 0.5
    u_w = torch.rand(n, generator=g, dtype=f64) if weighted else None
    v_w = torch.rand(m, generator=g, dtype=f64) if weighted else None
    expected = scipy.stats.wasserstein_distance(
        u.numpy(), v.numpy(), None if u_w is None else u_w.numpy(), None if v_w is None else v_w.numpy()
    )
    assert abs(wasserstein_1d(u, v, u_w, v_w).item() - expected) < 1e-5


def test_wasserstein_1d_of_histograms_matches_scipy_and_repeated_samples():
    centres = torch.linspace(0, 1, 8, dtype=f64)
    u_counts = torch.tensor([0, 3, 5, 1, 0, 2, 0, 1], dtype=f64)
    v_counts = torch.tensor([2, 0, 1, 4, 4, 0, 1, 0], dtype=f64)
    expected = scipy.stats.wasserstein_distance(
        centres.numpy(), centres.numpy(), u_counts.numpy(), v_counts.numpy()
    )
    assert abs(wasserstein_1d(centres, centres, u_counts, v_counts).item() - expected) < 1e-10
    # integer counts are the same measure as each bin centre repeated that many times, for every p
    u_repeated = centres.repeat_interleave(u_counts.long())
    v_repeated = centres.repeat_interleave(v_counts.long())
    for p in (1, 2, 3.5):
        torch.testing.assert_close(
            wasserstein_1d(centres, centres, u_counts, v_counts, p=p),
            wasserstein_1d(u_repeated, v_repeated, p=p),
        )


def test_wasserstein_p_of_equal_sizes_is_the_sorted_difference():
    g = torch.Generator().manual_seed(1)
    u, v = torch.randn(20, generator=g, dtype=f64), torch.randn(20, generator=g, dtype=f64) * 3
    for p in (2, 3):
        by_hand = ((u.sort().values - v.sort().values).abs() ** p).mean() ** (1 / p)
        torch.testing.assert_close(wasserstein_1d(u, v, p=p), by_hand)


def test_wasserstein_p_of_unequal_sizes_is_the_sorted_difference_of_replicated_samples():
    # n and m samples are the same measures as n*m samples with each u repeated m times, each v n times
    g = torch.Generator().manual_seed(2)
    u, v = torch.randn(4, generator=g, dtype=f64), torch.randn(6, generator=g, dtype=f64) + 1
    u_big, v_big = u.repeat_interleave(6), v.repeat_interleave(4)
    by_hand = ((u_big.sort().values - v_big.sort().values) ** 2).mean().sqrt()
    torch.testing.assert_close(wasserstein_1d(u, v, p=2), by_hand)


def assignment_wasserstein(u: np.ndarray, v: np.ndarray, p: float) -> float:
    """W_p between n and m samples from scipy's assignment solver, without sorting: each u repeated m times
    and each v n times are two sets of n*m equally weighted points, whose optimal plan is a permutation."""
    u_big, v_big = np.repeat(u, len(v)), np.repeat(v, len(u))
    cost = np.abs(u_big[:, None] - v_big[None, :]) ** p
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return cost[rows, cols].mean() ** (1 / p)


def test_wasserstein_1d_component_of_each_order_matches_the_optimal_assignment():
    # a rescaled set, not a shifted one: the orders give different distances only when the gaps differ
    g = torch.Generator().manual_seed(11)
    u, v = torch.randn(7, generator=g, dtype=f64), 3 * torch.randn(5, generator=g, dtype=f64) + 0.5
    expected = [assignment_wasserstein(u.numpy(), v.numpy(), p) for p in (1, 2, 3)]
    assert expected[0] < 0.95 * expected[1] < 0.95**2 * expected[2]  # W_p grows with p here
    for p, distance in zip((1, 2, 3), expected, strict=True):
        assert Wasserstein1D(p=p)(u, v).item() == pytest.approx(distance, rel=1e-9)
        assert wasserstein_1d(u, v, p=p).item() == pytest.approx(distance, rel=1e-9)


def test_wasserstein_1d_of_gaussian_quantiles_matches_the_closed_forms():
    # N(0, 1) against N(a, b²), each as its quantiles at the bin midpoints: the transport map is z -> a + bz,
    # so W_2² = a² + (b - 1)² and W_1 = E|a + (b - 1) Z| (the folded normal's mean)
    a, b = 0.5, 3.0
    u = torch.tensor(scipy.stats.norm.ppf((np.arange(1000) + 0.5) / 1000), dtype=f64)
    v = a + b * torch.tensor(scipy.stats.norm.ppf((np.arange(700) + 0.5) / 700), dtype=f64)
    s = b - 1
    w1 = s * math.sqrt(2 / math.pi) * math.exp(-(a**2) / (2 * s**2)) + a * (1 - 2 * scipy.stats.norm.cdf(-a / s))
    w2 = math.sqrt(a**2 + s**2)
    assert w1 < 0.85 * w2
    # the quantile grids cut the tails: ~1e-3 relative error at these sizes
    assert Wasserstein1D(p=1)(u, v).item() == pytest.approx(w1, rel=5e-3)
    assert Wasserstein1D(p=2)(u, v).item() == pytest.approx(w2, rel=5e-3)


def test_batched_wasserstein_1d_equals_looped():
    g = torch.Generator().manual_seed(3)
    u = torch.randn(3, 4, 9, generator=g, dtype=f64)
    v = torch.randn(4, 5, generator=g, dtype=f64)  # broadcasts over u's first dimension
    u_w, v_w = torch.rand(3, 4, 9, generator=g, dtype=f64), torch.rand(4, 5, generator=g, dtype=f64)
    for p in (1, 2):
        batched = wasserstein_1d(u, v, p=p)
        batched_weighted = wasserstein_1d(u, v, u_w, v_w, p=p)
        assert batched.shape == (3, 4)
        for i in range(3):
            for j in range(4):
                torch.testing.assert_close(batched[i, j], wasserstein_1d(u[i, j], v[j], p=p))
                torch.testing.assert_close(
                    batched_weighted[i, j], wasserstein_1d(u[i, j], v[j], u_w[i, j], v_w[j], p=p)
                )


def test_wasserstein_1d_rejects_bad_weights_and_orders():
    u = torch.randn(5)
    with pytest.raises(ValueError, match="one weight per sample"):
        wasserstein_1d(u, u, torch.ones(4))
    with pytest.raises(ValueError, match="non-negative"):
        wasserstein_1d(u, u, -torch.ones(5))
    with pytest.raises(ValueError, match="p must be >= 1"):
        wasserstein_1d(u, u, p=0.5)


samples = st.lists(st.floats(-100, 100), min_size=1, max_size=30)


@settings(max_examples=50, deadline=None)
@given(samples, samples, st.sampled_from([1, 2]))
def test_wasserstein_is_symmetric(u, v, p):
    u, v = torch.tensor(u, dtype=f64), torch.tensor(v, dtype=f64)
    torch.testing.assert_close(wasserstein_1d(u, v, p=p), wasserstein_1d(v, u, p=p))


@settings(max_examples=50, deadline=None)
@given(samples, st.sampled_from([1, 2]))
def test_wasserstein_of_a_set_with_itself_is_zero(u, p):
    u = torch.tensor(u, dtype=f64)
    assert wasserstein_1d(u, u, p=p).item() == 0.0
    assert wasserstein_1d(u, u.flip(0), p=p).item() == 0.0


@settings(max_examples=50, deadline=None)
@given(samples, st.floats(-50, 50))
def test_wasserstein_of_a_translation_is_the_shift(u, c):
    u = torch.tensor(u, dtype=f64)
    assert wasserstein_1d(u, u + c).item() == pytest.approx(abs(c), abs=1e-9)
    assert wasserstein_1d(u, u + c, p=2).item() == pytest.approx(abs(c), abs=1e-9)


@pytest.mark.parametrize("p", [1, 2])
def test_wasserstein_1d_passes_gradcheck(p):
    g = torch.Generator().manual_seed(4)
    inputs = (
        torch.randn(6, generator=g, dtype=f64).requires_grad_(),
        torch.randn(4, generator=g, dtype=f64).requires_grad_(),
        (torch.rand(6, generator=g, dtype=f64) + 0.1).requires_grad_(),
        (torch.rand(4, generator=g, dtype=f64) + 0.1).requires_grad_(),
    )
    assert torch.autograd.gradcheck(lambda u, v, uw, vw: wasserstein_1d(u, v, uw, vw, p=p), inputs)


def test_wasserstein_1d_component_takes_samples_and_distributions():
    g = torch.Generator().manual_seed(5)
    u, v = torch.randn(30, generator=g, dtype=f64), torch.randn(20, generator=g, dtype=f64) + 1
    w = Wasserstein1D(p=2)
    assert w.batch_level
    torch.testing.assert_close(w(u, v), wasserstein_1d(u, v, p=2))
    torch.testing.assert_close(w(u[:, None], v[:, None]), wasserstein_1d(u, v, p=2))
    # a distribution side is drawn as many times as the other side has samples: W1 to N(c, 1) vs quadrature
    torch.manual_seed(0)
    big = torch.randn(4000, dtype=f64)
    distance = Wasserstein1D()(big, Normal(torch.tensor(3.0, dtype=f64), torch.tensor(1.0, dtype=f64)))
    assert distance.item() == pytest.approx(3.0, abs=0.1)  # sampling error ~0.03
    with pytest.raises(ValueError, match="sliced-wasserstein"):
        w(torch.randn(10, 2), torch.randn(10, 2))


# --- sliced Wasserstein --------------------------------------------------------------------------------


def test_sliced_wasserstein_is_zero_for_identical_sets_and_positive_for_shifted_ones():
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(6))
    sw = SlicedWasserstein(num_projections=32)
    assert sw.batch_level
    assert sw(x, x).item() == 0.0
    assert sw(x, x[torch.randperm(64)]).item() == pytest.approx(0.0, abs=1e-6)
    assert sw(x, x + torch.tensor([1.0, 0.0, 0.0])).item() > 0.1


def test_sliced_wasserstein_is_reproducible_from_its_seed():
    g = torch.Generator().manual_seed(7)
    x, y = torch.randn(50, 4, generator=g), torch.randn(40, 4, generator=g) + 0.5
    first, second = SlicedWasserstein(num_projections=8, seed=3), SlicedWasserstein(num_projections=8, seed=3)
    calls_first = [first(x, y) for _ in range(3)]
    calls_second = [second(x, y) for _ in range(3)]
    for a, b in zip(calls_first, calls_second, strict=True):
        assert a.item() == b.item()
    assert calls_first[0].item() != calls_first[1].item()  # fresh directions on every call
    assert SlicedWasserstein(num_projections=8, seed=4)(x, y).item() != calls_first[0].item()
    # the generator state travels in the state_dict, so a restored module continues the sequence
    restored = SlicedWasserstein(num_projections=8, seed=3)
    saved = SlicedWasserstein(num_projections=8, seed=3)
    saved(x, y)
    restored.load_state_dict(saved.state_dict())
    assert restored(x, y).item() == calls_first[1].item()


@pytest.mark.parametrize("p", [1, 2])
def test_sliced_wasserstein_in_one_dimension_is_the_exact_distance(p):
    # the unit sphere in 1-D is {-1, +1}, and W_p is unchanged when both sets are reflected
    g = torch.Generator().manual_seed(8)
    x, y = torch.randn(30, 1, generator=g, dtype=f64), 2 * torch.randn(45, 1, generator=g, dtype=f64)
    directions = SlicedWasserstein(num_projections=16, seed=0).projections(1, f64)
    assert set(directions.flatten().tolist()) == {-1.0, 1.0}
    torch.testing.assert_close(
        SlicedWasserstein(num_projections=16, p=p)(x, y), wasserstein_1d(x[:, 0], y[:, 0], p=p)
    )


@pytest.mark.parametrize("p", [1, 2])
def test_sliced_wasserstein_of_a_rescaled_and_shifted_set_matches_its_closed_form(p):
    # y_i = s x_i + c with s > 0 keeps the order along every direction θ, so W_p(θᵀx, θᵀy)^p is the mean of
    # |θᵀw_i|^p with w_i = y_i - x_i. For θ uniform on the sphere in 3-D, θ_1 is uniform on [-1, 1]
    # (Archimedes), so E(θᵀw)² = |w|²/3 and E|θᵀw| = |w|/2.
    g = torch.Generator().manual_seed(12)
    x = torch.randn(32, 3, generator=g, dtype=f64)
    y = 1.5 * x + torch.tensor([1.0, -2.0, 0.5], dtype=f64)
    gaps = (y - x).norm(dim=-1)
    expected = (gaps**2).mean() / 3 if p == 2 else gaps.mean() / 2  # SW_p^p
    # each direction's value lies in [0, mean |w_i|^p], so its standard deviation is at most half that
    num_projections = 20_000
    tolerance = 6 * (gaps**p).mean() / (2 * math.sqrt(num_projections))  # six standard errors
    estimate = SlicedWasserstein(num_projections=num_projections, p=p, seed=1)(x, y) ** p
    assert abs(estimate - expected).item() < tolerance.item() < 0.1 * expected.item()


def test_gradient_descent_on_sample_positions_reduces_sliced_wasserstein():
    g = torch.Generator().manual_seed(9)
    target = torch.randn(128, 2, generator=g) + torch.tensor([3.0, -2.0])
    x = torch.randn(128, 2, generator=g).requires_grad_()
    loss_fn = SlicedWasserstein(num_projections=32)
    measure = SlicedWasserstein(num_projections=256, seed=123)
    before = measure(x, target).item()
    optimizer = torch.optim.Adam([x], lr=0.1)
    for _ in range(40):
        optimizer.zero_grad()
        loss_fn(x, target).backward()
        optimizer.step()
    after = SlicedWasserstein(num_projections=256, seed=123)(x, target).item()
    assert after < 0.25 * before


def test_sliced_wasserstein_samples_a_distribution_side():
    prior = diagonal_gaussian(torch.zeros(3), torch.ones(3))
    posterior = diagonal_gaussian(torch.randn(20, 3), torch.full((20, 3), 0.1))
    x = torch.randn(50, 3)
    sw = SlicedWasserstein(num_projections=8)
    assert sw(x, prior).shape == ()
    assert sw(posterior, prior).shape == ()  # q(z|x) for a batch: one draw per example
    loc = torch.zeros(20, 3, requires_grad=True)
    sw(diagonal_gaussian(loc, torch.ones(20, 3)), prior).backward()  # rsample lets gradients reach q
    assert loc.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="pass samples for one side"):
        sw(prior, prior)
    with pytest.raises(ValueError, match="same d"):
        sw(torch.randn(5, 3), torch.randn(5, 2))


# --- MMD ----------------------------------------------------------------------------------------------


def test_mmd_of_two_points_per_side_by_hand():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=f64)
    y = torch.tensor([[0.0, 0.0], [0.0, 2.0]], dtype=f64)
    # one scale, default bandwidth 2·d = 4: k = exp(-r²/4); squared distances xx: 1, yy: 4, xy: 0, 4, 1, 5
    e = math.exp
    by_hand = e(-1 / 4) + e(-1) - 2 * (e(0) + e(-1) + e(-1 / 4) + e(-5 / 4)) / 4
    assert mmd_squared(x, y, scales=(1.0,)).item() == pytest.approx(by_hand, rel=1e-12)

    # two scales with bandwidth 1: the kernel is the mean of exp(-r²) and exp(-r²/2)
    def k(r2):
        return (e(-r2) + e(-r2 / 2)) / 2

    by_hand = k(1) + k(4) - 2 * (k(0) + k(4) + k(1) + k(5)) / 4
    assert MMD(scales=(1.0, 2.0), bandwidth=1.0)(x, y).item() == pytest.approx(by_hand, rel=1e-12)


def test_mmd_is_near_zero_for_one_distribution_and_positive_for_shifted_ones():
    g = torch.Generator().manual_seed(10)
    x, y = torch.randn(300, 2, generator=g, dtype=f64), torch.randn(300, 2, generator=g, dtype=f64)
    mmd = MMD()
    assert mmd.batch_level
    same = mmd(x, y).item()
    shifted = mmd(x, y + 1.0).item()
    assert abs(same) < 0.01  # its spread over seeds is ~0.003 at n = m = 300
    assert shifted > 0.05  # ~0.11-0.13 over seeds


def test_mmd_takes_a_prior_and_passes_gradients():
    prior = diagonal_gaussian(torch.zeros(2, dtype=f64), torch.ones(2, dtype=f64))
    z = (torch.randn(64, 2, dtype=f64) + 2).requires_grad_()
    value = MMD()(z, prior)
    value.backward()
    assert value.item() > 0 and z.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="at least 2 samples"):
        MMD()(torch.zeros(1, 2), torch.zeros(3, 2))


# --- registration ---------------------------------------------------------------------------------------


def test_plugin_registers_every_divergence_with_a_summary_and_a_paper():
    registered = {}

    def register(kind, name, obj, *, summary=None, paper=None):
        registered[(kind, name)] = (obj, paper)

    register_components(register)
    expected = {
        "kl": False,
        "cross-entropy": False,
        "wasserstein-1d": True,
        "sliced-wasserstein": True,
        "mmd": True,
        "jensen-shannon": False,
        "wasserstein": True,
        "wasserstein-gaussian": False,
        "sinkhorn": True,
        "energy": True,
    }
    assert set(registered) == {("divergence", name) for name in expected}
    for (_, name), (cls, paper) in registered.items():
        assert issubclass(cls, Divergence) and cls.batch_level == expected[name]
        assert cls.__doc__.strip().splitlines()[0].endswith(".") and paper
        cls()  # every component builds from its defaults, as a recipe naming it alone would


def test_zoo_create_and_list_components_find_the_plugin(fresh_registry):
    import zoo

    kl = zoo.create("divergence", "kl", num_samples=4)
    assert isinstance(kl, KLDivergence) and kl.num_samples == 4
    entries = {e.name: e for e in zoo.list_components("divergence") if e.plugin == "zoo_divergences"}
    assert set(entries) == {"kl", "cross-entropy", "wasserstein-1d", "sliced-wasserstein", "mmd", "jensen-shannon",
                            "wasserstein", "wasserstein-gaussian", "sinkhorn", "energy"}
    assert all(e.summary and e.paper for e in entries.values())


# -- a divergence as a latent-variable model's prior term (Divergence.prior_term, shared by VAE and GON) ----------


def test_prior_term_is_the_batch_mean_per_example_and_compares_the_codes_at_batch_level():
    mu = torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=f64)
    q, prior = diagonal_gaussian(mu, torch.ones_like(mu)), diagonal_gaussian(torch.zeros(2, dtype=f64),
                                                                              torch.ones(2, dtype=f64))
    # KL(N(μ, I) ‖ N(0, I)) = |μ|² / 2 per example: 0.5 and 4.5, mean 2.5
    assert KLDivergence().prior_term(q, q.sample(), prior).item() == pytest.approx(2.5)
    torch.manual_seed(0)
    near, far = torch.randn(4000, 2, dtype=f64), torch.randn(4000, 2, dtype=f64) + 5
    swd = SlicedWasserstein(num_projections=64)
    assert swd.prior_term(q, near, prior).item() < 0.1 < 1 < swd.prior_term(q, far, prior).item()  # z, not q


def test_a_divergence_that_cannot_be_a_prior_term_is_refused_with_its_name_and_the_codes():
    from zoo.errors import IncompatibleComponentsError

    class PerDimension(Divergence):
        def forward(self, q, p):
            return (q.mean - p.mean) ** 2  # (b, d): forgot to sum over the event

    class Broken(Divergence):
        def forward(self, q, p):
            raise RuntimeError("no closed form")

    q, prior = random_gaussians(batch=2, dim=3)
    with pytest.raises(IncompatibleComponentsError, match=r"PerDimension returned shape \(2, 3\), not one value "
                                                          r"per example, \(2,\)"):
        PerDimension().check_prior_term(q, prior, codes="3-dimensional codes")
    with pytest.raises(IncompatibleComponentsError, match="Broken cannot compare 3-dimensional codes with the prior: "
                                                          "no closed form"):
        Broken().check_prior_term(q, prior, codes="3-dimensional codes")
    KLDivergence().check_prior_term(q, prior, codes="3-dimensional codes")
