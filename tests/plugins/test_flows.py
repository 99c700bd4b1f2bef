"""Tests of the zoo_flows plugin: log |det J| against autograd for every family, invertibility, a learned 2-D
density that integrates to one, the dequantised NLL as a bound on an enumerable discrete NLL, the exact-likelihood
label in ``zoo eval``, and the plugin's recipes."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, Normal
from zoo_flows import FAMILIES, Flow, FlowPosterior, build_flow
from zoo_flows.model import _from_logit, _level_index, _logit_with_log_det
from zoo_flows.pictures import density_grid

import zoo
from zoo import training
from zoo.errors import IncompatibleComponentsError
from zoo.recipes import build_dataset, load_recipe
from zoo.viz import point_window as window
from zoo.plugins import builtin_config

DIM = 3


def _fit(model: torch.nn.Module, data: torch.Tensor, steps: int, lr: float = 1e-2) -> None:
    """A few Adam steps of maximum likelihood on ``data``, seeded, so the density under test is not the initial one."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        batch = data[torch.randint(len(data), (128,))]
        loss = model.loss(batch)["nll"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _jacobian_log_det(f, x: torch.Tensor) -> torch.Tensor:
    """log |det ∂f/∂x| for each row of x ``(b, d)``, from the full Jacobian by autograd."""
    return torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(f, row)).logabsdet for row in x])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_flows_log_density_is_the_change_of_variables_with_the_autograd_jacobian(family):
    torch.manual_seed(0)
    model = Flow((DIM,), family=family, transforms=2, hidden_dim=16).double()
    x = torch.randn(4, DIM, dtype=torch.float64)
    transform = model.density().transform  # data -> N(0, I)
    base = Independent(Normal(torch.zeros(DIM, dtype=torch.float64), 1.0), 1)
    expected = base.log_prob(transform(x)) + _jacobian_log_det(transform, x)
    torch.testing.assert_close(model.log_likelihood(x), expected, rtol=1e-6, atol=1e-6)


