"""SIREN plugin: the paper's initialisation, the fields' contracts, fitting images from values and from
their derivatives, rendering at any resolution, and the recipes."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from einops import rearrange
from PIL import Image, ImageSequence
from scipy import stats
from zoo_siren.fields import FourierFeatureField, ReluField, ReluPEField, Siren
from zoo_siren.fit import SignalFit

import zoo
from zoo.errors import IncompatibleComponentsError, RecipeError
from zoo.interfaces import ImplicitField
from zoo.recipes import build_component

FIELDS = [Siren, ReluField, ReluPEField, FourierFeatureField]


def camera(size: int) -> torch.Tensor:
    """The cameraman at ``size`` x ``size`` as (1, 1, h, w) in [0, 1]: what the training loop's batch is."""
    return zoo.create("dataset", "camera", size=size)[0][None]


# -- initialisation (paper §3.2) ----------------------------------------------------------------------------


def test_initialisation_bounds_are_the_papers():
    field = Siren(2, 1, hidden_dim=64, num_layers=3, w0=20.0, w0_initial=40.0)
    first, *hidden = field.layers
    assert (first.w0, hidden[0].w0) == (40.0, 20.0)
    assert first.linear.weight.abs().max() <= 1 / 2  # U(-1/n, 1/n), n = 2
    assert first.linear.weight.abs().max() > 0.9 / 2  # ... and fills it
    bound = math.sqrt(6 / 64) / 20.0
    for layer in [*hidden]:
        w = layer.linear.weight
        assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)  # uniform: std = bound / √3
    assert field.head.weight.abs().max() <= bound


def test_activations_keep_their_distribution_across_8_layers():
    """The paper's §3.2 result: with this initialisation the pre-activations w0 (W x + b) of every hidden
    layer are normal with the *same* std, layer after layer (no vanishing or exploding).

    The std is predicted by hand: for z ~ N(0, σ²), E[sin² z] = (1 - exp(-2σ²)) / 2, and a hidden layer with
    W ~ U(±√(6/n)/w0) and the default bias U(±1/√n) maps it to σ'² = 2 E[sin² z] + w0² / (3n). Its fixed
    point (σ ≈ 1.10 at n = 1024; exactly 1 - exp(-2σ²) without biases) is what every layer must sit at.
    """
    torch.manual_seed(0)
    n, w0 = 1024, 30.0
    field = Siren(1, 1, hidden_dim=n, num_layers=8, w0=w0)
    with torch.no_grad():
        x = field.layers[0](torch.linspace(-1, 1, 4096)[:, None])
        variance = 2 * x.pow(2).mean().item() + w0**2 / (3 * n)  # the first layer's output is ~arcsine
        stds = []
        for layer in field.layers[1:]:
            z = layer.preactivation(x)
            stds.append(z.std().item())
            assert stds[-1] == pytest.approx(math.sqrt(variance), rel=0.06)
            x = torch.sin(z)
            variance = 1 - math.exp(-2 * variance) + w0**2 / (3 * n)
        # the deepest layer is still normal (Kolmogorov-Smirnov distance of a subsample, standardised)
        sample = (z / z.std()).flatten()[torch.randperm(z.numel())[:20000]].numpy()
        assert stats.kstest(sample, "norm").statistic < 0.04
    assert len(stds) == 7 and max(stds) / min(stds) < 1.1, stds  # no drift with depth


def test_a_wrongly_scaled_siren_drifts_where_the_papers_does_not():
    """The statistics test above can fail: hidden weights twice too large make the std grow."""
    torch.manual_seed(0)
    field = Siren(1, 1, hidden_dim=512, num_layers=4)
    with torch.no_grad():
        for layer in field.layers[1:]:
            layer.linear.weight.mul_(2.0)
        x = field.layers[0](torch.linspace(-1, 1, 2048)[:, None])
        z = field.layers[1].preactivation(x)
    assert z.std().item() > 1.5


