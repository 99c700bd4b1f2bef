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
        damaged/step_00000300/       a step folder that could not be loaded, set aside (not deleted)

A step directory is written as ``.tmp-step_...`` and renamed into place with ``os.replace``, so a crash
mid-write leaves the previous checkpoints as they were and never a half-written one under a real name;
one is removed the same way round (renamed to ``.tmp-old-step_...``, then deleted). Debris of either is
ignored, and cleared by the next save. ``trainer.pt`` is read with ``torch.load(weights_only=True)``:
tensors and plain containers only, a pickle that would run code is refused.

The newest *intact* step directory is the one to load (``find_checkpoint``) and the newest one whose
trainer state is also consistent is the one to resume from (``find_resumable``): a damaged one (a
truncated file, a header claiming more than the file holds, invalid JSON, a counter that contradicts
checkpoint.json) is named in a warning and skipped, and a run is lost only when none is intact. Pruning
ranks only what it can load: a damaged step is set aside in ``checkpoints/damaged/`` (named once, never
counted among the kept), and the step just written is never pruned. Nothing a run directory says is
trusted: ``index.json`` must name a step folder of this run, trainer.pt's counters must agree with
checkpoint.json. A write that fails (a full disk) is one ``CheckpointWriteError`` naming the folder, the
bytes needed and free, and the newest good checkpoint; the half-written step is removed.
"""

from __future__ import annotations

import itertools
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
    "CheckpointWriteError",
    "MissingPluginError",
    "atomic_write_bytes",
    "check_intact",
    "check_provenance",
    "check_trainer_state",
    "find_checkpoint",
    "find_resumable",
    "list_checkpoints",
    "load_trainer_state",
    "load_weights",
    "read_info",
    "save_checkpoint",
]

STEP_DIR = re.compile(r"^step_(\d{8,})$")
DAMAGED = "damaged"  # checkpoints/damaged/: step folders set aside because they could not be loaded


class CheckpointError(ZooError):
    """A checkpoint is missing, incomplete, or not safe to load."""


class MissingPluginError(CheckpointError):
    """A checkpoint was built with a component whose plugin is not installed here."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (a full disk, a failed write); the ones written before are intact."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old file or the new one, never a part: temp + fsync + rename.

    A write that fails removes its temporary file, so nothing half-written stays behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def space_report(folder: Path, needed: int) -> str:
    """``needs about 1,234 bytes, 56 are free in FOLDER (the disk is full)``: what a failed write says of the disk."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return f"needs about {needed:,} bytes in {folder}, whose free space is unknown"
    full = " (the disk is full)" if free < needed else ""
    return f"needs about {needed:,} bytes, {free:,} are free in {folder}{full}"


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


def _best_entry(root: Path) -> str | None:
    """The step folder index.json names as the best, checked to be a step folder of this run (or None)."""
    index = _read_index(root)
    if "best" not in index:
        return None
    best = index["best"]
    # a bare step_XXXXXXXX name, resolving inside this run: never "../../other-run/checkpoints/step_..."
    if not isinstance(best, str) or not STEP_DIR.fullmatch(best) or (root / best).resolve().parent != root.resolve():
        raise CheckpointError(f"{root / 'index.json'} is damaged: its best entry {best!r} is not a step folder of "
                              f"this run (expected a name like step_00000100 in {root})")
    return best


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
    containers only). ``best`` (``{"metric", "mode", "value"}``) marks this step as the best so far.
    Pruning (``_prune``) keeps this step, the best one and the newest ``keep_last`` loadable ones (0: all),
    and sets damaged ones aside. A write that fails raises ``CheckpointWriteError`` and leaves no trace.
    """
    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:08d}"
    tmp, aside = root / f".tmp-{final.name}", root / f".tmp-old-{final.name}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp-*"):  # left behind by a write that crashed
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir()
        safetensors.torch.save_model(model, str(tmp / "model.safetensors"))
        if ema is not None:
            safetensors.torch.save_model(ema, str(tmp / "ema.safetensors"))
        torch.save(trainer_state, tmp / "trainer.pt")
        (tmp / "checkpoint.json").write_text(json.dumps({**info, "step": step}, indent=2))
        _fsync_tree(tmp)
        damage = _damage(final, trainer_state=True) if final.exists() else None
        if damage is not None:  # a resume passed over it: it goes aside, not away
            _set_aside(final, damage)
        if final.exists():  # the same step saved again (a resumed run stopped before its first update)
            os.replace(final, aside)
            os.replace(tmp, final)
            shutil.rmtree(aside)
        else:
            os.replace(tmp, final)
    except BaseException as e:  # a failed write, or a second stop signal: nothing half-written stays behind
        shutil.rmtree(tmp, ignore_errors=True)
        if aside.exists() and not final.exists():  # stopped between the two renames: the old one goes back
            os.replace(aside, final)
        if isinstance(e, (OSError, RuntimeError, safetensors.SafetensorError)):  # torch.save fails as RuntimeError
            raise _write_failed(Path(run_dir), final, e, _bytes_needed(model, ema, trainer_state)) from e
        raise
    if best is not None:
        index = json.dumps({"best": final.name, **best}, indent=2).encode()
        try:
            atomic_write_bytes(root / "index.json", index)
        except OSError as e:
            raise CheckpointWriteError(f"could not write {root / 'index.json'} ({e.strerror or e}): it "
                                       f"{space_report(root, len(index))}; {final} was written, and the index still "
                                       "names the best before it") from e
    _prune(Path(run_dir), final, keep_last)
    return final


