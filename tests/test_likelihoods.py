"""Likelihoods against independent references: scipy's pmfs/pdfs/cdfs, BCE, and normalisation identities."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

import zoo
from zoo.interfaces import Likelihood
from zoo.likelihoods import (
    BernoulliLikelihood,
    DiscretizedLogistic,
    DiscretizedLogisticLikelihood,
    DiscretizedLogisticMixtureLikelihood,
    GaussianLikelihood,
)

torch.manual_seed(0)


def test_the_four_likelihoods_are_registered():
    names = {e.name for e in zoo.list_components("likelihood")}
    assert {"bernoulli", "gaussian", "discretized-logistic", "discretized-logistic-mixture"} <= names


@pytest.mark.parametrize("entry", zoo.list_components("likelihood"), ids=lambda e: e.name)
def test_every_registered_likelihood_gives_one_log_prob_per_example(entry):
    likelihood: Likelihood = entry.obj()
    b, c, h, w = 3, 2, 5, 4
    params = torch.randn(b, likelihood.num_params(c), h, w, requires_grad=True)
    dist = likelihood(params)
    assert tuple(dist.batch_shape) == (b,) and tuple(dist.event_shape) == (c, h, w)
    x = torch.randint(0, 2, (b, c, h, w)).float()  # 0/1 is valid data for all of them
    log_p = dist.log_prob(x)
    assert log_p.shape == (b,) and torch.isfinite(log_p).all()
    log_p.sum().backward()
    assert params.grad is not None and params.grad.abs().sum() > 0
    assert dist.mean.shape == (b, c, h, w)


def test_bernoulli_nll_is_binary_cross_entropy_and_scipy_logpmf():
    logits = torch.randn(4, 1, 6, 6, dtype=torch.float64)
    x = torch.randint(0, 2, logits.shape).double()
    log_p = BernoulliLikelihood()(logits).log_prob(x)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(-log_p, bce)
    reference = stats.bernoulli.logpmf(x.numpy(), torch.sigmoid(logits).numpy()).sum((1, 2, 3))
    np.testing.assert_allclose(log_p.numpy(), reference, rtol=1e-10)


def test_gaussian_fixed_scale_matches_scipy_logpdf():
    loc = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    x = torch.rand(3, 2, 4, 4, dtype=torch.float64)
    likelihood = GaussianLikelihood(scale=0.2).double()
    log_p = likelihood(loc).log_prob(x)
    reference = stats.norm.logpdf(x.numpy(), loc.numpy(), 0.2).sum((1, 2, 3))
    np.testing.assert_allclose(log_p.numpy(), reference, rtol=1e-10)
    assert list(likelihood.parameters()) == []  # fixed means nothing to train


def test_gaussian_learned_scale_starts_at_scale_and_is_trained():
    likelihood = GaussianLikelihood(scale=0.3, scale_mode="learned")
    dist = likelihood(torch.zeros(2, 1, 3, 3))
    torch.testing.assert_close(dist.base_dist.scale, torch.full((2, 1, 3, 3), 0.3))
    dist.log_prob(torch.rand(2, 1, 3, 3)).sum().backward()
    assert likelihood.raw_scale.grad is not None and likelihood.raw_scale.grad != 0


def test_gaussian_predicted_scale_reads_two_params_per_channel_in_order():
    # channel-major: params[:, 2i] is channel i's mean, params[:, 2i + 1] its raw scale
    likelihood = GaussianLikelihood(scale_mode="predicted", min_scale=1e-3).double()
    params = torch.randn(2, 6, 3, 3, dtype=torch.float64)
    x = torch.rand(2, 3, 3, 3, dtype=torch.float64)
    log_p = likelihood(params).log_prob(x)
    loc, raw = params[:, 0::2].numpy(), params[:, 1::2].numpy()
    scale = 1e-3 + np.log1p(np.exp(raw))  # softplus
    reference = stats.norm.logpdf(x.numpy(), loc, scale).sum((1, 2, 3))
    np.testing.assert_allclose(log_p.numpy(), reference, rtol=1e-10)


def test_params_with_the_wrong_channel_count_are_refused():
    with pytest.raises(ValueError, match="2 numbers per data channel"):
        DiscretizedLogisticLikelihood()(torch.zeros(1, 3, 4, 4))


@pytest.mark.parametrize("num_bins", [256, 17, 2])
def test_discretized_logistic_sums_to_one_over_its_levels(num_bins):
    # extreme cases included: far outside [0, 1], tiny scales (mass within one bin), huge scales
    loc = torch.tensor([0.5, -3.0, 4.0, 0.0, 1.0, 0.123, 0.5, 0.77], dtype=torch.float64)
    log_scale = torch.tensor([-2.0, 0.0, 1.0, -7.0, -7.0, -9.0, 5.0, -4.5], dtype=torch.float64)
    levels = torch.arange(num_bins, dtype=torch.float64) / (num_bins - 1)  # (k,)
    dist = DiscretizedLogistic(
        loc[:, None].expand(-1, num_bins), log_scale[:, None].expand(-1, num_bins), num_bins
    )
    log_p = dist.log_prob(levels.expand(len(loc), -1))  # (cases, k)
    assert torch.isfinite(log_p).all()
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(len(loc), dtype=torch.float64))


def test_discretized_logistic_bins_are_logistic_cdf_differences():
    num_bins, loc, scale = 256, 0.4, 0.05
    half = 0.5 / (num_bins - 1)
    levels = torch.tensor([0, 1, 77, 102, 254, 255])
    x = levels.double() / (num_bins - 1)
    dist = DiscretizedLogistic(
        torch.full((6,), loc, dtype=torch.float64), torch.full((6,), math.log(scale), dtype=torch.float64)
    )
    cdf = lambda v: stats.logistic.cdf(v, loc=loc, scale=scale)
    expected = cdf(x.numpy() + half) - cdf(x.numpy() - half)
    expected[0] = cdf(x[0].item() + half)  # the first level takes the whole lower tail
    expected[-1] = 1 - cdf(x[-1].item() - half)  # the last the whole upper tail
    np.testing.assert_allclose(dist.log_prob(x).exp().numpy(), expected, rtol=1e-9, atol=1e-300)


def _levels_locs_and_log_scales(num_bins: int, n: int, dtype=torch.float64):
    """Levels (the two edges included), locations around [0, 1] and log scales from a tenth of a bin to
    hundreds of times the data range: every regime of the bin formula."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randint(0, num_bins, (n,), generator=generator).to(dtype) / (num_bins - 1)
    x[::4], x[2::4] = 0.0, 1.0  # edge levels at every scale
    loc = torch.rand(n, generator=generator, dtype=dtype) * 1.4 - 0.2
    log_scale = torch.linspace(-9.0, 6.0, n, dtype=dtype)
    return x, loc, log_scale


