"""What a run draws for a person: artifacts, registered by plugins with the ``register_artifacts`` hook.

An artifact is a function ``write(run, out, *, <options>) -> list[Path]`` that draws from a ``Run`` (the
trained model, its directory, its last evaluation and its data) into ``out``, registered with the class of
models it applies to (a capability from ``zoo.interfaces`` or the plugin's own), the file or folder it
writes by default and the command that runs it::

    register("samples", samples, applies_to=Sampler, output="samples.png", command="sample")

- ``zoo sample | interpolate | render | export RUN`` runs the one artifact of that command that applies to the run's
  model; of several, the one registered for the most specific class in the model's MRO, as
  ``functools.singledispatch`` picks a function (zoo_vdvae's temperature samples, for a VDVAE, over the
  core's samples, for any Sampler). ``command=None``: not run by a command.
- ``applies_if(run) -> bool`` narrows an artifact to some runs of its class, by their data (the core's video
  of a fitted signal draws a ``Renderer`` whose items are videos ``(c, t, h, w)``): where it says no, the
  artifact does not apply; where it says yes, it comes before the unconditioned ones of the same class
  (the video render over the image render, for a video).
- ``zoo train`` writes, after training, what each command would run for its model and every artifact
  without a command that applies, each with its defaults (``after_training=False`` leaves one out).
- Options are the keyword-only parameters of ``write``, each with a default, annotated as constructor
  arguments are (``PositiveInt``, ``Annotated[float, Interval(ge=0, le=2)]``; a string in ``Annotated`` is
  its help) and checked by ``zoo.recipes.check_value``: ``--temperature -1`` is one line naming the option
  and its range. On the command line an option ``temperature`` is ``--temperature`` (``n`` is ``-n``).
- ``output`` is a file name (``samples.png``), a folder (``render/``), or a pattern of the options
  (``render-{size}.png``); ``--out`` must name the same (a ``.png`` file, a folder).
- Sizes are estimated before they are allocated: ``check_memory`` refuses a picture that would need more
  than a quarter of the machine's memory (or the GPU's) with the number and the option to lower. An
  artifact that can't draw this run (its items are not pictures) raises ``NothingToDraw``: ``zoo train``
  skips it, a command says why.
"""

from __future__ import annotations

import functools
import inspect
import os
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from zoo.errors import MissingExtraError, ZooError, ZooWarning
from zoo.interfaces import Model

if TYPE_CHECKING:  # zoo.registry imports this module
    from zoo.registry import Entry

__all__ = ["COMMANDS", "Artifact", "NothingToDraw", "Run", "check_memory", "choose", "draw", "draw_samples",
           "spatial_size", "write_after_training"]

COMMANDS = ("sample", "interpolate", "render", "export")
RESERVED = ("run_dir", "which", "device")  # arguments of the Python API's sample / interpolate / render themselves
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".mp4", ".webp")
MEMORY_FRACTION = 0.25  # of the machine's (and a GPU's) memory one picture may take
BYTES_PER_VALUE = 4  # float32


class NothingToDraw(ZooError):
    """This artifact can't draw this run (its data items are not pictures, it has no such metrics, ...)."""


def flag(option: str) -> str:
    """``n`` -> ``-n``, ``num_frames`` -> ``--num-frames``: an option as the command line spells it."""
    return f"-{option}" if len(option) == 1 else f"--{option.replace('_', '-')}"


