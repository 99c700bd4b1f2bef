"""Mixing components (issue 23): a swap keeps what still fits, sizes come from the data, nothing changes
silently, components check what they are given — and the matrix: every slot of the tiny recipes x every
registered component of its kind, one ``--set`` each, trains two steps or is refused for a reason on a short
list of legitimate ones (``LEGITIMATE``, below). What is refused otherwise is plumbing, and is counted."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import zoo
from zoo import training, viz
from zoo.data import declare_facts
from zoo.data.core import ImageDataset
from zoo.errors import DataNotFoundError, RecipeError, ZooError, ZooWarning
from zoo.recipes import build_dataset, build_model, component_slot, load_recipe, signature
from zoo.recipes.facts import DataFacts
from zoo.registry import get_registry
from zoo.testing import ConformanceError, check_component

# --- one --set retargets a recipe ---------------------------------------------------------------------------

#: The issue's done-means: each trains with that single --set.
ONE_SET = [
    ("vae-digits", "data.size=32"),
    ("ae-digits", "model=vae"),
    ("ae-digits", "model=gon"),
    ("gon-digits", "model=gon"),
    ("ae-digits", "model.decoder=conv"),
    ("vae-digits", "data=lfw-faces"),
    ("fourier-camera", "data=astronaut"),
    ("gon-siren-digits", "model.decoder.likelihood=discretized-logistic"),
]


@pytest.fixture
def no_curves(monkeypatch):
    """The loop's curves of a 2-step run are not what these tests look at, and cost a second each."""
    monkeypatch.setattr(viz, "plot_metrics", lambda *args, **kwargs: None)


def _train(recipe: dict, out: Path) -> None:
    training.train(recipe, out, steps=2, quiet=True, pictures=False)


@pytest.mark.parametrize(("name", "override"), ONE_SET, ids=[f"{n} {o}" for n, o in ONE_SET])
def test_one_set_trains(name, override, tmp_path, no_curves):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZooWarning)  # what a swap drops is said; test_a_swap_says_... checks it
        recipe = load_recipe(name, overrides=[override])
    _train(recipe, tmp_path / "run")
    model, saved = training.load(tmp_path / "run")
    # the run is rebuilt from what was trained: the substitution is in it, and the model fits the data chosen
    assert (saved["model"], saved["data"]) == (recipe["model"], recipe["data"])
    assert model.shape == build_dataset(saved).shape


def test_sizes_follow_the_data():
    recipe = load_recipe("vae-digits", overrides=["data=lfw-faces"])
    assert recipe["model"]["encoder"]["shape"] == recipe["model"]["decoder"]["shape"] == [1, 25, 25]
    assert load_recipe("vae-digits", overrides=["data.size=12"])["model"]["decoder"]["shape"] == [1, 12, 12]
    recipe = load_recipe("fourier-camera", overrides=["data=astronaut"])
    assert recipe["data"] == {"name": "astronaut", "size": 256}  # the size the model was built for, kept
    assert recipe["model"]["shape"] == [3, 256, 256]
    assert build_model(recipe).field.out_dim == 3  # signal-fit gives its field the signal's channels


def test_a_likelihood_takes_the_levels_of_the_data_unless_told():
    recipe = load_recipe("vae-digits", overrides=["model.decoder.likelihood=discretized-logistic-mixture"])
    assert recipe["model"]["decoder"]["likelihood"]["num_bins"] == 17  # the digits count 0..16
    assert build_model(recipe).decoder.likelihood.num_bins == 17
    told = load_recipe("vae-digits", overrides=["model.decoder.likelihood.num_bins=5"])
    assert build_model(told).decoder.likelihood.num_bins == 5
    # resized digits are continuous: nothing to follow, the likelihood's own default stands
    continuous = load_recipe("vae-digits", overrides=["data.size=16"])
    assert "num_bins" not in continuous["model"]["decoder"]["likelihood"]
    binary = load_recipe("vae-digits", overrides=["data.threshold_binarize=true"])
    assert binary["model"]["decoder"]["likelihood"]["num_bins"] == 2