# -- field contracts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", FIELDS, ids=lambda c: c.__name__)
def test_fields_shapes_with_and_without_latent(cls):
    field = cls(in_dim=3, out_dim=2)
    assert isinstance(field, ImplicitField) and field.latent_dim == 0
    assert field(torch.rand(4, 5, 6, 3)).shape == (4, 5, 6, 2)
    conditioned = cls(in_dim=3, out_dim=2, latent_dim=7)
    out = conditioned(torch.rand(4, 9, 3), torch.randn(4, 7))
    assert out.shape == (4, 9, 2)
    with pytest.raises(ValueError, match="latent"):
        conditioned(torch.rand(4, 9, 3))
    with pytest.raises(ValueError, match="unconditioned"):
        field(torch.rand(4, 9, 3), torch.randn(4, 7))


@pytest.mark.parametrize("conditioning", ["concat", "film"])
def test_siren_latent_changes_the_output(conditioning):
    torch.manual_seed(0)
    field = Siren(2, 1, latent_dim=4, hidden_dim=32, num_layers=2, conditioning=conditioning)
    coords = torch.rand(1, 10, 2).expand(3, 10, 2)  # the same points in every row
    z = torch.randn(1, 4).expand(3, 4).clone()
    z[2] += 1.0  # rows 0 and 1 share a latent, row 2 has another
    out = field(coords, z)
    torch.testing.assert_close(out[0], out[1])
    assert not torch.allclose(out[0], out[2], atol=1e-3)


def test_film_at_the_origin_is_the_unmodulated_siren():
    torch.manual_seed(0)
    film = Siren(2, 1, latent_dim=4, hidden_dim=32, num_layers=3, conditioning="film")
    plain = Siren(2, 1, hidden_dim=32, num_layers=3)
    plain.load_state_dict({k: v for k, v in film.state_dict().items() if not k.startswith("film")})
    coords = torch.rand(3, 8, 2)
    torch.testing.assert_close(film(coords, torch.zeros(3, 4)), plain(coords))


@pytest.mark.parametrize(("spec", "message"), [
    ({"latent_dim": 3, "conditioning": "add"}, "field.conditioning: expected one of 'concat', 'film', got 'add'"),
    ({"num_layers": 0}, "field.num_layers: expected int >= 1, got 0"),
    ({"w0": 0}, "field.w0: expected float > 0, got 0"),
    ({"hidden_dim": -4}, "field.hidden_dim: expected int >= 1, got -4"),
])
def test_bad_siren_options_are_refused_by_their_annotations(spec, message):
    with pytest.raises(RecipeError, match=f"^{message}$"):
        build_component("field", {"name": "siren", **spec})


def test_fields_are_registered_and_conform():
    from zoo.testing import check_component

    names = {e.name: e.obj for e in zoo.list_components("field")}
    for name, cls in [("siren", Siren), ("relu-mlp", ReluField), ("relu-pe", ReluPEField),
                      ("fourier-features", FourierFeatureField)]:
        assert names[name] is cls
        check_component("field", cls)
    assert zoo.list_components("model", "signal-fit")[0].obj is SignalFit


# -- the fitting model ---------------------------------------------------------------------------------------


class Analytic(ImplicitField):
    """A field with known values and derivatives: f(x, y) = 0.5 sin(3x) cos(2y) (on the [-1, 1] scale)."""

    in_dim, out_dim, latent_dim = 2, 1, 0

    def forward(self, coords, latent=None):
        return 0.5 * (torch.sin(3 * coords[..., :1]) * torch.cos(2 * coords[..., 1:]))


def analytic_image(size: int) -> torch.Tensor:
    """The Analytic field's values on the pixel-centre grid, as an image (1, 1, s, s) in [0, 1]."""
    from zoo.nn import coordinate_grid

    grid = coordinate_grid((size, size))
    return ((Analytic()(grid)[..., 0] + 1) / 2)[None, None]


@pytest.mark.parametrize("supervision", ["values", "gradient", "laplacian"])
def test_targets_use_the_fields_units(supervision):
    """When the field *is* the image, every supervision's loss is (near) zero: values, gradient and
    Laplacian targets are in the same units as the field's autograd derivatives (coordinate spacing
    2/size, values mapped to [-1, 1]). Any scale error would leave a loss of order of the target's size."""
    image = analytic_image(128)
    model = SignalFit(Analytic(), (1, 128, 128), supervision=supervision)
    loss = next(iter(model.loss(image).values())).item()
    # size of the targets: |∇f|² ~ 0.5² (3² + 2²) / 4 ~ 0.8, (Δf)² ~ (0.5 · 13)² / 4 ~ 10
    tolerance = {"values": 1e-12, "gradient": 1e-3, "laplacian": 2e-2}[supervision]
    assert loss < tolerance
    assert model.metrics(image)["psnr"] > 60


