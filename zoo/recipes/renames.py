"""Renamed arguments: the old name keeps working for one minor version, with a DeprecationWarning naming the new.

    class VAE(Model):
        @renamed_arguments(binarize="dynamic_binarize")
        def __init__(self, ..., dynamic_binarize: bool = False): ...

Python callers passing ``binarize=`` get the new argument and a warning; so do recipes that state
``binarize:`` (``zoo.recipes.building`` reads ``renamed_from``), and ``zoo info`` shows only the new name.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed_arguments", "renamed_from", "warn_renamed"]

F = TypeVar("F", bound=Callable[..., Any])


def warn_renamed(old: str, new: str, *, stacklevel: int) -> None:
    """The DeprecationWarning for an argument (or a recipe path) ``old`` now called ``new``."""
    warnings.warn(f"{old} is now called {new}; the old name goes in the next minor version", DeprecationWarning,
                  stacklevel=stacklevel + 1)


def renamed_arguments(**renames: str) -> Callable[[F], F]:
    """Decorate a constructor (or a factory) whose keyword arguments ``old=new`` were renamed."""
    def decorate(function: F) -> F:
        taken = inspect.signature(function).parameters
        for old, new in renames.items():
            if new not in taken or old in taken:
                raise TypeError(f"renamed_arguments({old}={new!r}): {function.__qualname__} must take {new!r} "
                                f"and not {old!r}")

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{function.__qualname__} got both {old}= and its new name {new}=")
                    warn_renamed(f"{old}=", f"{new}=", stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        wrapper.renamed_from = dict(renames)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def renamed_from(component: Any) -> dict[str, str]:
    """``{old: new}`` of a registered class or factory whose constructor was decorated; {} otherwise."""
    function = component.__init__ if inspect.isclass(component) else component
    return dict(getattr(function, "renamed_from", {}))