def test_discretized_logistic_gradients_match_finite_differences():
    # the closed-form backward against central differences of the forward (float64)
    x, loc, log_scale = _levels_locs_and_log_scales(256, 40)
    loc, log_scale = loc.requires_grad_(), log_scale.requires_grad_()
    assert torch.autograd.gradcheck(lambda m, s: DiscretizedLogistic(m, s, 256).log_prob(x), (loc, log_scale))


def test_discretized_logistic_keeps_float32_accuracy_for_wide_and_narrow_logistics():
    # float32 against float64 on the same (float32) inputs, scales from the likelihood's floor e^-7 up: a bin
    # a millionth of the scale wide still has its log mass right to 1e-4 (a naive 1 - exp(-d) is off by
    # ~1e-3 there); what is left is the float32 rounding of the levels themselves, times up to e^7 / s
    x, loc, log_scale = (t.float() for t in _levels_locs_and_log_scales(256, 400))
    log_scale = log_scale.clamp(min=-7.0)
    exact = DiscretizedLogistic(loc.double(), log_scale.double(), 256).log_prob(x.double())
    single = DiscretizedLogistic(loc, log_scale, 256).log_prob(x)
    torch.testing.assert_close(single.double(), exact, atol=1e-4, rtol=1e-6)


def test_discretized_logistic_likelihood_centres_its_location_and_gives_finite_gradients():
    likelihood = DiscretizedLogisticLikelihood(num_bins=256)
    params = torch.zeros(2, 2, 4, 4)  # zero head output: loc 0.5, scale 1
    torch.testing.assert_close(likelihood(params).mean, torch.full((2, 1, 4, 4), 0.5))
    params = torch.tensor([[-50.0, -20.0], [50.0, -20.0], [0.0, 30.0]]).reshape(3, 2, 1, 1).requires_grad_()
    x = torch.tensor([0.0, 1.0, 0.5]).reshape(3, 1, 1, 1)
    likelihood(params).log_prob(x).sum().backward()
    assert torch.isfinite(params.grad).all()


