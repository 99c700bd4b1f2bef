"""Tests of the zoo_gon plugin: the gradient latent against its closed form on a linear decoder, per-example
latents, second-order gradients, the variational GON's ELBO, every registered decoder as F, the BatchNorm
trap, the recipes, and the implicit GON (a SIREN inside a GON) through the CLI at another resolution."""

from __future__ import annotations

import functools
import json
import math
import warnings

import pytest
import torch
from PIL import Image
from torch import Tensor, nn
from torch.distributions import Distribution
from zoo_gon import GON, DCGANDecoder, VariationalGON

import zoo
from zoo.cli import main as zoo_main
from zoo.errors import IncompatibleComponentsError, RecipeError, ZooError
from zoo.interfaces import Decoder
from zoo.likelihoods import GaussianLikelihood
from zoo.metrics import elbo
from zoo.recipes import build_component, build_dataset, build_model, component_kind, load_recipe, parameters

SHAPE = (1, 8, 8)
LATENT = 3
SIGMA = 0.5


class LinearDecoder(Decoder):
    """p(x|z) = N(W z + b, σ² I), plus ``P (z - stopgrad z)``: zero in value, P in the Jacobian.

    So ``P`` changes the latent (a gradient through the decoder) but never the decoder's output at a given
    z: it affects the loss only through the latent, which only second-order gradients can see.
    """

    def __init__(self, shape=SHAPE, latent_dim=LATENT):
        super().__init__()
        self.shape, self.latent_dim = shape, latent_dim
        n = math.prod(shape)
        self.weight = nn.Parameter(torch.randn(n, latent_dim) / math.sqrt(n))
        self.bias = nn.Parameter(torch.rand(n))
        self.jacobian_only = nn.Parameter(torch.randn(n, latent_dim) / math.sqrt(n))
        self.likelihood = GaussianLikelihood(scale=SIGMA)

    def forward(self, z: Tensor) -> Distribution:
        mean = z @ self.weight.T + self.bias + (z - z.detach()) @ self.jacobian_only.T
        return self.likelihood(mean.unflatten(1, self.shape))


def closed_form_latent(decoder: LinearDecoder, x: Tensor, origin: Tensor, step_size: float = 1.0) -> Tensor:
    """One step from ``origin``: z = z0 + η J^T (x - W z0 - b) / σ², J = W + P (the Jacobian of the mean)."""
    jacobian = (decoder.weight + decoder.jacobian_only).detach()
    residual = x.flatten(1) - origin @ decoder.weight.detach().T - decoder.bias.detach()
    return origin + step_size * residual @ jacobian / SIGMA**2


# --- the latent is the negative gradient at the origin --------------------------------------------------------


def test_the_latent_is_minus_the_gradient_of_the_nll_at_the_origin():
    torch.manual_seed(0)
    decoder = LinearDecoder()
    x = torch.rand(5, *SHAPE)
    expected = closed_form_latent(decoder, x, torch.zeros(5, LATENT))
    torch.testing.assert_close(GON(decoder).encode(x), expected, rtol=1e-5, atol=1e-4)
    with torch.no_grad():  # encode turns autograd on itself; the result is then a plain tensor
        latent = GON(decoder).encode(x)
    assert not latent.requires_grad
    torch.testing.assert_close(latent, expected, rtol=1e-5, atol=1e-4)


