"""The Python API behind the CLI: train, resume, evaluate, sample, render, load — on a real recipe and toys."""

from __future__ import annotations

import json
import re

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import Tensor
from train_toys import Denoiser, Items, toy_data

import zoo
import zoo.artifacts
import zoo.training
from zoo import hookimpl
from zoo.cli import main
from zoo.errors import ZooError
from zoo.interfaces import Model, Renderer
from zoo.recipes import build_dataset, load_recipe
from zoo.testing import registry_with, use_registry
from zoo.training.checkpoint import find_checkpoint, read_info


def toy_points(n: int = 40, split: str = "train") -> Items:
    """Points near a plane in R^8 (fixture)."""
    return toy_data(n if split == "train" else 16, seed=0 if split == "train" else 1)


class Ramp(Model, Renderer):
    """Fits nothing useful; renders a horizontal ramp 0..1 at any size (fixture)."""

    def __init__(self, channels: int = 1):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(channels))

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        return {"fit": (batch.mean() - self.bias).pow(2).sum()}

    def render(self, shape: tuple[int, ...], offset: float = 0.0) -> Tensor:
        h, w = shape
        return torch.linspace(0, 1, w).expand(len(self.bias), h, w)


def ramp_image(split: str = "train") -> Items:
    """One 1x4x6 image (fixture)."""
    return Items(torch.rand(1, 1, 4, 6))


class ToyPlugin:
    __name__ = "train-api-fixtures"

    @hookimpl
    def register_components(self, register):
        register("model", "toy-denoiser", Denoiser)
        register("dataset", "toy-points", toy_points)
        register("model", "ramp", Ramp)
        register("dataset", "ramp-image", ramp_image)


SHORT = {"steps": 4, "batch_size": 8, "eval_every": 2, "checkpoint_every": 2, "log_every": 2}


@pytest.fixture
def toys():
    with use_registry(registry_with(ToyPlugin())):
        yield


@pytest.mark.slow
def test_vae_digits_trains_resumes_evaluates_and_samples(tmp_path):
    recipe = load_recipe("vae-digits", overrides=[f"train.{k}={v}" for k, v in
                                                   {**SHORT, "batch_size": 32, "ema": 0.9}.items()])
    run = zoo.training.train(recipe, tmp_path / "vae", quiet=True)
    assert find_checkpoint(run).name == "step_00000004"
    info = read_info(find_checkpoint(run))
    assert info["recipe"]["name"] == "vae-digits"
    assert {(p["kind"], p["name"]) for p in info["provenance"]} >= {("model", "vae"), ("dataset", "digits")}

    zoo.training.resume(run, steps=6, quiet=True)
    assert read_info(find_checkpoint(run))["step"] == 6
    assert read_info(find_checkpoint(run))["recipe"]["train"]["steps"] == 6

    # load gives the EMA weights by default, the raw ones on request
    model, loaded_recipe = zoo.training.load(run)
    assert loaded_recipe == read_info(find_checkpoint(run))["recipe"] and not model.training
    ema = load_file(find_checkpoint(run) / "ema.safetensors")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in ema.items())
    raw, _ = zoo.training.load(run, ema=False)
    assert not all(torch.equal(raw.state_dict()[k], v) for k, v in ema.items())

    # evaluate == the model's own metrics averaged by hand over the whole test split, same seed
    metrics = zoo.training.evaluate(run, device="cpu", iwae_samples=0)
    test = build_dataset(loaded_recipe, "test")
    torch.manual_seed(0)
    sums, n = {}, 0
    for start in range(0, len(test), 32):
        batch = torch.stack([test[i] for i in range(start, min(start + 32, len(test)))])
        for name, value in model.metrics(batch).items():
            sums[name] = sums.get(name, 0.0) + value.item() * len(batch)
        n += len(batch)
    assert metrics == pytest.approx({name: total / n for name, total in sums.items()}, rel=1e-5)
    assert {"loss", "elbo", "bits_per_dim"} <= set(metrics)
    # with importance samples, the test NLL: the IWAE bound is tighter than the ELBO's
    with_nll = zoo.training.evaluate(run, device="cpu", iwae_samples=50)
    assert with_nll["iwae_nll"] < -with_nll["elbo"]

    # training left the pictures: 64 samples, and 8 test digits over their reconstructions
    assert Image.open(run / "samples.png").size == (8 * 64 + 9 * 2,) * 2
    assert Image.open(run / "reconstructions.png").size == (8 * 64 + 9 * 2, 2 * 64 + 3 * 2)

    png = zoo.training.sample(run, 16, tmp_path / "samples.png", device="cpu")
    image = Image.open(png)
    assert image.size == (4 * 64 + 5 * 2, 4 * 64 + 5 * 2)  # 4x4 grid of 8x8 digits enlarged to 64 px, 2 px gaps


