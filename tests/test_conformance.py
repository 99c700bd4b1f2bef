"""The conformance suite (zoo.testing): every registered component passes it, and broken ones fail it with
a message that names what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from einops import repeat
from torch import Tensor, nn
from torch.distributions import Independent, Normal, Poisson

import zoo_divergences
from zoo import hookimpl
from zoo.errors import ZooError
from zoo.interfaces import Encoder, Fittable, ImplicitField, Likelihood, Model, Prior
from zoo.testing import ConformanceError, check_component, conformance_cases, conformance_test, registry_with
from zoo.testing import use_registry

test_registered_components_conform = conformance_test()


# ----------------------------------------------------------------------------------------------------
# Fixtures: a field that conforms, and copies of it with one thing broken


class GoodField(ImplicitField):
    """A small MLP field (fixture); conditioned by concatenation when latent_dim > 0."""

    def __init__(self, in_dim: int = 3, out_dim: int = 2, latent_dim: int = 0):
        super().__init__()
        self.in_dim, self.out_dim, self.latent_dim = in_dim, out_dim, latent_dim
        self.hidden = nn.Linear(in_dim + latent_dim, 16)
        self.head = nn.Linear(16, out_dim)

    def inputs(self, coords: Tensor, latent: Tensor | None) -> Tensor:
        if latent is None:
            return coords
        return torch.cat([coords, repeat(latent, "b d -> b n d", n=coords.shape[1])], dim=-1)

    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        return self.head(torch.tanh(self.hidden(self.inputs(coords, latent))))


class SphereField(ImplicitField):
    """Defined on 3-D points only, with no in_dim argument at all (fixture)."""

    in_dim = 3

    def __init__(self, out_dim: int = 4):
        super().__init__()
        self.out_dim = out_dim
        self.linear = nn.Linear(3, out_dim)

    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        if coords.shape[-1] != 3:
            raise ValueError(f"points on a sphere are 3-D, got {coords.shape[-1]}-D")
        return self.linear(coords)


class ZeroInitResidual(GoodField):
    """A residual block whose last layer starts at zero, as timm's ResNets do (fixture): at initialisation
    no gradient reaches the layer before it, but everywhere else one does."""

    def __init__(self, in_dim: int = 3, out_dim: int = 2, latent_dim: int = 0):
        super().__init__(in_dim, out_dim, latent_dim)
        self.inner, self.last = nn.Linear(16, 16), nn.Linear(16, 16)
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)

    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        h = torch.tanh(self.hidden(self.inputs(coords, latent)))
        return self.head(h + self.last(torch.relu(self.inner(h))))  # inner: no gradient while last is 0


class WrongShape(GoodField):
    def forward(self, coords, latent=None):
        values = super().forward(coords, latent)
        return torch.cat([values, values[..., :1]], dim=-1)  # one value too many


class Unused(GoodField):
    def __init__(self, in_dim: int = 3, out_dim: int = 2, latent_dim: int = 0):
        super().__init__(in_dim, out_dim, latent_dim)
        self.unused = nn.Linear(4, 4)


class Detached(GoodField):
    def __init__(self, in_dim: int = 3, out_dim: int = 2, latent_dim: int = 0):
        super().__init__(in_dim, out_dim, latent_dim)
        self.scale = nn.Parameter(torch.ones(out_dim))

    def forward(self, coords, latent=None):
        return super().forward(coords, latent) * self.scale.detach()


class NoGrad(GoodField):
    def __init__(self, in_dim: int = 3, out_dim: int = 2, latent_dim: int = 0):
        super().__init__(in_dim, out_dim, latent_dim)
        self.shift = nn.Parameter(torch.zeros(out_dim))

    def forward(self, coords, latent=None):
        with torch.no_grad():
            shift = self.shift * 1.0
        return super().forward(coords, latent) + shift


class TimesZero(GoodField):
    def __init__(self, in_dim: int = 3, out_dim: int = 2, latent_dim: int = 0):
        super().__init__(in_dim, out_dim, latent_dim)
        self.gain = nn.Parameter(torch.ones(out_dim))

    def forward(self, coords, latent=None):
        return super().forward(coords, latent) + 0.0 * self.gain


class PlainTensorState(GoodField):
    def __init__(self, in_dim: int = 3, out_dim: int = 2, latent_dim: int = 0):
        super().__init__(in_dim, out_dim, latent_dim)
        self.offset = torch.randn(out_dim)  # not a buffer: not in the state_dict

    def forward(self, coords, latent=None):
        return super().forward(coords, latent) + self.offset.to(coords)


class NonPersistentState(GoodField):
    def __init__(self, in_dim: int = 3, out_dim: int = 2, latent_dim: int = 0):
        super().__init__(in_dim, out_dim, latent_dim)
        self.register_buffer("offset", torch.randn(out_dim), persistent=False)

    def forward(self, coords, latent=None):
        return super().forward(coords, latent) + self.offset


class IgnoresLatent(GoodField):
    def forward(self, coords, latent=None):
        return super().forward(coords, None if latent is None else torch.zeros_like(latent))


class AlwaysFloat32(GoodField):
    def forward(self, coords, latent=None):
        return super().forward(coords, latent).float()


class OneChannel(GoodField):
    """Says it has out_dim channels but computes one (fixture): right at its default out_dim=1, wrong beyond."""

    def __init__(self, in_dim: int = 3, out_dim: int = 1, latent_dim: int = 0):
        super().__init__(in_dim, 1, latent_dim)
        self.out_dim = out_dim


class DropsChannels(GoodField):
    """Computes the first channel and pads the others with zeros (fixture)."""

    def __init__(self, in_dim: int = 3, out_dim: int = 1, latent_dim: int = 0):
        super().__init__(in_dim, 1, latent_dim)
        self.out_dim = out_dim

    def forward(self, coords, latent=None):
        values = super().forward(coords, latent)
        return torch.cat([values, values.new_zeros(*values.shape[:-1], self.out_dim - 1)], dim=-1)


class KeepsOneWidth(GoodField):
    """Builds a single-channel field whatever out_dim it is given, and says so (fixture)."""

    def __init__(self, in_dim: int = 3, out_dim: int = 1, latent_dim: int = 0):
        super().__init__(in_dim, 1, latent_dim)


class PoissonCounts(Likelihood):
    """Independent Poisson counts from log rates (fixture): its data are counts, not values in [0, 1]."""

    def num_params(self, channels):
        return channels

    def forward(self, params):
        return Independent(Poisson(params.exp()), params.dim() - 1)


class EventlessEncoder(Encoder):
    """q(z|x) as a Normal with batch (b, d), no event (fixture)."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Linear(int(torch.tensor(shape).prod()), 2 * latent_dim)

    def forward(self, x):
        loc, raw = self.net(x.flatten(1)).chunk(2, dim=-1)
        return Normal(loc, nn.functional.softplus(raw))


