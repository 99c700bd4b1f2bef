"""Checking a recipe's plain values against constructor annotations: ``check_value`` and ``describe_type``.

YAML gives lists, mappings, strings and numbers; a constructor wants ``tuple[int, ...]``, ``float``,
``Literal["fixed", "learned"]``. ``check_value`` converts what converts without loss (a list to a tuple,
an int to a float) and refuses the rest with the value's place in the recipe. Where the annotation names
a component (``Encoder``, or inside ``list[ImplicitField]``), it hands the value to the ``component``
callback that the builder passes in, so containers of components nest like any other value.

A ``float`` takes finite numbers only: an inf or a NaN that a recipe lets through ends as NaN weights. The
rare argument for which infinity means something (an order p = inf) is annotated ``ExtendedReal``.

A number's allowed range is declared once, in its annotation, with an ``Interval`` mark
(``Annotated[int, Interval(ge=1)]``, or the aliases ``PositiveInt``, ``NonNegativeInt``, ``PositiveFloat``,
``NonNegativeFloat``, ``Probability``), and ``check_value`` enforces it with the path and the range in the
message: constructors need no hand-written range checks, and CLI options use the same marks.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable
from types import UnionType
from typing import Any, Union

from zoo.arguments import (
    Interval,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
)
from zoo.errors import RecipeError
from zoo.recipes.signatures import interface_kind

__all__ = [
    "ExtendedReal", "Interval", "NonNegativeFloat", "NonNegativeInt", "PositiveFloat", "PositiveInt", "Probability",
    "check_value", "describe_type",
]

_INFINITY_ALLOWED = "±inf allowed"
ExtendedReal = typing.Annotated[float, _INFINITY_ALLOWED]


def _intervals(annotation: Any) -> list[Interval]:
    return [mark for mark in typing.get_args(annotation)[1:] if isinstance(mark, Interval)]

#: ``component(annotation, value, path)`` -> the component (or its checked spec) for an interface annotation
Component = Callable[[type, Any, str], Any]


def describe_type(annotation: Any) -> str:
    """``int``, ``tuple[int, ...]``, ``ImplicitField``: an annotation as a person would write it."""
    if annotation is inspect.Parameter.empty:
        return ""
    if annotation == ExtendedReal:
        return "float (±inf allowed)"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        ranges = " and ".join(mark.describe() for mark in _intervals(annotation))
        return describe_type(args[0]) + (f" {ranges}" if ranges else "")
    if origin in (Union, UnionType):
        return " | ".join(describe_type(arg) for arg in args)
    if origin is typing.Literal:
        return " | ".join(map(repr, args))
    if origin in (tuple, list, dict) and args:  # the items' own descriptions: tuple[int >= 1, ...]
        return f"{origin.__name__}[{', '.join('...' if arg is Ellipsis else describe_type(arg) for arg in args)}]"
    if annotation is type(None):
        return "None"
    if inspect.isclass(annotation) and not args:
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("zoo.interfaces.", "")


def check_value(value: Any, annotation: Any, path: str, component: Component | None = None) -> Any:
    """``value`` converted to ``annotation`` (YAML lists -> tuples, ints -> floats), or a RecipeError at ``path``.

    Where the annotation (or an item of a list, tuple or dict annotation) is a class implementing an
    interface, ``component`` builds or checks the value; without it, such values pass unchecked.
    """
    if annotation in (inspect.Parameter.empty, Any):
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        if annotation == ExtendedReal:
            if isinstance(value, float) and math.isinf(value):
                return value
            if isinstance(value, str) and value.lower().lstrip("+-.") in ("inf", "infinity"):
                raise RecipeError(path, f"expected a number, got the string {value!r}: YAML writes infinity .inf")
        try:
            checked = check_value(value, args[0], path, component)
        except RecipeError as exc:  # "expected int, got 2.5" -> "expected int >= 1, got 2.5": the range too
            generic = f"expected {describe_type(args[0])}, got "
            if exc.path != path or not exc.message.startswith(generic) or not _intervals(annotation):
                raise
            raise RecipeError(path, f"expected {describe_type(annotation)}, got {exc.message[len(generic):]}") from None
        for interval in _intervals(annotation):
            if isinstance(checked, (int, float)) and not interval.contains(checked):
                raise RecipeError(path, f"expected {describe_type(annotation)}, got {value!r}")
        return checked
    if origin in (Union, UnionType):
        errors = []
        for arg in args:
            try:
                return check_value(value, arg, path, component)
            except RecipeError as exc:
                errors.append(exc)
        if value is not None and len(args) == 2 and type(None) in args:  # Optional[X]: X's own message
            raise next(error for arg, error in zip(args, errors) if arg is not type(None))
        raise RecipeError(path, f"expected {describe_type(annotation)}, got {value!r}")
    if component is not None and interface_kind(annotation):
        return component(annotation, value, path)
    if annotation is type(None):
        if value is None:
            return None
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise RecipeError(path, f"expected a finite number, got {value}")
            return float(value)
        if isinstance(value, str) and value.lower().lstrip("+-.") in ("inf", "infinity", "nan"):
            raise RecipeError(path, f"expected a finite number, got {value!r}")
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin in (tuple, list) or annotation in (tuple, list):
        if isinstance(value, (list, tuple)):
            container = origin or annotation
            if container is tuple and args and args[-1] is not Ellipsis:
                if len(args) != len(value):
                    raise RecipeError(path, f"expected {len(args)} values ({describe_type(annotation)}), got {value!r}")
                items = [check_value(v, a, f"{path}[{i}]", component) for i, (v, a) in enumerate(zip(value, args))]
            else:
                item_type = args[0] if args else Any
                items = [check_value(v, item_type, f"{path}[{i}]", component) for i, v in enumerate(value)]
            return container(items)
    elif origin is dict or annotation is dict:
        if isinstance(value, dict):
            key_type, item_type = args or (Any, Any)
            return {check_value(k, key_type, path, component): check_value(v, item_type, f"{path}.{k}", component)
                    for k, v in value.items()}
    elif origin is typing.Literal:
        if value in args:
            return value
        raise RecipeError(path, f"expected one of {', '.join(map(repr, args))}, got {value!r}")
    else:  # callables, tensors, ...: recipes can't express them; let the constructor decide
        return value
    raise RecipeError(path, f"expected {describe_type(annotation)}, got {value!r} ({type(value).__name__})")
