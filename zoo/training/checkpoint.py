"""Checkpoints: one directory per saved step, written atomically, loaded without executing anything.

Layout of a run directory::

    run_dir/
      metrics.jsonl                  one JSON record per log/eval step
      checkpoints/
        index.json                   which step is the best by the eval metric
        step_00000200/
          model.safetensors          the weights (safetensors: tensors only, nothing to execute)
          ema.safetensors            the EMA weights, when the run keeps an EMA
          checkpoint.json            step, resolved recipe, plugin provenance, settings, last metrics
          trainer.pt                 optimizer state, RNG states, data position, counters

A step directory is written as ``.tmp-step_...`` and renamed into place with ``os.replace``, so a crash
mid-write leaves the previous checkpoints as they were and never a half-written one under a real name;
one is removed the same way round (renamed to ``.tmp-old-step_...``, then deleted). Debris of either is
ignored, and cleared by the next save. ``trainer.pt`` is read with ``torch.load(weights_only=True)``:
tensors and plain containers only, a pickle that would run code is refused.

The newest *intact* step directory is the one to resume from (``find_checkpoint``): a damaged one (a
truncated file, a header claiming more than the file holds, invalid JSON) is named in a warning and
skipped, and a run is lost only when none is intact.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from zoo.errors import ZooError, ZooWarning

__all__ = [
    "CheckpointError",
    "MissingPluginError",
    "atomic_write_bytes",
    "check_intact",
    "check_provenance",
    "find_checkpoint",
    "list_checkpoints",
    "load_trainer_state",
    "load_weights",
    "read_info",
    "save_checkpoint",
]

STEP_DIR = re.compile(r"^step_(\d{8,})$")


class CheckpointError(ZooError):
    """A checkpoint is missing, incomplete, or not safe to load."""


class MissingPluginError(CheckpointError):
    """A checkpoint was built with a component whose plugin is not installed here."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old file or the new one, never a part: temp + fsync + rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_tree(folder: Path) -> None:
    for file in folder.iterdir():
        with open(file, "rb") as f:
            os.fsync(f.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The step directories of a run, oldest first (complete when written; see ``check_intact``)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and STEP_DIR.match(p.name)]
    return sorted(found, key=lambda p: int(STEP_DIR.match(p.name).group(1)))


def _read_index(root: Path) -> dict[str, Any]:
    path = root / "index.json"
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{path} is damaged ({e}): it no longer says which checkpoint is the best") from None
    if not isinstance(index, dict):
        raise CheckpointError(f"{path} is damaged: expected a JSON object, found {type(index).__name__}")
    return index