# ----------------------------------------------------------------------------------------------------
# Fields


def test_a_conforming_field_passes_at_its_own_sizes():
    check_component("field", GoodField)  # built at in_dim=3, out_dim=2, and conditioned
    check_component("field", SphereField)  # no in_dim argument: checked on 3-D points


def test_a_zero_initialised_layer_is_not_mistaken_for_a_dead_parameter():
    check_component("field", ZeroInitResidual, dtype="float32", device="cpu")


def test_wrong_output_shape_fails_with_both_shapes():
    with pytest.raises(ConformanceError, match=r"field 'WrongShape' \(float32 on cpu\): field\(coords \(5, 7, 3\)\) "
                                               r"\(in_dim=3, out_dim=2\) has shape \(5, 7, 3\), expected \(5, 7, 2\)"):
        check_component("field", WrongShape, dtype="float32", device="cpu")


@pytest.mark.parametrize(("field", "dead"), [
    (Unused, "unused.weight (no gradient), unused.bias (no gradient)"),
    (Detached, "scale (no gradient)"),
    (NoGrad, "shift (no gradient)"),
    (TimesZero, "gain (gradient always zero)"),
], ids=["unused", "detached", "no_grad", "times-zero"])
def test_a_parameter_without_gradient_fails_by_name(field, dead):
    with pytest.raises(ConformanceError, match=r"backward does not reach \d+ of its \d+ trainable parameters: "
                                               + dead.replace("(", r"\(").replace(")", r"\)")):
        check_component("field", field, dtype="float32", device="cpu")