@dataclass(frozen=True)
class Artifact:
    """A registered artifact: ``write`` and what the core needs to know to run it (see the module docstring)."""

    write: Callable[..., list[Path]]
    applies_to: type
    output: str
    command: str | None = None
    after_training: bool = True
    applies_if: Callable[[Run], bool] | None = None

    def applies(self, model: Model, run: Run | None = None) -> bool:
        """Whether it draws ``model`` (an ``applies_to``) of ``run`` (``applies_if``; without a run, only an
        unconditioned artifact applies)."""
        if not isinstance(model, self.applies_to):
            return False
        if self.applies_if is None:
            return True
        try:
            return run is not None and bool(self.applies_if(run))
        except NothingToDraw:  # a run without the data to decide by
            return False

    def __post_init__(self) -> None:
        if not inspect.isclass(self.applies_to):
            raise ZooError(f"applies_to={self.applies_to!r}: name the class of models it draws (a capability "
                           "from zoo.interfaces, or your own)")
        if self.command not in (None, *COMMANDS):
            raise ZooError(f"command={self.command!r}: expected one of {', '.join(COMMANDS)}, or None for an "
                           "artifact that only `zoo train` writes")
        if self.command is None and not self.after_training:
            raise ZooError("an artifact without a command and with after_training=False would never run")
        params = list(inspect.signature(self.write).parameters.values())
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        others = [p for p in params if p.kind is not p.KEYWORD_ONLY and p not in positional]
        if len(positional) != 2 or others:
            raise ZooError(f"{self.write.__qualname__} must be write(run, out, *, <options>): two positional "
                           "arguments, the options keyword-only")
        for p in params[2:]:
            if p.default is p.empty or p.name in RESERVED:
                problem = "has no default" if p.default is p.empty else "is a name the Python API takes itself"
                raise ZooError(f"{self.write.__qualname__}: option {p.name!r} {problem} (options have defaults: "
                               "`zoo train` draws with them)")

    @property
    def __wrapped__(self) -> Callable[..., list[Path]]:
        """The registry and ``zoo info`` read ``write``'s signature and docstring through this."""
        return self.write

    def __call__(self, run: Run, out: Path, **options: Any) -> list[Path]:
        return self.write(run, out, **options)

    @functools.cached_property
    def options(self) -> dict[str, inspect.Parameter]:
        """Its options by name: the keyword-only parameters of ``write``."""
        return {n: p for n, p in inspect.signature(self.write).parameters.items() if p.kind is p.KEYWORD_ONLY}

    @functools.cached_property
    def annotations(self) -> dict[str, Any]:
        """Each option's resolved annotation (``Annotated`` marks kept)."""
        from zoo.recipes import signature

        return {n: signature(self).annotation(n) for n in self.options}

    def check(self, options: dict[str, Any], *, name: str, model: str) -> dict[str, Any]:
        """``options`` checked against their annotations; a ZooError names an option it does not take (``name``
        is the artifact's, ``model`` the class it draws, for the message)."""
        from zoo.recipes import check_value

        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = f"it takes {', '.join(map(flag, self.options))}" if self.options else "it takes no options"
            raise ZooError(f"{flag(unknown[0])}: `zoo {self.command}` draws a {model} with the artifact {name!r} "
                           f"(for any {self.applies_to.__name__}), which takes no {flag(unknown[0])}; {takes} "
                           f"(see: zoo info {name})")
        return {key: check_value(value, self.annotations[key], flag(key)) for key, value in options.items()}

    def out_path(self, directory: Path, options: dict[str, Any], out: str | Path | None = None) -> Path:
        """Where it writes: ``out`` (checked to be what it writes, a file of its suffix or a folder), else its
        ``output`` in ``directory``, the pattern filled with the options (defaults for those not given)."""
        folder = self.output.endswith("/")
        if out is None:
            defaults = {n: p.default for n, p in self.options.items()}
            return directory / self.output.format(**{**defaults, **options}).rstrip("/")
        out = Path(out)
        suffix = Path(self.output).suffix.lower()
        if folder and (out.suffix.lower() in PICTURE_SUFFIXES or out.is_file()):
            raise ZooError(f"-o/--out {out}: this writes a folder of pictures ({self.output}); name a folder")
        if not folder and out.suffix.lower() != suffix:
            raise ZooError(f"-o/--out {out}: this writes a {suffix} file ({self.output}); name one that ends in "
                           f"{suffix}")
        return out


