"""zoo.nn.encodings against hand-computed features: NeRF's positional encoding and random Fourier features."""

import math

import numpy as np
import pytest
import torch

from zoo.nn.encodings import FourierFeatures, HashGridEncoding, PositionalEncoding


def test_positional_encoding_matches_nerf_formula():
    """γ(p) = (p, sin(2^k π p), cos(2^k π p)) for k = 0..L-1, computed independently with numpy."""
    x = torch.tensor([[0.25, -0.5], [0.1, 0.9]])
    enc = PositionalEncoding(2, num_frequencies=3)
    assert enc.out_dim == 2 + 2 * 2 * 3
    got = enc(x).numpy()
    p = x.numpy()
    for row in range(2):
        expected_sin = [np.sin(2.0**k * np.pi * p[row, d]) for k in range(3) for d in range(2)]
        expected_cos = [np.cos(2.0**k * np.pi * p[row, d]) for k in range(3) for d in range(2)]
        np.testing.assert_allclose(got[row], [*p[row], *expected_sin, *expected_cos], atol=1e-6)


def test_positional_encoding_hand_values_and_options():
    enc = PositionalEncoding(1, num_frequencies=2, include_input=False)
    out = enc(torch.tensor([[0.5]]))
    # sin(π/2) = 1, sin(π) = 0, cos(π/2) = 0, cos(π) = -1
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0, 0.0, -1.0]]), atol=1e-6, rtol=0)
    assert enc.out_dim == 4
    spaced = PositionalEncoding(1, num_frequencies=3, min_freq_exp=1.0, max_freq_exp=5.0)
    torch.testing.assert_close(spaced.frequencies, math.pi * torch.tensor([2.0, 8.0, 32.0]))


def test_encodings_keep_leading_shape():
    x = torch.rand(4, 5, 6, 3)
    for enc in (PositionalEncoding(3, 4), FourierFeatures(3, 16), FourierFeatures(3, 16, include_input=True)):
        assert enc(x).shape == (4, 5, 6, enc.out_dim)
    assert FourierFeatures(3, 16, include_input=True).out_dim == 35


def test_fourier_features_formula_and_fixed_frequencies():
    torch.manual_seed(0)
    enc = FourierFeatures(2, num_features=8, sigma=3.0)
    x = torch.rand(10, 2)
    proj = 2 * np.pi * x.numpy() @ enc.B.numpy().T
    np.testing.assert_allclose(enc(x).numpy(), np.concatenate([np.cos(proj), np.sin(proj)], -1), atol=1e-5)
    assert "B" in dict(enc.named_buffers()) and not list(enc.parameters())  # saved, never trained


def test_fourier_feature_frequencies_have_the_requested_spread():
    torch.manual_seed(0)
    enc = FourierFeatures(2, num_features=4096, sigma=5.0)
    assert enc.B.std().item() == pytest.approx(5.0, rel=0.05)
    assert enc.B.mean().item() == pytest.approx(0.0, abs=0.2)


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="num_frequencies"):
        PositionalEncoding(2, 0)
    with pytest.raises(ValueError, match="num_features"):
        FourierFeatures(2, 0)


# --- the multiresolution hash encoding ----------------------------------------------------------------------

PRIMES = (1, 2654435761, 805459861)


def small_grid(in_dim: int = 2) -> HashGridEncoding:
    """Levels of 4, 16 and 64 cells: the first indexed directly (5² = 25 vertices <= 256), the others hashed."""
    torch.manual_seed(0)
    grid = HashGridEncoding(in_dim, num_levels=3, features_per_level=2, log2_table_size=8, base_resolution=4,
                            max_resolution=64)
    with torch.no_grad():
        grid.table.normal_()  # tables start near zero; give the interpolation something to show
    return grid


