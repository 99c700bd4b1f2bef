"""distribution-fit: forward KL matches the target's moments, reverse KL settles on one mode, particles flow onto
the target; pictures are kept over training; what can't train is refused before it starts."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from zoo_distfit import DistributionFit, LearnedGaussian
from zoo_distfit.targets import TARGETS

from zoo import training
from zoo.errors import IncompatibleComponentsError
from zoo.priors import GaussianMixture, StandardNormal
from zoo.recipes import build_component, load_recipe
from zoo_divergences import KLDivergence, Sinkhorn, energy_distance


def fitted(model: DistributionFit, steps: int, lr: float, batch: int = 256) -> DistributionFit:
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        model.loss(model.target().sample((batch,)))["divergence"].backward()
        optimizer.step()
    return model


def gaussian_fit(direction: str) -> torch.Tensor:
    torch.manual_seed(1)
    q = LearnedGaussian(2, spread=0.5)
    with torch.no_grad():
        q.loc[0] = 0.3  # off the saddle between the modes, to the right
    model = DistributionFit("bimodal", KLDivergence(num_samples=128), q, direction=direction)
    q = fitted(model, *((100, 0.1) if direction == "forward" else (250, 0.05))).q()
    return q.mean.detach(), q.covariance_matrix.detach()


def test_forward_kl_fits_the_moments_of_both_modes():
    mean, cov = gaussian_fit("forward")  # argmin_q KL(p ‖ q) over Gaussians: p's mean and covariance
    spread_x = 2.0**2 + TARGETS["bimodal"].scale ** 2  # modes at x = ±2 of standard deviation 0.6
    assert mean.abs().max() < 0.2
    assert cov[0, 0] == pytest.approx(spread_x, rel=0.15) and cov[1, 1] == pytest.approx(0.36, rel=0.2)


def test_reverse_kl_settles_on_one_mode():
    mean, cov = gaussian_fit("reverse")
    assert mean[0].item() == pytest.approx(2.0, abs=0.2) and abs(mean[1]).item() < 0.2  # the right-hand mode
    assert cov[0, 0] == pytest.approx(0.36, rel=0.25)  # that mode's own spread, not both modes'


def test_particles_flow_onto_the_moons_by_sinkhorn():
    torch.manual_seed(2)
    model = DistributionFit("moons", Sinkhorn(eps=0.05, tol=1e-2), particles=128)
    target = model.target().sample((1024,))
    before = energy_distance(model.particles.detach(), target).item()
    fitted(model, 80, 0.05, batch=128)
    assert energy_distance(model.particles.detach(), target).item() < 0.1 * before


def test_frames_are_thinned_as_training_goes_on():
    model = DistributionFit("bimodal", KLDivergence(), LearnedGaussian(2), frames=4, frame_every=1)
    for update in range(10):
        model.before_update(update)
    # updates 0..3 fill it; at 4 it keeps 0 and 2 and records every 2nd: 4, 6; at 8, full: 0, 4 kept, then 8
    assert int(model.recorded) == 3 and int(model.frame_every) == 4
    assert model.frames[3].sum() == 0 and model.frames[2].sum() > 0


@pytest.mark.parametrize(("arguments", "message"), [
    ({"divergence": KLDivergence(), "q": LearnedGaussian(2), "particles": 8}, "either a distribution q or particles"),
    ({"divergence": KLDivergence()}, "either a distribution q or particles"),
    ({"divergence": KLDivergence(), "particles": 8}, "particles have no density"),
    ({"divergence": Sinkhorn(), "q": GaussianMixture(2)}, "draws without reparameterisation"),
    ({"divergence": KLDivergence(), "q": StandardNormal(2)}, "has no parameters to fit"),
    ({"divergence": build_component("divergence", "wasserstein-gaussian"), "q": LearnedGaussian(2)},
     "wasserstein-gaussian compares Gaussians"),
])
def test_what_cannot_train_is_refused_before_training(arguments, message):
    with pytest.raises(IncompatibleComponentsError, match=message):
        DistributionFit("bimodal", **arguments)


def test_a_run_writes_the_fit_as_a_gif_and_a_png(tmp_path):
    recipe = load_recipe("sinkhorn-particles-tiny")
    training.train(recipe, tmp_path / "run", steps=3, quiet=True)
    model, _ = training.load(tmp_path / "run")
    assert int(model.recorded) == 3  # before updates 0, 1 and 2: kept in the checkpoint
    gif = Image.open(tmp_path / "run" / "fit" / "training.gif")  # those and the fit as it ended (PIL merges repeats)
    assert 1 <= gif.n_frames <= 4
    assert Image.open(tmp_path / "run" / "fit" / "final.png").size == gif.size == (288, 288)
