"""Recipes: loading, merging, --set overrides, and validation errors that name the recipe path."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal

import zoo
from zoo import hookimpl
from zoo.decoders import FieldDecoder
from zoo.errors import DataNotFoundError, IncompatibleComponentsError, RecipeError
from zoo.interfaces import Decoder, ImplicitField, Likelihood, Model
from zoo.plugins import load_plugins
from zoo.recipes import (
    ExtendedReal,
    apply_overrides,
    build_dataset,
    build_model,
    describe_type,
    load_recipe,
    provenance,
)
from zoo.registry import build_registry
from zoo.testing import registry_with, use_registry
from zoo.training import TrainSettings


class AffineField(ImplicitField):
    """A latent-conditioned linear field (fixture)."""

    def __init__(self, in_dim: int = 2, out_dim: int = 1, latent_dim: int = 4, gain: float = 1.0):
        super().__init__()
        self.in_dim, self.out_dim, self.latent_dim = in_dim, out_dim, latent_dim
        self.linear = torch.nn.Linear(in_dim + latent_dim, out_dim)
        self.gain = gain

    def forward(self, coords, latent=None):
        latent = latent[:, None, :].expand(*coords.shape[:-1], -1)
        return self.gain * self.linear(torch.cat([coords, latent], dim=-1))


class UnitNormal(Likelihood):
    """Gaussian with unit scale around the decoder's output (fixture)."""

    def forward(self, params):
        return Independent(Normal(params, 1.0), params.dim() - 1)


class TemperedNormal(Likelihood):
    """Gaussian whose scale is multiplied by ``temperature``; infinite temperature is allowed (fixture)."""

    def __init__(self, temperature: ExtendedReal = 1.0):
        super().__init__()
        self.temperature = temperature

    def forward(self, params):
        return Independent(Normal(params, self.temperature), params.dim() - 1)


class ToyModel(Model):
    """Decodes zeros; checks its latent size against the decoder's (fixture)."""

    def __init__(self, decoder: Decoder, latent_dim: int = 4, tags: tuple[str, ...] = (), rate: float = 0.1):
        super().__init__()
        if decoder.latent_dim != latent_dim:
            raise IncompatibleComponentsError(
                f"latent_dim={latent_dim} but the decoder takes {decoder.latent_dim}-D latents"
            )
        self.decoder, self.latent_dim, self.tags, self.rate = decoder, latent_dim, tags, rate

    def loss(self, batch):
        z = torch.zeros(batch.shape[0], self.latent_dim)
        return {"nll": -self.decoder(z).log_prob(batch).mean()}


def tiny_dataset(*, split: str = "train", size: int = 8, root: str | None = None):
    """Random 1x4x4 images (fixture)."""
    generator = torch.Generator().manual_seed(0 if split == "train" else 1)
    return torch.rand(size, 1, 4, 4, generator=generator)


RECIPE = {
    "summary": "toy",
    "model": {
        "name": "toy",
        "latent_dim": 4,
        "decoder": {
            "name": "field",
            "field": {"name": "affine", "latent_dim": 4},
            "likelihood": "unit-normal",
            "shape": [1, 4, 4],
        },
    },
    "data": {"name": "tiny", "size": 6},
    "train": {"steps": 3, "lr": 1},
}


class FixturePlugin:
    __name__ = "recipe-fixtures"

    @hookimpl
    def register_components(self, register):
        register("field", "affine", AffineField)
        register("likelihood", "unit-normal", UnitNormal)
        register("likelihood", "tempered", TemperedNormal)
        register("model", "toy", ToyModel)
        register("dataset", "tiny", tiny_dataset)

    @hookimpl
    def register_recipes(self, register):
        register("toy-recipe", RECIPE)


@pytest.fixture(scope="module")
def registry():
    return registry_with(FixturePlugin())


@pytest.fixture(autouse=True)
def _use(registry):
    with use_registry(registry):
        yield


def test_registered_recipe_builds_with_types_converted():
    recipe = load_recipe("toy-recipe")
    model = build_model(recipe)
    assert isinstance(model, ToyModel) and isinstance(model.decoder, FieldDecoder)
    assert model.decoder.shape == (1, 4, 4)  # YAML list -> tuple
    assert recipe["name"] == "toy-recipe"
    loss = model.loss(torch.zeros(2, 1, 4, 4))
    assert loss["nll"].shape == ()
    data = build_dataset(recipe, "test")
    assert data.shape == (6, 1, 4, 4)


