"""Recipes: registry.yaml or a user's YAML -> a validated tree of component specs -> objects.

A recipe is data::

    model:                              # a component of kind "model"
      name: vae
      encoder: {name: mlp, shape: [1, 8, 8], latent_dim: 16}    # nested: its kind is the type annotation
      decoder:
        name: field
        shape: ${model.encoder.shape}   # a reference: the size is stated once
        field: {name: siren, latent_dim: "${model.encoder.latent_dim}"}
        likelihood: bernoulli           # a string is shorthand for {name: bernoulli}
      divergence: kl
    data: {name: digits}                # a dataset factory and its options
    train: {steps: 2000, lr: 1.0e-3}    # zoo.training.TrainSettings fields (checked there)

A mapping with a ``name`` key fills a constructor parameter; the parameter's annotation (``Encoder``,
``ImplicitField``, ``list[ImplicitField]``, ...) says which registry kind the name is looked up in, so any
plugin's component can be dropped into any recipe. Everything is checked before anything is built —
unknown names (with suggestions), unknown or missing arguments, wrong types, a component of the wrong class
for its slot — and each error names its place in the tree (``model.decoder.field.hidden_dim``,
``model.fields[1].name``). Mismatched parts (latent sizes, coordinate dimensions) are caught by the
components' constructors when the model is built, still before any training, with the same path.

The semantics, one module each:

- ``loading``: a name or a file, ``base:``, ``--config``, ``--set``, and ``${...}`` references. Anything
  laid over a recipe merges; ``null`` deletes an argument (its default applies); naming the component
  that is there changes nothing, naming another replaces it, keeping the sizes its slot dictates (its
  kind's ``sizes``) and the parts both take, and saying what it drops. The rules are in its
  docstring.
- ``facts``: what the recipe's dataset states of itself (shape, levels, kind), read before it is loaded.
- ``values``: plain values checked against annotations (``check_value``); ``ExtendedReal`` for a float
  that may be infinite.
- ``signatures``: which kind an annotation takes, through the registered kinds (``component_kind``,
  ``slots`` for ``zoo info``'s "fits"); how a constructor is read (``signature``, resolved once, when a
  component is registered) is ``zoo.constructors``.
- ``building``: the walk that validates and builds, sizes the parts a component dictates (``part_sizes``),
  checks the data's kind against the model's, and records each component's provenance as it goes.
"""

from zoo.arguments import renamed_arguments, renamed_from
from zoo.recipes.building import (
    SECTIONS,
    build_component,
    build_dataset,
    build_model,
    check_data_kind,
    part_sizes,
    provenance,
    validate_recipe,
)
from zoo.recipes.facts import FROM_THE_DATA, DataFacts
from zoo.recipes.loading import apply_overrides, load_recipe, overlay, parse_path, resolve_references
from zoo.recipes.signatures import Signature, component_kind, component_slot, parameters, signature, slots
from zoo.recipes.values import (
    ExtendedReal,
    Interval,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    check_value,
    describe_type,
)

__all__ = [
    "FROM_THE_DATA",
    "SECTIONS",
    "DataFacts",
    "ExtendedReal",
    "Interval",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "Probability",
    "Signature",
    "apply_overrides",
    "build_component",
    "build_dataset",
    "build_model",
    "check_data_kind",
    "check_value",
    "component_kind",
    "component_slot",
    "describe_type",
    "load_recipe",
    "overlay",
    "parameters",
    "parse_path",
    "part_sizes",
    "provenance",
    "renamed_arguments",
    "renamed_from",
    "resolve_references",
    "signature",
    "slots",
    "validate_recipe",
]
