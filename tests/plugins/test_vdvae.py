"""Tests of the zoo_vdvae plugin: the layout strings, the per-layer KL and the ELBO against hand computations,
the depth scaling at initialisation, sampling at a temperature, the recipes, and training end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from zoo_vdvae import VDVAE, check_layouts, parse_layout

import zoo
import zoo.training
import zoo.artifacts
import zoo.training.loop
from zoo.errors import IncompatibleComponentsError, RecipeError
from zoo.likelihoods import BernoulliLikelihood, DiscretizedLogisticMixtureLikelihood
from zoo.recipes import build_model, load_recipe

# the reference's CIFAR-10 layouts (openai/vdvae, hps.py)
CIFAR_ENCODER = "32x11,32d2,16x6,16d2,8x6,8d2,4x3,4d4,1x3"
CIFAR_DECODER = "1x1,4m1,4x2,8m4,8x5,16m8,16x10,32m16,32x21"


def tiny(**options) -> VDVAE:
    """A 5-layer VDVAE on 8x8 digits, small enough to run in milliseconds."""
    settings = {"encoder_layout": "8x1,8d2,4x1,4d4,1x1", "decoder_layout": "1x1,4m1,4x1,8m4,8x1", "width": 8,
                "latent_channels": 2} | options
    likelihood = settings.pop("likelihood", DiscretizedLogisticMixtureLikelihood(num_mix=2, num_bins=17))
    return VDVAE((1, 8, 8), likelihood, **settings)


def digits(n: int = 6) -> torch.Tensor:
    return torch.randint(0, 17, (n, 1, 8, 8), generator=torch.Generator().manual_seed(n)).float() / 16


def with_random_heads(model: VDVAE) -> VDVAE:
    """At initialisation every prior is N(0, I) and the posteriors barely move from it (the prior heads are
    zero, the decoder's starting states too, and four default-initialised convolutions shrink the posterior
    heads' outputs to ~1e-4): give them weights, so every layer's prior and posterior differ."""
    torch.manual_seed(1)
    with torch.no_grad():
        for state in model.initial_state.values():
            state.normal_()
        for block in model.decoder:
            for conv in [*block.prior_net.convs, *block.posterior_net.convs]:
                torch.nn.init.kaiming_normal_(conv.weight)
    return model


# --- layouts ---------------------------------------------------------------------------------------------


def _tuples(blocks):
    return [(b.resolution, b.down, b.mixin) for b in blocks]


def test_layouts_are_read_item_by_item():
    assert _tuples(parse_layout("8x2,8d2,4", "encoder")) == [(8, None, None), (8, None, None), (8, 2, None),
                                                             (4, None, None)]
    assert _tuples(parse_layout(" 1x1, 4m1 ,4x2", "decoder")) == [(1, None, None), (4, None, 1), (4, None, None),
                                                                  (4, None, None)]


def test_the_reference_cifar10_layouts_parse_and_fit_32x32_images():
    encoder, decoder = parse_layout(CIFAR_ENCODER, "encoder"), parse_layout(CIFAR_DECODER, "decoder")
    assert (len(encoder), len(decoder)) == (11 + 1 + 6 + 1 + 6 + 1 + 3 + 1 + 3, 1 + 1 + 2 + 1 + 5 + 1 + 10 + 1 + 21)
    assert check_layouts(encoder, decoder, 32) == [32, 16, 8, 4, 1]


@pytest.mark.parametrize(("text", "role", "message"), [
    ("8y2", "encoder", "can't read item 1 ('8y2')"),
    ("8x2,,4x2", "encoder", "can't read item 2 ('')"),
    ("8x2;8d2", "encoder", "can't read item 1"),
    ("x2", "decoder", "RESmFROM"),
    ("", "encoder", "the encoder layout is empty"),
    ("8x0", "encoder", "a block count must be at least 1"),
    ("8d1", "encoder", "a down-sampling factor must be at least 2"),
    ("8m4", "encoder", "only the decoder does"),
    ("1x1,8d2", "decoder", "only the encoder does"),
])
def test_layout_typos_are_refused_naming_the_item(text, role, message):
    with pytest.raises(ValueError) as error:
        parse_layout(text, role)
    assert message in str(error.value)


@pytest.mark.parametrize(("encoder", "decoder", "message"), [
    ("16x2,16d2,8x2", "1x1,8m1,8x1", "start the encoder layout at 8"),
    ("8x2,4x2", "4x1,8m4", "down-sample to it first (e.g. '8d2')"),
    ("8x2,8d3,4x2", "1x1,8m1", "does not divide"),
    ("8x2,8d2,4x2,4d4,1x2", "2x1,8m2", "the encoder leaves no activations (it visits 8, 4, 1)"),
    ("8x2,8d2,4x2,4d4,1x2", "1x1,8m4", "mixes in resolution 4, which no earlier decoder block reaches"),
    ("8x2,8d2,4x2,4d4,1x2", "1x1,4m1,4x2", "the decoder layout ends at resolution 4 but the images are 8x8"),
    ("8x2,8d2,4x2,4d4,1x2", "1x1,4x2,8m4", "begin resolution 4 with '4m1'"),
])
def test_layouts_that_do_not_line_up_fail_when_the_model_is_built(encoder, decoder, message):
    with pytest.raises(IncompatibleComponentsError) as error:
        tiny(encoder_layout=encoder, decoder_layout=decoder)
    assert message in str(error.value)


def test_a_recipe_with_a_bad_layout_fails_before_training_with_the_recipe_path():
    recipe = load_recipe("vdvae-digits", overrides=["model.decoder_layout=1x2,4m1,4x2"])
    with pytest.raises(RecipeError) as error:
        zoo.training.build(recipe)
    assert "model" in str(error.value) and "ends at resolution 4 but the images are 8x8" in str(error.value)


# --- the objective ---------------------------------------------------------------------------------------


def _gaussian_kl_by_hand(q, p) -> torch.Tensor:
    """KL(q ‖ p) of two diagonal Gaussians over (z, r, r) maps, summed per example, in float64."""
    mq, sq = q.base_dist.loc.double(), q.base_dist.scale.double()
    mp, sp = p.base_dist.loc.double(), p.base_dist.scale.double()
    per_dim = torch.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2) - 0.5
    return per_dim.flatten(1).sum(1)


def test_each_layer_s_kl_is_the_analytic_gaussian_kl():
    model, x = with_random_heads(tiny()).eval(), digits()
    torch.manual_seed(0)
    metrics = model.metrics(x)
    torch.manual_seed(0)  # the same draws: the same posteriors and priors at every layer
    _, latents = model.top_down(len(x), model.activations(x))
    assert len(latents) == 5 and all(f"kl_layer_{i:02d}" in metrics for i in range(5))
    for i, latent in enumerate(latents):
        expected = _gaussian_kl_by_hand(latent.posterior, latent.prior).mean() / 64  # nats per dimension
        assert expected > 1e-7  # the random heads make every layer's KL clearly positive
        torch.testing.assert_close(metrics[f"kl_layer_{i:02d}"].double(), expected, rtol=1e-5, atol=1e-8)


def test_the_loss_is_the_negative_elbo_per_dimension():
    model, x = with_random_heads(tiny()).eval(), digits()
    torch.manual_seed(0)
    terms = model.loss(x)
    torch.manual_seed(0)
    params, latents = model.top_down(len(x), model.activations(x))
    log_px = model.likelihood(params).log_prob(x).double()  # (b,) nats
    kls = sum(_gaussian_kl_by_hand(latent.posterior, latent.prior) for latent in latents)
    negative_elbo = (-log_px + kls) / 64
    torch.testing.assert_close((terms["reconstruction"] + terms["kl"]).double(), negative_elbo.mean(), rtol=1e-5,
                               atol=1e-7)
    torch.testing.assert_close(terms["kl"].double(), (kls / 64).mean(), rtol=1e-5, atol=1e-7)
    torch.manual_seed(0)
    metrics = model.metrics(x)
    torch.testing.assert_close(metrics["bits_per_dim"].double(), negative_elbo.mean() / math.log(2), rtol=1e-5,
                               atol=1e-7)
    torch.testing.assert_close(metrics["kl"], sum(metrics[f"kl_layer_{i:02d}"] for i in range(5)))


def test_the_importance_weighted_bound_is_above_the_elbo():
    model, x = with_random_heads(tiny()).eval(), digits(4)
    elbos = []
    for seed in range(20):
        torch.manual_seed(seed)
        elbos.append(-model.metrics(x)["loss"] * 64)  # nats per example, averaged over the batch
    torch.manual_seed(0)
    iwae = model.log_likelihood(x, num_samples=64, chunk_size=16).mean()
    assert iwae > torch.stack(elbos).mean() + 0.1


def test_the_importance_weighted_bound_is_each_examples_own():
    """Chunks of draws are regrouped per example: in a batch, each example's bound is the one it has alone."""
    model = tiny().eval()  # posteriors near their priors: few draws give a bound of little noise (~3 nats)
    x = torch.cat([torch.zeros(1, 1, 8, 8), digits(1)])  # a blank image and noise: ~190 nats apart
    torch.manual_seed(0)
    together = model.log_likelihood(x, num_samples=48, chunk_size=16)
    alone = []
    for i in range(2):
        torch.manual_seed(0)
        alone.append(model.log_likelihood(x[i:i + 1], num_samples=48, chunk_size=16)[0])
    assert abs(float(alone[0] - alone[1])) > 100
    torch.testing.assert_close(together, torch.stack(alone), atol=8.0, rtol=0)


def test_the_default_divergence_is_the_registry_s_kl_and_batch_level_ones_are_refused():
    assert type(tiny().divergence) is zoo.get_registry().get("divergence", "kl").obj
    with pytest.raises(IncompatibleComponentsError, match="batch-level"):
        tiny(divergence=zoo.create("divergence", "sliced-wasserstein"))


# --- initialisation: the 1/√depth scaling --------------------------------------------------------------


def test_the_priors_start_as_standard_normals():
    model = tiny()
    _, latents = model.top_down(3, model.activations(digits(3)))
    for latent in latents:
        torch.testing.assert_close(latent.prior.base_dist.loc, torch.zeros_like(latent.z))
        torch.testing.assert_close(latent.prior.base_dist.scale, torch.ones_like(latent.z))


def test_residual_outputs_start_scaled_by_one_over_root_depth():
    # the last convolution of every residual branch (and the decoder's latent projections) starts at PyTorch's
    # default initialisation times 1/√(blocks in its path): 12 encoder blocks, 9 decoder blocks here
    torch.manual_seed(0)  # the tolerances hold for ~2 in 3 draws: seeded, the test no longer depends on test order
    model = tiny(encoder_layout="8x6,8d2,4x3,4d4,1x2", decoder_layout="1x1,4m1,4x1,8m4,8x6")
    fresh = torch.nn.Conv2d(2, 8, 1)  # a default-initialised convolution of the same shape
    ratios = [block.convs[-1].weight.std() / fresh.weight.std() * math.sqrt(12) for block in model.encoder]
    for block in model.decoder:
        ratios += [block.resnet.convs[-1].weight.std() / fresh.weight.std() * math.sqrt(9),
                   block.z_proj.weight.std() / torch.nn.Conv2d(2, 8, 1).weight.std() * math.sqrt(9)]
    ratios = torch.stack(ratios)
    assert abs(ratios.mean() - 1) < 0.1 and (ratios - 1).abs().max() < 0.5  # 16 weights each: noisy one by one


# --- capabilities ------------------------------------------------------------------------------------------


def test_sampling_at_temperature_zero_is_deterministic_and_above_it_is_not():
    model = with_random_heads(tiny()).eval()
    torch.manual_seed(0)
    first = model.sample(3, temperature=0.0)
    torch.manual_seed(1)
    second = model.sample(3, temperature=0.0)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(first[0].expand_as(first), first, rtol=0, atol=0)  # every sample the same
    torch.manual_seed(0)
    warm = model.sample(3, temperature=1.0)
    assert warm.shape == (3, 1, 8, 8) and not torch.allclose(warm[0], warm[1])


def test_reconstructions_from_no_layers_ignore_the_input_and_from_all_layers_do_not():
    model, x = with_random_heads(tiny()).eval(), digits(2)
    none, every = model.reconstruct(x, layers=0), model.reconstruct(x)
    torch.testing.assert_close(none[0], none[1])
    assert not torch.allclose(every[0], every[1])
    torch.manual_seed(5)  # posterior means and prior means: no randomness left
    torch.testing.assert_close(model.reconstruct(x), every, rtol=0, atol=0)


def test_a_bernoulli_vdvae_binarises_its_batches():
    model = tiny(likelihood=BernoulliLikelihood(), dynamic_binarize=True)
    torch.manual_seed(0)
    assert torch.isfinite(sum(model.loss(digits()).values()))


# --- recipes and training ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vdvae-digits", "vdvae-faces", "vdvae-mnist"])
def test_the_recipes_build(name):
    model = build_model(load_recipe(name))
    assert isinstance(model, VDVAE)


def test_the_cifar10_recipe_is_the_paper_s_39m_parameter_model():
    model = build_model(load_recipe("vdvae-cifar10"))
    assert len(model.decoder) == 43 and len(model.encoder) == 33
    assert 38e6 < sum(p.numel() for p in model.parameters()) < 40e6  # "39M parameters" (the reference's README)


def test_zoo_train_vdvae_digits_runs_end_to_end(tmp_path):
    from zoo.cli import main

    run = tmp_path / "run"
    main(["train", "vdvae-digits", "--steps", "2", "--out", str(run)])
    metrics = zoo.training.evaluate(run, max_batches=1, iwae_samples=2)
    assert {"bits_per_dim", "kl_layer_00", "kl_layer_09", "iwae_bits_per_dim"} <= set(metrics)
    for picture in ("samples.png", "samples-temperatures.png", "reconstructions.png", "kl-per-layer.png"):
        assert (run / picture).exists(), picture
    main(["sample", str(run), "-n", "4", "--temperature", "0.8", "--out", str(tmp_path / "warm.png")])
    assert (tmp_path / "warm.png").exists()


def _tiles(png, n: int, side: int = 64) -> list[np.ndarray]:
    """The ``n`` tiles of a sample grid (``zoo.viz.save_image_grid``: ceil(√n) per row, 2-pixel gaps)."""
    grid, per_row = np.asarray(Image.open(png)), math.ceil(math.sqrt(n))
    corners = [(2 + (i // per_row) * (side + 2), 2 + (i % per_row) * (side + 2)) for i in range(n)]
    return [grid[y: y + side, x: x + side] for y, x in corners]


def test_zoo_sample_passes_its_temperature_to_the_model(tmp_path):
    """At temperature 0 every layer takes its prior's mean, so all samples are one image; at 1 they differ.
    Dropping ``--temperature`` anywhere between the CLI and ``VDVAE.sample`` leaves the default (1): fails."""
    from zoo.cli import main

    run = tmp_path / "run"
    main(["train", "vdvae-tiny", "--steps", "2", "--out", str(run)])
    for t in ("0", "1"):
        main(["sample", str(run), "-n", "4", "--temperature", t, "--out", str(tmp_path / f"t{t}.png")])
    cold, warm = _tiles(tmp_path / "t0.png", 4), _tiles(tmp_path / "t1.png", 4)
    assert all(np.array_equal(cold[0], tile) for tile in cold[1:])
    assert not any(np.array_equal(warm[0], tile) for tile in warm[1:])


def test_zoo_sample_draws_a_vdvae_with_its_own_artifact_and_checks_the_temperature():
    """A VDVAE is a TemperedSampler: `zoo sample` runs zoo_vdvae's artifact, whose --temperature lies in [0, 2];
    a VAE is drawn by the core's samples, which take none."""
    from zoo.artifacts import choose
    from zoo.errors import ZooError

    vdvae, vae = build_model(load_recipe("vdvae-tiny")), build_model(load_recipe("vae-digits"))
    tempered, plain = choose("sample", vdvae), choose("sample", vae)
    assert (tempered.name, tempered.plugin, plain.name, plain.plugin) == ("samples-at-temperature", "zoo_vdvae",
                                                                         "samples", "zoo.pictures")
    assert tempered.obj.check({"temperature": 0, "n": 2}, name=tempered.name, model="VDVAE") == {"temperature": 0.0,
                                                                                                  "n": 2}
    for bad, says in [(-1, "expected float >= 0 and <= 2, got -1"), (1e6, ".*got 1000000.0"),
                      (float("nan"), "expected a finite number, got nan"),
                      ("inf", "expected a finite number, got 'inf'")]:
        with pytest.raises(ZooError, match=rf"^--temperature: {says}"):
            tempered.obj.check({"temperature": bad}, name=tempered.name, model="VDVAE")
    with pytest.raises(ZooError, match="'samples' .*which takes no --temperature; it takes -n, --size, --seed"):
        plain.obj.check({"temperature": 0.8}, name=plain.name, model="VAE")


def test_a_finished_run_labels_its_temperature_rows_and_its_kl_bars(tmp_path):
    """samples-temperatures.png: 3 rows of 8 (64 px tiles) and a label column; kl-per-layer.png: one bar per
    layer, labelled axes (tests/training/test_viz.py checks that nothing is cut off)."""
    from zoo.artifacts import Run
    from zoo_vdvae.pictures import kl_per_layer, temperature_rows

    model = build_model(load_recipe("vdvae-tiny")).eval()
    rows = Image.open(temperature_rows(Run(model, tmp_path), tmp_path / "t.png")[0])
    assert rows.width > 8 * 64 + 9 * 2 and rows.height == 3 * 64 + 4 * 2
    metrics = {f"kl_layer_{i:02d}": 0.1 * i for i in range(5)} | {"kl": 1.0}
    bars = kl_per_layer(Run(model, tmp_path, metrics=metrics), tmp_path / "kl.png")[0]
    assert Image.open(bars).size[1] == 350
    with pytest.raises(zoo.artifacts.NothingToDraw, match="no evaluation with the KL of each layer"):
        kl_per_layer(Run(model, tmp_path, metrics={"kl": 1.0}), tmp_path / "none.png")


def test_a_tiny_vdvae_learns_digits_without_skipped_updates(tmp_path):
    recipe = load_recipe("vdvae-digits", overrides=[
        "model.encoder_layout=8x1,8d2,4x1,4d4,1x1", "model.decoder_layout=1x1,4m1,4x1,8m4,8x1", "model.width=16",
        "train.steps=80", "train.warmup_steps=10", "train.eval_every=40", "train.ema=0.0",
    ])
    run = zoo.training.build(recipe)
    before = zoo.training.loop.estimate_metrics(run.model, torch.utils.data.DataLoader(run.test_set, batch_size=64),
                                                device=torch.device("cpu"))
    result = zoo.training.fit(run.model, run.train_set, run.test_set, run.settings, tmp_path / "run", quiet=True)
    assert result.skipped == 0
    assert result.eval_metrics["loss"] < before["loss"] - 0.2


# --- sizes before allocation ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vdvae-tiny", "vdvae-digits", "vdvae-faces", "vdvae-cifar10"])
def test_the_parameter_count_from_meta_blocks_is_the_built_model_s(name):
    from zoo_vdvae.layout import parameter_count

    recipe = load_recipe(name)
    model, spec = build_model(recipe), recipe["model"]
    estimate = parameter_count(parse_layout(spec["encoder_layout"], "encoder"),
                               parse_layout(spec["decoder_layout"], "decoder"), channels=spec["shape"][0],
                               width=spec["width"], latent_channels=spec["latent_channels"],
                               bottleneck=spec.get("bottleneck", 0.25),
                               out_channels=model.likelihood.num_params(spec["shape"][0]))
    assert estimate == sum(p.numel() for p in model.parameters())


def test_a_layout_of_ten_million_blocks_is_refused_before_it_is_expanded():
    """``8x10000000`` hung: ten million blocks were listed, checked and then built one by one."""
    import time

    start = time.perf_counter()
    with pytest.raises(RecipeError, match=r"item 3 \('8x10000000'\) of the decoder layout '4x2,8m4,8x10000000' makes "
                                          r"the decoder 10,000,003 blocks deep, more than the 10,000"):
        build_model(load_recipe("vdvae-tiny", overrides=["model.decoder_layout=4x2,8m4,8x10000000"]))
    assert time.perf_counter() - start < 5


def _tiny_parameters(width: int, bottleneck: float) -> int:
    """vdvae-tiny's parameters by hand: encoder 8, 8, 4 and decoder 4, 4, 8, 8, 8 (3x3 kernels everywhere),
    2 latent channels, 1 image channel, a discretised logistic (2 outputs)."""
    def conv(i, o, k=1):
        return i * o * k * k + o

    def bottleneck_block(i, m, o):
        return conv(i, m) + 2 * conv(m, m, 3) + conv(m, o)

    m = max(1, int(width * bottleneck))
    top_down = (bottleneck_block(2 * width, m, 4) + bottleneck_block(width, m, 4 + width) + conv(2, width)
                + bottleneck_block(width, m, width))
    states, ends = width * (4 * 4 + 8 * 8), conv(1, width, 3) + conv(width, 2) + 2 * width
    return 3 * bottleneck_block(width, m, width) + 5 * top_down + states + ends


def test_the_hand_count_is_vdvae_tiny_s():
    assert _tiny_parameters(8, 0.25) == sum(p.numel() for p in build_model(load_recipe("vdvae-tiny")).parameters())


@pytest.mark.parametrize(("override", "width", "bottleneck"), [
    ("model.bottleneck=1e6", 8, 1e6),  # a middle of 8e6 channels: 2 * 9 * (8e6)^2 weights a block
    ("model.width=100000", 100_000, 0.25),
])
def test_a_model_too_big_for_the_machine_is_refused_with_its_size_and_what_to_lower(override, width, bottleneck):
    with pytest.raises(RecipeError, match=rf"this vdvae would have {_tiny_parameters(width, bottleneck):,} parameters; "
                                          r"training them takes about 16 bytes each .* more than this machine's "
                                          r"[\d.,]+ GiB of memory: lower width \(\d+\), bottleneck \([\d.e+]+\) or "
                                          r"the layouts' block counts"):
        build_model(load_recipe("vdvae-tiny", overrides=[override]))


def test_the_memory_check_compares_sixteen_bytes_a_parameter_with_the_memory():
    from zoo_vdvae.layout import check_memory

    check_memory(1000, "width", memory=16_000)  # fits exactly
    with pytest.raises(IncompatibleComponentsError, match="1,001 parameters.*lower width"):
        check_memory(1001, "width", memory=16_000)
