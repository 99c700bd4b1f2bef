"""How recipes read a constructor: its arguments, their resolved annotations, and which kind of component each takes.

A component is a class or a factory function. ``signature(obj)`` inspects it once (the result is cached),
when it is registered: ``zoo.registry.Registry.check`` calls it, so an annotation that can't be resolved —
a name imported under ``if TYPE_CHECKING:``, a typo in a string annotation — refuses the component there,
with the class and the annotation named, instead of letting it receive raw dicts later.

An argument annotated with an interface (``Encoder``) or a class that implements one (``FieldDecoder``)
takes a component of that kind: the first interface in the annotation's MRO. ``list[X]``,
``tuple[X, ...]`` and ``dict[str, X]`` take several, and an annotated ``**kwargs: X`` takes any number
by name. A factory's return annotation, when present, says which class it builds (``slots``, ``zoo
info``'s "fits"); without one the factory counts as its kind's interface.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass
from types import SimpleNamespace, UnionType
from typing import Any, Union

from zoo.errors import ZooError
from zoo.interfaces import KINDS
from zoo.registry import Entry, get_registry

__all__ = ["Signature", "signature", "parameters", "component_kind", "component_slot", "slots"]

_INTERFACE_KINDS = {cls: kind for kind, cls in KINDS.items() if cls is not None}
EMPTY = inspect.Parameter.empty


@dataclass(frozen=True)
class Signature:
    """What recipes need to know of a class or factory."""

    parameters: dict[str, inspect.Parameter]  # those a recipe passes by keyword (no *args, no **kwargs)
    annotations: dict[str, Any]  # resolved, for each parameter and the **kwargs (EMPTY where none)
    var_keyword: str | None  # the name of its **kwargs, when it takes them
    returns: type | None  # the class it builds: a class itself, or a factory's return annotation

    def annotation(self, name: str) -> Any:
        """The annotation argument ``name`` is checked against: its own, else that of the **kwargs."""
        return self.annotations[name if name in self.parameters else self.var_keyword]


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _resolved(function: Any, owner: str) -> dict[str, Any]:
    """The resolved annotations of ``function``, one at a time so that an error names the one that failed."""
    function = inspect.unwrap(function)
    namespace = getattr(function, "__globals__", {})
    hints = {}
    for name, annotation in getattr(function, "__annotations__", {}).items():
        probe = SimpleNamespace(__annotations__={name: annotation})
        try:
            hints |= typing.get_type_hints(probe, globalns=namespace, include_extras=True)  # keeps ExtendedReal's mark
        except Exception as exc:  # NameError for TYPE_CHECKING imports, SyntaxError, TypeError (str | "X"), ...
            raise ZooError(
                f"{owner}: the annotation {annotation!r} of {name!r} can't be resolved ({type(exc).__name__}: "
                f"{exc}); recipes read annotations to check values and to build nested components, so import "
                "what it names at module level (not under `if TYPE_CHECKING:`)"
            ) from None
    return hints


@functools.cache
def signature(obj: Any) -> Signature:
    """The arguments of a class or factory (``functools.partial`` too), their annotations and what it builds.

    Raises ZooError naming the class (or function) and the annotation when an annotation can't be resolved.
    """
    base = obj.func if isinstance(obj, functools.partial) else obj
    owner = _qualified(base)
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError) as exc:
        raise ZooError(f"{owner}: its signature can't be read ({exc}); register a class or a function") from None
    hints = _resolved(base.__init__ if inspect.isclass(base) else base, owner)
    returns = base if inspect.isclass(base) else hints.get("return")
    return Signature(
        parameters={n: p for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)},
        annotations={n: hints.get(n, EMPTY) for n, p in params.items() if p.kind is not p.VAR_POSITIONAL},
        var_keyword=next((n for n, p in params.items() if p.kind is p.VAR_KEYWORD), None),
        returns=returns if inspect.isclass(returns) else None,
    )


def parameters(obj: Any) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """Keyword parameters of a class or factory, their resolved annotations, and whether it takes **kwargs."""
    sig = signature(obj)
    hints = {n: a for n, a in sig.annotations.items() if n in sig.parameters and a is not EMPTY}
    return sig.parameters, hints, sig.var_keyword is not None


def _members(annotation: Any) -> tuple[Any, ...]:
    """The alternatives of a union (``X | None`` -> X, None), without ``Annotated`` marks."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def interface_kind(cls: Any) -> str | None:
    """The kind of the first interface in ``cls``'s MRO (``FieldDecoder`` -> "decoder"), if it is a class."""
    for base in getattr(cls, "__mro__", ()) if inspect.isclass(cls) else ():
        if base in _INTERFACE_KINDS:
            return _INTERFACE_KINDS[base]
    return None


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
    interface = KINDS.get(entry.kind)
    if interface is None:
        return []
    built = signature(entry.obj).returns or interface
    found = []
    for other in get_registry().list():
        if other.kind == "recipe":
            continue
        sig = signature(other.obj)
        for name, annotation in sig.annotations.items():
            accepted = _component_classes(annotation)
            if any(interface_kind(cls) == entry.kind and issubclass(built, cls) for cls in accepted):
                found.append(f"{'**' if name == sig.var_keyword else ''}{name} of {other.kind} {other.name}")
    return found
