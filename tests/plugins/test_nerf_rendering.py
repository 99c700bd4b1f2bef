"""NeRF's volume rendering and sampling against closed forms: Beer-Lambert transmittance, telescoping
weights, hand-computed composites, and inverse-CDF sampling checked with a Kolmogorov-Smirnov test."""

import numpy as np
import pytest
import torch
from scipy import stats
from zoo_nerf.rendering import composite, interval_points, merge_edges, sample_pdf, uniform_edges


def _random_edges(num_rays: int, n: int, near: float = 2.0, far: float = 6.0) -> torch.Tensor:
    inner = torch.rand(num_rays, n - 1).sort(-1).values * (far - near) + near
    return torch.cat([torch.full((num_rays, 1), near), inner, torch.full((num_rays, 1), far)], dim=-1)


def test_a_constant_density_slab_transmits_exp_minus_sigma_d():
    """Beer-Lambert: through a homogeneous medium of density σ and thickness d, T = exp(-σ d), whatever the
    (uneven) sampling of the ray."""
    torch.manual_seed(0)
    sigma, near, far = 0.7, 2.0, 6.0
    edges = _random_edges(5, 37, near, far).double()
    points = interval_points(edges, jitter=True)
    colours = torch.rand(5, 37, 3, dtype=torch.float64)
    out = composite(colours, torch.full((5, 37), sigma, dtype=torch.float64), edges, points, torch.ones(3).double())
    np.testing.assert_allclose(1 - out.opacity.numpy(), np.exp(-sigma * (far - near)), rtol=1e-10)
    # a slab only on [3, 4.5]: the samples outside have no density
    edges = uniform_edges(near, far, 1, 40, dtype=torch.float64)
    points = interval_points(edges, jitter=False)
    density = torch.full_like(points, sigma) * ((points > 3.0) & (points < 4.5))
    out = composite(colours[:1, :1].expand(1, 40, 3), density, edges, points, torch.zeros(3).double())
    np.testing.assert_allclose(1 - out.opacity.item(), np.exp(-sigma * 1.5), rtol=1e-10)


def test_weights_sum_to_one_minus_the_final_transmittance():
    torch.manual_seed(1)
    edges = _random_edges(6, 20).double()
    points = interval_points(edges, jitter=True)
    density = torch.rand(6, 20, dtype=torch.float64) * 3
    out = composite(torch.rand(6, 20, 3).double(), density, edges, points, torch.zeros(3).double())
    delta = (edges[:, 1:] - edges[:, :-1]).numpy()
    t_final = np.exp(-(density.numpy() * delta).sum(-1))  # closed form, not the module's cumsum
    np.testing.assert_allclose(out.weights.sum(-1).numpy(), 1 - t_final, rtol=1e-10)
    np.testing.assert_allclose(out.opacity.numpy(), 1 - t_final, rtol=1e-10)
    assert (out.weights >= 0).all()


def test_composite_by_hand_two_intervals_and_a_background():
    """Intervals [2, 3] and [3, 5] with σ = ln 2 and ln 4: α = 1/2 and 1 - 1/16; T = 1, 1/2, 1/32."""
    edges = torch.tensor([[2.0, 3.0, 5.0]], dtype=torch.float64)
    points = torch.tensor([[2.5, 4.0]], dtype=torch.float64)
    density = torch.tensor([[np.log(2.0), np.log(4.0)]])
    red, green, white = [1.0, 0, 0], [0, 1.0, 0], torch.ones(3).double()
    out = composite(torch.tensor([[red, green]]).double(), density.double(), edges, points, white)
    w = [0.5, 0.5 * (1 - 1 / 16)]
    remaining = 1 / 32
    np.testing.assert_allclose(out.weights.numpy(), [w], rtol=1e-12)
    np.testing.assert_allclose(out.rgb.numpy(), [[w[0] + remaining, w[1] + remaining, remaining]], rtol=1e-12)
    np.testing.assert_allclose(out.depth.numpy(), [w[0] * 2.5 + w[1] * 4.0 + remaining * 5.0], rtol=1e-12)