def test_values_loss_is_mse_in_the_signals_units_and_psnr_matches():
    torch.manual_seed(0)
    image = camera(32)
    model = SignalFit(Siren(2, 1, hidden_dim=16, num_layers=2), (1, 32, 32))
    fitted = model.render((32, 32))  # clamped to [0, 1]; at init the field stays inside (|f| < 1)
    mse = ((fitted - image[0]) ** 2).mean()
    torch.testing.assert_close(model.loss(image)["mse"], mse, rtol=1e-4, atol=1e-7)
    metrics = model.metrics(image)
    torch.testing.assert_close(metrics["psnr"], 10 * torch.log10(1 / mse), rtol=1e-4, atol=1e-4)


def test_points_per_step_subsamples_without_changing_the_expectation():
    torch.manual_seed(0)
    image = camera(32)
    model = SignalFit(Siren(2, 1, hidden_dim=16, num_layers=2), (1, 32, 32), points_per_step=100)
    full = SignalFit(model.field, (1, 32, 32))
    with torch.no_grad():
        sampled = torch.stack([model.loss(image)["mse"] for _ in range(300)])
        assert sampled.std() > 0  # a different subset each step
        assert sampled.mean().item() == pytest.approx(full.loss(image)["mse"].item(), rel=0.05)


def test_chunking_changes_nothing():
    torch.manual_seed(0)
    image = camera(32)
    field = Siren(2, 1, hidden_dim=16, num_layers=2)
    one, chunked = SignalFit(field, (1, 32, 32), chunk_size=0), SignalFit(field, (1, 32, 32), chunk_size=100)
    for supervision in ("values", "gradient"):
        one.supervision = chunked.supervision = supervision
        a, b = next(iter(one.loss(image).values())), next(iter(chunked.loss(image).values()))
        params = list(field.parameters())  # (the head's bias is unused by the gradient loss)
        ga = torch.autograd.grad(a, params, allow_unused=True, materialize_grads=True)
        gb = torch.autograd.grad(b, params, allow_unused=True, materialize_grads=True)
        torch.testing.assert_close(a, b)
        for x, y in zip(ga, gb):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6)


def test_mismatched_parts_are_reported():
    with pytest.raises(IncompatibleComponentsError, match="in_dim=2"):
        SignalFit(Siren(3, 1), (1, 8, 8))
    with pytest.raises(IncompatibleComponentsError, match="latent_dim=0"):
        SignalFit(Siren(2, 1, latent_dim=4), (1, 8, 8))
    with pytest.raises(RecipeError, match="model.supervision: expected one of 'values', 'gradient', 'laplacian'"):
        build_component("model", {"name": "signal-fit", "field": "siren", "shape": [1, 8, 8], "supervision": "hessian"})
    model = SignalFit(Siren(2, 1), (1, 8, 8))
    with pytest.raises(ValueError, match="model.shape"):
        model.loss(torch.rand(1, 1, 16, 16))


# -- rendering at any resolution ---------------------------------------------------------------------------


def test_render_shapes_any_resolution():
    grey = SignalFit(Siren(2, 1, hidden_dim=16, num_layers=2), (1, 32, 32))
    assert grey.render((1024, 1024)).shape == (1, 1024, 1024)
    assert grey.render((17, 40)).shape == (1, 17, 40)
    rgb = SignalFit(Siren(2, 3, hidden_dim=16, num_layers=2), (3, 32, 32))
    assert rgb.render((64, 48)).shape == (3, 64, 48)
    audio_field = Siren(1, 1, hidden_dim=16, num_layers=2, w0_initial=3000.0)
    sound = SignalFit(audio_field, (1, 500), value_range=(-1.0, 1.0))
    out = sound.render((2000,))
    assert out.shape == (1, 2000) and out.min() >= -1 and out.max() <= 1
    with pytest.raises(ValueError, match="2-D"):
        grey.render((64,))