def test_discretized_logistic_samples_lie_on_the_levels():
    dist = DiscretizedLogistic(torch.rand(1000), torch.full((1000,), -2.0), num_bins=17)
    x = dist.sample()
    assert x.min() >= 0 and x.max() <= 1
    torch.testing.assert_close(x * 16, torch.round(x * 16))


def assert_moments(x: torch.Tensor, mean: float, var: float, fourth: float) -> None:
    """The sample mean and variance of ``x`` (n independent draws) within six standard errors of ``mean``
    and ``var``, from the exact central moments: se(mean)² = var / n, se(var)² ≈ (μ₄ - var²) / n."""
    n = x.numel()
    assert abs(x.double().mean().item() - mean) < 6 * math.sqrt(var / n)
    assert abs(x.double().var().item() - var) < 6 * math.sqrt((fourth - var**2) / n)


def test_discretized_logistic_samples_have_the_moments_of_its_level_probabilities():
    # loc and scale chosen so that both edge bins carry mass: the clamping is part of the distribution
    num_bins, loc, scale, n = 33, 0.3, 0.12, 200_000
    levels = np.arange(num_bins) / (num_bins - 1)
    upper = stats.logistic.cdf(levels + 0.5 / (num_bins - 1), loc=loc, scale=scale)
    upper[-1] = 1.0  # the last level takes the whole upper tail, the first (below) the whole lower one
    pmf = np.diff(upper, prepend=0.0)
    mean = (pmf * levels).sum()
    var, fourth = (pmf * (levels - mean) ** 2).sum(), (pmf * (levels - mean) ** 4).sum()
    torch.manual_seed(0)
    dist = DiscretizedLogistic(torch.full((n,), loc), torch.full((n,), math.log(scale)), num_bins=num_bins)
    assert_moments(dist.sample(), mean, var, fourth)


@pytest.mark.parametrize("scale_mode", GaussianLikelihood.modes)
def test_gaussian_likelihood_samples_have_its_scale(scale_mode):
    likelihood = GaussianLikelihood(scale=0.2, scale_mode=scale_mode, min_scale=0.01)
    n = 100_000
    if scale_mode == "predicted":  # a raw scale r per pixel: σ = min_scale + softplus(r)
        raw = 0.5
        params = torch.cat([torch.full((1, 1, n), 0.3), torch.full((1, 1, n), raw)], dim=1)
        sigma = 0.01 + math.log1p(math.exp(raw))
    else:  # fixed, and learned before any training: σ = scale
        params, sigma = torch.full((1, 1, n), 0.3), 0.2
    torch.manual_seed(0)
    assert_moments(likelihood(params).sample(), 0.3, sigma**2, 3 * sigma**4)


@pytest.mark.parametrize("entry", zoo.list_components("likelihood"), ids=lambda e: e.name)
def test_half_precision_params_are_scored_in_float32(entry):
    # a decoder under bf16 autocast hands over bf16 params; summing thousands of pixels needs float32
    likelihood = entry.obj()
    params = torch.randn(2, likelihood.num_params(1), 16, 16).bfloat16()
    x = torch.randint(0, 2, (2, 1, 16, 16)).float()
    expected = likelihood(params.float()).log_prob(x)
    got = likelihood(params).log_prob(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)


