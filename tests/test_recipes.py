"""Recipes: loading, merging, --set overrides, and validation errors that name the recipe path."""

from __future__ import annotations

import re
import types
from typing import Annotated, ClassVar

import pytest
import torch
from torch.distributions import Independent, Normal
from torch.utils.data import default_collate

import zoo
from zoo import hookimpl
from zoo.decoders import FieldDecoder
from zoo.errors import DataNotFoundError, IncompatibleComponentsError, RecipeError, ZooError, ZooWarning
from zoo.interfaces import Decoder, ImplicitField, Likelihood, Model
from zoo.plugins import load_plugins
from zoo.recipes import (
    ExtendedReal,
    Interval,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    apply_overrides,
    build_dataset,
    build_model,
    check_value,
    describe_type,
    load_recipe,
    provenance,
    resolve_references,
    signature,
    slots,
    validate_recipe,
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

    def num_params(self, channels):
        return channels

    def forward(self, params):
        return Independent(Normal(params, 1.0), params.dim() - 1)


class TemperedNormal(Likelihood):
    """Gaussian whose scale is multiplied by ``temperature``; infinite temperature is allowed (fixture)."""

    def __init__(self, temperature: ExtendedReal = 1.0):
        super().__init__()
        self.temperature = temperature

    def num_params(self, channels):
        return channels

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


class WarmedModel(ToyModel):
    """A toy model with a ramp and a size of its own, named as a training setting and a data option are (fixture)."""

    def __init__(self, decoder: Decoder, latent_dim: int = 4, warmup_steps: int = 0, size: int = 1):
        super().__init__(decoder, latent_dim)
        self.warmup_steps, self.size = warmup_steps, size


class SineField(ImplicitField):
    """sin of a linear map of coordinates and latent: 3-D coordinates by default, latent_dim required (fixture)."""

    def __init__(self, in_dim: int = 3, out_dim: int = 1, *, latent_dim: int, frequency: float = 1.0):
        super().__init__()
        self.in_dim, self.out_dim, self.latent_dim = in_dim, out_dim, latent_dim
        self.linear = torch.nn.Linear(in_dim + latent_dim, out_dim)
        self.frequency = frequency

    def forward(self, coords, latent=None):
        latent = latent[:, None, :].expand(*coords.shape[:-1], -1)
        return torch.sin(self.frequency * self.linear(torch.cat([coords, latent], dim=-1)))


def fixed_latent_field(in_dim: int = 2, out_dim: int = 1) -> AffineField:
    """An affine field with a latent of 4, which it takes no argument for (fixture: a factory)."""
    return AffineField(in_dim, out_dim, latent_dim=4)


def doubled_field(in_dim: int = 2, out_dim: int = 1, latent_dim: int = 4):
    """An affine field of gain 2 (fixture: a factory without a return annotation)."""
    return AffineField(in_dim, out_dim, latent_dim, gain=2.0)


def mislabelled_likelihood():
    """Registered as a likelihood, builds a field (fixture: a factory whose product is the wrong kind)."""
    return AffineField()


class ZeroDecoder(Decoder):
    """p(x|z): a unit normal around zeros of ``shape`` (fixture: a decoder that is no field decoder)."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int = 4):
        super().__init__()
        self.shape, self.latent_dim = tuple(shape), latent_dim

    def forward(self, z):
        return Independent(Normal(torch.zeros(z.shape[0], *self.shape), 1.0), len(self.shape))


class RenderingModel(Model):
    """Takes a FieldDecoder, not any Decoder: it renders at other sizes (fixture)."""

    def __init__(self, decoder: FieldDecoder):
        super().__init__()
        self.decoder = decoder

    def loss(self, batch):
        return {"nll": -self.decoder(torch.zeros(batch.shape[0], self.decoder.latent_dim)).log_prob(batch).mean()}


class FieldEnsemble(Model):
    """Several fields, in every container an annotation can name (fixture)."""

    def __init__(self, fields: list[ImplicitField], spares: tuple[ImplicitField, ...] = (),
                 named: dict[str, ImplicitField] | None = None, **extra: ImplicitField):
        super().__init__()
        self.fields, self.spares = torch.nn.ModuleList(fields), torch.nn.ModuleList(spares)
        self.named, self.extra = torch.nn.ModuleDict(named or {}), torch.nn.ModuleDict(extra)

    def loss(self, batch):
        return {"l2": sum(p.pow(2).sum() for p in self.parameters())}


class LooseModel(Model):
    """Keeps the extra arguments it is given as they are (fixture: an unannotated **kwargs)."""

    def __init__(self, decoder: Decoder, **options):
        super().__init__()
        self.decoder, self.options = decoder, options

    def loss(self, batch):
        return {"nll": -self.decoder(torch.zeros(batch.shape[0], self.decoder.latent_dim)).log_prob(batch).mean()}


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
        register("field", "sine", SineField)
        register("field", "fixed-latent", fixed_latent_field)
        register("field", "doubled", doubled_field)
        register("likelihood", "unit-normal", UnitNormal)
        register("likelihood", "tempered", TemperedNormal)
        register("likelihood", "mislabelled", mislabelled_likelihood)
        register("decoder", "zeros", ZeroDecoder)
        register("model", "toy", ToyModel)
        register("model", "rendering", RenderingModel)
        register("model", "ensemble", FieldEnsemble)
        register("model", "loose", LooseModel)
        register("model", "warmed", WarmedModel)
        register("dataset", "tiny", tiny_dataset)

    @hookimpl
    def register_recipes(self, register):
        register("toy-recipe", RECIPE)
        register("warmed-recipe", {**RECIPE, "model": {**RECIPE["model"], "name": "warmed"}})


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


@pytest.mark.parametrize(("annotation", "good", "bad", "said"), [
    (PositiveInt, [1, 7], [0, -3], "int >= 1"),
    (NonNegativeInt, [0, 4], [-1], "int >= 0"),
    (PositiveFloat, [1e-9, 3], [0.0, -2.5], "float > 0"),
    (NonNegativeFloat, [0, 0.5], [-1e-9], "float >= 0"),
    (Probability, [0, 0.25, 1], [-0.1, 1.5], "float >= 0 and <= 1"),
    (Annotated[int, Interval(ge=2, lt=10)], [2, 9], [1, 10], "int >= 2 and < 10"),
])
def test_a_number_annotated_with_an_interval_is_checked_against_it(annotation, good, bad, said):
    for value in good:
        assert check_value(value, annotation, "model.width") == value
    for value in bad:
        with pytest.raises(RecipeError, match=rf"^model.width: expected {said}, got {value}"):
            check_value(value, annotation, "model.width")
    assert describe_type(annotation) == said
    with pytest.raises(RecipeError, match="expected a finite number"):  # the base type is still checked first
        check_value(float("nan"), Annotated[float, Interval(ge=0)], "x")


# --- laying a config file or --set over a recipe -----------------------------------------------------


def _field(recipe: dict) -> dict:
    return recipe["model"]["decoder"]["field"]


@pytest.mark.parametrize("swap", [["decoder.field.name=sine"], ["decoder.field=sine"],
                                  ["decoder.field={name: sine}"], ["model.decoder={field: {name: sine}}"]])
def test_swapping_a_component_keeps_the_sizes_of_its_slot_and_drops_the_rest(swap):
    with pytest.warns(ZooWarning, match=r"^model.decoder.field: sine replaces affine; dropped: gain=2.5$"):
        recipe = load_recipe("toy-recipe", overrides=["decoder.field.gain=2.5", *swap])
    # gain is the affine field's own: dropped (sine has none), and said. latent_dim is stated: kept. in_dim and
    # out_dim the field decoder gives its field from the 1x4x4 data and the likelihood (sine's default is 3)
    assert _field(recipe) == {"name": "sine", "latent_dim": 4}
    field = build_model(recipe).decoder.field
    assert isinstance(field, SineField) and (field.in_dim, field.out_dim) == (2, 1)


def test_a_config_file_naming_another_component_swaps_it_the_same_way(tmp_path):
    (tmp_path / "extra.yaml").write_text("model:\n  decoder:\n    field: {name: sine, frequency: 2.0}\n")
    recipe = load_recipe("toy-recipe", config=str(tmp_path / "extra.yaml"), overrides=["decoder.field.in_dim=null"])
    assert _field(recipe) == {"name": "sine", "latent_dim": 4, "frequency": 2.0}  # the --set comes after
    recipe = load_recipe("toy-recipe", config=str(tmp_path / "extra.yaml"))
    assert build_model(recipe).decoder.field.frequency == 2.0


def test_the_same_component_merges_and_naming_it_changes_nothing():
    recipe = apply_overrides(RECIPE, ["decoder.field.gain=2", "decoder.field={name: affine, in_dim: 2}"])
    assert _field(recipe) == {"name": "affine", "latent_dim": 4, "gain": 2, "in_dim": 2}
    assert apply_overrides(recipe, ["decoder.field=affine"]) == recipe  # the component that is there: a no-op
    assert apply_overrides(recipe, ["model=toy", "decoder.field.name=affine"]) == recipe
    recipe = apply_overrides(RECIPE, ["decoder.likelihood={temperature: 2}"])  # onto the shorthand string
    assert recipe["model"]["decoder"]["likelihood"] == {"name": "unit-normal", "temperature": 2}


def test_a_size_the_new_component_does_not_take_is_not_passed():
    recipe = load_recipe("toy-recipe", overrides=["decoder.field=fixed-latent"])
    assert _field(recipe) == {"name": "fixed-latent"}  # no latent_dim argument: 4 is built in
    assert build_model(recipe).decoder.field.latent_dim == 4


def test_a_missing_size_says_which_value_the_slot_needs():
    with pytest.raises(RecipeError) as info:  # fixed-latent had no latent_dim to hand on; sine requires one
        load_recipe("toy-recipe", overrides=["decoder.field=fixed-latent", "decoder.field=sine"])
    assert info.value.path == "model.decoder.field"
    assert "field 'sine' needs 'latent_dim'" in str(info.value)
    assert "latent_dim: ${model.latent_dim} (= 4)" in str(info.value)  # the one place the recipe states it
    with pytest.raises(RecipeError, match=r"state it \(model.decoder.field.latent_dim\)"):
        load_recipe("toy-recipe", overrides=["latent_dim=null", "decoder.field=fixed-latent", "decoder.field=sine"])


def test_null_deletes_an_argument_so_its_default_applies(tmp_path):
    recipe = load_recipe("toy-recipe", overrides=["decoder.field.gain=3", "decoder.field.gain=null", "rate=null"])
    assert "gain" not in _field(recipe) and "rate" not in recipe["model"]
    model = build_model(recipe)
    assert model.decoder.field.gain == 1.0 and model.rate == 0.1
    (tmp_path / "extra.yaml").write_text("model:\n  tags: [a]\n  decoder: {field: {latent_dim: null}}\n")
    recipe = load_recipe("toy-recipe", config=str(tmp_path / "extra.yaml"), overrides=["tags=null"])
    assert "latent_dim" not in _field(recipe) and "tags" not in recipe["model"]
    assert "latent_dim" not in _field(apply_overrides(RECIPE, ["decoder.field.latent_dim=null"]))
    (tmp_path / "alone.yaml").write_text("model: {name: toy, rate: null, decoder: {name: zeros, shape: [1, 4, 4]}}\n")
    assert load_recipe(str(tmp_path / "alone.yaml"))["model"] == {"name": "toy", "decoder": {"name": "zeros",
                                                                                              "shape": [1, 4, 4]}}


def test_a_config_file_may_name_its_base_which_must_be_the_recipe_trained(tmp_path):
    class OtherRecipe:
        __name__ = "other-recipe"

        @hookimpl
        def register_recipes(self, register):
            register("other-recipe", RECIPE)

    (tmp_path / "extra.yaml").write_text("base: other-recipe\ntrain: {steps: 5}\n")
    with use_registry(registry_with(FixturePlugin(), OtherRecipe())):
        with pytest.raises(RecipeError, match="extra.yaml starts from 'other-recipe' but you train 'toy-recipe'"):
            load_recipe("toy-recipe", config=str(tmp_path / "extra.yaml"))
        assert load_recipe("other-recipe", config=str(tmp_path / "extra.yaml"))["train"]["steps"] == 5
        (tmp_path / "mine.yaml").write_text("base: other-recipe\nmodel: {rate: 0.5}\n")
        recipe = load_recipe(str(tmp_path / "mine.yaml"), config=str(tmp_path / "extra.yaml"))  # mine's base
        assert recipe["train"]["steps"] == 5 and recipe["model"]["rate"] == 0.5


def test_overrides_reach_into_lists_by_index():
    spec = "model={name: ensemble, fields: [affine, {name: affine, gain: 2}]}"
    recipe = load_recipe("toy-recipe", overrides=[spec, "model.fields[1].gain=3", "fields[0]=sine"])
    # affine's defaults (in_dim 2, latent_dim 4) are the sizes its slot had: sine gets them
    assert recipe["model"]["fields"] == [{"name": "sine", "in_dim": 2, "latent_dim": 4}, {"name": "affine", "gain": 3}]
    with pytest.raises(RecipeError, match="the list has 2 items") as info:
        load_recipe("toy-recipe", overrides=[spec, "fields[2].gain=3"])
    assert info.value.path == "model.fields[2]"


@pytest.mark.parametrize(("override", "paths"), [
    ("warmup_steps=500", "model.warmup_steps or train.warmup_steps"),  # the model's ramp, the optimiser's warm-up
    ("size=2", "model.size or data.size"),
    ("warmup_steps.x[1]=2", "model.warmup_steps.x[1] or train.warmup_steps.x[1]"),
])
def test_an_override_without_its_section_that_two_sections_take_is_refused_naming_both(override, paths):
    with pytest.raises(RecipeError, match=rf"^override '{re.escape(override)}' could set {re.escape(paths)}: name "
                                          r"the section \(--set model\."):
        load_recipe("warmed-recipe", overrides=[override])
    recipe = load_recipe("warmed-recipe", overrides=["model.warmup_steps=3", "train.warmup_steps=5", "data.size=7"])
    assert recipe["model"]["warmup_steps"] == 3 and recipe["train"]["warmup_steps"] == 5
    assert recipe["data"]["size"] == 7 and build_model(recipe).warmup_steps == 3
    assert load_recipe("toy-recipe", overrides=["rate=0.5"])["model"]["rate"] == 0.5  # one section: as before


def test_an_unqualified_override_of_a_renamed_argument_is_still_ambiguous():
    """vae-digits: the VAE's KL ramp is kl_warmup_steps now, but its old name warmup_steps still works, so
    `--set warmup_steps=500` could still mean it: refused, naming both (issue 20's done-means)."""
    with pytest.raises(RecipeError, match=r"^override 'warmup_steps=500' could set model.warmup_steps or "
                                          r"train.warmup_steps"):
        load_recipe("vae-digits", overrides=["warmup_steps=500"])
    assert load_recipe("vae-digits", overrides=["train.warmup_steps=500"])["train"]["warmup_steps"] == 500


# --- references ----------------------------------------------------------------------------------------


def test_a_reference_states_a_size_once_and_follows_overrides(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "base: toy-recipe\n"
        "model:\n"
        "  decoder:\n"
        "    field: {latent_dim: \"${model.latent_dim}\"}\n"
        "    shape: [1, \"${data.size}\", 4]\n"
        "data: {size: 4}\n"
    )
    recipe = load_recipe(str(tmp_path / "mine.yaml"), overrides=["latent_dim=6"])
    assert _field(recipe)["latent_dim"] == 6 and recipe["model"]["decoder"]["shape"] == [1, 4, 4]
    assert build_model(recipe).decoder.field.latent_dim == 6


def test_a_reference_copies_the_value_as_it_is_whatever_its_type():
    with pytest.raises(RecipeError, match="expected str, got 4") as info:
        load_recipe("toy-recipe", overrides=["tags=['${data.name}', '${model.decoder.shape[2]}']"])
    assert info.value.path == "model.tags[1]"
    recipe = load_recipe("toy-recipe", overrides=["tags=['${data.name}']", "decoder.field.gain=${model.latent_dim}"])
    assert recipe["model"]["tags"] == ["tiny"] and _field(recipe)["gain"] == 4


@pytest.mark.parametrize(("overrides", "path", "message"), [
    (["rate=${model.nope}"], "model.rate", "the recipe states no model.nope"),
    (["rate=${model.decoder.shape[3]}"], "model.rate", "the recipe states no model.decoder.shape[3]"),
    (["rate=${model..x}"], "model.rate", "is not a path"),
    (["rate=${model.gain}", "gain=${model.rate}"], "model.rate",
     "references go round in a circle: ${model.gain} -> ${model.rate} -> ${model.gain}"),
    (["decoder.field.gain=${model.decoder}"], "model.decoder.field.gain", "go round in a circle"),
])
def test_references_that_lead_nowhere_or_round_in_a_circle_are_errors_with_their_path(overrides, path, message):
    with pytest.raises(RecipeError) as info:
        load_recipe("toy-recipe", overrides=overrides)
    assert info.value.path == path and message in str(info.value)


def test_a_long_chain_of_references_is_refused_with_the_chain_and_a_short_one_resolves(tmp_path):
    """A 3,000-deep chain was a RecursionError; a chain of 32 is the limit, and the message names its ends."""
    def chain_file(length: int) -> str:
        lines = ["base: toy-recipe", "train:", '  steps: "${train.l0}"']
        lines += [f'  l{i}: "${{train.l{i + 1}}}"' for i in range(length)] + [f"  l{length}: 5"]
        (tmp_path / "chain.yaml").write_text("\n".join(lines) + "\n")
        return str(tmp_path / "chain.yaml")

    assert load_recipe(chain_file(31))["train"]["steps"] == 5  # 32 references: steps -> l0 -> ... -> l31
    with pytest.raises(RecipeError) as info:
        load_recipe(chain_file(3000))
    assert info.value.path == "train.steps"
    assert str(info.value).endswith("a chain of more than 32 references, each naming the next: ${train.l0} -> "
                                    "${train.l1} -> ${train.l2} -> ${train.l3} -> ... -> ${train.l30} -> "
                                    "${train.l31} -> ${train.l32}; refer to the value itself")


def test_references_that_copy_a_recipe_past_its_size_limit_are_refused(tmp_path):
    """Each level names the next twice: 2 ** 20 copies, the reference form of the YAML alias bomb."""
    lines = ["base: toy-recipe", "train:", '  steps: "${train.l0}"']
    lines += [f'  l{i}: ["${{train.l{i + 1}}}", "${{train.l{i + 1}}}"]' for i in range(20)] + ["  l20: 5"]
    (tmp_path / "doubling.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(RecipeError, match="references copy values into more than 100,000 places"):
        load_recipe(str(tmp_path / "doubling.yaml"))


@pytest.mark.parametrize("base", ["[toy-recipe]", "3", "{name: toy-recipe}"])
def test_a_base_that_is_not_one_recipe_name_is_one_line(tmp_path, base):
    (tmp_path / "mine.yaml").write_text(f"base: {base}\ntrain: {{steps: 5}}\n")
    for attempt in ({"name_or_path": str(tmp_path / "mine.yaml")},
                    {"name_or_path": "toy-recipe", "config": str(tmp_path / "mine.yaml")}):
        with pytest.raises(RecipeError, match=r"^base: mine.yaml: base: names one registered recipe \(base: "
                                              r"vae-digits\), got "):
            load_recipe(**attempt)


def test_a_recipe_file_that_states_a_key_twice_is_refused_with_the_line(tmp_path):
    (tmp_path / "twice.yaml").write_text("base: toy-recipe\ntrain: {steps: 2, steps: 3}\n")
    with pytest.raises(RecipeError, match=r"twice.yaml: line 2, column 19: the key 'steps' is stated twice in one "
                                          r"mapping \(first at line 2, column 9\)"):
        load_recipe(str(tmp_path / "twice.yaml"))
    with pytest.raises(RecipeError, match=r"^model.tags: the value '\{a: 1, a: 2\}': line 1, column 8: the key 'a'"):
        load_recipe("toy-recipe", overrides=["tags={a: 1, a: 2}"])


# --- how a constructor is read --------------------------------------------------------------------------


def test_containers_of_components_are_built_item_by_item():
    recipe = load_recipe("toy-recipe", overrides=[
        "model={name: ensemble, fields: [affine, {name: sine, latent_dim: 2}], spares: [doubled],"
        " named: {a: affine}, bonus: {name: affine, gain: 3}}",
    ])
    model = build_model(recipe)
    assert [type(f) for f in model.fields] == [AffineField, SineField] and model.fields[1].latent_dim == 2
    assert model.spares[0].gain == 2.0 and isinstance(model.named["a"], AffineField)
    assert model.extra["bonus"].gain == 3.0  # an annotated **kwargs takes components too
    names = ["ensemble", "affine", "sine", "doubled", "affine", "affine", "tiny"]  # parents first, in tree order
    assert [p["name"] for p in provenance(recipe)] == names


@pytest.mark.parametrize(("item", "path", "message"), [
    ("fields: [affine, {name: afine}]", "model.fields[1].name", "did you mean 'affine'"),
    ("fields: [affine, {name: affine, gian: 2}]", "model.fields[1].gian", "did you mean 'gain'"),
    ("fields: [affine], named: {a: {name: affine, gain: x}}", "model.named.a.gain", "expected float"),
    ("fields: [affine], bonus: {name: sine}", "model.bonus", "field 'sine' needs 'latent_dim'"),
    ("fields: [affine], spares: [{name: unit-normal}]", "model.spares[0].name", "unknown field 'unit-normal'"),
    ("fields: affine", "model.fields", "expected list[ImplicitField]"),
])
def test_errors_inside_containers_name_the_item(item, path, message):
    with pytest.raises(RecipeError) as info:
        load_recipe("toy-recipe", overrides=[f"model={{name: ensemble, {item}}}"])
    assert info.value.path == path and message in str(info.value)


def test_an_unannotated_var_keyword_receives_values_as_they_are():
    model = build_model(load_recipe("toy-recipe", overrides=["model={name: loose, decoder: zeros}",
                                                             "decoder.shape=[1, 4, 4]",
                                                             "model.extra={name: affine}", "model.size=3"]))
    assert model.options == {"extra": {"name": "affine"}, "size": 3}


def test_the_built_object_must_be_what_the_annotation_names():
    field_decoder = RECIPE["model"]["decoder"]
    validate_recipe({"model": {"name": "rendering", "decoder": field_decoder}})
    with pytest.raises(RecipeError) as info:  # a Decoder, but not a FieldDecoder: known before building
        validate_recipe({"model": {"name": "rendering", "decoder": {"name": "zeros", "shape": [1, 4, 4]}}})
    assert info.value.path == "model.decoder.name"
    assert "decoder 'zeros' is a ZeroDecoder, but this slot takes a FieldDecoder (decoders that fit: field)" in str(
        info.value)
    recipe = load_recipe("toy-recipe", overrides=["decoder.likelihood=mislabelled"])  # a factory: known once built
    with pytest.raises(RecipeError) as info:
        build_model(recipe)
    assert info.value.path == "model.decoder.likelihood"
    assert "likelihood 'mislabelled' built an AffineField, but this slot takes a Likelihood" in str(info.value)


def test_factories_are_components_and_their_return_annotation_says_where_they_fit(registry):
    recipe = load_recipe("toy-recipe", overrides=["decoder.field=doubled"])
    assert _field(recipe) == {"name": "doubled", "latent_dim": 4} and build_model(recipe).decoder.field.gain == 2.0
    for name in ("fixed-latent", "doubled"):  # annotated -> AffineField; unannotated -> any ImplicitField
        assert "field of decoder field" in slots(registry.get("field", name))
    fits = slots(registry.get("decoder", "zeros"))
    assert {"decoder of model toy", "decoder of model loose"} <= set(fits) and "decoder of model rendering" not in fits
    assert "**extra of model ensemble" in slots(registry.get("field", "affine"))


def mislabelled_field(in_dim: int = 2) -> UnitNormal:
    """Registered as a field, annotated to return a likelihood (fixture)."""
    return UnitNormal()


def test_a_factory_annotated_to_return_another_kind_is_refused_when_it_registers():
    class Mislabelled:
        __name__ = "mislabelled-plugin"

        @hookimpl
        def register_components(self, register):
            register("field", "mislabelled", mislabelled_field)

    info = next(p for p in registry_with(Mislabelled()).plugins if p.name == "mislabelled-plugin")
    assert info.status == "broken"
    assert "which returns UnitNormal, but it does not subclass zoo.interfaces.ImplicitField" in info.error


LAZY_PLUGIN = """
from __future__ import annotations

from typing import TYPE_CHECKING

from zoo import hookimpl
from zoo.interfaces import Model

if TYPE_CHECKING:
    from zoo.interfaces import Decoder


class LazyModel(Model):
    def __init__(self, decoder: Decoder):
        super().__init__()
        self.decoder = decoder

    def loss(self, batch):
        return {}


@hookimpl
def register_components(register):
    register("model", "lazy", LazyModel)
"""


def test_an_annotation_that_cannot_be_resolved_refuses_the_plugin_when_it_registers(monkeypatch):
    plugin = types.ModuleType("lazy_plugin")
    exec(compile(LAZY_PLUGIN, "lazy_plugin.py", "exec"), plugin.__dict__)
    registry = registry_with(plugin)
    info = next(p for p in registry.plugins if p.name == "lazy_plugin")
    assert info.status == "broken" and not registry.find("lazy")
    assert "lazy_plugin.LazyModel: the annotation 'Decoder' of 'decoder' can't be resolved" in info.error
    assert "TYPE_CHECKING" in info.error
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(ZooError, match="LazyModel"):
        registry_with(plugin)


def test_a_constructor_is_read_once():
    assert signature(AffineField) is signature(AffineField)
    assert signature(AffineField).annotation("gain") is float


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
        ("tags=[x", "model.tags", "the value '[x': line 1, column 3: not valid YAML"),
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
        load_recipe("toy-recipe", overrides=["model.decoder=null"])
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
        ("model", "toy"), ("decoder", "field"), ("likelihood", "unit-normal"), ("field", "affine"), ("dataset", "tiny")
    ]  # the field after the likelihood: the decoder sizes it from the likelihood
    assert found[0]["plugin"] == "recipe-fixtures" and found[1]["distribution"] == "genzoo"
    recorded: list[dict] = []  # what building records as it goes is what validation finds
    build_model(load_recipe("toy-recipe"), provenance=recorded)
    build_dataset(load_recipe("toy-recipe"), "test", provenance=recorded)
    assert recorded == found


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
    item = test[0]
    picture = item["image"] if isinstance(item, dict) else item  # a scene's items are views (dicts)
    assert train.shape == test.shape == tuple(picture.shape)
    batch = default_collate([train[i] for i in range(min(2, len(train)))])
    terms = model.train().loss(batch)  # the model takes the dataset's items as they come
    assert terms and all(torch.isfinite(value) for value in terms.values())


# --- what a slot dictates and what the data states (issue 23) -------------------------------------------------


class SizedModel(Model):
    """Dictates its field's in_dim from its own ``dims`` and out_dim from its likelihood's needs (fixture)."""

    part_sizes: ClassVar = {"field": {"in_dim": lambda dims: dims,
                                      "out_dim": lambda likelihood: likelihood.num_params(3)}}

    def __init__(self, field: ImplicitField, likelihood: Likelihood, dims: int = 5):
        super().__init__()
        self.field, self.likelihood, self.dims = field, likelihood, dims

    def loss(self, batch):
        return {"l2": sum(p.pow(2).sum() for p in self.parameters())}


class Cloud(torch.utils.data.Dataset):
    """Points in the plane, stating its facts but declaring none in advance (fixture)."""

    shape, levels, kind = (2,), None, "points"
    built = 0

    def __init__(self):
        type(self).built += 1

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return torch.zeros(2)


def cloud(*, root: str | None = None, split: str = "train"):
    """A Cloud (fixture)."""
    return Cloud()


@pytest.fixture(scope="module")
def sized_registry():
    class Sized:
        __name__ = "sized-fixtures"

        @hookimpl
        def register_components(self, register):
            register("model", "sized", SizedModel)
            register("dataset", "cloud", cloud)

    return registry_with(FixturePlugin(), Sized())


def test_a_component_gives_its_parts_the_sizes_it_dictates_unless_the_recipe_states_them(sized_registry):
    spec = {"model": {"name": "sized", "field": {"name": "sine", "latent_dim": 0}, "likelihood": "unit-normal"}}
    with use_registry(sized_registry):
        validate_recipe(spec)  # sine has no default for latent_dim but states it; the rest comes from the slot
        assert (build_model(spec).field.in_dim, build_model(spec).field.out_dim) == (5, 3)
        assert build_model(apply_overrides(spec, ["dims=2"])).field.in_dim == 2  # follows the model's argument
        assert build_model(apply_overrides(spec, ["field.in_dim=7"])).field.in_dim == 7  # stated: the recipe's
        with pytest.raises(RecipeError, match="field 'sine' needs 'latent_dim'"):  # what the slot does not give
            validate_recipe(apply_overrides(spec, ["field.latent_dim=null"]))


def test_a_reference_reads_a_fact_of_the_data_and_builds_the_dataset_once_when_it_declares_none(sized_registry):
    spec = {"model": {"name": "toy", "tags": ["${data.kind}"], "rate": "${data.shape[0]}",
                      "decoder": {"name": "zeros", "shape": [1, 4, 4]}},
            "data": {"name": "cloud"}}
    with use_registry(sized_registry):
        before = Cloud.built
        recipe = resolve_references(spec)
        assert recipe["model"]["tags"] == ["points"] and recipe["model"]["rate"] == 2
        assert Cloud.built == before + 1  # two facts, one build
        with pytest.raises(RecipeError, match="the recipe states no data.size .* data.shape, data.levels, data.kind"):
            resolve_references({**spec, "model": {**spec["model"], "rate": "${data.size}"}})