def test_step_size_origin_and_inner_steps_follow_the_gradient_steps():
    torch.manual_seed(0)
    decoder = LinearDecoder()
    x = torch.rand(4, *SHAPE)
    model = GON(decoder, inner_steps=2, step_size=0.01, learn_origin=True)
    with torch.no_grad():
        model.gradient_origin.origin.copy_(torch.randn(LATENT))
    origin = model.gradient_origin.origin.detach().expand(4, -1)
    one = closed_form_latent(decoder, x, origin, step_size=0.01)
    two = closed_form_latent(decoder, x, one, step_size=0.01)
    torch.testing.assert_close(model.encode(x), two, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("decoder", ["mlp", "conv", "field", "dcgan-layer", "linear"])
def test_each_latent_depends_on_its_own_example_only(decoder):
    """A batch of 1 and the same example inside a batch of 16 give the same latent (the inner loss is a sum)."""
    torch.manual_seed(0)
    likelihood = {"name": "gaussian", "scale": 0.1}
    specs = {
        "mlp": {"name": "mlp", "shape": list(SHAPE), "latent_dim": 4, "likelihood": likelihood},
        "conv": {"name": "conv", "shape": list(SHAPE), "latent_dim": 4, "likelihood": likelihood},
        "field": {"name": "field", "shape": list(SHAPE), "likelihood": likelihood,
                  "field": {"name": "siren", "in_dim": 2, "out_dim": 1, "latent_dim": 4, "hidden_dim": 16}},
        "dcgan-layer": {"name": "dcgan", "shape": list(SHAPE), "latent_dim": 4, "likelihood": likelihood,
                        "norm": "layer", "width": 8},
    }
    model = GON(LinearDecoder() if decoder == "linear" else build_component("decoder", specs[decoder]))
    x = torch.rand(16, *SHAPE)
    together = model.encode(x)
    alone = torch.cat([model.encode(x[i : i + 1]) for i in (0, 7, 15)])
    torch.testing.assert_close(alone, together[[0, 7, 15]], rtol=1e-4, atol=1e-5)


def test_second_order_gradients_reach_a_parameter_that_only_shapes_the_latent():
    torch.manual_seed(0)
    decoder = LinearDecoder()
    model = GON(decoder, learn_step_size=True)
    model.loss(torch.rand(6, *SHAPE))["reconstruction"].backward()
    assert decoder.jacobian_only.grad is not None and decoder.jacobian_only.grad.abs().sum() > 0
    assert model.gradient_origin.log_step_size.grad.abs() > 0


def test_the_gradients_of_the_loss_are_those_of_its_closed_form():
    """z = W^T (x - b) / σ², loss = E_b ‖x - W z - b‖² / 2σ² + const, written out and differentiated."""
    torch.manual_seed(0)
    decoder = LinearDecoder()
    with torch.no_grad():
        decoder.jacobian_only.zero_()
    x = torch.rand(6, *SHAPE)
    GON(decoder).loss(x)["reconstruction"].backward()
    weight, bias = (p.detach().clone().requires_grad_() for p in (decoder.weight, decoder.bias))
    z = (x.flatten(1) - bias) @ weight / SIGMA**2  # (b, d)
    loss = ((x.flatten(1) - z @ weight.T - bias) ** 2).sum(1).mean() / (2 * SIGMA**2)
    expected = torch.autograd.grad(loss, [weight, bias])
    torch.testing.assert_close(decoder.weight.grad, expected[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(decoder.bias.grad, expected[1], rtol=1e-4, atol=1e-4)


# --- the variational GON ----------------------------------------------------------------------------------------


def _vgon(beta: float = 1.0) -> VariationalGON:
    torch.manual_seed(0)
    return VariationalGON(LinearDecoder(), zoo.create("divergence", "kl"), beta=beta, step_size=0.01)


def _hand_kl(q) -> Tensor:
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    return 0.5 * (sigma**2 + mu**2 - 1 - 2 * sigma.log()).sum(-1)  # KL(N(μ, σ²) ‖ N(0, I)) per example


def test_variational_gon_posterior_mean_is_the_head_of_the_gradient_latent():
    model = _vgon()
    decoder, head = model.decoder, model.head
    x = torch.rand(4, *SHAPE)
    a_mu, b_mu = head.weight[:LATENT].detach(), head.bias[:LATENT].detach()
    # the inner loss is the NLL at the posterior mean μ(g0) = A g0 + a, so at g0 = 0 its gradient is A^T (∂/∂μ)
    jacobian = (decoder.weight + decoder.jacobian_only).detach()
    residual = x.flatten(1) - b_mu @ decoder.weight.detach().T - decoder.bias.detach()
    g = 0.01 * residual @ jacobian @ a_mu / SIGMA**2
    torch.testing.assert_close(model.encode(x), g @ a_mu.T + b_mu, rtol=1e-5, atol=1e-5)


def test_variational_gon_loss_and_metrics_are_the_elbo_terms():
    model = _vgon(beta=0.5)
    x = torch.rand(5, *SHAPE)
    q = model.posterior(x)
    torch.testing.assert_close(model.loss(x)["prior"], 0.5 * _hand_kl(q).mean())
    m = model.eval().metrics(x)
    kl = _hand_kl(q).mean().detach()
    torch.testing.assert_close(m["kl"], kl)
    torch.testing.assert_close(m["prior"], 0.5 * kl)
    torch.testing.assert_close(m["elbo"], -(m["reconstruction"] + m["kl"]))
    torch.testing.assert_close(m["loss"], m["reconstruction"] + m["prior"])
    torch.testing.assert_close(m["bits_per_dim"], -m["elbo"] / (64 * math.log(2)))
    # the reconstruction term at z = μ (no noise) is the Gaussian NLL by hand, and the IWAE bound beats -ELBO
    mean = model.decoder(q.mean).mean.flatten(1)
    by_hand = ((x.flatten(1) - mean) ** 2).sum(1) / (2 * SIGMA**2) + 64 * math.log(SIGMA * math.sqrt(2 * math.pi))
    torch.testing.assert_close(-model.decoder(q.mean).log_prob(x), by_hand.detach(), rtol=1e-5, atol=1e-4)
    torch.manual_seed(0)
    many = elbo(x, q, model.decoder, model.prior(), num_samples=1000)["elbo"]  # the ELBO without its noise
    assert (model.log_likelihood(x, num_samples=1000) > many).all()  # the IWAE bound is tighter


def test_variational_gon_samples_from_the_prior_and_trains_its_head_and_decoder():
    model = _vgon()
    assert model.sample(7).shape == (7, *SHAPE)
    sum(model.loss(torch.rand(6, *SHAPE)).values()).backward()
    assert model.head.weight.grad.abs().sum() > 0 and model.decoder.weight.grad.abs().sum() > 0


def test_variational_gon_takes_a_batch_level_divergence_and_refuses_what_cannot_compare():
    torch.manual_seed(0)
    swae = VariationalGON(LinearDecoder(), zoo.create("divergence", "sliced-wasserstein"))
    assert set(swae.loss(torch.rand(6, *SHAPE))) == {"reconstruction", "prior"}
    with pytest.raises(IncompatibleComponentsError, match="wasserstein|WassersteinExact|codes"):
        VariationalGON(LinearDecoder(), zoo.create("divergence", "wasserstein-1d"))


# --- every registered decoder is an F -----------------------------------------------------------------------------


def _takes_field(entry) -> bool:
    params, hints, _ = parameters(entry.obj)
    return any(component_kind(hints.get(n, p.annotation)) == "field" for n, p in params.items())


DECODERS = [
    (entry.name, field.name if _takes_field(entry) else None)
    for entry in zoo.list_components("decoder")
    for field in (zoo.list_components("field") if _takes_field(entry) else [None])
]


def _decoder_spec(name: str, field: str | None) -> dict:
    spec = {"name": name, "shape": list(SHAPE), "likelihood": {"name": "gaussian", "scale": 0.1}}
    if field is None:
        return spec | {"latent_dim": 4}
    field_params = parameters(zoo.get_registry().get("field", field).obj)[0]
    return spec | {"field": {"name": field, "in_dim": 2, "out_dim": 1, "latent_dim": 4}
                   | ({"hidden_dim": 16} if "hidden_dim" in field_params else {})}


@pytest.mark.parametrize("model", ["gon", "variational-gon"])
@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d[0] if d[1] is None else f"{d[0]}-{d[1]}")
def test_every_registered_decoder_trains_inside_a_gon(decoder, model):
    torch.manual_seed(0)
    spec = {"name": model, "decoder": _decoder_spec(*decoder), "step_size": 0.01}
    if model == "variational-gon":
        spec["divergence"] = {"name": "kl"}
    gon = build_component("model", spec)
    x = torch.rand(6, *SHAPE)
    before = [p.detach().clone() for p in gon.parameters()]
    optimizer = torch.optim.Adam(gon.parameters(), lr=1e-2)
    loss = sum(gon.loss(x).values())
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gon.decoder.parameters())
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, gon.parameters()))
    gon.eval()
    assert gon.reconstruct(x).shape == x.shape and gon.encode(x).shape == (6, 4)