# --- the mixture of discretised logistics (PixelCNN++) ---------------------------------------------------


def _mixture_params(num_mix: int, channels: int, n: int = 1, scale: float = 1.0) -> torch.Tensor:
    """Random float64 params ``(n, num_params, 1, 1)`` for ``n`` single pixels; a larger ``scale`` spreads
    the locations, log scales and coefficients further."""
    num_params = DiscretizedLogisticMixtureLikelihood(num_mix=num_mix).num_params(channels)
    return scale * torch.randn(n, num_params, 1, 1, dtype=torch.float64)


def _all_pixels(channels: int, num_bins: int) -> torch.Tensor:
    """Every value a pixel of ``channels`` channels can take: ``(num_bins ** channels, channels, 1, 1)``."""
    levels = torch.arange(num_bins, dtype=torch.float64) / (num_bins - 1)
    grid = torch.cartesian_prod(*[levels] * channels).reshape(-1, channels)
    return grid[:, :, None, None]


@pytest.mark.parametrize(("channels", "num_bins"), [(1, 256), (1, 17), (1, 2), (3, 5), (3, 2), (2, 7)])
def test_mixture_sums_to_one_over_every_value_of_a_pixel(channels, num_bins):
    # brute force: enumerate all num_bins ** c values of one pixel, for several random parameter draws
    likelihood = DiscretizedLogisticMixtureLikelihood(num_mix=4, num_bins=num_bins)
    pixels = _all_pixels(channels, num_bins)
    for scale in (0.5, 2.0, 4.0):
        params = _mixture_params(4, channels, scale=scale).expand(len(pixels), -1, -1, -1)
        log_p = likelihood(params).log_prob(pixels)
        assert torch.isfinite(log_p).all()
        torch.testing.assert_close(log_p.exp().sum(), torch.tensor(1.0, dtype=torch.float64))


def _logistic_bin(x: np.ndarray, loc: np.ndarray, scale: np.ndarray, num_bins: int) -> np.ndarray:
    """The probability of level x under a discretised logistic, from scipy's cdf (edges take the tails)."""
    half = 0.5 / (num_bins - 1)
    upper = np.where(x >= 1 - half, 1.0, stats.logistic.cdf(x + half, loc=loc, scale=scale))
    lower = np.where(x <= half, 0.0, stats.logistic.cdf(x - half, loc=loc, scale=scale))
    return upper - lower


def test_mixture_is_the_paper_s_channel_autoregressive_mixture():
    # an independent reference from scipy: p(r, g, b) = Σ_k π_k p(r | μ_r) p(g | μ_g + c₀ r) p(b | μ_b + c₁ r + c₂ g)
    k, num_bins = 3, 256
    likelihood = DiscretizedLogisticMixtureLikelihood(num_mix=k, num_bins=num_bins)
    params = _mixture_params(k, 3, n=6, scale=1.5)
    params[:, k + 3 * k: k + 6 * k] = params[:, k + 3 * k: k + 6 * k].clamp(min=-4.0)  # scales of a few bins and more
    x = torch.randint(0, num_bins, (6, 3, 1, 1)).double() / (num_bins - 1)
    x[0, :, 0, 0] = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)  # edge levels
    log_p = likelihood(params).log_prob(x).numpy()

    p = params[:, :, 0, 0].numpy()
    weights = np.exp(p[:, :k]) / np.exp(p[:, :k]).sum(1, keepdims=True)
    loc = p[:, k: 4 * k].reshape(6, k, 3) + 0.5
    scale = np.exp(np.maximum(p[:, 4 * k: 7 * k].reshape(6, k, 3), -7.0))
    coeff = np.tanh(p[:, 7 * k:].reshape(6, k, 3))
    r, g, b = (x[:, i, 0, 0].numpy()[:, None] for i in range(3))
    means = [loc[..., 0], loc[..., 1] + coeff[..., 0] * r, loc[..., 2] + coeff[..., 1] * r + coeff[..., 2] * g]
    per_component = np.prod([_logistic_bin(v, m, scale[..., i], num_bins) for i, (v, m) in
                             enumerate(zip((r, g, b), means))], axis=0)
    np.testing.assert_allclose(log_p, np.log((weights * per_component).sum(1)), rtol=1e-9)