def _remove(step_dir: Path) -> None:
    """Delete a step directory; a crash midway leaves debris under a ``.tmp-`` name, never a real one."""
    trash = step_dir.with_name(f".tmp-old-{step_dir.name}")
    os.replace(step_dir, trash)
    shutil.rmtree(trash)


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    *,
    model: nn.Module,
    ema: nn.Module | None,
    trainer_state: dict[str, Any],
    info: dict[str, Any],
    keep_last: int,
    best: dict[str, Any] | None = None,
) -> Path:
    """Write ``run_dir/checkpoints/step_{step}`` atomically, then prune old ones; returns its path.

    ``info`` goes to checkpoint.json (plain data); ``trainer_state`` to trainer.pt (tensors and plain
    containers only). ``best`` (``{"metric", "mode", "value"}``) marks this step as the best so far; the
    best step survives pruning, which keeps the newest ``keep_last`` (0: all).
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):  # left behind by a write that crashed
        shutil.rmtree(stale, ignore_errors=True)

    final = root / f"step_{step:08d}"
    tmp = root / f".tmp-{final.name}"
    tmp.mkdir()
    safetensors.torch.save_model(model, str(tmp / "model.safetensors"))
    if ema is not None:
        safetensors.torch.save_model(ema, str(tmp / "ema.safetensors"))
    torch.save(trainer_state, tmp / "trainer.pt")
    (tmp / "checkpoint.json").write_text(json.dumps({**info, "step": step}, indent=2))
    _fsync_tree(tmp)
    if final.exists():  # the same step saved again (a resumed run stopped before its first update)
        aside = root / f".tmp-old-{final.name}"
        os.replace(final, aside)
        os.replace(tmp, final)
        shutil.rmtree(aside)
    else:
        os.replace(tmp, final)

    if best is not None:
        index = {"best": final.name, **best}
        atomic_write_bytes(root / "index.json", json.dumps(index, indent=2).encode())
    else:
        try:
            index = _read_index(root)
        except CheckpointError as e:  # the next best evaluation rewrites it; training goes on
            warnings.warn(f"{e}; pruning may remove the best checkpoint", stacklevel=2, category=ZooWarning)
            index = {}
    if keep_last:
        for old in list_checkpoints(run_dir)[:-keep_last]:
            if old.name != index.get("best"):
                _remove(old)
    return final


def find_checkpoint(path: str | Path, which: str = "latest") -> Path:
    """A run directory (its ``latest`` or ``best`` step) or a step directory -> the step directory.

    ``latest`` is the newest *intact* step (``check_intact``): newer damaged ones are named in a warning and
    skipped. A CheckpointError lists what is damaged when no step is intact, or when the step asked for
    (``best``, or a step directory given by path) is damaged.
    """
    path = Path(path)
    if (path / "checkpoint.json").is_file() or (STEP_DIR.match(path.name) and path.parent.name == "checkpoints"):
        check_intact(path)
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path} does not exist: expected a run directory written by `zoo train`")
    checkpoints = list_checkpoints(path)
    if not checkpoints:
        raise CheckpointError(f"{path} has no checkpoints (expected {path}/checkpoints/step_*/): "
                              "was it written by `zoo train`, and did the run reach its first checkpoint?")
    if which == "latest":
        damaged = []
        for candidate in reversed(checkpoints):
            try:
                check_intact(candidate)
            except CheckpointError as e:
                damaged.append(str(e))
                continue
            if damaged:
                warnings.warn(f"skipping damaged checkpoint(s): {'; '.join(damaged)}. Using {candidate}, the newest "
                              "intact one", stacklevel=2, category=ZooWarning)
            return candidate
        raise CheckpointError(f"no intact checkpoint in {path}, so the run can't be loaded or resumed: "
                              f"{'; '.join(damaged)}. Restore these files from a copy, or train the run again")
    if which == "best":
        index = _read_index(path / "checkpoints")
        if "best" not in index:
            raise CheckpointError(f"{path} has no best checkpoint: the run never evaluated (eval_every=0 or no "
                                  "held-out split); use which='latest'")
        best = path / "checkpoints" / index["best"]
        try:
            check_intact(best)
        except CheckpointError as e:
            raise CheckpointError(f"the best checkpoint of {path} is damaged: {e}. Use which='latest' for the "
                                  "newest intact one") from None
        return best
    raise ValueError(f"which={which!r}: expected 'latest' or 'best'")


def check_intact(checkpoint: Path) -> None:
    """Raise a CheckpointError naming the first missing or damaged file of a step directory.

    Cheap enough to run on every load: checkpoint.json is parsed, each safetensors header is checked
    against its file's size (a truncated file, or a header claiming more than the file holds, fails
    without the weights being read), and trainer.pt's zip directory (at the end of the file) is read.
    """
    settings = read_info(checkpoint).get("settings")
    keeps_ema = isinstance(settings, dict) and bool(settings.get("ema"))
    for name in ["model.safetensors"] + (["ema.safetensors"] if keeps_ema else []):
        path = Path(checkpoint) / name
        _require_file(path)
        try:
            with safetensors.safe_open(str(path), framework="pt"):
                pass
        except (safetensors.SafetensorError, OSError) as e:
            raise CheckpointError(f"{path} is damaged ({e}): truncated, or not a safetensors file") from None
    path = Path(checkpoint) / "trainer.pt"
    _require_file(path)
    try:
        with zipfile.ZipFile(path):
            pass
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path} is damaged ({e}): truncated, or not written by torch.save") from None


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete")


def read_info(checkpoint: Path) -> dict[str, Any]:
    """checkpoint.json: step, recipe, provenance, settings, metrics. A CheckpointError when it is damaged."""
    path = Path(checkpoint) / "checkpoint.json"
    _require_file(path)
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{path} is damaged: not valid JSON ({e})") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path} is damaged: expected a JSON object, found {type(info).__name__}")
    provenance = info.get("provenance")
    if not isinstance(info.get("step"), int) or not isinstance(provenance, list) or not all(
            isinstance(item, dict) and {"kind", "name"} <= item.keys() for item in provenance):
        raise CheckpointError(f"{path} is damaged: it lacks the step or the provenance (a list of "
                              "{kind, name, plugin, distribution, version}) that every checkpoint records")
    return info


def load_weights(checkpoint: Path, model: nn.Module, *, ema: bool = False) -> None:
    """Load ``model.safetensors`` (or ``ema.safetensors``) into ``model``, which must match it exactly."""
    path = Path(checkpoint) / ("ema.safetensors" if ema else "model.safetensors")
    _require_file(path)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        safetensors.torch.load_model(model, str(path), strict=True, device=str(device))
    except safetensors.SafetensorError as e:
        raise CheckpointError(f"{path} is damaged ({e}): truncated, or not a safetensors file") from None
    except RuntimeError as e:
        raise CheckpointError(f"the weights in {path} do not fit the model built from its recipe: {e}") from e


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    """trainer.pt, read with ``weights_only=True``: a file that would execute code is refused."""
    path = Path(checkpoint) / "trainer.pt"
    _require_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"refusing to load {path}: it holds objects other than tensors and plain data, and unpickling "
            f"them could execute code. Only load trainer states that this program wrote. ({e})"
        ) from e
    except (RuntimeError, EOFError) as e:  # torch's zip reader on a truncated or empty file
        raise CheckpointError(f"{path} is damaged ({e}): truncated, or not written by torch.save") from None


# PEP 508's distribution name; a version is pinned only when it holds a version's characters (PEP 440)
DISTRIBUTION_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$")


def _install_hint(dist: Any, version: Any) -> str:
    """``pip install 'name==1.0'``, quoted for a shell: a run directory may come from someone else."""
    if not isinstance(dist, str) or not DISTRIBUTION_NAME.match(dist):
        return f"the checkpoint names no valid distribution to install ({dist!r} is not a package name)"
    pin = f"{dist}=={version}" if isinstance(version, str) and VERSION.match(version) else dist
    return f"pip install {shlex.quote(pin)}"


def check_provenance(provenance: list[dict[str, Any]]) -> None:
    """Fail if a component that built the checkpoint is not installed; warn if its version changed.

    ``provenance`` entries are ``{kind, name, plugin, distribution, version}`` (``zoo.recipes.provenance``).
    """
    from zoo.errors import UnknownComponentError
    from zoo.registry import get_registry

    registry = get_registry()
    for item in provenance:
        kind, name, dist, version = item["kind"], item["name"], item.get("distribution"), item.get("version")
        try:
            entry = registry.get(kind, name)
        except UnknownComponentError:
            raise MissingPluginError(
                f"this checkpoint was built with the {kind} {name!r} from the plugin {item.get('plugin')!r} "
                f"(distribution {dist} {version}), which is not installed here: {_install_hint(dist, version)} "
                f"(then check `zoo list --kind {kind}`)"
            ) from None
        if version and entry.version != version:
            warnings.warn(f"this checkpoint was built with {dist} {version}, but {entry.distribution} "
                          f"{entry.version} provides the {kind} {name!r} here: it may behave differently",
                          stacklevel=2, category=ZooWarning)