def _bytes_needed(model: nn.Module, ema: nn.Module | None, trainer_state: Any) -> int:
    """About what a checkpoint takes on disk: its tensors' bytes (the rest is small)."""
    def nbytes(value: Any) -> int:
        if isinstance(value, torch.Tensor):
            return value.numel() * value.element_size()
        if isinstance(value, dict):
            return sum(map(nbytes, value.values()))
        if isinstance(value, (list, tuple)):
            return sum(map(nbytes, value))
        return 0
    return sum(nbytes(m.state_dict()) for m in (model, ema) if m is not None) + nbytes(trainer_state)


def _write_failed(run_dir: Path, final: Path, error: Exception, needed: int) -> CheckpointWriteError:
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if isinstance(error, OSError) and error.strerror:
        reason = error.strerror
    good = next((p for p in reversed(list_checkpoints(run_dir)) if p != final and _damage(p) is None), None)
    then = (f"the newest good checkpoint is {good}. Free some space (or fix the folder), then `zoo resume {run_dir}`"
            if good is not None else "no checkpoint of this run was written yet. Free some space (or fix the folder) "
            "and train again")
    return CheckpointWriteError(f"could not write checkpoint {final.name} ({reason}): it "
                                f"{space_report(final.parent, needed)}; {then}")


def _damage(step_dir: Path, *, trainer_state: bool = False) -> str | None:
    """Why ``step_dir`` can't be used (``check_intact``; with ``trainer_state``, also ``check_trainer_state``)."""
    try:
        check_intact(step_dir)
        if trainer_state:
            load_trainer_state(step_dir)
    except CheckpointError as e:
        return str(e)
    return None


def _prune(run_dir: Path, written: Path, keep_last: int) -> None:
    """Keep the newest ``keep_last`` loadable steps (0: all) and the best; set the damaged ones aside.

    Only what loads is ranked: a damaged step is moved to ``checkpoints/damaged/`` (so it is neither kept
    in place of a good one nor offered again), and ``written``, the step just saved, is always kept. A step
    newer than it exists only when a resume passed over it, so it is checked to its trainer state. Keeping
    all (``keep_last=0``) ranks nothing: then only the newer steps are checked.
    """
    root = run_dir / "checkpoints"
    try:
        best = _best_entry(root)
    except CheckpointError as e:  # the next best evaluation rewrites it; training goes on
        warnings.warn(f"{e}; pruning ranks the steps without it", stacklevel=3, category=ZooWarning)
        best = None
    if best is not None and (root / best).is_dir() and (root / best) != written:
        damage = _damage(root / best)
        if damage is not None:  # no reason to keep it, nor to delete it unsaid
            _set_aside(root / best, damage)
            best = None
    written_step, kept = _step_number(written), 0
    for step_dir in reversed(list_checkpoints(run_dir)):
        older = _step_number(step_dir) < written_step
        if step_dir != written and step_dir.name != best and (keep_last or not older):  # keep all: nothing to rank
            if keep_last and kept >= keep_last and older:
                _remove(step_dir)  # older than the kept ones, intact or not
                continue
            damage = _damage(step_dir, trainer_state=not older)
            if damage is not None:
                _set_aside(step_dir, damage)
                continue
        kept += 1


def _step_number(step_dir: Path) -> int:
    return int(STEP_DIR.match(step_dir.name).group(1))


def _set_aside(step_dir: Path, damage: str) -> None:
    """Move a damaged step folder to ``checkpoints/damaged/`` (renamed, not deleted: it may be repaired)."""
    target = step_dir.parent / DAMAGED / step_dir.name
    target.parent.mkdir(exist_ok=True)
    for n in itertools.count(1):
        if not target.exists():
            break
        target = target.with_name(f"{step_dir.name}.{n}")
    os.replace(step_dir, target)
    warnings.warn(f"set the damaged checkpoint {step_dir.name} aside in {target}, where it is neither used nor "
                  f"counted among the kept: {damage}", stacklevel=4, category=ZooWarning)