@pytest.mark.parametrize("field", [PlainTensorState, NonPersistentState], ids=["attribute", "non-persistent"])
def test_state_that_does_not_round_trip_through_a_checkpoint_fails(field):
    with pytest.raises(ConformanceError, match="its 'values' differs after a round trip through the checkpoint "
                                               "format .* Make it an nn.Parameter or a .persistent. buffer"):
        check_component("field", field, dtype="float32", device="cpu")


def test_a_field_that_ignores_its_latent_fails():
    with pytest.raises(ConformanceError, match="the field ignores its latent"):
        check_component("field", IgnoresLatent, dtype="float32", device="cpu")


@pytest.mark.parametrize(("field", "message"), [
    (OneChannel, r"field\(coords \(5, 7, 3\)\) \(in_dim=3, out_dim=3\) has shape \(5, 7, 1\), expected \(5, 7, 3\)"),
    (DropsChannels, r"\(out_dim=3\): output channels 1, 2 are the same at all 35 coordinates: the field drops them"),
    (KeepsOneWidth, r"built with out_dim=3, its out_dim is 1"),
], ids=["one-channel", "zero-padded", "ignores-out_dim"])
def test_a_field_that_drops_output_channels_fails_at_a_wider_out_dim(field, message):
    with pytest.raises(ConformanceError, match=message):
        check_component("field", field, dtype="float32", device="cpu")


def test_fields_are_checked_at_one_and_three_channels_with_and_without_a_latent(monkeypatch):
    from zoo.testing import conformance

    exercise, built = conformance._exercise_field, []

    def recorded(field, dtype, device):
        built.append((field.out_dim, field.latent_dim))
        return exercise(field, dtype, device)

    monkeypatch.setattr(conformance, "_exercise_field", recorded)
    check_component("field", GoodField, dtype="float64", device="cpu")
    assert sorted(set(built)) == [(1, 0), (1, 4), (2, 0), (2, 4), (3, 0), (3, 4)]  # its own 2, then 1 and 3


def test_an_output_in_the_wrong_dtype_fails_in_float64():
    check_component("field", AlwaysFloat32, dtype="float32", device="cpu")
    with pytest.raises(ConformanceError, match="is torch.float32 for torch.float64 inputs and weights"):
        check_component("field", AlwaysFloat32, dtype="float64", device="cpu")


def test_an_encoder_without_an_event_dimension_fails_with_the_fix():
    with pytest.raises(ConformanceError, match=r"batch shape \(3, 4\) and event shape \(\), expected batch \(3,\) "
                                               r"and event \(4,\).*Independent"):
        check_component("encoder", EventlessEncoder, dtype="float32", device="cpu")


def test_a_likelihood_is_checked_on_its_own_samples():
    check_component("likelihood", PoissonCounts)  # grey values in [0, 1] would be outside its support


# ----------------------------------------------------------------------------------------------------
# Priors


class DiagonalGaussian(Prior):
    """A learned diagonal Gaussian prior (fixture)."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.loc = nn.Parameter(torch.zeros(latent_dim))

    def forward(self):
        return Independent(Normal(self.loc, torch.ones_like(self.loc)), 1)


class FactorisedOnly(DiagonalGaussian):
    def forward(self):
        return Normal(self.loc, torch.ones_like(self.loc))  # batch (d,), no event


class FittedMean(Prior, Fittable):
    """A unit Gaussian at the codes' mean, fitted to them (fixture)."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("fitted", torch.tensor(False))

    def fit(self, codes):
        self.loc.copy_(codes.mean(0))
        self.fitted.fill_(True)

    def forward(self):
        if not self.fitted:
            raise ZooError("not fitted yet: fit it to the training codes")
        return Independent(Normal(self.loc, torch.ones_like(self.loc)), 1)


