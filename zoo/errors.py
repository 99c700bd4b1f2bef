"""The zoo's errors. Each message says what was wrong, what was expected and what to do."""

from __future__ import annotations

import signal
import difflib
from pathlib import Path


def did_you_mean(name: str, candidates: list[str]) -> str:
    """`` — did you mean 'siren'?`` or an empty string."""
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f" — did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class ZooError(Exception):
    """Base class: anything the zoo reports to a person rather than a traceback."""


class ZooWarning(UserWarning):
    """Something a person should know that does not stop the work (``zoo`` prints it as one ``warning:`` line)."""


class UnknownComponentError(ZooError, KeyError):
    """A (kind, name) that no loaded plugin registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DuplicateComponentError(ZooError):
    """Two plugins registered the same (kind, name)."""


class PluginError(ZooError):
    """A plugin failed to load (only raised with ZOO_STRICT_PLUGINS=1; otherwise it is listed as broken)."""


class RecipeError(ZooError, ValueError):
    """A recipe that can't be built: unknown names, wrong argument names or types, mismatched parts.

    ``path`` is where in the recipe tree the problem is, e.g. ``model.decoder.field.hidden_dim``.
    """

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}" if path else message)


class IncompatibleComponentsError(ZooError, ValueError):
    """Components that don't fit together (latent sizes, coordinate dims, data shapes).

    Raised by a component's constructor; the recipe builder adds the recipe path to the message.
    """


class DataError(ZooError, ValueError):
    """Data that can't be used as asked: an unknown split or option, a corrupt or unreadable file."""


class DataNotFoundError(ZooError, FileNotFoundError):
    """A dataset's files are not where they were looked for; the message says where and how to get them."""

    def __str__(self) -> str:  # OSError would print the args tuple
        return str(self.args[0]) if self.args else ""


class MissingExtraError(ZooError):
    """An optional dependency is not installed; ``install`` is the line that installs it."""

    def __init__(self, message: str, install: str):
        self.install = install
        super().__init__(f"{message}: {install}")


class TrainingInterrupted(ZooError):
    """Training was stopped by a signal (Ctrl-C's SIGINT, SIGTERM, SIGHUP) after saving a checkpoint.

    Raised by ``zoo.train`` / ``zoo.training.train`` / ``resume`` so that a caller can tell a stopped run from
    a finished one (the ``zoo`` command exits with 128 + the signal's number, 130 after Ctrl-C, as a shell
    does); ``run_dir``, ``step`` and ``signal`` say what was saved and why. ``zoo.training.fit`` itself
    returns ``FitResult(interrupted=True)`` instead. ``zoo resume`` continues the run.
    """

    def __init__(self, run_dir: Path, step: int, stopped_by: int = signal.SIGINT):
        self.run_dir, self.step, self.signal = run_dir, step, signal.Signals(stopped_by)
        super().__init__(f"interrupted at step {step} by {self.signal.name}: a checkpoint was saved; continue with "
                         f"`zoo resume {run_dir}`")


class TrainingAborted(KeyboardInterrupt):
    """A second stop signal while training stopped for the first: the process leaves at once.

    The checkpoint being written is abandoned (it never appears under a real name); those written before
    stay intact. A ``KeyboardInterrupt``, so that no ``except Exception`` swallows it.
    """

    def __init__(self, stopped_by: int):
        self.signal = signal.Signals(stopped_by)
        super().__init__(f"{self.signal.name} again while stopping: aborted at once (the checkpoints already "
                         "written are intact)")