def test_overrides_parse_yaml_values_and_default_to_the_model_section():
    recipe = apply_overrides(RECIPE, ["decoder.field.gain=2.5", "model.tags=[a, b]", "train.steps=7"])
    assert recipe["model"]["decoder"]["field"]["gain"] == 2.5
    assert recipe["model"]["tags"] == ["a", "b"]
    assert recipe["train"]["steps"] == 7
    assert RECIPE["train"]["steps"] == 3  # the original is untouched
    model = build_model(load_recipe("toy-recipe", overrides=["tags=[x]", "rate=1"]))
    assert model.tags == ("x",) and model.rate == 1.0 and isinstance(model.rate, float)


@pytest.mark.parametrize(("typed", "value"), [
    ("3e-4", 3e-4), ("1e3", 1000.0), ("-1e-5", -1e-5), (".5", 0.5), ("1.0e-3", 1e-3), ("2", 2.0), ("+1E+2", 100.0),
])
def test_numbers_as_people_type_them_are_floats_in_overrides_and_files(tmp_path, typed, value):
    """YAML 1.1 (PyYAML's default) reads 3e-4 and 1e3 as strings; recipes follow YAML 1.2's core schema."""
    from zoo.training import TrainSettings

    lr = typed.lstrip("-")  # a learning rate is positive; the model's rate takes any sign
    recipe = load_recipe("toy-recipe", overrides=[f"train.lr={lr}", f"rate={typed}"])
    assert TrainSettings.from_recipe(recipe).lr == abs(value) and build_model(recipe).rate == value
    (tmp_path / "mine.yaml").write_text(f"base: toy-recipe\ntrain: {{lr: {lr}}}\nmodel:\n  rate: {typed}\n")
    recipe = load_recipe(str(tmp_path / "mine.yaml"))
    assert TrainSettings.from_recipe(recipe).lr == abs(value) and build_model(recipe).rate == value


def test_yaml_1_1_surprises_stay_strings():
    recipe = apply_overrides(RECIPE, ["summary=2024-01-01", "model.tags=[yes, no, on, 0o17, 010]"])
    assert recipe["summary"] == "2024-01-01"  # not a date, which checkpoint.json could not hold
    assert recipe["model"]["tags"] == ["yes", "no", "on", 15, 10]  # 1.2: only true/false are booleans


@pytest.mark.parametrize(("override", "path"), [
    ("train.lr=.inf", "train.lr"), ("train.lr=inf", "train.lr"), ("train.lr=nan", "train.lr"),
    ("train.weight_decay=.nan", "train.weight_decay"), ("train.betas=[0.9, .inf]", "train.betas[1]"),
    ("train.grad_clip=-.inf", "train.grad_clip"), ("rate=.inf", "model.rate"),
    ("decoder.field.gain=.nan", "model.decoder.field.gain"),
])
def test_non_finite_numbers_are_refused_before_anything_is_built(override, path):
    from zoo.training import TrainSettings

    with pytest.raises(RecipeError) as info:
        TrainSettings.from_recipe(load_recipe("toy-recipe", overrides=[override]))
    assert info.value.path == path and "expected a finite number" in str(info.value)


def test_settings_built_in_python_are_finite_too():
    from zoo.training import TrainSettings

    with pytest.raises(RecipeError, match=r"lr=inf must be finite; betas=\(0.9, nan\) must be finite"):
        TrainSettings(lr=float("inf"), betas=(0.9, float("nan")))


def test_an_argument_annotated_extended_real_takes_infinity():
    recipe = load_recipe("toy-recipe", overrides=["decoder.likelihood={name: tempered, temperature: .inf}"])
    assert build_model(recipe).decoder.likelihood.temperature == float("inf")
    with pytest.raises(RecipeError, match="expected a finite number, got nan"):
        load_recipe("toy-recipe", overrides=["decoder.likelihood={name: tempered, temperature: .nan}"])
    with pytest.raises(RecipeError, match="YAML writes infinity .inf"):
        load_recipe("toy-recipe", overrides=["decoder.likelihood={name: tempered, temperature: inf}"])
    assert describe_type(ExtendedReal) == "float (±inf allowed)"


def test_string_override_swaps_a_whole_component():
    recipe = apply_overrides(RECIPE, ["decoder.likelihood=unit-normal", "decoder.field=affine"])
    assert recipe["model"]["decoder"]["field"] == {"name": "affine"}