class UsableUnfitted(FittedMean):
    """Samples before it is fitted (fixture): a model would decode codes of an arbitrary prior."""

    def forward(self):
        return Independent(Normal(self.loc, torch.ones_like(self.loc)), 1)


class ForgetsItsFit(FittedMean):
    """Keeps what it fitted in a plain attribute, which a checkpoint does not save (fixture)."""

    def fit(self, codes):
        self.fitted_mean = codes.mean(0)
        self.fitted.fill_(True)

    def forward(self):
        super().forward()
        return Independent(Normal(self.fitted_mean.to(self.loc), torch.ones_like(self.loc)), 1)


def test_a_prior_is_a_distribution_over_codes():
    check_component("prior", DiagonalGaussian)
    with pytest.raises(ConformanceError, match=r"batch shape \(4,\) and event shape \(\), expected batch \(\) and "
                                               r"event \(4,\)"):
        check_component("prior", FactorisedOnly, dtype="float32", device="cpu")


def test_a_fitted_prior_is_checked_fitted_and_must_refuse_to_be_used_before():
    check_component("prior", FittedMean, dtype="float64", device="cpu")
    with pytest.raises(ConformanceError, match="prior\\(\\) before fit returned a distribution"):
        check_component("prior", UsableUnfitted, dtype="float32", device="cpu")
    with pytest.raises(ConformanceError, match="differs after a round trip"):  # what it fitted is lost
        check_component("prior", ForgetsItsFit, dtype="float32", device="cpu")


# ----------------------------------------------------------------------------------------------------
# Models: on their tiny recipe


class Offset(Model):
    """Fits one number to the data's mean (fixture)."""

    def __init__(self):
        super().__init__()
        self.shape = (1, 8, 8)
        self.offset = nn.Parameter(torch.zeros(()))

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        return {"mse": (batch - self.offset).square().mean()}


class SpareOffset(Offset):
    """Has a parameter its loss never uses (fixture)."""

    def __init__(self):
        super().__init__()
        self.spare = nn.Parameter(torch.zeros(3))


class ModelPlugin:
    __name__ = "model-fixtures"

    @hookimpl
    def register_components(self, register):
        register("model", "offset", Offset)
        register("model", "spare", SpareOffset)
        register("model", "untested", Offset)

    @hookimpl
    def register_recipes(self, register):
        train = {"steps": 50, "batch_size": 8, "eval_every": 10, "eval_batches": 1}
        for model in ("offset", "spare"):
            register(f"{model}-tiny", {"model": {"name": model}, "data": {"name": "digits"}, "train": train},
                     summary=f"the {model} model's tiny variant")


def test_a_model_trains_its_tiny_recipe_and_a_dead_parameter_fails():
    with use_registry(registry_with(ModelPlugin())):
        check_component("model", Offset, name="offset", dtype="float32", device="cpu")
        with pytest.raises(ConformanceError, match=r"model .spare. .*float64 on cpu.*: spare \(no gradient\)"):
            check_component("model", SpareOffset, name="spare", dtype="float64", device="cpu")


def test_a_model_without_a_tiny_recipe_is_told_to_register_one():
    cases = {case.id: case for case in conformance_cases(ModelPlugin())}
    assert {"model-offset-float32-cpu", "model-untested-float64-cpu"} <= set(cases)
    cases["model-offset-float32-cpu"].run()
    with pytest.raises(ConformanceError, match="model 'untested' .* has no tiny recipe: register a recipe named "
                                               "'untested-tiny'"):
        cases["model-untested-float32-cpu"].run()


# ----------------------------------------------------------------------------------------------------
# Selecting plugins; registry_with a plugin that is installed too


def test_cases_select_one_plugin_by_name_or_distribution():
    ids = {case.id for case in conformance_cases("zoo_divergences")}
    assert "divergence-kl-float64-cpu" in ids and not any(i.startswith("field") for i in ids)
    assert {case.id for case in conformance_cases("genzoo", "kl")} == {"divergence-kl-float32-cpu",
                                                                      "divergence-kl-float64-cpu"}
    with pytest.raises(Exception, match="no component .* called 'zoo_divergence'.*plugins loaded: .*zoo_divergences"):
        conformance_cases("zoo_divergence")