def test_a_single_opaque_sample_is_all_the_ray_sees():
    edges = uniform_edges(2.0, 6.0, 1, 8)
    points = interval_points(edges, jitter=False)
    density = torch.zeros(1, 8)
    density[0, 5] = 1e4
    colours = torch.rand(1, 8, 3)
    out = composite(colours, density, edges, points, torch.ones(3))
    torch.testing.assert_close(out.rgb, colours[:, 5])
    torch.testing.assert_close(out.depth, points[:, 5])
    torch.testing.assert_close(out.opacity, torch.ones(1))
    # and an empty ray is the background, ending at far
    out = composite(colours, torch.zeros(1, 8), edges, points, torch.tensor([0.2, 0.4, 0.6]))
    torch.testing.assert_close(out.rgb, torch.tensor([[0.2, 0.4, 0.6]]))
    torch.testing.assert_close(out.depth, torch.tensor([6.0]))


def test_stratified_points_stay_in_their_intervals():
    torch.manual_seed(0)
    edges = uniform_edges(2.0, 6.0, 100, 16)
    points = interval_points(edges, jitter=True)
    assert ((points >= edges[:, :-1]) & (points <= edges[:, 1:])).all()
    assert points.std(0).min() > 0.05  # jittered: not the same points on every ray
    torch.testing.assert_close(interval_points(edges, jitter=False)[0], torch.linspace(2.125, 5.875, 16))


def _piecewise_cdf(edges: np.ndarray, mass: np.ndarray):
    cdf = np.concatenate([[0.0], np.cumsum(mass / mass.sum())])
    return lambda t: np.interp(t, edges, cdf)


def test_inverse_cdf_samples_follow_the_piecewise_constant_density():
    """Kolmogorov-Smirnov against the analytic CDF of a known piecewise-constant density on uneven bins."""
    torch.manual_seed(0)
    edges = torch.tensor([[2.0, 2.5, 3.0, 4.2, 4.4, 5.0, 6.0]], dtype=torch.float64)
    mass = torch.tensor([[0.05, 0.3, 0.1, 0.35, 0.0, 0.2]], dtype=torch.float64)
    samples = sample_pdf(edges, mass, 20000, eps=0.0)
    assert samples.shape == (1, 20000)
    result = stats.kstest(samples[0].numpy(), _piecewise_cdf(edges[0].numpy(), mass[0].numpy()))
    assert result.pvalue > 0.01, result
    # the deterministic quantiles are the CDF's (k + 0.5) / m quantiles, exactly
    quantiles = sample_pdf(edges, mass, 50, deterministic=True, eps=0.0)[0].numpy()
    cdf = _piecewise_cdf(edges[0].numpy(), mass[0].numpy())
    np.testing.assert_allclose(cdf(quantiles), (np.arange(50) + 0.5) / 50, atol=1e-9)


def test_hierarchical_samples_are_sorted_in_bounds_and_where_the_weight_is():
    torch.manual_seed(0)
    edges = _random_edges(64, 32)
    weights = torch.zeros(64, 32)
    hot = torch.randint(0, 32, (64,))
    weights[torch.arange(64), hot] = 1.0
    samples = sample_pdf(edges, weights, 128)
    assert (samples.diff(dim=-1) >= 0).all()
    assert ((samples >= 2.0) & (samples <= 6.0)).all()
    lower, upper = edges[torch.arange(64), hot], edges[torch.arange(64), hot + 1]
    inside = ((samples >= lower[:, None]) & (samples <= upper[:, None])).float().mean()
    assert inside > 0.99  # all but the eps floor's share
    # a ray that saw nothing samples every interval alike: its whole length, uniformly, for equal intervals
    blind = sample_pdf(uniform_edges(2.0, 6.0, 1, 32), torch.zeros(1, 32), 2000)
    assert stats.kstest(blind[0].numpy(), stats.uniform(2.0, 4.0).cdf).pvalue > 0.01
    merged = merge_edges(edges, samples)
    assert merged.shape == (64, 32 + 1 + 128) and (merged.diff(dim=-1) >= 0).all()


def test_bad_bounds_are_rejected():
    with pytest.raises(ValueError, match="near"):
        uniform_edges(3.0, 2.0, 1, 4)
