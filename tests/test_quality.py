"""Sample quality (zoo.quality): FID against scipy, KID's unbiasedness, precision/recall on hand-made sets, the
feature networks' files, and `zoo eval --samples`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.torch
import scipy.linalg
import torch

import zoo
from zoo.cli import main
from zoo.errors import ZooError
from zoo.quality import (
    frechet_distance,
    kernel_distance,
    load_features,
    precision_recall,
    save_features,
)


def _gaussian(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise():
    features = _gaussian(500, 8, 0)
    assert abs(frechet_distance(features, features)) < 1e-8
    noise = _gaussian(500, 8, 1)
    distances = [frechet_distance(features, features + scale * noise) for scale in (0.1, 0.5, 1.0, 2.0)]
    # 0.1 of noise: variances 1.01 instead of 1, about 8 * (sqrt(1.01) - 1)^2 = 2e-4 apart, plus the sets' own error
    assert distances[0] > 1e-4 and all(a < b for a, b in zip(distances, distances[1:]))


def test_fid_agrees_with_a_direct_scipy_computation():
    real = _gaussian(300, 6, 2)
    fake = _gaussian(200, 6, 3) @ torch.randn(6, 6, generator=torch.Generator().manual_seed(4),
                                              dtype=torch.float64) + 0.5
    r, f = real.numpy(), fake.numpy()
    cov_r, cov_f = np.cov(r, rowvar=False), np.cov(f, rowvar=False)
    expected = (np.sum((r.mean(0) - f.mean(0)) ** 2) + np.trace(cov_r + cov_f)
                - 2 * np.trace(scipy.linalg.sqrtm(cov_r @ cov_f).real))
    assert frechet_distance(real, fake) == pytest.approx(expected, rel=1e-8)


def test_kid_on_point_masses_is_the_kernel_formula():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5, -1.0]])

    def k(x, y):
        return float((x @ y.T / 2 + 1) ** 3)

    expected = k(a, a) + k(b, b) - 2 * k(a, b)
    assert kernel_distance(a.repeat(20, 1), b.repeat(30, 1), subsets=3) == pytest.approx(expected, rel=1e-12)


def test_kid_is_unbiased_where_the_plain_estimate_is_not():
    """Two sets from one distribution: the true MMD^2 is 0. Averaged over many draws of 10 points each, KID stays
    within its standard error of 0, while the estimate that keeps the kernel's diagonal is clearly positive."""
    estimates, biased = [], []
    for seed in range(300):
        x, y = _gaussian(10, 4, 2 * seed), _gaussian(10, 4, 2 * seed + 1)
        estimates.append(kernel_distance(x, y, subsets=1))
        k_xx, k_yy, k_xy = ((p @ q.T / 4 + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
        biased.append(float(k_xx.mean() + k_yy.mean() - 2 * k_xy.mean()))
    estimates, biased = np.array(estimates), np.array(biased)
    error = estimates.std() / np.sqrt(len(estimates))
    assert abs(estimates.mean()) < 3 * error
    assert biased.mean() > 10 * biased.std() / np.sqrt(len(biased))


def test_precision_and_recall_on_hand_made_sets():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0]])  # 1-NN radii: 1, 1, 1, 1, 7
    # 0.5 and 2.2 lie in the balls of the first reals, 6 in that of 10 (4 <= 7), 40 in none: precision 3/4; every
    # real lies in a ball of the samples (radii 1.7, 1.7, 3.8, 34; 10 is 30 from 40): recall 1
    assert precision_recall(real, torch.tensor([[0.5], [2.2], [6.0], [40.0]]), k=1) == (0.75, 1.0)
    # samples 0.5, 1.5, 2.5 (radii 1): each in a real's ball, precision 1; 10 is in none of theirs: recall 4/5
    assert precision_recall(real, torch.tensor([[0.5], [1.5], [2.5]]), k=1) == (1.0, 0.8)


def test_a_feature_network_file_round_trips_and_a_bad_one_is_refused(tmp_path):
    network, recipe = zoo.load_pretrained("features-digits")
    arguments = {k: v for k, v in recipe["model"].items() if k != "name"}
    path = save_features(network, tmp_path / "digits.safetensors", component="feature-classifier",
                         arguments=arguments)
    images = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_features(path).features(images), network.features(images))
    safetensors.torch.save_file({"w": torch.zeros(1)}, str(tmp_path / "bare.safetensors"))
    with pytest.raises(ZooError, match="its metadata lacks zoo_kind"):
        load_features(tmp_path / "bare.safetensors")
    save_features(zoo.create("divergence", "kl"), tmp_path / "kl.safetensors", component="kl", arguments={},
                  kind="divergence")
    with pytest.raises(ZooError, match="is not a FeatureExtractor"):
        load_features(tmp_path / "kl.safetensors")


def test_eval_samples_reports_sample_quality(tmp_path, capsys):
    network, recipe = zoo.load_pretrained("features-digits")
    path = save_features(network, tmp_path / "digits.safetensors", component="feature-classifier",
                         arguments={k: v for k, v in recipe["model"].items() if k != "name"})
    assert main(["eval", "vae-digits", "--samples", "200", "--iwae-samples", "0", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["fid"] > 0 and metrics["kid"] > -0.01
    assert 0 < metrics["precision"] <= 1 and 0 < metrics["recall"] <= 1
    # the same network from a file measures the same
    assert main(["eval", "vae-digits", "--samples", "200", "--iwae-samples", "0", "--json", "--features",
                 str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["fid"] == pytest.approx(metrics["fid"], rel=1e-9)
    assert main(["eval", "nerf-toy", "--samples", "10", "--iwae-samples", "0"]) == 2
    assert "does not sample pictures" in capsys.readouterr().err
