"""zoo-jsd: the Jensen-Shannon estimate against numerical integration, its bounds, and the conformance suite."""

import math

import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Independent, Normal

import zoo_jsd
from zoo.testing import conformance_test
from zoo_jsd import JensenShannon

test_conformance = conformance_test(zoo_jsd)


def quadrature_jsd(q, p) -> float:
    """JS of two 1-D scipy distributions by integrating ½ q log(q/m) + ½ p log(p/m) over the line."""

    def integrand(x: float) -> float:
        a, b = q.pdf(x), p.pdf(x)
        m = (a + b) / 2
        return 0.5 * (a * math.log(a / m) if a > 0 else 0.0) + 0.5 * (b * math.log(b / m) if b > 0 else 0.0)

    return integrate.quad(integrand, -40, 40, limit=200)[0]


@pytest.mark.parametrize(("loc", "scale"), [(1.0, 2.0), (0.3, 1.0), (-2.0, 0.5)])
def test_matches_numerical_integration(loc, scale):
    torch.manual_seed(0)
    q, p = Normal(torch.tensor([0.0]), torch.tensor([1.0])), Normal(torch.tensor([loc]), torch.tensor([scale]))
    estimate = JensenShannon(num_samples=200_000)(q, p).item()
    exact = quadrature_jsd(stats.norm(0.0, 1.0), stats.norm(loc, scale))
    assert estimate == pytest.approx(exact, abs=3e-3)  # Monte Carlo: 200k draws, standard error < 1e-3


def test_zero_for_equal_distributions_and_log_2_for_disjoint_ones():
    q = Independent(Normal(torch.randn(4, 3), torch.ones(4, 3)), 1)
    assert torch.equal(JensenShannon()(q, q), torch.zeros(4))
    far = Independent(Normal(torch.full((3,), 100.0), torch.ones(3)), 1)
    assert torch.allclose(JensenShannon()(q, far), torch.full((4,), math.log(2.0)))


def test_a_prior_term_per_example_with_gradients_for_the_posterior():
    loc = torch.randn(5, 2, requires_grad=True)
    q = Independent(Normal(loc, torch.ones(5, 2)), 1)
    prior = Independent(Normal(torch.zeros(2), torch.ones(2)), 1)  # batch (): broadcast over the examples
    value = JensenShannon()(q, prior)
    assert value.shape == (5,)
    (grad,) = torch.autograd.grad(value.sum(), loc)
    assert grad.abs().sum() > 0


def test_refuses_no_samples():
    with pytest.raises(ValueError, match="num_samples must be at least 1"):
        JensenShannon(num_samples=0)