def test_the_field_decoder_sizes_its_field_from_the_likelihood():
    recipe = load_recipe("gon-siren-digits", overrides=["model.decoder.likelihood=discretized-logistic"])
    field = build_model(recipe).decoder.field
    assert (field.in_dim, field.out_dim) == (2, 2)  # a location and a scale per pixel
    assert "out_dim" not in recipe["model"]["decoder"]["field"]


# --- the swap rule --------------------------------------------------------------------------------------------


def _quiet_load(name: str, overrides: list[str]) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZooWarning)
        return load_recipe(name, overrides=overrides)


def test_a_swap_says_in_one_line_what_it_drops():
    with pytest.warns(ZooWarning) as said:
        recipe = load_recipe("siren-camera", overrides=["model.field=relu-pe"])
    # relu-pe takes hidden_dim and num_layers too, with the same defaults as stated: nothing of them is lost
    assert [str(w.message) for w in said] == ["model.field: relu-pe replaces siren; dropped: w0=30.0, w0_initial=30.0"]
    assert recipe["model"]["field"] == {"name": "relu-pe"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZooWarning)  # naming what is there drops nothing, and says nothing
        assert load_recipe("siren-camera", overrides=["model.field=siren"]) == load_recipe("siren-camera")


def test_a_model_swap_keeps_the_parts_both_models_take():
    with pytest.warns(ZooWarning, match=r"^model: gon replaces ae; dropped: encoder=\{name: mlp, .*, latent_dim: 8\}$"):
        recipe = load_recipe("ae-digits", overrides=["model=gon"])
    assert recipe["model"]["prior"]["components"] == 10  # a GON fits its prior after training too: it carries
    with pytest.warns(ZooWarning, match=r"^model: vae replaces ae; dropped: prior=\{name: fitted-gaussian, "):
        load_recipe("ae-digits", overrides=["model=vae"])  # a VAE trains with its prior from the first step
    before = load_recipe("ae-digits")
    # the decoder and its likelihood carry over; its references to the dropped encoder keep their values
    assert recipe["model"]["decoder"] == before["model"]["decoder"]
    assert recipe["model"]["decoder"]["latent_dim"] == 8
    swapped = _quiet_load("ae-digits", ["model.decoder=conv"])["model"]["decoder"]
    assert swapped == {"name": "conv", "shape": [1, 8, 8], "latent_dim": 8,
                       "likelihood": before["model"]["decoder"]["likelihood"]}


def test_what_the_slot_dictates_carries_over_and_plain_hyperparameters_do_not():
    recipe = _quiet_load("swae-digits", ["model.encoder=conv"])
    assert recipe["model"]["encoder"] == {"name": "conv", "shape": [1, 8, 8], "latent_dim": 8, "deterministic": True}
    recipe = _quiet_load("gon-siren-digits", ["model.decoder.field=relu-pe"])
    assert recipe["model"]["decoder"]["field"] == {"name": "relu-pe", "latent_dim": 16}  # hidden_dim: relu-pe's own


def _slots(tree, kind: str, path: str) -> Iterator[tuple[str, str, str | None]]:
    """``(path, kind, name)`` of every place that takes one component in a recipe tree, filled (its name) or
    not (None): a component's arguments annotated with a kind, whether the recipe states them or not."""
    spec = {"name": tree} if isinstance(tree, str) else tree
    yield path, kind, spec.get("name") if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return
    sig = signature(get_registry().get(kind, spec["name"]).obj)
    for argument in sig.parameters:
        part, container = component_slot(sig.annotation(argument))
        if part is not None and container is None:
            yield from _slots(spec.get(argument), part, f"{path}.{argument}")


def _shipped_slots() -> list[tuple[str, str]]:
    cells = []
    for entry in zoo.list_components("recipe"):
        for path, _, name in _slots(entry.obj["model"], "model", "model"):
            if name is not None:
                cells.append((entry.name, f"{path}={name}"))
        cells.append((entry.name, f"data={entry.obj['data']['name']}"))
    return cells