def test_the_registry_decoders_include_the_field_and_dcgan():
    assert ("dcgan", None) in DECODERS and any(name == "field" and field == "siren" for name, field in DECODERS)


# --- the BatchNorm trap -------------------------------------------------------------------------------------------


def test_a_decoder_with_running_statistics_is_refused_saying_why_and_what_to_do():
    decoder = DCGANDecoder(SHAPE, 4, GaussianLikelihood())
    decoder.net[1] = nn.BatchNorm2d(decoder.net[1].num_features)  # the reference code's BatchNorm
    with pytest.raises(IncompatibleComponentsError, match=r"running statistics.*eval mode.*track_running_stats=False"):
        GON(decoder)
    with pytest.raises(IncompatibleComponentsError, match="running statistics"):
        VariationalGON(decoder, zoo.create("divergence", "kl"))


def test_batchnorm_decoder_scores_the_same_test_loss_in_eval_mode_as_in_training_mode():
    """The reference GON's BatchNorm kept running statistics: its test loss in eval mode is ~30x its loss in
    training mode. The dcgan decoder's norm=batch normalises with the batch at hand in both modes."""
    torch.manual_seed(0)
    data = zoo.create("dataset", "digits", size=16)
    train = torch.stack([data[i] for i in range(len(data))])
    test = torch.stack(list(zoo.create("dataset", "digits", split="test", size=16)))
    model = GON(DCGANDecoder((1, 16, 16), 16, GaussianLikelihood(scale=0.1), width=8, norm="batch"))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        loss = model.loss(train[torch.randint(len(train), (64,))])["reconstruction"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    in_training_mode = model.train().metrics(test)["mse"]
    in_eval_mode = model.eval().metrics(test)["mse"]
    assert in_training_mode < 0.05  # it learned something (the data's variance is ~0.1)
    assert in_eval_mode < 1.2 * in_training_mode


def test_dcgan_decoder_builds_the_reference_network_for_32x32():
    decoder = DCGANDecoder((1, 32, 32), 32, GaussianLikelihood(), width=16)
    convs = [m for m in decoder.net if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(32, 64), (64, 32), (32, 16), (16, 1)]
    assert decoder(torch.zeros(2, 32)).event_shape == (1, 32, 32)
    with pytest.raises(IncompatibleComponentsError, match=r"8, 16, 32, 64.*data.size=32"):
        DCGANDecoder((1, 28, 28), 32, GaussianLikelihood())


# --- sampling and super-resolution ---------------------------------------------------------------------------------


def _implicit_gon() -> GON:
    torch.manual_seed(0)
    return build_component("model", {
        "name": "gon", "step_size": 0.01,
        "decoder": {"name": "field", "shape": list(SHAPE), "likelihood": {"name": "gaussian", "scale": 0.1},
                    "field": {"name": "siren", "in_dim": 2, "out_dim": 1, "latent_dim": 4, "hidden_dim": 16}},
    })


def test_gon_samples_from_the_gaussian_fitted_to_its_latents_and_says_when_it_has_none():
    model = _implicit_gon().eval()
    with pytest.raises(ZooError, match=r"fit_prior"):
        model.sample(2)
    codes = torch.randn(500, 4) @ torch.tensor([[2.0, 0, 0, 0], [0.5, 1, 0, 0], [0, 0, 0.1, 0], [0, 0, 0, 1]])
    model.fit_prior(codes + 3.0)
    torch.testing.assert_close(model.prior.means[0], codes.mean(0) + 3.0)
    torch.testing.assert_close(model.prior.covariances[0], torch.cov(codes.T), atol=2e-5, rtol=1e-4)
    assert model.sample(3, spatial=(20, 20)).shape == (3, 1, 20, 20)


def test_implicit_gon_reconstructs_at_any_resolution_from_the_same_latent():
    model = _implicit_gon().eval()
    x = torch.rand(3, *SHAPE)
    torch.testing.assert_close(model.reconstruct(x), model.decode(model.encode(x)))
    big = model.reconstruct(x, spatial=(32, 32))
    assert big.shape == (3, 1, 32, 32)
    torch.testing.assert_close(big, model.decoder(model.encode(x), spatial=(32, 32)).mean)
    mlp = build_component("model", {"name": "gon", "decoder": _decoder_spec("mlp", None)})
    with pytest.raises(ValueError, match="not resizable"):
        mlp.reconstruct(x, spatial=(32, 32))


# --- recipes and the CLI ------------------------------------------------------------------------------------------

GON_RECIPES = [e.name for e in zoo.list_components("recipe") if e.obj["model"]["name"] in ("gon", "variational-gon")]


def test_the_issue_recipes_exist():
    assert {"gon-digits", "vgon-digits", "gon-siren-digits", "gon-siren-faces", "gon-mnist",
            "gon-siren-mnist", "gon-official-digits"} <= set(GON_RECIPES)


@pytest.mark.parametrize("name", GON_RECIPES)
def test_recipe_builds_for_its_data_and_takes_a_step(name):
    recipe = load_recipe(name)
    torch.manual_seed(0)
    model = build_model(recipe)
    if recipe["data"]["name"] in ("digits", "lfw-faces"):  # embedded: the real thing
        test = build_dataset(recipe, "test")
        x = torch.stack([test[i] for i in range(4)])
    else:  # users' data, not here: the right shape is what matters
        x = torch.rand(4, *model.shape)
    assert x.shape[1:] == model.shape
    loss = sum(model.loss(x).values())
    assert torch.isfinite(loss)
    loss.backward()


def test_a_recipe_with_a_decoder_for_other_data_fails_before_training():
    recipe = load_recipe("gon-digits", overrides=["decoder.shape=[1, 28, 28]"])
    with pytest.raises(RecipeError, match=r"model.decoder.*8, 16, 32, 64"):
        build_model(recipe)


def test_implicit_gon_trains_from_the_registry_and_the_cli_samples_interpolates_and_evaluates_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert zoo_main(["train", "gon-siren-digits", "--steps", "2", "--out", str(run), "--device", "cpu"]) == 0
    for picture in ("samples.png", "reconstructions.png", "reconstructions-4x.png", "interpolations.png"):
        assert (run / picture).exists(), picture

    # the loop fitted the sampling prior to the training latents before the last checkpoint
    model, recipe = zoo.load(run)
    train = torch.stack(list(build_dataset(recipe, "train")))
    torch.testing.assert_close(model.prior.means[0], model.encode(train).mean(0), atol=1e-4, rtol=1e-4)

    assert zoo_main(["sample", str(run), "-n", "4", "--size", "64", "--out", str(tmp_path / "big.png")]) == 0
    assert Image.open(tmp_path / "big.png").size == (2 * 64 + 3 * 2,) * 2  # 2x2 tiles of 64x64, not enlarged
    assert zoo_main(["interpolate", str(run), "--pairs", "2", "--steps", "3", "--size", "64",
                     "--out", str(tmp_path / "lines.png")]) == 0
    assert Image.open(tmp_path / "lines.png").size == (3 * 64 + 4 * 2, 2 * 64 + 3 * 2)
    capsys.readouterr()
    assert zoo_main(["eval", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"loss", "reconstruction", "mse", "psnr"} <= set(metrics) and metrics["mse"] > 0


# --- the training loop falls back when torch.compile can't take the double backward ------------------------------


def test_the_loop_trains_a_gon_eagerly_with_a_warning_when_torch_compile_cannot(tmp_path, monkeypatch):
    from zoo.training import TrainSettings, fit

    # aot_eager refuses the double backward as inductor does, without compiling C++
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    data = torch.rand(32, *SHAPE)
    settings = TrainSettings(steps=3, batch_size=8, eval_every=0, device="cpu", precision="fp32")
    torch.manual_seed(0)
    eager = GON(LinearDecoder())
    fit(eager, data, None, settings, tmp_path / "eager", quiet=True)
    torch.manual_seed(0)
    compiled = GON(LinearDecoder())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(compiled, data, None, settings.__class__(**{**settings.to_dict(), "compile": True}), tmp_path / "c",
            quiet=True)
    fallbacks = [w for w in caught if "eager" in str(w.message)]
    assert len(fallbacks) == 1 and "double backward" in str(fallbacks[0].message)
    for name, value in eager.state_dict().items():  # the same run: the failed attempt left no trace
        torch.testing.assert_close(compiled.state_dict()[name], value)


class _FailsAfterDrawing(nn.Module):
    """A stand-in for a compiled loss that fails after drawing random numbers and accumulating gradients."""

    def __init__(self, forward: nn.Module):
        super().__init__()
        self.inner = forward

    def forward(self, batch):
        (-sum(self.inner(batch).values())).backward()  # left over, it would cancel the retry's gradients
        torch.rand(3)
        raise RuntimeError("this backend does not support double backward\n(a long traceback)")


def test_the_fallback_retries_the_first_step_from_where_it_stood(tmp_path, monkeypatch):
    """The retry sees no gradients and no random draws of the failed attempt: the run is the eager run."""
    from zoo.training import TrainSettings, fit

    monkeypatch.setattr(torch, "compile", _FailsAfterDrawing)
    data = torch.rand(32, *SHAPE)
    runs = {}
    for compile_ in (False, True):
        torch.manual_seed(0)
        runs[compile_] = _vgon()  # its loss draws noise (the reparameterised sample)
        settings = TrainSettings(steps=3, batch_size=8, eval_every=0, device="cpu", compile=compile_)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(runs[compile_], data, None, settings, tmp_path / str(compile_), quiet=True)
    (warning,) = [w for w in caught if "eager" in str(w.message)]
    assert str(warning.message).count("\n") == 0  # one line
    for name, value in runs[False].state_dict().items():
        torch.testing.assert_close(runs[True].state_dict()[name], value)
