"""zoo.metrics against closed forms: a linear-Gaussian model whose log p(x) is known, hand-computed bits/dim,
scikit-image's PSNR and SSIM."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal, kl_divergence

from zoo.interfaces import ExactLikelihood
from zoo.metrics import (
    bits_per_dim,
    elbo,
    exact_nll,
    iwae_bound,
    log_importance_weights,
    nats_from_bits_per_dim,
    psnr,
    renyi_bound,
    ssim,
)

# --- the toy model: p(z) = N(0, I_d), p(x|z) = N(W z + c, σ² I_D), so p(x) = N(c, W Wᵀ + σ² I) ---------

D, d, SIGMA = 4, 2, 0.5


@pytest.fixture
def toy():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(D, d, generator=g, dtype=torch.float64)
    c = torch.randn(D, generator=g, dtype=torch.float64)
    marginal = W @ W.T + SIGMA**2 * torch.eye(D, dtype=torch.float64)
    x = (
        c + torch.randn(64, D, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(marginal).T
    )  # x ~ p(x)

    def decode(z):  # (n, d) -> p(x|z), batch (n,), event (D,)
        return Independent(Normal(z @ W.T + c, SIGMA), 1)

    prior = Independent(Normal(torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)), 1)
    log_px = torch.from_numpy(stats.multivariate_normal(c.numpy(), marginal.numpy()).logpdf(x.numpy()))
    # the exact posterior: S = (I + WᵀW / σ²)⁻¹, m = S Wᵀ (x - c) / σ²
    S = torch.linalg.inv(torch.eye(d, dtype=torch.float64) + W.T @ W / SIGMA**2)
    m = (x - c) @ W @ S / SIGMA**2  # S is symmetric
    exact = MultivariateNormal(m, covariance_matrix=S.expand(len(x), d, d))
    # a mean-field approximation, shifted and twice too wide: its ELBO is almost 2 nats below log p(x),
    # while its heavier-than-posterior tails keep the importance weights well behaved
    sd = S.diagonal().sqrt()
    approx = Independent(Normal(m + 0.5 * sd, 2 * sd), 1)
    return x, decode, prior, log_px, exact, approx


def test_with_the_exact_posterior_elbo_and_iwae_equal_log_px(toy):
    # log w = log p(x, z) - log p(z|x) = log p(x) for every z: both bounds are tight, sample by sample
    x, decode, prior, log_px, exact, _ = toy
    torch.manual_seed(0)
    torch.testing.assert_close(elbo(x, exact, decode, prior, num_samples=3)["elbo"], log_px)
    torch.testing.assert_close(iwae_bound(x, exact, decode, prior, num_samples=50, chunk_size=7), log_px)


def test_elbo_is_log_px_minus_the_kl_to_the_true_posterior(toy):
    x, decode, prior, log_px, exact, approx = toy
    torch.manual_seed(0)
    bound = elbo(x, approx, decode, prior, num_samples=20000)["elbo"]
    as_full = MultivariateNormal(approx.base_dist.loc, scale_tril=torch.diag_embed(approx.base_dist.scale))
    gap = kl_divergence(as_full, exact)  # log p(x) - ELBO, in closed form
    assert (gap > 1.5).all()  # poor enough an approximation for the ordering test below to mean something
    torch.testing.assert_close(bound, log_px - gap, atol=0.1, rtol=0)  # Monte Carlo reconstruction term
    assert float((bound - (log_px - gap)).mean()) == pytest.approx(0.0, abs=0.02)


def test_elbo_below_iwae_below_log_px_and_iwae_close(toy):
    x, decode, prior, log_px, _, approx = toy
    torch.manual_seed(0)
    bound = elbo(x, approx, decode, prior, num_samples=1000)["elbo"]
    iwae = iwae_bound(x, approx, decode, prior, num_samples=1000, chunk_size=64)
    assert (bound < iwae - 1.0).all()  # every example: the ELBO is far below IWAE ...
    assert (iwae - log_px).abs().max() < 0.25  # ... and IWAE close to log p(x) (K = 1000 estimates are noisy)
    # on average over 64 examples: IWAE ≤ log p(x) up to the estimate's noise, within a few hundredths
    assert bound.mean() < iwae.mean() <= log_px.mean() + 0.03
    assert float(log_px.mean() - iwae.mean()) == pytest.approx(0.0, abs=0.03)


class Replay(Distribution):
    """Serves pre-drawn samples in order (chunked and unchunked runs see the same z), scored by ``base``."""

    has_rsample = True

    def __init__(self, base: Distribution, samples: torch.Tensor):
        self.base, self.samples, self.position = base, samples, 0
        super().__init__(base.batch_shape, base.event_shape, validate_args=False)

    def rsample(self, sample_shape=(1,)):
        k = sample_shape[0]
        out = self.samples[self.position : self.position + k]
        self.position += k
        return out

    def log_prob(self, value):
        return self.base.log_prob(value)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_iwae_chunks_combine_to_the_one_shot_formula(toy, chunk_size):
    x, decode, prior, _, _, approx = toy
    K = 64
    z = approx.sample((K,))  # (K, b, d)
    log_w = (
        decode(z.flatten(0, 1)).log_prob(x.repeat(K, 1)).view(K, -1) + prior.log_prob(z) - approx.log_prob(z)
    )
    expected = torch.logsumexp(log_w, 0) - math.log(K)
    torch.testing.assert_close(
        iwae_bound(x, Replay(approx, z), decode, prior, num_samples=K, chunk_size=chunk_size), expected
    )


def _hand_log_weights(x, decode, prior, approx, z):
    """log p(x|z) + log p(z) - log q(z|x) for pre-drawn ``z`` ``(K, b, d)``, one decode per sample: ``(K, b)``."""
    return torch.stack([decode(zk).log_prob(x) + prior.log_prob(zk) - approx.log_prob(zk) for zk in z])


def test_log_importance_weights_are_log_p_x_z_over_q(toy):
    x, decode, prior, _, _, approx = toy
    z = approx.sample((5,))
    torch.testing.assert_close(log_importance_weights(x, Replay(approx, z), decode, prior, num_samples=5),
                               _hand_log_weights(x, decode, prior, approx, z))


ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 10.0]


def test_renyi_bound_at_its_limits_and_between_them(toy):
    """Li & Turner 2016: α = 0 is the IWAE bound, α -> 1 the ELBO estimate, α -> ∞ the smallest weight; in
    between, a power mean of the weights, which does not increase with α (for the same draws)."""
    x, decode, prior, _, _, approx = toy
    K = 20
    log_w = _hand_log_weights(x, decode, prior, approx, approx.sample((K,)))
    torch.testing.assert_close(renyi_bound(log_w, 0.0), torch.logsumexp(log_w, 0) - math.log(K))
    torch.testing.assert_close(renyi_bound(log_w, 1.0), log_w.mean(0))
    for near_one in (1 - 1e-6, 1 + 1e-6):  # the formula's own limit, not a special case only
        torch.testing.assert_close(renyi_bound(log_w, near_one), log_w.mean(0), atol=1e-4, rtol=0)
    far = renyi_bound(log_w, 1e4)
    assert (far <= log_w.min(0).values + math.log(K) / (1e4 - 1) + 1e-9).all() and (far >= log_w.min(0).values).all()
    bounds = torch.stack([renyi_bound(log_w, alpha) for alpha in ALPHAS])  # (alphas, b)
    assert (bounds.diff(dim=0) <= 1e-9).all()  # every example: non-increasing in α
    assert (bounds[0] - bounds[4] > 0.5).all()  # and far apart: IWAE well above the ELBO with this q
    torch.testing.assert_close(renyi_bound(log_w[:1], 0.0), log_w[0])  # K = 1: every α is the one-sample ELBO
    torch.testing.assert_close(renyi_bound(log_w[:1], 0.5), log_w[0])


@pytest.mark.parametrize("alpha", ALPHAS)
def test_with_the_exact_posterior_every_renyi_bound_is_log_px(toy, alpha):
    x, decode, prior, log_px, exact, _ = toy
    log_w = log_importance_weights(x, exact, decode, prior, num_samples=7)
    torch.testing.assert_close(renyi_bound(log_w, alpha), log_px)


def test_iwae_rejects_a_nonpositive_sample_count(toy):
    x, decode, prior, _, _, approx = toy
    with pytest.raises(ValueError, match="num_samples"):
        iwae_bound(x, approx, decode, prior, num_samples=0)


def test_kl_term_is_the_analytic_gaussian_kl(toy):
    x, decode, prior, _, _, approx = toy
    mu, sigma = approx.base_dist.loc, approx.base_dist.scale
    by_hand = 0.5 * (sigma**2 + mu**2 - 1 - 2 * torch.log(sigma)).sum(-1)  # KL(N(μ, σ²) ‖ N(0, 1)), summed
    terms = elbo(x, approx, decode, prior)
    torch.testing.assert_close(terms["kl"], by_hand)
    torch.testing.assert_close(terms["elbo"], -(terms["reconstruction"] + terms["kl"]))


def test_elbo_gradients_flow_through_the_reparameterised_samples(toy):
    x, decode, prior, _, _, approx = toy
    loc = approx.base_dist.loc.clone().requires_grad_()
    log_scale = approx.base_dist.scale.log().clone().requires_grad_()
    q = Independent(Normal(loc, log_scale.exp()), 1)
    terms = elbo(x, q, decode, prior)
    terms["reconstruction"].sum().backward()  # the reconstruction reaches q's parameters only through z
    assert loc.grad.abs().sum() > 0 and log_scale.grad.abs().sum() > 0


# --- bits/dim and PSNR -----------------------------------------------------------------------------------


def test_bits_per_dim_by_hand():
    assert bits_per_dim(100.0, 64) == pytest.approx(2.2542110013890055)  # 100 / (64 ln 2)
    assert nats_from_bits_per_dim(3.0, 3 * 32 * 32) == pytest.approx(6388.044416040456)  # 3 · 3072 · ln 2
    assert bits_per_dim(64 * math.log(2), 64) == pytest.approx(1.0)  # one bit per dimension
    nll = torch.tensor([12.5, 800.0])
    torch.testing.assert_close(nats_from_bits_per_dim(bits_per_dim(nll, 784), 784), nll)


def test_psnr_by_hand_and_against_scikit_image():
    x = torch.zeros(2, 3, 8, 8)
    assert float(psnr(x, x + 0.1)) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 at range 1
    assert float(psnr(x, x + 0.1, data_range=2.0)) == pytest.approx(20.0 + 20 * math.log10(2), abs=1e-4)
    assert psnr(x, x) == float("inf")
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 1, 16, 16, generator=g), torch.rand(3, 1, 16, 16, generator=g)
    assert float(psnr(a, b)) == pytest.approx(
        peak_signal_noise_ratio(a.numpy(), b.numpy(), data_range=1.0), rel=1e-5
    )
    per = psnr(a, b, per_example=True)
    assert per.shape == (3,)
    for i in range(3):
        assert float(per[i]) == pytest.approx(
            peak_signal_noise_ratio(a[i].numpy(), b[i].numpy(), data_range=1.0), rel=1e-5
        )


def test_psnr_refuses_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5))


def test_ssim_matches_scikit_image():
    """The Gaussian-window SSIM of Wang et al. (2004), as scikit-image computes it, for colour image pairs."""
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(3, 3, 40, 48, generator=g).cumsum(-1) / 48  # smooth-ish ramps in [0, 1]
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    expected = [
        structural_similarity(a.double().numpy(), b.double().numpy(), channel_axis=0, data_range=1.0,
                              gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        for a, b in zip(noisy, clean)
    ]
    per_example = ssim(noisy, clean, per_example=True)
    assert per_example.shape == (3,)
    torch.testing.assert_close(per_example.double(), torch.tensor(expected, dtype=torch.float64), atol=1e-4, rtol=0)
    assert ssim(noisy, clean).item() == pytest.approx(sum(expected) / 3, abs=1e-4)
    assert ssim(clean, clean).item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="b, c, h, w"):
        ssim(clean[0], clean[0])


def test_exact_nll_averages_a_computed_likelihood_over_every_example_and_needs_no_samples():
    class StandardNormalData(ExactLikelihood):
        def log_likelihood(self, x):
            return Normal(0.0, 1.0).log_prob(x).sum(-1)

    # by hand: -log N(0; 0, 1) = ½ log 2π per dimension, -log N(1; 0, 1) = ½ log 2π + ½
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    expected = (2 * 3 * half_log_2pi + 3 * (half_log_2pi + 0.5)) / 3
    result = exact_nll(StandardNormalData(), [torch.zeros(2, 3), torch.ones(1, 3)])
    assert result["nll"] == pytest.approx(expected)
    assert result["bits_per_dim"] == pytest.approx(expected / (3 * math.log(2)))