def test_a_one_component_one_channel_mixture_is_the_discretised_logistic():
    mixture = DiscretizedLogisticMixtureLikelihood(num_mix=1, num_bins=256)
    single = DiscretizedLogisticLikelihood(num_bins=256)
    params = torch.randn(4, 3, 5, 5, dtype=torch.float64)  # the mixture's logit, then location and log scale
    x = torch.randint(0, 256, (4, 1, 5, 5)).double() / 255
    torch.testing.assert_close(mixture(params).log_prob(x), single(params[:, 1:]).log_prob(x))
    torch.testing.assert_close(mixture(params).mean, single(params[:, 1:]).mean)


def test_mixture_gradients_are_finite_at_the_edge_bins():
    likelihood = DiscretizedLogisticMixtureLikelihood(num_mix=2, num_bins=256)
    params = torch.zeros(4, likelihood.num_params(3), 1, 1)
    params[0], params[1] = 60.0, -60.0  # locations far outside [0, 1], huge scales, saturated coefficients
    params[2, 2:8], params[2, 8:14] = 0.5, -20.0  # tiny scales (clamped), locations inside
    params = params.requires_grad_()
    x = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])[:, :, None, None]
    log_p = likelihood(params).log_prob(x)
    log_p.sum().backward()
    assert torch.isfinite(log_p).all() and torch.isfinite(params.grad).all()


def test_mixture_samples_follow_its_probabilities():
    # 3 channels x 3 levels: 27 values; the frequencies of 40,000 draws against exp(log_prob)
    torch.manual_seed(0)
    likelihood = DiscretizedLogisticMixtureLikelihood(num_mix=2, num_bins=3)
    params = _mixture_params(2, 3, scale=1.0).float().expand(40_000, -1, -1, -1)
    dist = likelihood(params)
    draws = dist.sample()
    pixels = _all_pixels(3, 3).float()
    expected = likelihood(params[: len(pixels)]).log_prob(pixels).exp()
    counts = (draws[:, None, :, 0, 0] == pixels[None, :, :, 0, 0]).all(-1).sum(0)
    assert counts.sum() == len(draws)  # every draw is on the levels
    chi2 = (((counts - len(draws) * expected) ** 2) / (len(draws) * expected)).sum().item()
    assert chi2 < stats.chi2.ppf(0.999, df=len(pixels) - 1)


def test_mixture_mean_is_the_mean_of_its_draws_away_from_the_edges():
    torch.manual_seed(1)
    k = 3
    likelihood = DiscretizedLogisticMixtureLikelihood(num_mix=k, num_bins=256)
    params = 0.3 * torch.randn(1, likelihood.num_params(3), 1, 1)
    params[:, k + 3 * k: k + 6 * k] = -5.0  # narrow components, well inside [0, 1]
    dist = likelihood(params.expand(20_000, -1, -1, -1))
    torch.testing.assert_close(dist.mean[0], dist.sample().mean(0), atol=5e-3, rtol=0)


def test_mixture_params_of_the_wrong_size_are_refused_with_the_counts():
    with pytest.raises(ValueError, match="30 for 3"):
        DiscretizedLogisticMixtureLikelihood(num_mix=3)(torch.zeros(1, 29, 2, 2))


# --- second order: a GON differentiates the NLL, then backpropagates through that gradient ----------------