def test_toy_recipe_through_the_api(tmp_path, toys):
    recipe = {"name": "toy", "model": {"name": "toy-denoiser", "noise": 0.0}, "data": {"name": "toy-points"},
              "train": SHORT}
    run = zoo.train(recipe, tmp_path / "run", steps=6, device="cpu", quiet=True)  # the module is callable
    assert read_info(find_checkpoint(run))["step"] == 6
    assert read_info(find_checkpoint(run))["recipe"]["train"]["steps"] == 6  # --steps is part of the recipe
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last_eval = [r for r in evals if r["split"] == "eval"][-1]["metrics"]
    assert zoo.training.evaluate(run, device="cpu") == pytest.approx(last_eval, rel=1e-6)  # 16 test points, 2 batches

    with pytest.raises(ZooError, match="can't sample: `zoo sample` draws a Sampler, which it is not; it has none"):
        zoo.training.sample(run, 4, tmp_path / "x.png", device="cpu")
    with pytest.raises(ZooError, match="zoo resume"):
        zoo.training.train(recipe, run, quiet=True)
    zoo.training.resume(run, quiet=True)  # already at its total: nothing to do, no error
    assert read_info(find_checkpoint(run))["step"] == 6


def test_eval_resume_and_load_fall_back_from_a_damaged_newest_checkpoint(tmp_path, toys, capsys):
    recipe = {"name": "toy", "model": {"name": "toy-denoiser", "noise": 0.0}, "data": {"name": "toy-points"},
              "train": SHORT}
    run = zoo.train(recipe, tmp_path / "run", steps=6, device="cpu", quiet=True)
    straight = zoo.load(run)[0].state_dict()
    damaged, before = run / "checkpoints" / "step_00000006" / "model.safetensors", run / "checkpoints" / "step_00000004"
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated
    says = rf"{damaged} is damaged.*Using {before}, the newest intact one"

    with pytest.warns(UserWarning, match=says):
        loaded = zoo.load(run)[0].state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in zoo.load(before)[0].state_dict().items())
    # the command line says it in one line, not as a Python warning with a file and line number
    assert main(["eval", str(run), "--json", "--iwae-samples", "0"]) == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(rf"warning: skipping damaged checkpoint\(s\): {says}\n", err)
    assert json.loads(out) == pytest.approx(zoo.training.evaluate(before, device="cpu"))
    assert main(["resume", str(run)]) == 0  # from step 4, rewriting step 6
    assert re.search(rf"^warning: .*{says}", capsys.readouterr().err)
    resumed = zoo.load(run)[0].state_dict()
    assert all(torch.equal(resumed[k], v) for k, v in straight.items())


def test_render_keeps_the_aspect_ratio_of_the_data(tmp_path, toys):
    recipe = {"name": "ramp", "model": {"name": "ramp"}, "data": {"name": "ramp-image"},
              "train": {"steps": 1, "batch_size": 1, "eval_every": 0}}
    run = zoo.training.train(recipe, tmp_path / "run", device="cpu", quiet=True)
    image = Image.open(zoo.training.render(run, 12, device="cpu"))
    assert image.size == (12, 8)  # data is 4x6: longest side 12 -> 8x12
    row = [image.convert("L").getpixel((x, 0)) for x in range(12)]
    assert row == [round(255 * k / 11) for k in range(12)]
    with pytest.raises(ZooError, match="can't sample: .* it can: render"):
        zoo.training.sample(run, 4, device="cpu")
    # training wrote the fit at the data's resolution and at 4x, and no samples (it can't sample)
    assert Image.open(run / "render.png").size == (6, 4) and Image.open(run / "render-4x.png").size == (24, 16)
    assert not (run / "samples.png").exists()