def test_render_at_subpixel_offsets_interleaves_grids():
    """Pixel centres of a 2s grid shifted by half a (new) pixel fall exactly on the s grid's centres."""
    torch.manual_seed(0)
    model = SignalFit(Siren(2, 1, hidden_dim=32, num_layers=2), (1, 16, 16))
    coarse = model.render((16, 16))
    fine = model.render((32, 32), offset=0.5)
    torch.testing.assert_close(fine[:, ::2, ::2], coarse, atol=1e-5, rtol=0)
    assert not torch.allclose(model.render((16, 16), offset=0.25), coarse)


# -- fitting (the tiny versions of the recipes) -------------------------------------------------------------


def train(model, batch, steps: int, lr: float) -> None:
    """Adam with a cosine decay: the shared loop's optimisation in a few lines."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=lr / 100)
    for _ in range(steps):
        loss = sum(model.loss(batch).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()


def test_tiny_siren_fit_reaches_a_psnr_floor_quickly():
    torch.manual_seed(0)
    image = camera(32)
    model = SignalFit(Siren(2, 1, hidden_dim=64, num_layers=3), (1, 32, 32))
    before = model.metrics(image)["psnr"].item()
    train(model, image, steps=100, lr=1e-3)
    after = model.metrics(image)["psnr"].item()
    assert before < 15 and after > 40, (before, after)


def test_siren_beats_a_plain_relu_mlp_at_the_same_budget():
    """The paper's claim in miniature: same width, depth, steps and schedule."""
    image = camera(32)
    scores = {}
    for cls in (Siren, ReluField):
        torch.manual_seed(0)
        model = SignalFit(cls(2, 1, hidden_dim=64, num_layers=3), (1, 32, 32))
        train(model, image, steps=150, lr=1e-3)
        scores[cls.__name__] = model.metrics(image)["psnr"].item()
    assert scores["Siren"] > scores["ReluField"] + 10, scores


def test_poisson_fit_recovers_the_image_up_to_a_constant():
    """Fit only the gradient of the image; the field is then the image plus a constant (which the
    gradient cannot see). Removing the mean offset by hand gives back the image."""
    torch.manual_seed(0)
    image = camera(32)
    model = SignalFit(Siren(2, 1, hidden_dim=64, num_layers=3), (1, 32, 32), supervision="gradient")
    shifted = (image * 0.8 + 0.15)  # the same picture with a different constant (and contrast)
    assert model.loss(image * 0.8)["gradient_mse"].item() == pytest.approx(
        model.loss(shifted)["gradient_mse"].item(), rel=1e-5)
    train(model, image, steps=300, lr=1e-3)
    field = model._from_unit(model._evaluate(model.coords))[:, 0].reshape(32, 32).detach()
    target = image[0, 0]
    offset = (target - field).mean()
    recovered_psnr = 10 * torch.log10(1 / ((field + offset - target) ** 2).mean())
    assert recovered_psnr > 28, recovered_psnr
    torch.testing.assert_close(model.metrics(image)["psnr"], recovered_psnr, rtol=1e-4, atol=1e-3)


def test_laplacian_fit_recovers_a_smooth_image_up_to_an_affine_function():
    """Fit only the Laplacian of a smooth image; removing the best affine function (what Δ cannot see)
    gives back the image."""
    torch.manual_seed(0)
    image = analytic_image(24)
    field = Siren(2, 1, hidden_dim=32, num_layers=2, w0_initial=5.0)  # a smooth image needs no high ω0
    model = SignalFit(field, (1, 24, 24), supervision="laplacian")
    before = model.metrics(image)["psnr"].item()
    train(model, image, steps=150, lr=1e-3)
    after = model.metrics(image)["psnr"].item()
    assert after > 30 and after > before + 10, (before, after)


def test_audio_fit_with_a_high_first_frequency():
    """1-D signals: a chirp sampled at 2,000 points fitted with the paper's ω0 = 3000 first layer."""
    torch.manual_seed(0)
    t = torch.linspace(0, 1, 2000)
    sound = (0.8 * torch.sin(2 * math.pi * (20 * t + 100 * t**2)))[None, None]  # (1, 1, n) in [-1, 1]
    field = Siren(1, 1, hidden_dim=64, num_layers=3, w0_initial=3000.0)
    model = SignalFit(field, (1, 2000), value_range=(-1.0, 1.0))
    train(model, sound, steps=150, lr=1e-3)
    assert model.metrics(sound)["psnr"] > 30


# -- recipes -------------------------------------------------------------------------------------------------

