"""zoo-hellinger: the Monte Carlo estimate against the closed form for Gaussians, its bounds, the conformance suite."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal

import zoo_hellinger
from zoo.testing import conformance_test
from zoo_hellinger import Hellinger

test_conformance = conformance_test(zoo_hellinger)


def closed_form(m1: float, s1: float, m2: float, s2: float) -> float:
    """H² between N(m1, s1²) and N(m2, s2²): 1 - √(2 s1 s2 / (s1² + s2²)) exp(-(m1 - m2)² / (4 (s1² + s2²)))."""
    total = s1**2 + s2**2
    return 1 - math.sqrt(2 * s1 * s2 / total) * math.exp(-((m1 - m2) ** 2) / (4 * total))


@pytest.mark.parametrize(("loc", "scale"), [(1.0, 2.0), (0.3, 1.0), (-2.0, 0.5)])
def test_matches_the_closed_form_for_gaussians(loc, scale):
    torch.manual_seed(0)
    q, p = Normal(torch.tensor([0.0]), torch.tensor([1.0])), Normal(torch.tensor([loc]), torch.tensor([scale]))
    estimate = Hellinger(num_samples=200_000)(q, p).item()
    assert estimate == pytest.approx(closed_form(0.0, 1.0, loc, scale), abs=5e-3)  # 200k draws


def test_zero_for_equal_distributions_and_one_for_disjoint_ones():
    q = Independent(Normal(torch.randn(4, 3), torch.ones(4, 3)), 1)
    assert torch.equal(Hellinger()(q, q), torch.zeros(4))
    far = Independent(Normal(torch.full((3,), 100.0), torch.ones(3)), 1)
    assert torch.allclose(Hellinger()(q, far), torch.ones(4))


def test_a_prior_term_per_example_with_gradients_for_the_posterior():
    loc = torch.randn(5, 2, requires_grad=True)
    q = Independent(Normal(loc, torch.ones(5, 2)), 1)
    prior = Independent(Normal(torch.zeros(2), torch.ones(2)), 1)  # batch (): broadcast over the examples
    value = Hellinger()(q, prior)
    assert value.shape == (5,)
    (grad,) = torch.autograd.grad(value.sum(), loc)
    assert grad.abs().sum() > 0


def test_refuses_no_samples():
    with pytest.raises(ValueError, match="num_samples must be at least 1"):
        Hellinger(num_samples=0)
