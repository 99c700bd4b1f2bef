"""Names mean one thing: renamed arguments keep their old name for a version (with a warning), and the shelf
pieces that replaced near-copies (``zoo.nn.eval_mode``, ``zoo.files.atomic_path``) do what the copies did."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from zoo.data import digits
from zoo.errors import RecipeError
from zoo.files import atomic_path
from zoo.nn import eval_mode
from zoo.recipes import build_model, load_recipe, renamed_arguments, renamed_from, signature

# --- the two binarisations ------------------------------------------------------------------------------


def test_the_datasets_threshold_and_the_models_draw_and_each_is_named_so():
    assert "threshold_binarize" in signature(digits).parameters and "binarize" not in signature(digits).parameters
    recipe = load_recipe("vae-digits", overrides=["model.dynamic_binarize=true", "data.threshold_binarize=true"])
    assert build_model(recipe).binarize is True


def test_the_old_name_still_works_for_a_version_with_a_warning_naming_the_new_one():
    with pytest.warns(DeprecationWarning, match="binarize= is now called threshold_binarize="):
        old = digits(split="test", binarize=True)
    new = digits(split="test", threshold_binarize=True)
    assert torch.equal(torch.stack([old[i] for i in range(5)]), torch.stack([new[i] for i in range(5)]))
    with pytest.warns(DeprecationWarning, match="model.binarize is now called dynamic_binarize"):
        assert build_model(load_recipe("vae-digits", overrides=["model.binarize=true"])).binarize is True
    with pytest.warns(DeprecationWarning), pytest.raises(RecipeError, match="states both binarize and its new name"):
        load_recipe("vae-digits", overrides=["model.binarize=true", "model.dynamic_binarize=false"])


def test_renamed_arguments_refuses_a_rename_the_function_does_not_match_and_both_names_at_once():
    with pytest.raises(TypeError, match="must take 'new' and not 'old'"):
        renamed_arguments(old="new")(lambda *, old=1: old)

    @renamed_arguments(old="new")
    def f(*, new: int = 1) -> int:
        return new

    assert renamed_from(f) == {"old": "new"} and f(new=3) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name warns of nothing
        f(new=2)
    with pytest.raises(TypeError, match="got both old= and its new name new="):
        f(old=1, new=2)


# --- eval_mode ------------------------------------------------------------------------------------------


def test_eval_mode_restores_each_submodule_s_own_flag_even_after_an_error():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(2)))
    model[2].eval()  # a part kept in eval on purpose (a frozen backbone)
    before = [m.training for m in model.modules()]
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == before == [True, True, True, False, False]
    with pytest.raises(RuntimeError), eval_mode(model, nn.Dropout()):
        raise RuntimeError
    assert [m.training for m in model.modules()] == before


# --- atomic_path ----------------------------------------------------------------------------------------


def test_atomic_path_replaces_the_file_in_one_step_or_not_at_all(tmp_path):
    target = tmp_path / "sub" / "picture.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".png" and tmp.name.startswith(".")
        tmp.write_bytes(b"first")
        assert not target.exists()  # nothing under the real name until the block is done
    assert target.read_bytes() == b"first"
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError("disk full")
    assert target.read_bytes() == b"first" and sorted(p.name for p in target.parent.iterdir()) == ["picture.png"]
