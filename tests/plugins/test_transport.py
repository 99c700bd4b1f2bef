"""Optimal transport beyond slicing (issue 18): sinkhorn against POT, wasserstein against scipy and POT's exact
solver and the 1-D closed form, wasserstein-gaussian against the closed form and many samples, energy against a
brute-force sum, jensen-shannon against quadrature; and POT and geomloss are never imported at run time."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import ot
import pytest
import scipy.integrate
import scipy.linalg
import scipy.stats
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal
from zoo_divergences import (
    Energy,
    GaussianWasserstein,
    JensenShannon,
    Sinkhorn,
    Wasserstein,
    energy_distance,
    gaussian_wasserstein,
    sinkhorn_divergence,
    wasserstein,
    wasserstein_1d,
)
from zoo_divergences.sinkhorn import entropic_transport
from zoo_divergences.transport import transport_cost

from zoo.plugins import builtin_config


def clouds(n: int, m: int, d: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return x, 0.7 * torch.randn(m, d, generator=generator, dtype=torch.float64) + 1.0


def pot_entropic(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float) -> float:
    """<P, C> + ε KL(P ‖ a ⊗ b) of POT's log-domain Sinkhorn plan, converged far past our tolerance."""
    cost = ot.dist(x, y)  # squared Euclidean, our p = 2
    plan = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", stopThr=1e-12, numItermax=20_000)
    positive = plan > 0
    return float((plan * cost).sum() + eps * (plan[positive] * np.log(plan[positive] / np.outer(a, b)[positive])).sum())


# --- sinkhorn -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_entropic_transport_and_the_debiased_divergence_match_pot(weighted):
    x, y = clouds(20, 30)
    generator = torch.Generator().manual_seed(1)
    a, b = (torch.rand(n, generator=generator, dtype=torch.float64) + 0.1 if weighted else
            torch.ones(n, dtype=torch.float64) for n in (20, 30))
    a, b = a / a.sum(), b / b.sum()
    eps = 1.0  # POT's alternating iterations converge on the symmetric problems OT(a, a) in seconds only at large ε
    xs, ys, an, bn = x.numpy(), y.numpy(), a.numpy(), b.numpy()
    ours, _ = entropic_transport(transport_cost(x, y, 2), a.log(), b.log(), eps=eps, diameter=8.0, p=2,
                                 max_iter=10_000, tol=1e-10, scaling=0.5)
    assert ours.item() == pytest.approx(pot_entropic(xs, ys, an, bn, eps), rel=1e-7)
    debiased = pot_entropic(xs, ys, an, bn, eps) - 0.5 * (pot_entropic(xs, xs, an, an, eps)
                                                          + pot_entropic(ys, ys, bn, bn, eps))
    value = sinkhorn_divergence(x, y, a if weighted else None, b if weighted else None, eps=eps, tol=1e-10,
                                max_iter=10_000)
    assert value.item() == pytest.approx(debiased, rel=1e-6)


def test_at_a_small_eps_and_the_default_tolerance_the_transport_cost_is_pots_to_1e_3():
    x, y = clouds(60, 50)
    eps = 0.02
    ours = sinkhorn_divergence(x, y, eps=eps, debias=False).item()  # tol = 1e-4 on the marginal (L2)
    assert ours == pytest.approx(pot_entropic(x.numpy(), y.numpy(), np.full(60, 1 / 60), np.full(50, 1 / 50), eps),
                                 rel=1e-3)