@pytest.mark.parametrize(
    ("override", "path", "message"),
    [
        ("decoder.field.name=afine", "model.decoder.field.name", "did you mean 'affine'"),
        ("decoder.field.gian=2", "model.decoder.field.gian", "has no argument 'gian' — did you mean 'gain'"),
        ("latent_dim=four", "model.latent_dim", "expected int, got 'four'"),
        ("latent_dim=true", "model.latent_dim", "expected int, got True"),  # bool is an int subclass in Python
        ("rate=true", "model.rate", "expected float"),
        ("tags=3", "model.tags", "expected tuple"),
        ("decoder.shape=[1, x]", "model.decoder.shape[1]", "expected int"),
        ("data.name=tinny", "data.name", "did you mean 'tiny'"),
        ("data.sise=3", "data.sise", "did you mean 'size'"),
        ("train.stepz=3", "train.stepz", "did you mean 'steps'"),
        ("train.lr=fast", "train.lr", "expected float"),
        ("tags=[x", "model.tags", "the value '[x' is not valid YAML"),
        ("decoder.likelihood.name=kl", "model.decoder.likelihood.name", "'kl' is a divergence"),
    ],
)
def test_validation_errors_name_the_recipe_path(override, path, message):
    with pytest.raises(RecipeError) as info:  # the model and data are the recipe's, train the loop's settings
        TrainSettings.from_recipe(load_recipe("toy-recipe", overrides=[override]))
    assert info.value.path == path
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("override", "path", "message"),
    [
        ("latent_dim=5", "model", "latent_dim=5 but the decoder takes 4-D latents"),
        ("decoder.field.in_dim=3", "model.decoder", "takes 3-D coordinates but data of shape (1, 4, 4) has 2"),
        ("decoder.field.out_dim=2", "model.decoder", "set field.out_dim=1"),
    ],
)
def test_mismatched_components_fail_before_training_with_a_path(override, path, message):
    recipe = load_recipe("toy-recipe", overrides=[override])  # valid as data...
    with pytest.raises(RecipeError) as info:  # ...but the parts don't fit
        build_model(recipe)
    assert info.value.path == path and message in str(info.value)


def test_missing_required_argument_and_missing_model():
    with pytest.raises(RecipeError, match="needs 'decoder'"):
        load_recipe("toy-recipe", overrides=["model={name: toy}"])
    with pytest.raises(RecipeError, match="a recipe needs a model"):
        from zoo.recipes import validate_recipe

        validate_recipe({"data": {"name": "tiny"}})


def test_yaml_file_with_base_and_config_file(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: toy-recipe\nmodel:\n  rate: 0.5\n")
    (tmp_path / "more.yaml").write_text("train:\n  steps: 11\n")
    recipe = load_recipe(str(tmp_path / "mine.yaml"), config=str(tmp_path / "more.yaml"), overrides=["tags=[y]"])
    assert recipe["name"] == "mine"
    assert recipe["model"]["rate"] == 0.5 and recipe["model"]["decoder"]["field"]["name"] == "affine"
    assert recipe["train"]["steps"] == 11 and recipe["train"]["lr"] == 1
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(str(tmp_path / "absent.yaml"))
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(str(tmp_path / "bad.yaml"))


def test_provenance_names_every_component_and_its_plugin():
    found = provenance(load_recipe("toy-recipe"))
    assert [(p["kind"], p["name"]) for p in found] == [
        ("model", "toy"), ("decoder", "field"), ("field", "affine"), ("likelihood", "unit-normal"), ("dataset", "tiny")
    ]
    assert found[0]["plugin"] == "recipe-fixtures" and found[1]["distribution"] == "genzoo"


@pytest.fixture(scope="module")
def installed():
    """The registry of the installed plugins, beside this file's fixture registry."""
    return build_registry(*load_plugins())


@pytest.mark.parametrize("name", [entry.name for entry in zoo.list_components("recipe")])
def test_shipped_recipe_validates_builds_and_fits_its_data(name, installed, tmp_path, monkeypatch):
    """Every recipe in registry.yaml (and from plugins) is valid against the installed components, and the
    model it builds takes the items of the dataset it names."""
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))  # data users bring is absent here, not read from this machine
    with use_registry(installed):
        entry = installed.get("recipe", name)
        assert entry.summary and "\n" not in entry.summary  # one line for `zoo list`
        recipe = load_recipe(name)
        assert recipe["name"] == name
        settings = TrainSettings.from_recipe(recipe)
        model = build_model(recipe)
        assert isinstance(model, Model)
        try:
            train, test = build_dataset(recipe, "train"), build_dataset(recipe, "test")
        except DataNotFoundError as error:  # MNIST, CIFAR-10: the message says where the files go
            assert "data.root" in str(error)
            return
    assert len(test) > 0 and settings.batch_size <= len(train)
    assert train.shape == test.shape == tuple(test[0].shape) == tuple(model.shape)