def reference_features(grid: HashGridEncoding, x: np.ndarray) -> np.ndarray:
    """The encoding of points ``x (n, d)`` by the paper's definitions, in Python integers and numpy."""
    table, (n, d) = grid.table.detach().double().numpy(), x.shape
    out, offset = [], 0
    for level, resolution in enumerate((4, 16, 64)):
        size = min(256, (resolution + 1) ** d)
        features = np.zeros((n, 2))
        for i in range(n):
            scaled = (x[i] + 1) / 2 * resolution
            cell = np.minimum(np.floor(scaled), resolution - 1).astype(int)
            for corner in np.ndindex(*(2,) * d):
                vertex = cell + np.array(corner)
                if (resolution + 1) ** d <= 256:
                    row = sum(int(v) * (resolution + 1) ** k for k, v in enumerate(vertex))
                else:
                    row = 0
                    for v, prime in zip(vertex, PRIMES):
                        row ^= int(v) * prime
                    row %= size
                weight = np.prod([f if c else 1 - f for f, c in zip(scaled - cell, corner)])
                features[i] += weight * table[offset + row]
        out.append(features)
        offset += size
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("in_dim", [2, 3])
def test_hash_grid_matches_the_papers_hash_and_interpolation(in_dim):
    grid = small_grid(in_dim)
    assert grid.out_dim == 6 and grid.table.shape == (5**in_dim + 256 + 256, 2)
    x = np.random.default_rng(0).uniform(-1, 1, size=(40, in_dim))
    np.testing.assert_allclose(grid(torch.from_numpy(x).float()).detach().double().numpy(), reference_features(grid, x),
                               atol=1e-5)


def test_hash_grid_is_continuous_and_interpolates_its_vertices():
    grid = small_grid()
    # at a vertex of the coarse level (4 cells: vertices every 0.5) its features are that vertex's row
    vertex = torch.tensor([[-0.5, 0.5]])  # vertex (1, 3) of level 0: row 1 + 3 * 5
    torch.testing.assert_close(grid(vertex)[0, :2], grid.table[1 + 3 * 5])
    # across the finest cell boundaries (every 1/32) the encoding does not jump
    t = torch.linspace(-1, 1, 65)[1:-1, None]
    boundary = torch.cat([t, torch.full_like(t, 0.3)], dim=-1)
    step = torch.tensor([1e-4, 0.0])
    jump = (grid(boundary + step) - grid(boundary - step)).abs().max()
    assert jump < 0.05, jump  # a slope of ~64 cells x |row| ~ 2 over 2e-4: ~0.03 at most, no jump of O(|row|)
    # and a table that is linear in the vertex coordinates is reproduced exactly between vertices
    with torch.no_grad():
        i, j = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="xy")  # row = i + 5 j
        grid.table[:25, 0] = (2 * i - 3 * j + 1).flatten()
    x = torch.rand(100, 2) * 2 - 1
    cells = (x + 1) / 2 * 4  # coordinates in level-0 cells
    torch.testing.assert_close(grid(x)[:, 0], 2 * cells[:, 0] - 3 * cells[:, 1] + 1, atol=1e-5, rtol=0)


def test_hash_grid_gradients_reach_exactly_the_rows_it_read_and_the_coordinates():
    grid = small_grid()
    x = torch.tensor([[0.1, -0.4]], requires_grad=True)
    grid(x).sum().backward()
    touched = (grid.table.grad.abs().sum(-1) > 0).sum().item()
    assert touched == 3 * 4  # 4 corners on each of 3 levels (this point's cells have no hash collisions)
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_hash_grid_encodes_no_points():
    """NeRF's occupancy grid can leave a chunk of rays no sample to evaluate: zero points give zero rows."""
    grid = small_grid(3)
    assert grid(torch.zeros(0, 3)).shape == (0, 6)
    assert grid(torch.zeros(2, 0, 3)).shape == (2, 0, 6)


def test_hash_grid_sizes_and_errors():
    grid = HashGridEncoding(3, num_levels=16, log2_table_size=19, base_resolution=16, max_resolution=2048)
    assert grid.resolutions[0] == 16 and grid.resolutions[-1] in (2047, 2048) and grid.out_dim == 32
    assert grid(torch.rand(4, 5, 3)).shape == (4, 5, 32)
    with pytest.raises(ValueError, match="base_resolution"):
        HashGridEncoding(2, base_resolution=64, max_resolution=16)
    with pytest.raises(ValueError, match="dimensions"):
        HashGridEncoding(9)
