"""Which kind of component a constructor argument takes, read from its annotation through the registry.

An argument annotated with a registered kind's interface (``Encoder``, ``Prior``, a third-party kind's) or a
class that implements one (``FieldDecoder``) takes a component of that kind: the first registered interface
in the annotation's MRO. ``list[X]``, ``tuple[X, ...]`` and ``dict[str, X]`` take several, and an annotated
``**kwargs: X`` takes any number by name. The interface -> kind map is the registry's (``register_kinds``),
read when a recipe is checked, so a kind a plugin registers is built in recipes like the core's own.

How a constructor itself is read (``signature``, ``parameters``) is ``zoo.constructors``, re-exported here.
"""

from __future__ import annotations

import inspect
import typing
from types import UnionType
from typing import Any, Union

from zoo.constructors import EMPTY, Signature, parameters, signature
from zoo.registry import Entry, get_registry

__all__ = ["EMPTY", "Signature", "signature", "parameters", "interface_kind", "component_kind", "component_slot",
           "slots"]


def _members(annotation: Any) -> tuple[Any, ...]:
    """The alternatives of a union (``X | None`` -> X, None), without ``Annotated`` marks."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def interface_kind(cls: Any) -> str | None:
    """The kind of the first registered interface in ``cls``'s MRO (``FieldDecoder`` -> "decoder"), if any."""
    return get_registry().interface_kind(cls) if inspect.isclass(cls) else None


def component_kind(annotation: Any) -> str | None:
    """The kind of the one component an argument annotated ``annotation`` takes, if any: ``Encoder`` and
    ``Encoder | None`` -> "encoder", ``FieldDecoder`` -> "decoder"."""
    return next((kind for arg in _members(annotation) if (kind := interface_kind(arg))), None)


def component_slot(annotation: Any) -> tuple[str | None, type | None]:
    """``(kind, container)``: ``("encoder", None)`` for one component, ``("field", list)``,
    ``("encoder", tuple)`` or ``("encoder", dict)`` for several (``list[ImplicitField]``,
    ``tuple[Encoder, ...]``, ``dict[str, Encoder]``), ``(None, None)`` for an argument that takes none."""
    if kind := component_kind(annotation):
        return kind, None
    for arg in _members(annotation):
        origin, items = typing.get_origin(arg), typing.get_args(arg)
        if origin in (list, tuple, dict) and items and (kind := component_kind(items[-1 if origin is dict else 0])):
            return kind, origin
    return None, None


def _component_classes(annotation: Any) -> list[type]:
    """Every interface-implementing class an annotation names, inside unions and containers."""
    found = []
    for arg in _members(annotation):
        if interface_kind(arg):
            found.append(arg)
        elif typing.get_origin(arg) in (list, tuple, dict):
            for item in typing.get_args(arg):
                found += _component_classes(item)
    return found


def slots(entry: Entry) -> list[str]:
    """Where a component fits: ``["decoder of model vae", ...]``, every argument of a registered component
    whose annotation the component's class satisfies (containers and ``**kwargs`` included)."""
    registry = get_registry()
    interface = registry.kind(entry.kind).interface
    if interface is None:
        return []
    built = signature(entry.obj).returns or interface
    found = []
    for other in registry.list():
        if other.kind == "recipe":
            continue
        sig = signature(other.obj)
        for name, annotation in sig.annotations.items():
            accepted = _component_classes(annotation)
            if any(interface_kind(cls) == entry.kind and issubclass(built, cls) for cls in accepted):
                found.append(f"{'**' if name == sig.var_keyword else ''}{name} of {other.kind} {other.name}")
    return found