def test_registry_with_an_installed_plugin_replaces_the_installed_copy():
    registry = registry_with(zoo_divergences)  # pluggy refused it before: "Plugin already registered"
    assert [p.name for p in registry.plugins].count("zoo_divergences") == 1
    assert all(p.status == "ok" for p in registry.plugins)
    kl = registry.get("divergence", "kl")
    assert (kl.plugin, kl.distribution) == ("zoo_divergences", "genzoo")

    class Patched:  # a new version of an installed plugin, under its name
        __name__ = "zoo_divergences"

        @hookimpl
        def register_components(self, register):
            register("divergence", "kl", zoo_divergences.CrossEntropy)

    registry = registry_with(Patched(), version="9.9")
    kl = registry.get("divergence", "kl")
    assert kl.obj is zoo_divergences.CrossEntropy and kl.version == "9.9" and kl.distribution == "genzoo"
    assert registry.list("divergence", "mmd") == []  # the installed copy is gone, not merged


# ----------------------------------------------------------------------------------------------------
# pytest --zoo-conformance[=PLUGIN]


BROKEN_CONFTEST = '''
import torch
from torch import nn

from zoo import hookimpl, registry
from zoo.interfaces import ImplicitField
from zoo.testing import registry_with


class Half(ImplicitField):
    """Uses half of its layers (fixture)."""

    def __init__(self, in_dim: int = 2, out_dim: int = 1):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.used, self.forgotten = nn.Linear(in_dim, out_dim), nn.Linear(in_dim, out_dim)

    def forward(self, coords, latent=None):
        return self.used(coords)


class Broken:
    __name__ = "broken"

    @hookimpl
    def register_components(self, register):
        register("field", "half", Half)


registry._registry = registry_with(Broken())
'''


def run_pytest(directory, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "zoo.testing", "-p", "no:cacheprovider", "-q",
                           *args], cwd=directory, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_pytest_option_runs_one_plugins_checks_and_reports_a_failure_readably(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(BROKEN_CONFTEST))
    done = run_pytest(tmp_path, "--zoo-conformance=broken", "-k", "float32")
    assert done.returncode == 1
    assert "zoo-conformance::field-half-float32-cpu" in done.stdout
    assert ("field 'half' (plugin broken, fixture-dist 0.0, float32 on cpu): backward does not reach 2 of its 4 "
            "trainable parameters: forgotten.weight (no gradient), forgotten.bias (no gradient)") in done.stdout
    assert "Traceback" not in done.stdout and "conformance.py" not in done.stdout  # the message, not the machinery
    assert "1 failed, 1 deselected" in done.stdout

    done = run_pytest(tmp_path, "--zoo-conformance=nobody")
    assert done.returncode == 4 and "--zoo-conformance: no component matching '*'" in done.stderr


# ----------------------------------------------------------------------------------------------------
# genzoo 0.1's CHECKS, kept for one minor version


def test_checks_are_deprecated_views_of_the_kinds_checks():
    with pytest.warns(DeprecationWarning, match=r"zoo.testing.CHECKS is deprecated.*check_component\(kind, obj\)"):
        from zoo.testing import CHECKS
    assert {"field", "prior", "model", "dataset"} <= set(CHECKS) and "recipe" not in CHECKS
    CHECKS["field"](GoodField, dtype="float32", device="cpu")  # as 0.1's CHECKS[kind](obj) was called
    with pytest.raises(ConformanceError, match="ignores its latent"):
        CHECKS["field"](IgnoresLatent, dtype="float32", device="cpu")
    from zoo.testing import conformance

    with pytest.warns(DeprecationWarning, match="zoo.testing.conformance.CHECKS.*kind\\(KIND\\).check"):
        checks = conformance.CHECKS
    assert checks["field"] is conformance.check_field
