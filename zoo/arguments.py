"""What a component's constructor says of its own arguments: the range of each number, and former names.

Both are written next to the arguments, as an annotation or a decorator, and both are read by the recipe
checker (``zoo.recipes``, which re-exports them). This module imports nothing of the zoo, so the core's
own datasets and layers use it too.

- Ranges: ``Annotated[int, Interval(ge=1)]``, or the aliases ``PositiveInt``, ``NonNegativeInt``,
  ``PositiveFloat``, ``NonNegativeFloat``, ``Probability``; ``zoo.recipes.check_value`` enforces them with
  the path and the range in the message, so a constructor needs no hand-written range check.
- Renames: the old name keeps working for one minor version, with a DeprecationWarning naming the new::

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
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

__all__ = [
    "Interval", "NonNegativeFloat", "NonNegativeInt", "PositiveFloat", "PositiveInt", "Probability",
    "renamed_arguments", "renamed_from", "warn_renamed",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Interval:
    """A ``Annotated`` mark: the number must lie in this interval (a bound left ``None`` is open).

    ``Annotated[int, Interval(ge=1)]`` is a count of at least one; ``Annotated[float, Interval(gt=0, le=1)]``
    a fraction. ``check_value`` enforces it; ``describe()`` reads as the message does (``>= 1``).
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def describe(self) -> str:
        bounds = [(">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)]
        return " and ".join(f"{op} {bound:g}" for op, bound in bounds if bound is not None)

    def contains(self, value: float) -> bool:
        return not ((self.ge is not None and not value >= self.ge) or (self.gt is not None and not value > self.gt)
                    or (self.le is not None and not value <= self.le) or (self.lt is not None and not value < self.lt))


PositiveInt = Annotated[int, Interval(ge=1)]
NonNegativeInt = Annotated[int, Interval(ge=0)]
PositiveFloat = Annotated[float, Interval(gt=0)]
NonNegativeFloat = Annotated[float, Interval(ge=0)]
Probability = Annotated[float, Interval(ge=0, le=1)]



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