@pytest.mark.parametrize("entry", zoo.list_components("likelihood"), ids=lambda e: e.name)
def test_every_registered_likelihood_is_exact_to_second_order(entry):
    """gradgradcheck: the gradient of the gradient against finite differences of the gradient (float64)."""
    likelihood: Likelihood = entry.obj()
    generator = torch.Generator().manual_seed(0)
    params = torch.randn(2, likelihood.num_params(3), 2, 3, generator=generator, dtype=torch.float64)
    x = likelihood(params).sample().detach()  # data of the likelihood's own kind: 0/1, levels or reals
    params.requires_grad_()
    assert torch.autograd.gradgradcheck(lambda p: likelihood(p).log_prob(x), (params,))


def test_the_fused_kernel_is_exact_to_second_order_from_the_likelihood_s_floor_to_wide_logistics():
    x, loc, log_scale = _levels_locs_and_log_scales(256, 40)  # the edge levels, scales e^-9 .. e^6
    loc, log_scale = loc.requires_grad_(), log_scale.requires_grad_()
    assert torch.autograd.gradgradcheck(lambda m, s: DiscretizedLogistic(m, s, 256).log_prob(x), (loc, log_scale))
    broadcast = log_scale[:1].detach().clone().requires_grad_()  # one scale for every element: sum_to_size
    assert torch.autograd.gradgradcheck(lambda m, s: DiscretizedLogistic(m, s, 256).log_prob(x), (loc, broadcast))


def _autograd_log_bin_mass(x, loc, log_scale, num_bins):
    """The discretised logistic's log P(level x) as differences of logistic CDFs, left to autograd (a reference)."""
    half_width = 0.5 / (num_bins - 1)
    scale = torch.exp(log_scale)
    below_upper = torch.sigmoid((x - loc + half_width) / scale)
    below_lower = torch.sigmoid((x - loc - half_width) / scale)
    first, last = x <= half_width, x >= 1 - half_width
    return torch.log(torch.where(first, below_upper, torch.where(last, 1 - below_lower, below_upper - below_lower)))


@pytest.mark.parametrize("likelihood", [{"name": "discretized-logistic", "num_bins": 17},
                                        {"name": "discretized-logistic-mixture", "num_mix": 3, "num_bins": 17}],
                         ids=lambda spec: spec["name"])
def test_a_gon_s_outer_gradient_through_the_fused_kernel_is_autograd_s(likelihood, monkeypatch):
    """The outer loss of a GON depends on the inner gradient; a kernel whose backward is once_differentiable
    dropped the second-order term without an error (7.6% off) or, for the mixture, refused to train."""
    import zoo.likelihoods
    from zoo.recipes import build_component

    torch.manual_seed(0)
    gon = build_component("model", {"name": "gon", "decoder": {
        "name": "mlp", "shape": [1, 4, 4], "latent_dim": 3, "hidden_dim": 8, "num_layers": 1,
        "likelihood": likelihood}}).double()
    x = torch.randint(0, 17, (5, 1, 4, 4), generator=torch.Generator().manual_seed(1)).double() / 16

    def outer_gradients():
        gon.zero_grad()
        sum(gon.loss(x).values()).backward()
        return [p.grad.clone() for p in gon.parameters()]

    fused = outer_gradients()
    monkeypatch.setattr(zoo.likelihoods, "_log_bin_mass", _autograd_log_bin_mass)
    for ours, reference in zip(fused, outer_gradients(), strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("entry", zoo.list_components("likelihood"), ids=lambda e: e.name)
def test_a_gon_trains_with_every_registered_likelihood(entry, tmp_path):
    from zoo.recipes import load_recipe
    from zoo.training import train

    recipe = load_recipe("gon-tiny", overrides=[f"model.decoder.likelihood={entry.name}", "train.steps=2",
                                                "train.eval_every=2"])
    run = train(recipe, tmp_path / "run", quiet=True, pictures=False)
    rows = {row["split"]: row for row in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}
    assert rows["train"]["step"] == 2 and rows["train"]["skipped"] == 0  # both updates applied
    assert math.isfinite(rows["train"]["grad_norm"]) and rows["train"]["grad_norm"] > 0
    assert all(math.isfinite(value) for row in rows.values() for value in row["metrics"].values())