@pytest.mark.parametrize(("name", "override"), _shipped_slots())
def test_naming_the_component_in_a_slot_changes_nothing(name, override, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))  # data users bring is absent: its facts are declared
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZooWarning)
        assert load_recipe(name, overrides=[override]) == load_recipe(name)


# --- data states its facts --------------------------------------------------------------------------------------


def test_data_that_is_not_here_still_states_its_facts(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    assert DataFacts({"name": "mnist", "size": 32}).get("shape") == [1, 32, 32]
    assert DataFacts("cifar10").get("levels") == 256 and DataFacts("blender").get("kind") == "views"
    with pytest.raises(DataNotFoundError):
        DataFacts("blender").get("shape")  # the image size is in the files: they are read for it


@declare_facts(lambda **_: {"shape": (1, 2, 2), "levels": 17, "kind": "images"})
def _misleading(*, root=None, split="train"):
    """Declares 17 levels but holds continuous values (fixture)."""
    return ImageDataset(torch.linspace(0.01, 0.99, 16).reshape(4, 1, 2, 2), levels=17)


@declare_facts(lambda **_: {"shape": (1, 3, 3), "levels": None, "kind": "images"})
def _mis_sized(*, root=None, split="train"):
    """Declares a shape its items do not have (fixture)."""
    return ImageDataset(torch.rand(4, 1, 2, 2))


def test_the_conformance_suite_holds_datasets_to_their_facts():
    with pytest.raises(ConformanceError, match="not all on the levels i / 16"):
        check_component("dataset", _misleading)
    with pytest.raises(ConformanceError, match=r"declares shape=\(1, 3, 3\)"):
        check_component("dataset", _mis_sized)


def test_a_model_refuses_data_of_another_kind_before_loading_it():
    with pytest.raises(RecipeError, match="model 'vae' takes images .* but dataset 'camera' holds signals; "
                                          "datasets it takes: cifar10, digits") as info:
        load_recipe("vae-digits", overrides=["data=camera"])
    assert info.value.path == "data"
    with pytest.raises(RecipeError, match="model 'signal-fit' takes signals .* but dataset 'digits' holds images"):
        load_recipe("siren-camera", overrides=["data=digits"])  # one digit a step would be fitted, silently


# --- components check what they are given ---------------------------------------------------------------------


def test_a_radiance_field_in_a_2d_fit_reads_both_axes():
    field = build_model(load_recipe("siren-camera", overrides=["model.field=siren-nerf"])).field
    along_y = torch.stack([torch.zeros(9), torch.linspace(-1, 1, 9)], dim=-1)  # x = 0, y varies
    along_x = along_y.flip(-1)
    with torch.no_grad():
        assert field(along_y).std() > 1e-3 and field(along_x).std() > 1e-3
    with pytest.raises(RecipeError, match="view_dependent=false"):  # asked for a direction in 2-D: refused
        build_model(load_recipe("siren-camera", overrides=["model.field={name: siren-nerf, view_dependent: true}"]))


def test_nerf_refuses_a_fine_field_without_a_fine_pass_and_sizes_one_like_the_coarse():
    with pytest.raises(RecipeError, match="set num_importance > 0"):
        build_model(load_recipe("nerf-tiny", overrides=["model.fine_field=nerf"]))
    model = build_model(load_recipe("nerf-tiny", overrides=["model.num_importance=4", "model.fine_field=hashgrid"]))
    assert (model.fine_field.in_dim, model.fine_field.out_dim) == (model.field.in_dim, model.field.out_dim) == (6, 4)
    assert model.fine_field.view_dependent  # 6 coordinates: a position and a direction


def test_a_timm_backbone_of_a_fixed_input_size_is_built_for_the_data():
    recipe = load_recipe("vae-timm-faces", overrides=["model.encoder.backbone=vit_tiny_patch16_224"])
    model = build_model(recipe)  # 25x25 faces, a ViT made for 224x224: built at 25x25 (no weights downloaded)
    q = model.encoder(torch.rand(2, 1, 25, 25))
    assert tuple(q.mean.shape) == (2, 16)


# --- the matrix ---------------------------------------------------------------------------------------------------

#: Why a mix may be refused: the reasons that are mathematics, not plumbing. A refusal whose message matches none
#: is artificial, and is listed in ARTIFICIAL (measured, so that it cannot grow unseen).
LEGITIMATE = {
    "wrong data kind": r"takes (images|signals|views|labelled-images|points|surface-points) .* but dataset .* holds",
    "a 1-D divergence on codes of more dimensions": r"wasserstein-1d takes 1-D samples",
    "a per-example objective and a batch-level divergence": r"compares every layer's posterior .* per example, "
                                                            r"but divergence \w+ is batch-level",
    "a layout written for another resolution": r"encoder block '\w+' is at resolution \d+, but the encoder is at",
    "a part that would never be used": r"fine_field is never rendered nor trained",
    "a learned prior where nothing trains it": r"has parameters .* that only a prior term would train",
    "a post-hoc prior where the objective needs p(z) from the first step": r"is fitted to the codes after "
                                                                            r"training, but the \S+ prior term",
    "a bound objective, whose weights hold the prior, and a batch-level divergence": r"is a bound on log p\(x\) "
                                                                                    r"with the prior inside each "
                                                                                    r"importance weight",
    "a stochastic posterior where the model's code is a point": r"the autoencoder's code is the mean of q\(z\|x\)",
    "a closed form for Gaussians given another distribution": r"wasserstein-gaussian compares Gaussians",
    "a fit of a distribution that has nothing to fit": r"has no parameters to fit",
    "a fit given both a distribution and particles": r"fits either a distribution q or particles",
    "a density-based divergence on particles": r"particles have no density",
    "a sample-set divergence on draws that carry no gradient": r"draws without reparameterisation",
}

#: Refusals the matrix measures that are plumbing: the swap leaves a required part unnamed, which one more --set
#: supplies (which encoder a GON turned VAE should have is the user's choice, as is a field decoder's field).
ARTIFICIAL = {
    "gon-tiny --set model=ae": "needs 'encoder'",
    "gon-tiny --set model=vae": "needs 'encoder'",
    "variational-gon-tiny --set model=ae": "needs 'encoder'",
    "variational-gon-tiny --set model=vae": "needs 'encoder'",
    "ae-tiny --set model=vdvae": "needs 'shape', 'likelihood'",
    "gon-tiny --set model=vdvae": "needs 'shape', 'likelihood'",
    "vae-tiny --set model=vdvae": "needs 'shape', 'likelihood'",
    "variational-gon-tiny --set model=vdvae": "needs 'shape', 'likelihood'",
    "vdvae-tiny --set model=ae": "needs 'encoder', 'decoder'",
    "vdvae-tiny --set model=gon": "needs 'decoder'",
    "vdvae-tiny --set model=vae": "needs 'encoder', 'decoder'",
    "vdvae-tiny --set model=variational-gon": "needs 'decoder'",
    "ae-tiny --set model.decoder=field": "needs 'field'",
    "gon-tiny --set model.decoder=field": "needs 'field'",
    "vae-tiny --set model.decoder=field": "needs 'field'",
    "variational-gon-tiny --set model.decoder=field": "needs 'field'",
    "iwae-tiny --set model=vdvae": "needs 'shape', 'likelihood'",
    "iwae-tiny --set model.decoder=field": "needs 'field'",
    # a flow is sized by its data's shape, which these recipes state only in their encoder or decoder
    "ae-tiny --set model=flow": "needs 'shape'",
    "gon-tiny --set model=flow": "needs 'shape'",
    "iwae-tiny --set model=flow": "needs 'shape'",
    "distribution-fit-tiny --set model=flow": "needs 'shape'",
    "sinkhorn-particles-tiny --set model=flow": "needs 'shape'",
    # a distribution fit reads its target from its data (target-draws states it); other 2-D points state none
    "distribution-fit-tiny --set data=circles": "states no data.target",
    "distribution-fit-tiny --set data=moons": "states no data.target",
    "distribution-fit-tiny --set data=swiss-roll": "states no data.target",
    "sinkhorn-particles-tiny --set data=circles": "states no data.target",
    "sinkhorn-particles-tiny --set data=moons": "states no data.target",
    "sinkhorn-particles-tiny --set data=swiss-roll": "states no data.target",
    "flow-tiny --set model=distribution-fit": "needs 'target', 'divergence'",
    "vae-tiny --set model=flow": "needs 'shape'",
    "variational-gon-tiny --set model=flow": "needs 'shape'",
    "vdvae-tiny --set model=flow": "needs 'shape'",
}

#: Cells that fail today for a reason another part of issue 23 removes; each must still fail (else drop it here).
BROKEN: dict[str, str] = {}

TINY = sorted(e.name for e in zoo.list_components("recipe") if e.name.endswith("-tiny"))


def _cells(name: str) -> Iterator[tuple[str, str, str | None, str]]:
    """``(path, kind, current name, new name)`` for every slot of recipe ``name`` and component of its kind."""
    recipe = get_registry().get("recipe", name).obj
    slots = [*_slots(recipe["model"], "model", "model"), ("data", "dataset", recipe["data"]["name"])]
    for path, kind, current in slots:
        for entry in get_registry().list(kind):
            yield path, kind, current, entry.name


def _at(recipe: dict, path: str) -> dict | str:
    node = recipe
    for part in path.split("."):
        node = node[part]
    return node


def _outcome(name: str, path: str, new: str, tmp_path: Path) -> tuple[str, str]:
    """What ``zoo train NAME --set PATH=NEW --steps 2`` does: trains, refused (with the message) or absent data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ZooWarning)
            recipe = load_recipe(name, overrides=[f"{path}={new}"])
        spec = _at(recipe, path)
        assert (spec if isinstance(spec, str) else spec["name"]) == new, f"the swap did not happen: {spec}"
        _train(recipe, tmp_path / f"{path}-{new}")
    except DataNotFoundError as error:  # data people bring, not on this machine: the cell is not measured
        return "absent", str(error)
    except ZooError as error:
        return "refused", str(error)
    return "trains", ""


@pytest.mark.parametrize("name", TINY)
def test_every_slot_takes_every_component_of_its_kind_or_says_why_not(name, tmp_path, monkeypatch, no_curves):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "absent"))  # data users bring is absent here
    counts = {"trains": 0, "refused": 0, "absent": 0, "artificial": 0, "no-op": 0}
    artificial, broken, unexpected = {}, {}, []
    for path, _, current, new in _cells(name):
        cell = f"{name} --set {path}={new}"
        if new == current:
            assert _quiet_load(name, [f"{path}={new}"]) == load_recipe(name), f"{cell} is not a no-op"
            counts["no-op"] += 1
            continue
        try:
            outcome, message = _outcome(name, path, new, tmp_path)
        except Exception as error:  # a traceback: what this test exists to catch
            if cell not in BROKEN:
                raise AssertionError(f"{cell} is a traceback: {type(error).__name__}: {error}") from error
            broken[cell] = f"{type(error).__name__}: {error}"
            continue
        if outcome == "refused" and not any(re.search(reason, message) for reason in LEGITIMATE.values()):
            artificial[cell] = message
            outcome = "artificial"
        counts[outcome] += 1
        if (cell in ARTIFICIAL) != (outcome == "artificial"):
            unexpected.append(f"{cell}: {outcome} {message}")
    print(f"\n{name}: {counts}")  # the measurement (pytest -s shows it)
    assert not unexpected, "cells whose outcome is not what ARTIFICIAL says:\n" + "\n".join(unexpected)
    for cell, needs in ARTIFICIAL.items():
        if cell in artificial:
            assert needs in artificial[cell], f"{cell} is refused for another reason: {artificial[cell]}"
    assert set(broken) == {cell for cell in BROKEN if cell.startswith(f"{name} ")}, (
        "a cell in BROKEN works now: remove it from BROKEN")