def test_debiased_sinkhorn_is_zero_for_identical_sets_and_grows_with_a_shift():
    x, _ = clouds(50, 1)
    divergence = Sinkhorn(eps=0.05, tol=1e-6, max_iter=5000)
    assert abs(divergence(x, x.clone()).item()) < 1e-5  # zero to the solver's tolerance; OT_ε(x, x) alone is 0.18
    shifts = [divergence(x, x + shift).item() for shift in (0.5, 1.0, 2.0)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    assert shifts[2] == pytest.approx(8.0, rel=1e-3)  # a translation by t = (2, 2) costs |t|² (entropy cancels)
    assert sinkhorn_divergence(x, x.clone(), eps=0.05, debias=False).item() > 0.01  # the bias debiasing removes


def test_as_eps_shrinks_sinkhorn_approaches_the_exact_wasserstein():
    x, y = clouds(12, 12)
    exact = wasserstein(x, y, p=2).item() ** 2
    gaps = [abs(sinkhorn_divergence(x, y, eps=eps, tol=1e-7, max_iter=100_000).item() - exact)
            for eps in (0.3, 0.1, 0.03)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3 * exact


def test_sinkhorn_gradients_in_both_sets_and_weights_match_finite_differences():
    x, y = clouds(15, 10)
    a = torch.full((15,), 1 / 15, dtype=torch.float64)

    def value(x, y, a):
        return sinkhorn_divergence(x, y, a, None, eps=0.1, tol=1e-12, max_iter=100_000)

    inputs = [t.clone().requires_grad_() for t in (x, y, a)]
    grads = torch.autograd.grad(value(*inputs), inputs)
    h = 1e-6
    directions = [torch.zeros_like(t) for t in (x, y, a)]
    directions[0][3, 1], directions[1][7, 0] = 1.0, 1.0
    directions[2][4], directions[2][5] = 1.0, -1.0  # weights are normalised: a direction that keeps their sum
    for which, direction in enumerate(directions):
        plus, minus = [t.clone() for t in (x, y, a)], [t.clone() for t in (x, y, a)]
        plus[which] += h * direction
        minus[which] -= h * direction
        numeric = (value(*plus) - value(*minus)).item() / (2 * h)
        assert (grads[which] * direction).sum().item() == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_sinkhorn_is_stable_for_a_small_eps_and_refuses_bad_arguments():
    x, y = clouds(30, 30)
    value = Sinkhorn(eps=1e-4, max_iter=50)(x.float(), y.float())
    assert torch.isfinite(value) and value > 0  # the log domain: exp(-C/ε) alone would underflow to 0
    with pytest.raises(ValueError, match="same d"):
        Sinkhorn()(x, y[:, :1])
    with pytest.raises(ValueError, match="y_weights"):
        sinkhorn_divergence(x, y, None, -torch.ones(30, dtype=torch.float64))


# --- wasserstein --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "m", "p"), [(9, 9, 2.0), (9, 9, 1.0), (7, 11, 2.0), (10, 4, 1.5)])
def test_wasserstein_matches_pots_exact_solver(n, m, p):
    x, y = clouds(n, m, d=3, seed=n + m)
    cost = ot.dist(x.numpy(), y.numpy(), metric="euclidean") ** p
    expected = ot.emd2(np.full(n, 1 / n), np.full(m, 1 / m), cost) ** (1 / p)
    assert Wasserstein(p=p)(x, y).item() == pytest.approx(expected, rel=1e-9)


def test_the_assignment_and_the_linear_program_agree():
    x, y = clouds(10, 10, d=4, seed=3)
    by_assignment = wasserstein(x, y).item()  # equal sizes, uniform weights: linear_sum_assignment
    by_program = wasserstein(x, y, torch.ones(10, dtype=torch.float64)).item()  # weights given: linprog
    assert by_assignment == pytest.approx(by_program, rel=1e-9)


def test_weighted_wasserstein_matches_pot():
    x, y = clouds(6, 8, seed=5)
    a, b = torch.arange(1.0, 7.0, dtype=torch.float64), torch.linspace(1.0, 2.0, 8, dtype=torch.float64)
    expected = ot.emd2((a / a.sum()).numpy(), (b / b.sum()).numpy(), ot.dist(x.numpy(), y.numpy())) ** 0.5
    assert wasserstein(x, y, a, b).item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_wasserstein_in_one_dimension_is_the_sorted_closed_form(p):
    x, y = clouds(8, 12, d=1, seed=7)
    closed = wasserstein_1d(x[:, 0], y[:, 0], p=p).item()  # quantile functions
    assert wasserstein(x, y, p=p).item() == pytest.approx(closed, rel=1e-9)
    if p == 1:
        assert closed == pytest.approx(scipy.stats.wasserstein_distance(x[:, 0], y[:, 0]), rel=1e-9)


def test_wasserstein_is_differentiable_and_refuses_sets_too_large():
    x, y = clouds(6, 6)
    x.requires_grad_()
    (grad,) = torch.autograd.grad(wasserstein(x, y), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    with pytest.raises(ValueError, match="use sinkhorn"):
        wasserstein(torch.zeros(5000, 2), torch.zeros(5000, 2))
    with pytest.raises(ValueError, match="use sinkhorn"):
        wasserstein(torch.zeros(600, 2), torch.zeros(500, 2))


# --- wasserstein-gaussian -----------------------------------------------------------------------------------------


def w2_by_hand(m1, s1, m2, s2) -> float:
    """The closed form with scipy's matrix square roots."""
    root = scipy.linalg.sqrtm(s2)
    cross = scipy.linalg.sqrtm(root @ s1 @ root).real
    return math.sqrt(max(0.0, float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * cross))))


def random_covariance(d: int, generator: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=generator, dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


def test_gaussian_wasserstein_matches_the_closed_form_per_example():
    generator = torch.Generator().manual_seed(0)
    means = torch.randn(2, 3, 4, generator=generator, dtype=torch.float64)
    covs = torch.stack([torch.stack([random_covariance(4, generator) for _ in range(3)]) for _ in range(2)])
    q, p = MultivariateNormal(means[0], covs[0]), MultivariateNormal(means[1], covs[1])
    got = GaussianWasserstein()(q, p)
    expected = [w2_by_hand(means[0, i].numpy(), covs[0, i].numpy(), means[1, i].numpy(), covs[1, i].numpy())
                for i in range(3)]
    assert got.shape == (3,) and got.numpy() == pytest.approx(expected, rel=1e-8)


def test_diagonal_and_full_forms_agree_and_zero_at_equality():
    generator = torch.Generator().manual_seed(1)
    loc, scale = torch.randn(5, 3, generator=generator), torch.rand(5, 3, generator=generator) + 0.2
    prior = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    diagonal = gaussian_wasserstein(Independent(Normal(loc, scale), 1), prior, squared=True)
    full = gaussian_wasserstein(MultivariateNormal(loc, scale_tril=torch.diag_embed(scale)), prior, squared=True)
    assert torch.allclose(diagonal, full, atol=1e-5)
    assert torch.allclose(diagonal, (loc**2).sum(-1) + ((scale - 1) ** 2).sum(-1))
    same = MultivariateNormal(torch.zeros(3), torch.eye(3))
    loc.requires_grad_()
    value = gaussian_wasserstein(MultivariateNormal(loc, scale_tril=torch.diag_embed(scale)), same).sum()
    (grad,) = torch.autograd.grad(value, loc)
    assert torch.isfinite(grad).all()  # repeated eigenvalues (identity covariance): a stable gradient
    assert gaussian_wasserstein(same, same).abs().max() < 1e-3


def test_diagonal_gaussians_over_events_of_any_shape_are_those_over_their_flattened_numbers():
    """A hierarchical VAE's posterior is Independent(Normal, 3) over (c, h, w): W2 is that of the flat vectors."""
    generator = torch.Generator().manual_seed(4)
    loc, scale = torch.randn(5, 2, 3, 3, generator=generator), torch.rand(5, 2, 3, 3, generator=generator) + 0.2
    prior = Independent(Normal(torch.zeros(2, 3, 3), 1.0), 3)  # the scale broadcast, as a prior states it
    got = gaussian_wasserstein(Independent(Normal(loc, scale), 3), prior, squared=True)
    flat = gaussian_wasserstein(Independent(Normal(loc.flatten(1), scale.flatten(1)), 1),
                                Independent(Normal(torch.zeros(18), torch.ones(18)), 1), squared=True)
    assert got.shape == (5,) and torch.allclose(got, flat)
    assert torch.allclose(got, (loc**2).sum((1, 2, 3)) + ((scale - 1) ** 2).sum((1, 2, 3)))


def test_gaussian_wasserstein_is_the_limit_of_the_exact_distance_between_many_samples():
    generator = torch.Generator().manual_seed(2)
    cov_q, cov_p = random_covariance(2, generator), 0.5 * random_covariance(2, generator)
    q = MultivariateNormal(torch.tensor([0.0, 1.0], dtype=torch.float64), cov_q)
    p = MultivariateNormal(torch.tensor([2.0, -1.0], dtype=torch.float64), cov_p)
    torch.manual_seed(3)
    empirical = wasserstein(q.sample((1000,)), p.sample((1000,))).item()
    assert empirical == pytest.approx(GaussianWasserstein()(q, p).item(), rel=0.04)


def test_gaussian_wasserstein_refuses_what_is_not_gaussian():
    mixture = MixtureSameFamily(Categorical(torch.ones(2)), Independent(Normal(torch.zeros(2, 3), torch.ones(2, 3)), 1))
    with pytest.raises(ValueError, match="wasserstein-gaussian compares Gaussians.*p is MixtureSameFamily"):
        GaussianWasserstein()(Independent(Normal(torch.zeros(3), torch.ones(3)), 1), mixture)


# --- energy, jensen-shannon ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("exponent", [1.0, 0.5, 1.5])
def test_energy_distance_matches_a_brute_force_sum(exponent):
    x, y = clouds(7, 5, d=3)
    xs, ys = x.numpy(), y.numpy()

    def mean_distance(u, v):
        return sum(np.linalg.norm(a - b) ** exponent for a in u for b in v) / (len(u) * len(v))

    expected = 2 * mean_distance(xs, ys) - mean_distance(xs, xs) - mean_distance(ys, ys)
    assert Energy(exponent=exponent)(x, y).item() == pytest.approx(expected, rel=1e-9)
    assert energy_distance(x, x.clone()).item() == pytest.approx(0.0, abs=1e-12)
    x.requires_grad_()
    (grad,) = torch.autograd.grad(energy_distance(x, torch.cat([x[:3].detach(), y])), x)
    assert torch.isfinite(grad).all()  # coincident points: gradient 0 there, not NaN


def quadrature_jsd(q, p) -> float:
    def integrand(x: float) -> float:
        a, b = q.pdf(x), p.pdf(x)
        m = (a + b) / 2
        return 0.5 * (a * math.log(a / m) if a > 0 else 0.0) + 0.5 * (b * math.log(b / m) if b > 0 else 0.0)

    return scipy.integrate.quad(integrand, -40, 40, limit=200)[0]


@pytest.mark.parametrize(("loc", "scale"), [(1.0, 2.0), (-2.0, 0.5)])
def test_jensen_shannon_matches_numerical_integration(loc, scale):
    torch.manual_seed(0)
    q, p = Normal(torch.tensor([0.0]), torch.tensor([1.0])), Normal(torch.tensor([loc]), torch.tensor([scale]))
    estimate = JensenShannon(num_samples=100_000)(q, p).item()
    assert estimate == pytest.approx(quadrature_jsd(scipy.stats.norm(0, 1), scipy.stats.norm(loc, scale)), abs=4e-3)


def test_jensen_shannon_is_zero_at_equality_log_2_apart_and_a_prior_term():
    q = Independent(Normal(torch.randn(4, 3), torch.ones(4, 3)), 1)
    assert torch.equal(JensenShannon()(q, q), torch.zeros(4))
    far = Independent(Normal(torch.full((3,), 100.0), torch.ones(3)), 1)
    assert torch.allclose(JensenShannon()(q, far), torch.full((4,), math.log(2.0)))
    loc = torch.randn(5, 2, requires_grad=True)
    value = JensenShannon()(Independent(Normal(loc, torch.ones(5, 2)), 1),
                            Independent(Normal(torch.zeros(2), torch.ones(2)), 1))
    (grad,) = torch.autograd.grad(value.sum(), loc)
    assert value.shape == (5,) and grad.abs().sum() > 0


# --- the oracles stay oracles -------------------------------------------------------------------------------------


def test_pot_and_geomloss_are_never_imported_at_run_time():
    plugins = builtin_config()["plugins"]
    code = ("import importlib, sys, zoo\n"
            f"for name in {plugins!r}: importlib.import_module(name)\n"
            "zoo.list_components('divergence')\n"
            "print(sorted(m for m in ('ot', 'geomloss') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
