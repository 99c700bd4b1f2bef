"""Tests of the zoo_vae plugin: every encoder x decoder x divergence trains, the loss terms are closed forms,
bad combinations are refused when built, the autoencoder's fitted prior, the recipes, and learning itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.distributions import Distribution
from zoo_vae import AE, VAE, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

import zoo
from zoo.errors import IncompatibleComponentsError, RecipeError, ZooError
from zoo.interfaces import Divergence
from zoo.likelihoods import BernoulliLikelihood, DiscretizedLogisticLikelihood
from zoo.priors import FittedGaussian, GaussianMixture, StandardNormal
from zoo.recipes import (
    apply_overrides,
    build_component,
    build_dataset,
    build_model,
    component_kind,
    load_recipe,
    parameters,
)

SHAPE = (1, 8, 8)
LATENT = 2

# Small versions of the zoo's own components, so that the full product stays fast; a component from
# another plugin is built with the standard arguments only.
SMALL = {
    ("encoder", "mlp"): {"hidden_dim": 16, "num_layers": 1},
    ("encoder", "conv"): {"channels": [4, 8]},
    ("encoder", "timm"): {"backbone": "test_resnet"},
    ("decoder", "mlp"): {"hidden_dim": 16, "num_layers": 1},
    ("decoder", "conv"): {"channels": [8, 4]},
}


def _takes_field(entry) -> bool:
    params, hints, _ = parameters(entry.obj)
    return any(component_kind(hints.get(n, p.annotation)) == "field" for n, p in params.items())


def _field_spec(name: str, latent_dim: int) -> dict:
    spec = {"name": name, "in_dim": len(SHAPE) - 1, "out_dim": SHAPE[0], "latent_dim": latent_dim}
    params, _, _ = parameters(zoo.get_registry().get("field", name).obj)
    return spec | ({"hidden_dim": 16} if "hidden_dim" in params else {})


# (decoder name, field name or None): a decoder that holds a field is tried with every registered field
DECODERS = [
    (entry.name, field.name) if _takes_field(entry) else (entry.name, None)
    for entry in zoo.list_components("decoder")
    for field in (zoo.list_components("field") if _takes_field(entry) else [None])
]
ENCODERS = [e.name for e in zoo.list_components("encoder")]
DIVERGENCES = [e.name for e in zoo.list_components("divergence")]


def _spec(
    model: str, encoder: str, decoder: tuple[str, str | None], divergence: str | None, latent_dim: int
) -> dict:
    encoder_spec = {
        "name": encoder,
        "shape": list(SHAPE),
        "latent_dim": latent_dim,
        **SMALL.get(("encoder", encoder), {}),
    }
    decoder_name, field = decoder
    decoder_spec = {"name": decoder_name, "shape": list(SHAPE), "likelihood": {"name": "bernoulli"}}
    if field is None:
        decoder_spec |= {"latent_dim": latent_dim, **SMALL.get(("decoder", decoder_name), {})}
    else:
        decoder_spec["field"] = _field_spec(field, latent_dim)
    spec = {"name": model, "encoder": encoder_spec, "decoder": decoder_spec}
    return spec | ({"divergence": {"name": divergence}} if divergence else {})


def _train_step(model, x: Tensor) -> dict[str, Tensor]:
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    terms = model.loss(x)
    loss = sum(terms.values())
    assert torch.isfinite(loss), terms
    optimizer.zero_grad()
    loss.backward()
    for part in (model.encoder, model.decoder):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters()), (
            f"no gradient in {part}"
        )
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "the step changed nothing"
    return terms


@pytest.mark.parametrize("divergence", DIVERGENCES)
@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d[0] if d[1] is None else f"{d[0]}-{d[1]}")
@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_encoder_decoder_divergence_builds_and_trains(encoder, decoder, divergence):
    """Built from the registry as a recipe would be; a refusal must be a clear one, at construction.

    A divergence defined only for one-dimensional codes (wasserstein-1d) refuses 2-D codes and is then
    built with 1-D codes: every combination must work at some latent size, but for a closed form between
    Gaussians (wasserstein-gaussian) given a posterior that is not one (flow-posterior), refused at any size.
    """
    torch.manual_seed(0)
    try:
        model = build_component("model", _spec("vae", encoder, decoder, divergence, LATENT))
    except RecipeError as error:
        assert isinstance(error.__cause__, IncompatibleComponentsError), f"unclear refusal: {error!r}"
        assert "divergence" in str(error)
        if "compares Gaussians" in str(error):  # a closed form between Gaussians; this posterior is none (a flow)
            return
        model = build_component("model", _spec("vae", encoder, decoder, divergence, 1))
    terms = _train_step(model, torch.rand(6, *SHAPE).round())
    assert set(terms) == {"reconstruction", "prior"}


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d[0] if d[1] is None else f"{d[0]}-{d[1]}")
@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_encoder_decoder_trains_as_an_autoencoder(encoder, decoder):
    torch.manual_seed(0)
    spec = _spec("ae", encoder, decoder, None, LATENT)
    if "deterministic" not in parameters(zoo.get_registry().get("encoder", encoder).obj)[0]:
        # stochastic by construction (a flow posterior): it has no point code to give, and says so
        with pytest.raises(RecipeError, match="the autoencoder's code is the mean of q"):
            build_component("model", spec)
        return
    model = build_component("model", spec)
    assert set(_train_step(model, torch.rand(6, *SHAPE).round())) == {"reconstruction"}


def test_the_field_decoder_is_in_the_combinations_when_a_field_is_registered():
    if zoo.list_components("field"):
        assert any(name == "field" and field for name, field in DECODERS)
    assert ("mlp", None) in DECODERS and ("conv", None) in DECODERS


# --- the loss terms ------------------------------------------------------------------------------------


def _vae(divergence: str = "kl", **options) -> VAE:
    torch.manual_seed(0)
    encoder = MLPEncoder(SHAPE, 3, hidden_dim=32)
    decoder = MLPDecoder(SHAPE, 3, BernoulliLikelihood(), hidden_dim=32)
    return VAE(encoder, decoder, zoo.create("divergence", divergence), **options)


def _hand_kl(q) -> Tensor:
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    return 0.5 * (sigma**2 + mu**2 - 1 - 2 * sigma.log()).sum(-1)  # KL(N(μ, σ²) ‖ N(0, I)) per example


def test_prior_term_is_beta_times_the_analytic_gaussian_kl():
    model = _vae(beta=0.5)
    x = torch.rand(5, *SHAPE).round()
    torch.testing.assert_close(model.loss(x)["prior"], 0.5 * _hand_kl(model.encoder(x)).mean())


def test_metrics_are_the_elbo_its_terms_and_bits_per_dim():
    model = _vae(beta=0.5).eval()
    x = torch.rand(5, *SHAPE).round()
    m = model.metrics(x)
    kl = _hand_kl(model.encoder(x)).mean()
    torch.testing.assert_close(m["kl"], kl)
    torch.testing.assert_close(m["elbo"], -(m["reconstruction"] + m["kl"]))
    torch.testing.assert_close(m["prior"], 0.5 * kl)
    torch.testing.assert_close(m["loss"], m["reconstruction"] + m["prior"])
    torch.testing.assert_close(m["bits_per_dim"], -m["elbo"] / (64 * math.log(2)))


def test_estimate_nll_gives_the_iwae_nll_which_is_at_most_minus_the_elbo():
    from zoo.metrics import estimate_nll

    model = _vae().eval()
    x = torch.rand(20, *SHAPE).round()
    torch.manual_seed(0)
    result = estimate_nll(model, [x[:12], x[12:]], num_samples=200)
    assert result["iwae_bits_per_dim"] == pytest.approx(result["iwae_nll"] / (64 * math.log(2)))
    assert result["iwae_nll"] < -float(model.metrics(x)["elbo"])


def test_reparameterised_gradients_reach_the_posterior_mean_and_scale():
    # the reconstruction term depends on q only through z = μ + σ ε: both μ's and σ's weights get gradients
    model = _vae()
    model.loss(torch.rand(4, *SHAPE).round())["reconstruction"].backward()
    head = model.encoder.net.net[-1]  # the layer that emits (μ, raw σ)
    mu_grad, sigma_grad = head.weight.grad.chunk(2, dim=0)
    assert mu_grad.abs().sum() > 0 and sigma_grad.abs().sum() > 0


def test_kl_warmup_ramps_beta_over_updates():
    model = _vae(beta=2.0, kl_warmup_steps=4)
    x = torch.rand(3, *SHAPE).round()
    kl = _hand_kl(model.encoder(x)).mean().detach()
    weights = []
    for updates in range(6):
        model.before_update(updates)
        weights.append(float(model.loss(x)["prior"].detach() / kl))
    assert weights == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0], abs=1e-5)
    model.loss(x)
    assert int(model.state_dict()["updates"]) == 5  # forward calls don't count; the buffer is saved


def test_kl_warmup_counts_optimizer_updates_in_the_loop(tmp_path):
    """With 4 accumulation micro-steps per update, 6 updates are 24 forward calls: the ramp sees 6."""
    from zoo.training import TrainSettings, fit

    model = _vae(beta=1.0, kl_warmup_steps=10)
    data = torch.rand(64, *SHAPE).round()
    settings = TrainSettings(steps=6, batch_size=16, accumulate=4, eval_every=0, device="cpu", log_every=1)
    fit(model, data, None, settings, tmp_path, quiet=True)
    assert int(model.updates) == 5  # set before the 6th update: 5 applied so far
    assert float(model.prior_weight()) == pytest.approx(0.5)


def test_warmup_steps_is_the_deprecated_name_of_kl_warmup_steps():
    with pytest.warns(DeprecationWarning, match="warmup_steps= is now called kl_warmup_steps="):
        old = _vae(beta=2.0, warmup_steps=4)
    assert old.kl_warmup_steps == 4
    with pytest.warns(DeprecationWarning, match="kl_warmup_steps"):  # and in a recipe
        recipe = load_recipe("vae-digits", overrides=["model.warmup_steps=7"])
        assert build_model(recipe).kl_warmup_steps == 7
    with pytest.raises(TypeError, match="both warmup_steps= and its new name kl_warmup_steps="):
        _vae(warmup_steps=4, kl_warmup_steps=4)


class Spy(Divergence):
    """Records what the VAE passes it; the value is a differentiable function of it."""

    def __init__(self, batch_level: bool):
        super().__init__()
        self.batch_level, self.calls = batch_level, []

    def forward(self, q, p):
        self.calls.append((q, p))
        if self.batch_level:
            return (q.mean(0) - p.mean(0)).square().sum()
        return (q.mean - p.mean).square().sum(-1)


@pytest.mark.parametrize("batch_level", [False, True])
def test_the_vae_passes_what_the_divergence_declares(batch_level):
    encoder = MLPEncoder(SHAPE, 3, hidden_dim=16)
    model = VAE(encoder, MLPDecoder(SHAPE, 3, BernoulliLikelihood(), hidden_dim=16), Spy(batch_level))
    model.divergence.calls.clear()  # the constructor's probe called it once
    model.loss(torch.rand(5, *SHAPE))
    ((q, p),) = model.divergence.calls
    if batch_level:  # the batch's codes and as many prior samples
        assert isinstance(q, Tensor) and isinstance(p, Tensor) and q.shape == p.shape == (5, 3)
        assert q.requires_grad
    else:  # q(z|x) per example and the prior
        assert isinstance(q, Distribution) and q.batch_shape == (5,) and p.event_shape == (3,)


def test_binarize_draws_fresh_binary_data_from_grey_values():
    binary, grey = _vae(dynamic_binarize=True), _vae()  # same seed, same weights
    x = torch.rand(6, *SHAPE)
    torch.manual_seed(1)
    with_binarize = binary.loss(x)["reconstruction"]
    torch.manual_seed(1)
    by_hand = grey.loss(torch.bernoulli(x))["reconstruction"]
    torch.testing.assert_close(with_binarize, by_hand)
    assert binary.loss(x)["reconstruction"] != with_binarize  # a new draw every batch


# --- bad combinations fail at construction ------------------------------------------------------------


def test_latent_size_mismatch_is_refused_naming_both_sizes():
    with pytest.raises(IncompatibleComponentsError, match=r"latent_dim=8.*latent_dim=4"):
        VAE(MLPEncoder(SHAPE, 8), MLPDecoder(SHAPE, 4, BernoulliLikelihood()), zoo.create("divergence", "kl"))


def test_shape_mismatch_is_refused_naming_both_shapes():
    with pytest.raises(IncompatibleComponentsError, match=r"\(1, 25, 25\).*\(1, 8, 8\)"):
        AE(ConvEncoder(SHAPE, 4), ConvDecoder((1, 25, 25), 4, BernoulliLikelihood()))


def test_a_conv_decoder_refuses_data_that_is_not_an_image():
    with pytest.raises(IncompatibleComponentsError, match=r"\(c, h, w\).*\(64,\)"):
        ConvDecoder((64,), 4, BernoulliLikelihood())


def test_a_deterministic_encoder_needs_a_batch_level_divergence():
    decoder = MLPDecoder(SHAPE, 4, BernoulliLikelihood())
    with pytest.raises(IncompatibleComponentsError, match="deterministic.*sliced-wasserstein"):
        VAE(MLPEncoder(SHAPE, 4, deterministic=True), decoder, zoo.create("divergence", "kl"))
    wae = VAE(
        MLPEncoder(SHAPE, 4, deterministic=True), decoder, zoo.create("divergence", "sliced-wasserstein")
    )
    with pytest.raises(ZooError, match="deterministic"):
        wae.log_likelihood(torch.rand(2, *SHAPE))


def test_a_recipe_with_mismatched_parts_fails_before_training_with_its_path():
    recipe = apply_overrides(load_recipe("vae-digits"), ["decoder.latent_dim=3"])
    with pytest.raises(RecipeError, match=r"^model: .*latent_dim=8.*latent_dim=3"):
        build_model(recipe)


def test_a_batch_of_the_wrong_shape_is_refused_with_both_shapes():
    with pytest.raises(IncompatibleComponentsError, match=r"\(1, 8, 8\).*\(2, 1, 28, 28\)"):
        _vae().loss(torch.rand(2, 1, 28, 28))


# --- sampling, reconstruction, the autoencoder's prior ---------------------------------------------------


def test_vae_samples_reconstructions_and_interpolations():
    model = _vae().eval()
    x = torch.rand(3, *SHAPE).round()
    assert model.sample(7).shape == (7, *SHAPE)
    path = model.interpolate(x, x.flip(0), steps=5)
    assert path.shape == (3, 5, *SHAPE)
    torch.testing.assert_close(path[:, 0], model.reconstruct(x))
    torch.testing.assert_close(path[:, -1], model.reconstruct(x.flip(0)))


def test_vae_samples_decode_independent_standard_normal_codes():
    model = _vae().eval()
    codes = []
    hook = model.decoder.register_forward_pre_hook(lambda module, args: codes.append(args[0]))
    n = 2000
    try:
        samples = model.sample(n)
    finally:
        hook.remove()
    (z,) = codes
    assert z.shape == (n, model.decoder.latent_dim)
    # n draws of N(0, I): mean, variances and covariances within six standard errors of 0, 1 and 0
    d = z.shape[1]
    torch.testing.assert_close(z.mean(0), torch.zeros(d), atol=6 / math.sqrt(n), rtol=0)
    covariance = torch.cov(z.T)
    torch.testing.assert_close(covariance.diagonal(), torch.ones(d), atol=6 * math.sqrt(2 / n), rtol=0)
    torch.testing.assert_close(covariance, torch.diag(covariance.diagonal()), atol=6 / math.sqrt(n), rtol=0)
    torch.testing.assert_close(samples, model.decode(z))  # each sample is its own code's decoded mean
    assert len(samples.flatten(1).unique(dim=0)) == n


def _ae(**options) -> AE:
    torch.manual_seed(0)
    likelihood = DiscretizedLogisticLikelihood(num_bins=17)
    return AE(MLPEncoder(SHAPE, 3, deterministic=True), MLPDecoder(SHAPE, 3, likelihood), **options)


def test_ae_sampling_needs_a_fitted_prior_and_says_so():
    model = _ae()
    with pytest.raises(ZooError, match=r"fit_prior\(codes\)"):
        model.sample(2)
    assert model.sample(2, standard_normal=True).shape == (2, *SHAPE)  # N(0, I) needs nothing fitted


def test_ae_gaussian_prior_is_the_codes_mean_and_covariance():
    model = _ae()
    codes = torch.randn(500, 3) @ torch.tensor([[2.0, 0, 0], [0.5, 1, 0], [0, 0, 0.1]]) + torch.tensor(
        [1.0, -2.0, 3.0]
    )
    model.fit_prior(codes)
    np.testing.assert_allclose(model.prior.means[0].numpy(), codes.numpy().mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        model.prior.covariances[0].numpy(), np.cov(codes.numpy().T), rtol=1e-4, atol=2e-5
    )
    assert model.sample(4).shape == (4, *SHAPE)
    restored = _ae()  # the fitted prior travels with the weights
    restored.load_state_dict(model.state_dict())
    torch.testing.assert_close(restored.prior().mean, model.prior().mean)


def test_ae_mixture_prior_finds_separated_clusters():
    model = _ae(prior=FittedGaussian(3, components=3))
    centres = torch.tensor([[-10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]])
    codes = (centres[:, None] + 0.1 * torch.randn(3, 200, 3)).flatten(0, 1)
    model.fit_prior(codes)
    found = model.prior.means[model.prior.means.argmin(0)[0]]  # the component nearest (-10, 0, 0)
    torch.testing.assert_close(found, centres[0], atol=0.1, rtol=0)
    torch.testing.assert_close(model.prior.weights, torch.full((3,), 1 / 3), atol=1e-3, rtol=0)
    assert sorted(model.prior.means.norm(dim=1).round().tolist()) == [10.0, 10.0, 10.0]


def test_prior_components_is_the_deprecated_shorthand_for_a_fitted_mixture():
    with pytest.warns(DeprecationWarning, match=r"prior: \{name: fitted-gaussian, components: 3\}"):
        model = _ae(prior_components=3)
    assert isinstance(model.prior, FittedGaussian) and len(model.prior.weights) == 3
    with pytest.raises(ValueError, match="prior only"), pytest.warns(DeprecationWarning):
        _ae(prior_components=3, prior=FittedGaussian(3))


def test_an_ae_with_a_fixed_prior_samples_from_it_and_has_nothing_to_fit():
    model = _ae(prior=StandardNormal(3))
    model.fit_prior(torch.randn(50, 3) + 5.0)  # N(0, I) is not fitted: unchanged
    torch.testing.assert_close(model.prior().mean, torch.zeros(3))
    assert model.sample(2).shape == (2, *SHAPE)


def test_priors_that_cannot_serve_a_model_are_refused_by_name():
    with pytest.raises(IncompatibleComponentsError, match="GaussianMixture has parameters .* autoencoder has none"):
        _ae(prior=GaussianMixture(3))  # nothing would train it
    with pytest.raises(IncompatibleComponentsError, match="FittedGaussian is fitted .* after training.*vae"):
        _vae(prior=FittedGaussian(3))  # the prior term needs it from the first step
    with pytest.raises(IncompatibleComponentsError, match="latent_dim=5 but encoder MLPEncoder's codes have 3"):
        _vae(prior=StandardNormal(5))


# --- a learned prior -------------------------------------------------------------------------------------


def test_a_vae_with_a_gaussian_mixture_prior_trains_it_through_a_monte_carlo_kl():
    model = _vae(prior=GaussianMixture(3, components=4))
    x = torch.rand(8, *SHAPE).round()
    q = model.encoder(x)
    torch.manual_seed(3)
    prior = model.loss(x)["prior"]
    torch.manual_seed(3)  # the same draws: z ~ q for the reconstruction, then z ~ q for the KL's estimate
    q.rsample()
    z = q.rsample()
    torch.testing.assert_close(prior, (q.log_prob(z) - model.prior().log_prob(z)).mean())
    prior.backward()
    for name, parameter in model.prior.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_a_vae_samples_through_its_prior():
    model = _vae(prior=GaussianMixture(3, components=2)).eval()
    with torch.no_grad():  # two tight, far apart components: every code is near one of the means
        model.prior.means.copy_(torch.tensor([[-5.0, 0, 0], [5.0, 0, 0]]))
        model.prior.log_scales.fill_(math.log(0.01))
    codes = []
    hook = model.decoder.register_forward_pre_hook(lambda module, args: codes.append(args[0]))
    try:
        model.sample(200)
    finally:
        hook.remove()
    (z,) = codes
    distance = torch.cdist(z, model.prior.means.detach()).min(1).values
    assert distance.max() < 0.1 and (z[:, 0] < 0).any() and (z[:, 0] > 0).any()


def test_vae_digits_with_a_mixture_prior_from_the_command_line(tmp_path):
    from zoo.cli import main

    run = tmp_path / "run"
    assert main(["train", "vae-digits", "--set", "model.prior=gaussian-mixture", "--steps", "3", "--out", str(run),
                 "--device", "cpu"]) == 0
    model, recipe = zoo.load(run)
    assert recipe["model"]["prior"] == {"name": "gaussian-mixture", "latent_dim": 8}  # sized from the encoder
    assert isinstance(model.prior, GaussianMixture) and (run / "samples.png").exists()


def test_ae_mse_reconstruction_is_the_mean_squared_error_of_the_decoded_mean():
    model = _ae(reconstruction="mse")
    x = torch.rand(4, *SHAPE)
    expected = ((model.reconstruct(x) - x) ** 2).mean()
    torch.testing.assert_close(model.loss(x)["reconstruction"].detach(), expected)


# --- recipes ---------------------------------------------------------------------------------------------

DATA_SHAPES = {"digits": (1, 8, 8), "lfw-faces": (1, 25, 25), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
RECIPES = [e.name for e in zoo.list_components("recipe") if e.obj["model"]["name"] in ("ae", "vae")]


def test_the_issue_recipes_exist():
    assert {
        "ae-digits",
        "vae-digits",
        "vae-faces",
        "swae-digits",
        "vae-timm-faces",
        "vae-siren-digits",
        "vae-mnist",
        "vae-cifar10",
    } <= set(RECIPES)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_builds_for_its_data_and_takes_a_step(name):
    recipe = load_recipe(name)
    torch.manual_seed(0)
    model = build_model(recipe)
    data = recipe["data"]["name"]
    assert model.shape == DATA_SHAPES[data]
    if data in ("digits", "lfw-faces"):  # embedded: check against the real thing
        x = torch.stack([build_dataset(recipe, "test")[i] for i in range(4)])
    else:
        x = torch.rand(2, *model.shape).round()  # users' data, not here: the right shape is what matters
    assert x.shape[1:] == model.shape
    _train_step(model, x)


# --- objectives: bounds tighter than the ELBO ------------------------------------------------------------


def _digits(n: int = 16) -> Tensor:
    return torch.stack([build_dataset(load_recipe("iwae-tiny"), "test")[i] for i in range(n)])


def _bound_model(objective: str = "iwae", num_samples: int = 1, **options) -> VAE:
    recipe = load_recipe("iwae-tiny", overrides=[f"model.objective={objective}", f"model.num_samples={num_samples}",
                                                 *(f"model.{k}={v}" for k, v in options.items())])
    torch.manual_seed(0)
    return build_model(recipe).eval()


def test_the_iwae_objective_of_one_sample_is_the_one_sample_elbo():
    """Draw for draw: -log p(x|z) - log p(z) + log q(z|x) at the z it drew; on average, minus the ELBO with its
    analytic KL (Burda et al.: k = 1 is the VAE's objective)."""
    model, x = _bound_model(num_samples=1), _digits()
    q = model.encoder(x)
    torch.manual_seed(1)
    loss = model.loss(x)["negative_iwae_bound"]
    torch.manual_seed(1)
    z = q.rsample((1,))[0]
    by_hand = -(model.decoder(z).log_prob(x) + model.prior().log_prob(z) - q.log_prob(z))
    torch.testing.assert_close(loss, by_hand.mean())
    many = x.repeat(250, 1, 1, 1)  # 4000 draws
    with torch.no_grad():
        one_sample = model.bound(many, model.encoder(many))
        elbo = model.metrics(many)["elbo"]
    error = one_sample.std() / math.sqrt(len(many))
    assert abs(one_sample.mean() - elbo) < 4 * error, (one_sample.mean(), elbo, error)


def test_more_samples_never_lower_the_bound_on_a_fixed_model():
    """E[IWAE_K] increases with K towards log p(x) (Burda et al., Theorem 1), as does Rényi's at α = 0.5 (Li &
    Turner, Theorem 2): over 16 digits x 100 repetitions, the mean gain of each example's bound from K to the
    next K is positive by 4 standard errors."""
    x = _digits().repeat(100, 1, 1, 1)
    for objective in ("iwae", "renyi"):
        bounds = []
        for k in (1, 5, 50):
            model = _bound_model(objective, k)
            with torch.no_grad():
                bounds.append(model.bound(x, model.encoder(x)))
        for lower, higher in zip(bounds, bounds[1:]):
            gain = higher - lower  # the same examples: what differs is the draws
            assert gain.mean() > 4 * gain.std() / math.sqrt(len(gain)), (objective, gain.mean(), gain.std())


def test_bound_objectives_report_the_bound_next_to_the_elbo_and_refuse_what_they_lack():
    model, x = _bound_model("renyi", 3, alpha=0.5), _digits(4)
    assert model.alpha == 0.5 and _bound_model("iwae", 3).alpha == 0.0 and _bound_model("elbo", 1).alpha == 1.0
    assert set(model.loss(x)) == {"negative_renyi_bound"}
    metrics = model.metrics(x)
    assert {"elbo", "kl", "renyi_bound"} <= set(metrics) and metrics["loss"] == -metrics["renyi_bound"]
    for options, message in [({"beta": 2.0}, "beta=2 would weigh nothing"),
                             ({"kl_warmup_steps": 10}, "a prior-term warm-up of 10 steps"),
                             ({"divergence": "sliced-wasserstein"}, "a batch-level divergence")]:
        with pytest.raises(RecipeError, match=message):
            _bound_model("iwae", 3, **options)
    with pytest.raises(RecipeError, match="num_samples=3 is the K of the iwae and renyi objectives"):
        _bound_model("elbo", 3)
    with pytest.raises(RecipeError, match=r"model.alpha: expected float >= 0"):
        _bound_model("renyi", 3, alpha=-1)


def test_a_variational_gon_trains_on_a_bound_too():
    recipe = load_recipe("variational-gon-tiny", overrides=["model.objective=iwae", "model.num_samples=4"])
    torch.manual_seed(0)
    model, x = build_model(recipe), _digits(4)
    terms = model.loss(x)
    assert set(terms) == {"negative_iwae_bound"}
    terms["negative_iwae_bound"].backward()
    assert all(p.grad is not None for p in model.head.parameters())  # through q(z|x) of the gradient latent
    metrics = model.eval().metrics(x)
    assert {"elbo", "iwae_bound"} <= set(metrics) and metrics["loss"] == -metrics["iwae_bound"]


# --- it learns -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_vae_digits_beats_the_independent_pixel_model_after_a_short_training():
    """Test NLL (IWAE) below that of the best factorised model: per-pixel histograms of the training set."""
    recipe = load_recipe("vae-digits")
    train = torch.stack(list(build_dataset(recipe, "train")))
    test = torch.stack(list(build_dataset(recipe, "test")))
    levels_train, levels_test = (train * 16).round().long().flatten(1), (test * 16).round().long().flatten(1)
    counts = torch.ones(64, 17).scatter_add_(
        1, levels_train.T, torch.ones(levels_train.T.shape)
    )  # +1 smoothing
    log_p = (counts / counts.sum(1, keepdim=True)).log()
    independent_nll = -log_p.gather(1, levels_test.T).sum(0).mean()

    torch.manual_seed(0)
    model = build_model(recipe)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(600):
        loss = sum(model.loss(train[torch.randint(0, len(train), (64,))]).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    nll = -model.log_likelihood(test, num_samples=100).mean()
    assert nll < independent_nll - 10, (float(nll), float(independent_nll))  # ~90 vs ~108 nats


def test_ae_run_samples_through_the_prior_fitted_at_the_end_of_training(tmp_path):
    """`zoo train ae-*` fits the post-hoc prior before its last checkpoint, so `zoo sample` just works."""
    from zoo.recipes import build_dataset

    run = zoo.train("ae-digits", tmp_path / "ae", steps=3, device="cpu", quiet=True)
    model, recipe = zoo.load(run)
    assert bool(model.prior.fitted)
    train = torch.stack([x for x in build_dataset(recipe, "train")])
    codes = model.encode(train).double()
    # after EM's M-step the mixture's mean is the codes' mean, whatever the components converged to
    mixture_mean = (model.prior.weights[:, None].double() * model.prior.means.double()).sum(0)
    torch.testing.assert_close(mixture_mean, codes.mean(0), atol=1e-4, rtol=1e-4)
    assert zoo.training.sample(run, 16, tmp_path / "s.png", device="cpu").exists()