class Run:
    """What an artifact draws from: ``model`` (in eval mode while it draws), ``directory`` (the run's),
    ``metrics`` (its last evaluation, possibly empty) and ``test_set`` (held out; built from ``recipe`` when
    first used, so a picture that needs no data works without the data's files)."""

    def __init__(self, model: Model, directory: str | Path, *, recipe: dict | None = None,
                 test_set: Dataset | None = None, metrics: dict[str, float] | None = None):
        self.model, self.directory, self.recipe = model, Path(directory), recipe
        self.metrics = dict(metrics or {})
        if test_set is not None:
            self.test_set = test_set

    @functools.cached_property
    def test_set(self) -> Dataset:
        from zoo.recipes import build_dataset

        if self.recipe is None:
            raise NothingToDraw(f"{self.directory} has no recipe to build its data from")
        return build_dataset(self.recipe, "test")

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one data item (every zoo dataset knows it)."""
        return tuple(self.test_set.shape)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters(), torch.empty(0)).device

    def image_shape(self, what: str) -> tuple[int, int, int]:
        """The data's ``(c, h, w)``, or NothingToDraw saying that ``what`` are pictures of items of another shape."""
        if len(self.shape) != 3:
            raise NothingToDraw(f"{what} are pictures, but this run's data items have shape {self.shape}, "
                                "not (c, h, w)")
        return self.shape

    def stack(self, indices) -> Tensor:
        """Held-out items ``(n, ...)`` on the model's device."""
        return torch.stack([self.test_set[i] for i in indices]).to(self.device)


def spatial_size(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    """The spatial shape ``shape[1:]`` of items ``(c, ...)`` scaled so that its longest side is ``size``."""
    spatial = shape[1:]
    return tuple(max(1, round(n * size / max(spatial))) for n in spatial)


def _machine_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): nothing to compare with
        return None


def _bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_memory(values: int, *, what: str, lower: str, device: torch.device | None = None) -> None:
    """Refuse, before allocating, a picture of ``values`` numbers that would need more than a quarter of the
    machine's memory or of a GPU ``device``'s: the message names ``what``, the numbers and ``lower``, the
    options that shrink it."""
    need = values * BYTES_PER_VALUE
    limits = [("this machine's", _machine_memory())]
    if device is not None and device.type == "cuda":
        limits.append((f"{device}'s", torch.cuda.get_device_properties(device).total_memory))
    for where, total in limits:
        if total is not None and need > MEMORY_FRACTION * total:
            raise ZooError(f"{what} would need {_bytes(need)} ({values:,} numbers of {BYTES_PER_VALUE} bytes), more "
                           f"than a quarter of {where} {_bytes(total)} of memory: lower {lower}")


POINT_RESOLUTION = 200  # cells per side of the histogram that shows samples of 2-D points


def draw_samples(run: Run, out: Path, *, n: int, seed: int, **options: Any) -> list[Path]:
    """``n`` samples of a Sampler, ``model.sample(n, **options)`` after seeding with ``seed``, as a PNG grid; samples
    of 2-D points ``(n, 2)`` as their histogram (``zoo sample RUN -n 20000``).

    One sample is drawn first for its shape, so a grid too big for memory is refused before it is drawn.
    """
    from zoo import viz

    torch.manual_seed(seed)
    one = run.model.sample(1, **options)
    check_memory(n * one[0].numel(), what=f"{n} samples of shape {tuple(one.shape[1:])}", lower="-n or --size",
                 device=one.device)
    if one.shape[1:] == (2,):  # 2-D points: their histogram on the window of the held-out data
        data = run.stack(range(len(run.test_set))) if run.shape == (2,) else None
        torch.manual_seed(seed)
        points = run.model.sample(n, **options).detach()
        low, high = viz.point_window(points if data is None else data)
        picture = viz.heat_map(viz.point_histogram(points, low, high, POINT_RESOLUTION))
        return [viz.save_image_grid(picture[None], out, row_labels=[f"{n} samples"])]
    if one.dim() != 4:
        raise NothingToDraw(f"samples of shape {tuple(one.shape[1:])} are not pictures (c, h, w): save them with "
                            "torch.save")
    torch.manual_seed(seed)
    return [viz.save_image_grid(run.model.sample(n, **options).detach(), out)]