RECIPES = ["siren-camera", "relu-pe-camera", "fourier-camera", "siren-poisson-camera", "siren-astronaut",
           "siren-audio", "siren-video"]


@pytest.mark.parametrize("name", RECIPES)
def test_recipes_build_and_match_their_data(name):
    from zoo.recipes import build_dataset, build_model, load_recipe, validate_recipe
    from zoo.training import TrainSettings

    recipe = load_recipe(name)
    validate_recipe(recipe)
    model, data = build_model(recipe), build_dataset(recipe)
    batch = data[0][None]
    assert isinstance(model, SignalFit) and tuple(batch.shape[1:]) == model.shape
    settings = TrainSettings.from_recipe(recipe)
    assert settings.batch_size == 1 and settings.best_metric == "psnr" and settings.best_mode == "max"
    metrics = model.metrics(batch)
    frames = {"psnr_frame_min", "psnr_frame_max"} if name == "siren-video" else set()
    assert set(metrics) == {"psnr", "mse"} | frames and np.isfinite(metrics["psnr"].item())


# -- video -------------------------------------------------------------------------------------------------


def test_frame_psnr_is_each_frames_own():
    """A fit off by a constant e_t in frame t (and exact elsewhere) has PSNR -20 log10(e_t) in that frame."""
    model = SignalFit(Siren(3, 3, hidden_dim=8, num_layers=1), (3, 3, 4, 5))
    target = torch.rand(3, 3, 4, 5)
    errors = torch.tensor([0.1, 0.01, 0.5])
    fitted = target + errors[None, :, None, None]
    flat = [rearrange(v, "c t h w -> (t h w) c") for v in (fitted, target)]
    torch.testing.assert_close(model.frame_psnr(*flat), -20 * torch.log10(errors))


def read_gif(path: Path) -> tuple[np.ndarray, list[int]]:
    """The frames ``(t, h, w, 3)`` of a GIF and each frame's duration (ms), read by Pillow."""
    with Image.open(path) as gif:
        frames = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
        gif.seek(0)
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
    return np.stack(frames), durations


@pytest.fixture(scope="module")
def video_run(tmp_path_factory):
    """siren-video-tiny trained by `zoo train` (its clip: 4 frames of 25 x 14 pixels at 70 ms)."""
    from zoo.cli import main

    out = tmp_path_factory.mktemp("video") / "run"
    assert main(["train", "siren-video-tiny", "--out", str(out), "--device", "cpu"]) == 0
    return out


def test_zoo_train_writes_the_video_at_twice_the_frame_rate(video_run):
    clip, durations = read_gif(video_run / "video.gif")
    assert clip.shape == (4, 25, 2 * 14, 3) and durations == [70] * 4  # the clip beside its fit
    double, durations = read_gif(video_run / "video-2x.gif")
    assert double.shape == (8, 50, 28, 3) and durations == [30] * 8  # 35 ms, in a GIF's 10 ms steps
    scores = json.loads((video_run / "video-psnr.json").read_text())
    truth, fit = clip[..., :14, :] / 255, clip[..., 14:, :] / 255  # as the GIF holds them: 8-bit
    independent = -10 * np.log10(((truth - fit) ** 2).reshape(4, -1).mean(1))
    np.testing.assert_allclose(scores["psnr"], independent, atol=0.3)  # the 8-bit rounding of the fit
    assert scores["frame_rate"] == pytest.approx(1000 / 70)
    if (video_run / "video-2x.mp4").exists():  # with imageio-ffmpeg
        import imageio.v3 as iio

        assert iio.immeta(video_run / "video-2x.mp4")["fps"] == pytest.approx(2000 / 70, abs=0.01)


def test_zoo_render_draws_a_video_at_any_frames_rate_and_size(video_run, capsys):
    from zoo.cli import main

    out = video_run / "slow.gif"
    assert main(["render", str(video_run), "--frames", "6", "--fps", "5", "--size", "10", "-o", str(out)]) == 0
    frames, durations = read_gif(out)
    assert frames.shape == (6, 10, 6, 3) and durations == [200] * 6  # 25 x 14 scaled to a longest side of 10
    assert main(["render", str(video_run), "--offset", "0.5"]) == 2
    assert "artifact 'video-render'" in capsys.readouterr().err  # the image render's option: one clear line
