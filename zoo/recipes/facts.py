"""What a recipe knows of its data before anything is built: the facts its dataset states.

Every dataset states ``zoo.data.FACTS`` — ``shape`` (of one item), ``levels`` (evenly spaced values on
[0, 1], None for continuous data) and ``kind`` (``zoo.data.DATA_KINDS``). A recipe reads them where it does
not state them itself: ``shape: ${data.shape}`` is the shape of the recipe's data, whatever ``--set data=...``
made it; a likelihood that takes ``num_bins`` and is not told gets the data's levels (``FROM_THE_DATA``,
where the data has levels: for continuous data its default stands); a model whose
``data_kinds`` don't include the data's kind is refused at validation. A fact comes from what the dataset's
factory declares from its options (``zoo.data.declare_facts``), which loads nothing, else from the dataset
itself, built once.
"""

from __future__ import annotations

from typing import Any

from zoo.data import FACTS
from zoo.errors import RecipeError, UnknownComponentError
from zoo.registry import get_registry

__all__ = ["FROM_THE_DATA", "DataFacts"]

#: kind -> {argument: fact}: what a component of that kind takes from its data's facts where the recipe does
#: not state it (a discretised likelihood's number of bins is the data's number of levels).
FROM_THE_DATA: dict[str, dict[str, str]] = {"likelihood": {"num_bins": "levels"}}
_NO_DEFAULT = object()


class DataFacts:
    """The facts of the dataset ``spec`` (a recipe's resolved ``data`` section), read when first asked for."""

    def __init__(self, spec: Any):
        self.spec = {"name": spec} if isinstance(spec, str) else spec
        self._declared: dict[str, Any] | None = None
        self._dataset: Any = None

    def _factory(self) -> Any:
        if not isinstance(self.spec, dict) or not isinstance(self.spec.get("name"), str):
            raise RecipeError("data", "the recipe names no dataset to read the facts of (data: {name: ...})")
        try:
            return get_registry().get("dataset", self.spec["name"]).obj
        except UnknownComponentError as exc:
            raise RecipeError("data.name", str(exc)) from None

    def declared(self) -> dict[str, Any]:
        """What the factory tells from the options alone (nothing for a factory that declares nothing)."""
        if self._declared is None:
            factory = self._factory()
            options = {k: v for k, v in self.spec.items() if k != "name"}
            self._declared = factory.facts(**options) if hasattr(factory, "facts") else {}
        return self._declared

    def get(self, fact: str, default: Any = _NO_DEFAULT) -> Any:
        """The value of ``fact`` (one of ``FACTS``), a shape as a list as a recipe would write it; ``default``
        for a dataset that does not state it (else a RecipeError saying so)."""
        if fact not in FACTS:
            raise KeyError(fact)
        if fact in self.declared():
            value = self.declared()[fact]
        else:
            if self._dataset is None:
                from zoo.recipes.building import build_dataset

                self._dataset = build_dataset({"data": self.spec}, "train")
            if not hasattr(self._dataset, fact):
                if default is not _NO_DEFAULT:
                    return default
                raise RecipeError("data", f"dataset {self.spec['name']!r} states no {fact} (zoo.data.FACTS), which "
                                          "the recipe reads: state the value in the recipe instead")
            value = getattr(self._dataset, fact)
        return list(value) if isinstance(value, tuple) else value