def test_the_logit_of_the_unit_cube_has_the_log_det_of_its_autograd_jacobian():
    y = torch.rand(5, DIM, dtype=torch.float64)
    _, log_det = _logit_with_log_det(y)
    torch.testing.assert_close(log_det, _jacobian_log_det(lambda v: _logit_with_log_det(v)[0], y))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_and_the_flow_posterior_invert_x_to_z_to_x(family):
    torch.manual_seed(0)
    flow = build_flow(family, DIM, context=2, transforms=2, hidden_dim=16).double()
    x, context = torch.randn(6, DIM, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    transform = flow.transform(context)
    torch.testing.assert_close(transform.inv(transform(x)), x, rtol=1e-5, atol=1e-5)


def test_the_flow_posterior_scores_its_cached_samples_as_it_scores_fresh_copies():
    torch.manual_seed(0)
    base = zoo.create("encoder", "mlp", shape=(1, 8, 8), latent_dim=4, hidden_dim=16, num_layers=1)
    encoder = FlowPosterior((1, 8, 8), 4, base, hidden_dim=16).double()
    q = encoder(torch.rand(3, 1, 8, 8, dtype=torch.float64))
    z = q.rsample()
    cached = q.log_prob(z)  # the transform's cache inverts z for free
    torch.testing.assert_close(q.log_prob(z.clone()), cached)  # an inversion through the flow, the same number


def test_the_unit_cube_logit_round_trips_and_sampling_puts_a_level_back_in_its_bin():
    levels = 17
    k = torch.randint(0, levels, (50, DIM)).double()
    y = (k + torch.rand_like(k)) / levels
    s, _ = _logit_with_log_det(y)
    torch.testing.assert_close(_from_logit(s), y)
    assert torch.equal(_level_index(s, levels), k)  # what sample() returns for a draw that lands at y


def test_the_learned_moons_density_integrates_to_one_on_a_grid():
    data = build_dataset({"data": {"name": "moons", "num_points": 2000}}, "train").points
    model = Flow((2,), family="maf", transforms=2, hidden_dim=16)
    _fit(model, data, steps=100)
    low, high = window(data, margin=1.0)  # [-6, 6]-ish: beyond it the learned density is negligible
    log_p, area = density_grid(model, low, high, 300)
    with torch.no_grad():
        assert float(model.loss(data)["nll"]) < 2.3  # it learned something: N(0, I) scores ~2.84 nats
    # midpoint quadrature on 300² cells of side ~0.04 around a density with features ~0.2 wide: within 2%
    assert float(log_p.exp().sum() * area) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("dequantization", ["uniform", "variational"])
def test_the_dequantised_nll_is_never_below_the_exact_discrete_nll_of_an_enumerable_model(dequantization):
    # a tiny discrete world: 2 pixels of 3 levels, 9 outcomes; the flow's P(k) is its mass over k's cell of the
    # unit square, by midpoint quadrature on 100² points per cell
    levels, grid = 3, 100
    torch.manual_seed(0)
    outcomes = torch.cartesian_prod(torch.arange(levels), torch.arange(levels)).double()  # (9, 2)
    data = outcomes[torch.multinomial(torch.tensor([6.0, 1, 1, 1, 4, 1, 1, 1, 2]), 2000, replacement=True)]
    model = Flow((2,), family="maf", transforms=2, hidden_dim=16, levels=levels,
                 dequantization=dequantization).double()
    _fit(model, data / (levels - 1), steps=100)
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    cell = torch.cartesian_prod(u, u)  # (grid², 2) midpoints of the unit cell
    with torch.no_grad():
        exact = torch.stack([torch.logsumexp(model.cube_log_density((k + cell) / levels), 0)
                             for k in outcomes]) - math.log(grid**2) - 2 * math.log(levels)  # log P(k), (9,)
        assert float(exact.exp().sum()) <= 1.0  # the 9 cells are part of the flow's mass
        draws = model.log_likelihood((outcomes / (levels - 1)).repeat(2000, 1)).reshape(2000, 9)
    bound, spread = draws.mean(0), draws.std(0) / math.sqrt(2000)
    # E[log p(y) - D log L - log q] <= log P(k) for every outcome, up to the Monte Carlo error of the mean
    assert (bound <= exact + 4 * spread).all(), (bound - exact, spread)


def test_an_unknown_family_is_refused_with_a_suggestion():
    with pytest.raises(IncompatibleComponentsError, match="unknown flow family 'mfa' — did you mean 'maf'"):
        Flow((2,), family="mfa")
    with pytest.raises(IncompatibleComponentsError, match="needs at least 2 dimensions"):
        build_flow("realnvp", 1)


# the plugin's recipes and those of other plugins' models that use it (vae-flowprior-digits, ...)
RECIPES = sorted(name for owner, recipes in builtin_config()["recipes"].items() for name, data in recipes.items()
                 if "zoo_flows" in (owner, *data.get("needs", [])))


@pytest.mark.parametrize("name", RECIPES)
def test_every_flow_recipe_trains_two_steps_and_evaluates(name, tmp_path, monkeypatch):
    from zoo import viz

    monkeypatch.setattr(viz, "plot_metrics", lambda *args, **kwargs: None)
    fit_briefly = ["model.prior.steps=5"] if name.startswith("ae-") else []
    run = training.train(load_recipe(name, overrides=fit_briefly), tmp_path / "run", steps=2, quiet=True,
                         pictures=name == "flow-tiny")
    metrics = training.evaluate(run, max_batches=1, iwae_samples=4)
    if name.startswith("flow-"):
        # an exact likelihood is labelled as one, and needs no importance samples
        assert {"nll", "bits_per_dim"} <= set(metrics) and "iwae_nll" not in metrics
        assert metrics["bits_per_dim"] == pytest.approx(metrics["nll"] / (math.prod(
            build_dataset(load_recipe(name), "test").shape) * math.log(2)))
    if name == "flow-tiny":
        assert (run / "density.png").exists()
