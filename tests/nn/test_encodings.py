"""zoo.nn.encodings against hand-computed features: NeRF's positional encoding and random Fourier features."""

import math

import numpy as np
import pytest
import torch

from zoo.nn.encodings import FourierFeatures, PositionalEncoding


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
