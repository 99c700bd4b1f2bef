"""The prior kind's core components (zoo.priors): densities against hand-written formulas, the Monte Carlo KL to
a mixture against a closed form, the fitted prior's fit, and `zoo list --kind prior`."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.distributions import Independent, Normal

import zoo
from zoo.cli import main
from zoo.errors import ZooError
from zoo.interfaces import Fittable, Prior
from zoo.priors import FittedGaussian, GaussianMixture, StandardNormal


def test_the_three_priors_are_registered(capsys):
    assert main(["list", "--kind", "prior", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out) if e["plugin"] == "zoo.priors"}
    assert set(listed) == {"standard-normal", "gaussian-mixture", "fitted-gaussian"}  # the core's; plugins add more
    assert isinstance(zoo.create("prior", "gaussian-mixture", latent_dim=3), Prior)


def test_standard_normal_is_the_unit_gaussian():
    z = torch.randn(7, 3)
    log_prob = StandardNormal(3)().log_prob(z)
    torch.testing.assert_close(log_prob, -0.5 * (z.square().sum(1) + 3 * math.log(2 * math.pi)))
    assert StandardNormal(3).state_dict() == {}  # constants: nothing to save


def test_gaussian_mixture_density_is_the_weighted_sum_of_its_components():
    torch.manual_seed(0)
    prior = GaussianMixture(2, components=3)
    with torch.no_grad():
        prior.log_scales.copy_(torch.randn(3, 2) * 0.3)
        prior.logits.copy_(torch.tensor([0.0, 1.0, -1.0]))
    z = torch.randn(5, 2)
    weights = torch.softmax(prior.logits, 0)
    scales = prior.log_scales.exp()
    # by hand: Σ_k π_k Π_j N(z_j; μ_kj, σ_kj)
    density = sum(weights[k] * torch.exp(-0.5 * ((z - prior.means[k]) / scales[k]).square()).prod(1)
                  / (2 * math.pi * scales[k].prod()) for k in range(3))
    torch.testing.assert_close(prior().log_prob(z), density.log())
    assert prior().sample((4,)).shape == (4, 2) and prior().batch_shape == ()


def test_the_kl_to_a_mixture_is_a_monte_carlo_estimate_of_the_closed_form():
    """A mixture of identical components is that Gaussian: the kl divergence's Monte Carlo estimate against the
    mixture converges to the closed-form KL against the Gaussian."""
    prior = GaussianMixture(2, components=4)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([1.0, -0.5]).expand(4, 2))
        prior.log_scales.fill_(math.log(2.0))
    q = Independent(Normal(torch.tensor([[0.0, 0.0], [2.0, 1.0]]), torch.tensor([[1.0, 0.5], [0.3, 1.0]])), 1)
    closed = torch.distributions.kl_divergence(q, Independent(Normal(torch.tensor([1.0, -0.5]), torch.full((2,),
                                                                                                  2.0)), 1))
    torch.manual_seed(0)
    estimate = zoo.create("divergence", "kl", num_samples=20000)(q, prior())
    torch.testing.assert_close(estimate, closed, atol=0.03, rtol=0)


def test_fitted_gaussian_is_the_codes_mean_and_covariance_after_its_fit():
    prior = FittedGaussian(3)
    assert isinstance(prior, Fittable)
    with pytest.raises(ZooError, match=r"not been fitted.*model.fit_prior\(codes\)"):
        prior()
    torch.manual_seed(0)
    codes = torch.randn(400, 3) @ torch.tensor([[1.0, 0, 0], [0.5, 2, 0], [0, 0.3, 0.2]]) + 4.0
    prior.fit(codes)
    torch.testing.assert_close(prior().mean, codes.mean(0))
    torch.testing.assert_close(prior().covariance_matrix, torch.cov(codes.T) + 1e-5 * torch.eye(3))
    copy = FittedGaussian(3)
    copy.load_state_dict(prior.state_dict())  # what it fitted travels with the weights
    torch.testing.assert_close(copy().log_prob(codes[:5]), prior().log_prob(codes[:5]))
    with pytest.raises(ValueError, match=r"codes \(n, 3\) with n >= 2"):
        prior.fit(codes[:1])