def _warn_damaged(damaged: list[str], using: Path) -> None:
    # one place, one text: a resume looks twice (for the recipe, then to continue) and says it once
    if damaged:
        warnings.warn(f"skipping damaged checkpoint(s): {'; '.join(damaged)}. Using {using}, the newest intact one",
                      stacklevel=1, category=ZooWarning)


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
        return _newest(path, checkpoints, trainer_state=False)[0]
    if which == "best":
        name = _best_entry(path / "checkpoints")
        if name is None:
            raise CheckpointError(f"{path} has no best checkpoint: the run never evaluated (eval_every=0 or no "
                                  "held-out split); use which='latest'")
        best = path / "checkpoints" / name
        if not best.exists() and (path / "checkpoints" / DAMAGED / name).is_dir():
            raise CheckpointError(f"the best checkpoint of {path}, {name}, was damaged and set aside in "
                                  f"{path / 'checkpoints' / DAMAGED}: use which='latest' for the newest intact one")
        try:
            check_intact(best)
        except CheckpointError as e:
            raise CheckpointError(f"the best checkpoint of {path} is damaged: {e}. Use which='latest' for the "
                                  "newest intact one") from None
        return best
    raise ValueError(f"which={which!r}: expected 'latest' or 'best'")


def find_resumable(run_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """The newest step of a run that is intact *and* whose trainer state is consistent, with that state.

    What ``fit(resume=True)`` continues from: newer steps that fail either check are named in a warning and
    skipped, as ``find_checkpoint`` does; a CheckpointError lists them all when none passes.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or (run_dir / "checkpoint.json").is_file():
        raise CheckpointError(f"{run_dir} is not a run directory written by `zoo train` (expected "
                              f"{run_dir}/checkpoints/step_*/)")
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise CheckpointError(f"{run_dir} has no checkpoints (expected {run_dir}/checkpoints/step_*/): "
                              "was it written by `zoo train`, and did the run reach its first checkpoint?")
    return _newest(run_dir, checkpoints, trainer_state=True)


def _newest(run_dir: Path, checkpoints: list[Path], *, trainer_state: bool) -> tuple[Path, dict[str, Any]]:
    damaged = []
    for candidate in reversed(checkpoints):
        try:
            check_intact(candidate)
            state = load_trainer_state(candidate) if trainer_state else {}
        except CheckpointError as e:
            damaged.append(str(e))
            continue
        _warn_damaged(damaged, candidate)
        return candidate, state
    use = "resumed" if trainer_state else "loaded or resumed"
    raise CheckpointError(f"no intact checkpoint in {run_dir}, so the run can't be {use}: {'; '.join(damaged)}. "
                          "Restore these files from a copy, or train the run again")


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
    if not _is_int(info.get("step")) or not isinstance(provenance, list) or not all(
            isinstance(item, dict) and {"kind", "name"} <= item.keys() for item in provenance):
        raise CheckpointError(f"{path} is damaged: it lacks the step or the provenance (a list of "
                              "{kind, name, plugin, distribution, version}) that every checkpoint records")
    folder = STEP_DIR.match(Path(checkpoint).name)
    if info["step"] < 0 or (folder and int(folder.group(1)) != info["step"]):
        raise CheckpointError(f"{path} is damaged: its step {info['step']} is not the step of its folder "
                              f"{Path(checkpoint).name}")
    if not isinstance(info.get("settings", {}), dict):
        raise CheckpointError(f"{path} is damaged: settings is a {type(info['settings']).__name__}, not a mapping")
    return info


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    """trainer.pt, read with ``weights_only=True`` (a file that would execute code is refused), and checked
    against checkpoint.json (``check_trainer_state``)."""
    path = Path(checkpoint) / "trainer.pt"
    _require_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"refusing to load {path}: it holds objects other than tensors and plain data, and unpickling "
            f"them could execute code. Only load trainer states that this program wrote. ({e})"
        ) from e
    except (RuntimeError, EOFError) as e:  # torch's zip reader on a truncated or empty file
        raise CheckpointError(f"{path} is damaged ({e}): truncated, or not written by torch.save") from None
    check_trainer_state(state, read_info(checkpoint), path)
    return state


def check_trainer_state(state: Any, info: dict[str, Any], path: Path) -> None:
    """Raise a CheckpointError naming the first field of trainer.pt that is missing, mistyped or inconsistent.

    The counters must agree with checkpoint.json ``info``: the same step, at most the run's total
    (``settings.steps``), ``samples_seen = step x batch_size``, at most ``step`` skipped updates, a best
    evaluation no later than the step; the optimizer state and every process's RNG states must have the
    shape ``fit`` writes.
    """
    def damaged(field: str, problem: str) -> CheckpointError:
        return CheckpointError(f"{path} is damaged: {field} {problem}")

    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is damaged: expected a mapping of the trainer's state, "
                              f"found {type(state).__name__}")
    for field, ok, expected in (("step", _is_int, "an integer"), ("skipped", _is_int, "an integer"),
                                ("samples_seen", _is_int, "an integer"),
                                ("optimizer", lambda v: isinstance(v, dict) and {"state", "param_groups"} <= v.keys(),
                                 "an optimizer state_dict"),
                                ("rng", lambda v: isinstance(v, list) and v and all(map(_is_rng_state, v)),
                                 "a list of RNG states, one per process"),
                                ("best", lambda v: v is None or _is_best(v), "none or {metric, mode, value, step}")):
        if field not in state:
            raise damaged(f"'{field}'", "is missing")
        if not ok(state[field]):
            raise damaged(f"'{field}'", f"is not {expected} (found {type(state[field]).__name__})")
    step, settings = state["step"], info.get("settings") or {}
    if step != info["step"]:
        raise damaged("'step'", f"is {step}, but checkpoint.json says {info['step']}")
    total, batch_size = settings.get("steps"), settings.get("batch_size")
    if _is_int(total) and step > total:
        raise damaged("'step'", f"is {step}, beyond the run's total of {total} steps (checkpoint.json settings)")
    if _is_int(batch_size) and state["samples_seen"] != step * batch_size:
        raise damaged("'samples_seen'", f"is {state['samples_seen']}, but {step} steps of batch_size {batch_size} "
                                        f"are {step * batch_size}")
    if not 0 <= state["skipped"] <= step:
        raise damaged("'skipped'", f"is {state['skipped']}, outside 0 .. {step} (the step)")
    if state["best"] is not None and not 0 <= state["best"]["step"] <= step:
        raise damaged("'best.step'", f"is {state['best']['step']}, outside 0 .. {step} (the step)")


def _is_rng_state(value: Any) -> bool:
    """What ``runtime.rng_state`` captures: python's, numpy's, torch's and CUDA's states."""
    if not isinstance(value, dict) or not {"python", "numpy", "torch", "cuda"} <= value.keys():
        return False
    python, numpy = value["python"], value["numpy"]
    return (isinstance(python, (tuple, list)) and len(python) == 3 and isinstance(python[1], (tuple, list))
            and isinstance(numpy, (tuple, list)) and len(numpy) == 5 and isinstance(numpy[1], torch.Tensor)
            and isinstance(value["torch"], torch.Tensor) and value["torch"].dtype == torch.uint8
            and isinstance(value["cuda"], list))


def _is_best(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("metric"), str) and value.get("mode") in ("min", "max")
            and isinstance(value.get("value"), float) and _is_int(value.get("step")))


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
    """Fail if a component that built the checkpoint is not available; warn if its version changed.

    ``provenance`` entries are ``{kind, name, plugin, distribution, version}`` (``zoo.recipes.provenance``).
    The error says what is true here: the plugin is installed but not loaded (``ZOO_LOAD_PLUGINS``), or
    installed but broken, or installed without that component, or not installed (with its ``pip install``).
    """
    from zoo.errors import UnknownComponentError
    from zoo.plugins import not_loaded_note
    from zoo.registry import get_registry

    registry = get_registry()
    plugins = {info.name: info for info in registry.plugins}
    for item in provenance:
        kind, name, dist, version = item["kind"], item["name"], item.get("distribution"), item.get("version")
        plugin = item.get("plugin")
        try:
            entry = registry.get(kind, name)
        except UnknownComponentError:
            built = (f"this checkpoint was built with the {kind} {name!r} from the plugin {plugin!r} "
                     f"(distribution {dist} {version})")
            note = not_loaded_note(plugin) if isinstance(plugin, str) else None
            if note is not None:
                why = f"which is {note}: add {plugin} to ZOO_LOAD_PLUGINS, or unset it"
            elif plugin in plugins and plugins[plugin].status != "ok":
                why = f"which is installed but failed to load: {plugins[plugin].error} (see `zoo plugins`)"
            elif plugin in plugins:
                here = plugins[plugin]
                why = (f"which is installed ({here.distribution} {here.version}) but registers no {kind} {name!r}: "
                       f"{_install_hint(dist, version)}")
            else:
                why = f"which is not installed: {_install_hint(dist, version)}"
            raise MissingPluginError(f"{built}, {why} (then check `zoo list --kind {kind}`)") from None
        if version and entry.version != version:
            warnings.warn(f"this checkpoint was built with {dist} {version}, but {entry.distribution} "
                          f"{entry.version} provides the {kind} {name!r} here: it may behave differently",
                          stacklevel=2, category=ZooWarning)
