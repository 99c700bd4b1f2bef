"""How the zoo reads a constructor: its arguments, their resolved annotations, and the class it builds.

A component is a class or a factory function. ``signature(obj)`` inspects it once (the result is cached),
when it is registered: ``zoo.registry.Registry`` calls it, so an annotation that can't be resolved — a name
imported under ``if TYPE_CHECKING:``, a typo in a string annotation — refuses the component there, with the
class and the annotation named, instead of letting it receive raw dicts later. A factory's return
annotation, when present, says which class it builds.

This module knows nothing of kinds or the registry (``zoo.recipes.signatures`` maps annotations to kinds
through the registry), so the registry can use it without importing the recipes.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from zoo.errors import ZooError

__all__ = ["EMPTY", "Signature", "signature", "parameters"]

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