def choose(command: str, model: Model, run: Run | None = None) -> Entry:
    """The registry entry of the artifact ``command`` runs for ``model`` of ``run`` (see the module docstring;
    without a run, of the unconditioned artifacts), or a ZooError saying what the model can do instead."""
    from zoo.registry import get_registry

    entries = get_registry().list("artifact")
    found = _dispatch(entries, command, model, run)
    if found is not None:
        return found
    can = [c for c in COMMANDS if _dispatch(entries, c, model, run) is not None]
    drawn = {e.obj.applies_to for e in entries if e.obj.command == command}
    broadest = sorted(c.__name__ for c in drawn if not any(c is not d and issubclass(c, d) for d in drawn))
    what = f"it can: {', '.join(can)}" if can else "it has none of the capabilities the zoo's commands draw"
    raise ZooError(f"{type(model).__name__} can't {command}: `zoo {command}` draws a {' or a '.join(broadest)}, "
                   f"which it is not; {what}" if broadest else f"no artifact of `zoo {command}` is registered")


def _dispatch(entries: list[Entry], command: str | None, model: Model, run: Run | None = None) -> Entry | None:
    """The entry for ``command`` registered for the most specific class of the model's MRO, a conditioned one
    (``applies_if``) before an unconditioned one of the same class (None: none applies)."""
    mro = type(model).__mro__

    def rank(entry: Entry) -> tuple[int, bool]:  # the last class of the MRO still a subclass: the capability itself
        return max(i for i, c in enumerate(mro) if issubclass(c, entry.obj.applies_to)), entry.obj.applies_if is None

    applying = sorted((e for e in entries if e.obj.command == command and e.obj.applies(model, run)), key=rank)
    if len(applying) > 1 and rank(applying[0]) == rank(applying[1]):
        first, second = applying[:2]
        raise ZooError(f"artifacts {first.name!r} (plugin {first.plugin}) and {second.name!r} (plugin {second.plugin}) "
                       f"both draw `zoo {command}` for a {first.obj.applies_to.__name__}: uninstall one, or restrict "
                       "loading with ZOO_LOAD_PLUGINS")
    return applying[0] if applying else None


def draw(entry: Entry, run: Run, out: Path, options: dict[str, Any]) -> list[Path]:
    """Run one artifact with checked ``options`` into ``out``, the model in eval mode; running out of memory
    anyway is one line naming the options to lower."""
    model, was_training = run.model, run.model.training
    model.eval()
    try:
        return entry.obj(run, out, **options)
    except (MemoryError, RuntimeError) as error:  # torch's CPU allocator and torch.OutOfMemoryError: RuntimeErrors
        if isinstance(error, RuntimeError) and "memory" not in str(error).lower():
            raise
        given = ", ".join(flag(o) for o in options) or "its size options"
        raise ZooError(f"{entry.name} ran out of memory ({type(error).__name__}): lower {given} (see: zoo info "
                       f"{entry.name})") from error
    finally:
        model.train(was_training)


def write_after_training(run: Run) -> list[Path]:
    """What ``zoo train`` writes at the end: for each command the artifact it runs for this model (when it runs
    after training), then every artifact without a command that applies, each with its defaults.

    Artifacts with nothing to draw are skipped; those that need an extra that is not installed (matplotlib)
    are named in one warning with the install line.
    """
    from zoo.registry import get_registry

    entries = get_registry().list("artifact")
    chosen = [_dispatch(entries, command, run.model, run) for command in COMMANDS]
    chosen = [e for e in chosen if e is not None and e.obj.after_training]
    chosen += [e for e in entries if e.obj.command is None and e.obj.applies(run.model, run)]
    written, missing = [], {}
    for entry in chosen:
        out = entry.obj.out_path(run.directory, {})
        try:
            written += draw(entry, run, out, {})
        except NothingToDraw:
            continue
        except MissingExtraError as exc:
            missing.setdefault(exc.install, []).append(out.name)
    for install, names in missing.items():
        warnings.warn(f"no {', '.join(names)}: {'they need' if len(names) > 1 else 'it needs'} an extra that is not "
                      f"installed: {install}", ZooWarning, stacklevel=2)
    return written


def option_help(annotation: Any) -> str:
    """The help text of an option: the strings in its ``Annotated`` marks."""
    if typing.get_origin(annotation) is typing.Annotated:
        return " ".join(m for m in typing.get_args(annotation)[1:] if isinstance(m, str))
    return ""