def test_a_run_without_a_recipe_says_how_to_resume_it(tmp_path):
    zoo.training.fit(Denoiser(), toy_data(), None, zoo.training.TrainSettings(steps=1, batch_size=8, device="cpu"),
                  tmp_path, quiet=True)
    with pytest.raises(ZooError, match=r"fit\(\.\.\., resume=True\)"):
        zoo.training.resume(tmp_path)


@pytest.mark.slow
def test_latent_models_interpolate_and_a_field_decoder_samples_at_any_size(tmp_path, monkeypatch):
    from zoo import cli

    run = zoo.train("vae-siren-digits", tmp_path / "siren", steps=2, device="cpu", quiet=True)
    assert Image.open(run / "interpolations.png").size == (10 * 64 + 11 * 2, 8 * 64 + 9 * 2)  # 8 pairs, 10 steps
    assert cli.main(["sample", str(run), "-n", "4", "--size", "16", "--out", str(tmp_path / "s16.png")]) == 0
    assert Image.open(tmp_path / "s16.png").size == (2 * 64 + 3 * 2,) * 2  # 16 px tiles enlarged to 64
    assert cli.main(["sample", str(run), "-n", "4", "--size", "128", "--out", str(tmp_path / "s128.png")]) == 0
    assert Image.open(tmp_path / "s128.png").size == (2 * 128 + 3 * 2,) * 2  # decoded at 128 x 128
    out = tmp_path / "lerp.png"
    assert cli.main(["interpolate", str(run), "--pairs", "3", "--steps", "5", "--size", "96", "--out", str(out)]) == 0
    assert Image.open(out).size == (5 * 96 + 6 * 2, 3 * 96 + 4 * 2)

    # a grid too big for memory is refused before a sample is drawn (on a machine of 16 GiB, as the message says)
    monkeypatch.setattr(zoo.artifacts, "_machine_memory", lambda: 16 * 2**30)
    with pytest.raises(ZooError, match=r"^64 samples at 30000x30000 would need 214.6 GiB "
                                       r"\(57,600,000,000 numbers of 4 bytes\), more than a quarter of this machine's "
                                       r"16.0 GiB of memory: lower -n or --size$"):
        zoo.training.sample(run, size=30000, device="cpu")

    # an MLP decoder has one resolution: --size is refused with the reason, interpolation still works
    mlp = zoo.train("vae-digits", tmp_path / "mlp", steps=2, device="cpu", quiet=True, pictures=False)
    with pytest.raises(ZooError, match=r"decodes only at its data's size: its decoder \(MLPDecoder\) is not resizable"):
        zoo.training.sample(mlp, 4, tmp_path / "x.png", size=32, device="cpu")
    lerp = zoo.training.interpolate(mlp, pairs=2, steps=3, device="cpu")
    assert lerp == mlp / "interpolations.png" and Image.open(lerp).size == (3 * 64 + 4 * 2, 2 * 64 + 3 * 2)


def test_interpolation_ends_are_the_reconstructions():
    from zoo.recipes import build_component

    part = {"shape": [1, 8, 8], "latent_dim": 4}
    model = build_component("model", {"name": "vae", "encoder": {"name": "mlp", **part}, "divergence": "kl",
                                      "decoder": {"name": "mlp", "likelihood": "bernoulli", **part}}).eval()
    x, y = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    path = model.interpolate(x, y, steps=5)
    assert path.shape == (3, 5, 1, 8, 8)
    torch.testing.assert_close(path[:, 0], model.reconstruct(x))
    torch.testing.assert_close(path[:, -1], model.reconstruct(y))
    torch.testing.assert_close(path[:, 2], model.decode((model.encode(x) + model.encode(y)) / 2))
