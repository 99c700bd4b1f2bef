"""Recipes: loading, merging, --set overrides, and validation errors that name the recipe path."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal

from zoo import hookimpl
from zoo.decoders import FieldDecoder
from zoo.errors import IncompatibleComponentsError, RecipeError
from zoo.interfaces import Decoder, ImplicitField, Likelihood, Model
from zoo.recipes import apply_overrides, build_dataset, build_model, load_recipe, provenance
from zoo.testing import registry_with, use_registry


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

    def num_params(self, channels):
        return channels

    def forward(self, params):
        return Independent(Normal(params, 1.0), params.dim() - 1)


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


def test_string_override_swaps_a_whole_component():
    recipe = apply_overrides(RECIPE, ["decoder.likelihood=unit-normal", "decoder.field=affine"])
    assert recipe["model"]["decoder"]["field"] == {"name": "affine"}


@pytest.mark.parametrize(
    ("override", "path", "message"),
    [
        ("decoder.field.name=afine", "model.decoder.field.name", "did you mean 'affine'"),
        ("decoder.field.gian=2", "model.decoder.field.gian", "has no argument 'gian' — did you mean 'gain'"),
        ("latent_dim=four", "model.latent_dim", "expected int, got 'four'"),
        ("rate=true", "model.rate", "expected float"),
        ("tags=3", "model.tags", "expected tuple"),
        ("decoder.shape=[1, x]", "model.decoder.shape[1]", "expected int"),
        ("data.name=tinny", "data.name", "did you mean 'tiny'"),
        ("data.sise=3", "data.sise", "did you mean 'size'"),
        ("train.stepz=3", "train.stepz", "did you mean 'steps'"),
        ("train.lr=fast", "train.lr", "expected float"),
        ("decoder.likelihood.name=kl", "model.decoder.likelihood.name", "'kl' is a divergence"),
    ],
)
def test_validation_errors_name_the_recipe_path(override, path, message):
    from zoo.training import TrainSettings

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


def test_shipped_recipes_validate():
    """Every recipe in registry.yaml (and from plugins) is valid data against the installed components."""
    from zoo.plugins import load_plugins
    from zoo.registry import build_registry

    with use_registry(build_registry(*load_plugins())) as installed:
        for entry in installed.list("recipe"):
            load_recipe(entry.name)
