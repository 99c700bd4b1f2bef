"""Every built-in component states the ranges of its numbers in its annotations, where the recipe checker reads them.

A count, a width, a size or a rate given as 0, -1 or 2.5 where a whole positive number is meant used to reach a
constructor, which either had a hand-written check or built something broken (``vdvae`` with ``width=0`` was a
traceback). Now the annotation says the range (``PositiveInt``, ``Probability``, ``Interval(...)``) and
``check_value`` enforces it before anything is built. This test walks every registered component, so a new
plugin's forgotten range shows up here; an argument whose name reads like a count but takes any number is
listed in ``ANY_NUMBER`` with the reason.
"""

from __future__ import annotations

import re
import typing
from types import UnionType

import pytest

import zoo
from zoo.errors import RecipeError
from zoo.recipes import Interval, build_component, signature

#: names that say "how many, how wide, how big, how fast": their numbers need a range
COUNTLIKE = re.compile(r"(^num_|_dim$|size|width|channels|layers|steps|every|rate|resolution|levels|features|"
                       r"frequencies|samples|projections|components|bins|mix|fraction|scales?$|bandwidth|"
                       r"bottleneck|decay|threshold|warmup|importance|chunk|sigma|radius)")
#: (kind, name, argument) -> why any number (of its type) is right
ANY_NUMBER = {
    ("likelihood", "discretized-logistic", "min_log_scale"): "a log scale's floor: any real",
    ("likelihood", "discretized-logistic-mixture", "min_log_scale"): "a log scale's floor: any real",
}


def _numbers(annotation) -> list:
    """The int/float annotations inside ``annotation`` (through unions and tuples), marks kept."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return [annotation] if args[0] in (int, float) else _numbers(args[0])
    if annotation in (int, float):
        return [annotation]
    if origin in (typing.Union, UnionType, tuple, list):
        return [found for arg in args if arg is not Ellipsis for found in _numbers(arg)]
    return []


def _has_range(annotation) -> bool:
    return typing.get_origin(annotation) is typing.Annotated and any(
        isinstance(mark, Interval) for mark in typing.get_args(annotation)[1:])


def _countlike_numbers():
    for entry in zoo.list_components():
        if entry.kind == "recipe":
            continue
        sig = signature(entry.obj)
        for name in sig.parameters:
            numbers = _numbers(sig.annotation(name))
            if numbers and COUNTLIKE.search(name):
                yield pytest.param(entry.kind, entry.name, name, numbers, id=f"{entry.kind}-{entry.name}-{name}")


@pytest.mark.parametrize(("kind", "name", "argument", "numbers"), list(_countlike_numbers()))
def test_every_count_width_size_and_rate_has_a_range(kind, name, argument, numbers):
    if (kind, name, argument) in ANY_NUMBER:
        assert not all(map(_has_range, numbers)), f"{argument} has a range now: drop it from ANY_NUMBER"
        return
    missing = [n for n in numbers if not _has_range(n)]
    assert not missing, (f"{kind} {name!r}: {argument} is annotated {numbers} without a range; use PositiveInt, "
                         f"NonNegativeInt, PositiveFloat, Probability or Annotated[..., Interval(...)]")


def test_the_walk_finds_the_arguments_it_is_about():
    found = {(kind, name, argument) for kind, name, argument, _ in (p.values for p in _countlike_numbers())}
    assert {("model", "vdvae", "width"), ("model", "vdvae", "latent_channels"), ("field", "siren", "hidden_dim"),
            ("divergence", "sliced-wasserstein", "num_projections"), ("dataset", "digits", "size"),
            ("likelihood", "gaussian", "scale")} <= found
    assert set(ANY_NUMBER) <= found  # no stale exemption


@pytest.mark.parametrize(("kind", "spec", "path", "said"), [
    ("model", {"name": "vdvae", "shape": [1, 8, 8], "likelihood": "bernoulli", "width": 0}, "model.width", "int >= 1"),
    ("model", {"name": "vdvae", "shape": [1, 8, 8], "likelihood": "bernoulli", "latent_channels": -1},
     "model.latent_channels", "int >= 1"),
    ("field", {"name": "nerf", "num_layers": 2.5}, "field.num_layers", "int >= 1"),
    ("field", {"name": "hashgrid", "log2_table_size": 40}, "field.log2_table_size", "int >= 1 and <= 24"),
    ("likelihood", {"name": "discretized-logistic", "num_bins": 1}, "likelihood.num_bins", "int >= 2"),
    ("likelihood", {"name": "gaussian", "scale": -0.1}, "likelihood.scale", "float > 0"),
    ("decoder", {"name": "mlp", "shape": [1, 0, 8], "latent_dim": 2, "likelihood": "bernoulli"},
     "decoder.shape[1]", "int >= 1"),
    ("dataset", {"name": "digits", "size": 0, "split": "train"}, "dataset.size", "int >= 1"),
])
def test_a_number_out_of_its_range_is_refused_before_anything_is_built(kind, spec, path, said):
    with pytest.raises(RecipeError, match=rf"^{re.escape(path)}: expected {said}, got "):
        build_component(kind, spec)
