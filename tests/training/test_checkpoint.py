"""Checkpoints: exact resume, atomic writes, safe loading, pruning, provenance, damaged files."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import safetensors.torch
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from train_toys import make_denoiser, toy_data

import zoo.training
from zoo.errors import ZooError
from zoo.recipes import load_recipe
from zoo.registry import get_registry
from zoo.training import CheckpointError, MissingPluginError, TrainSettings, fit
from zoo.training.checkpoint import (
    CheckpointWriteError,
    check_intact,
    check_provenance,
    find_checkpoint,
    list_checkpoints,
    load_trainer_state,
    load_weights,
    read_info,
    save_checkpoint,
)


def quick(**overrides) -> TrainSettings:
    base = {"steps": 6, "batch_size": 8, "lr": 1e-2, "eval_every": 0, "checkpoint_every": 0, "log_every": 1,
            "device": "cpu"}
    return TrainSettings(**{**base, **overrides})


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def train_records(run_dir: Path) -> list[dict]:
    """metrics.jsonl's train records without the timing fields (which differ between runs)."""
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        out.append({k: v for k, v in record.items() if k not in ("items_per_s", "elapsed_s")})
    return out


def test_stopped_and_resumed_run_ends_bitwise_equal_to_the_straight_run(tmp_path):
    # noise (global torch RNG), EMA, accumulation, warmup + cosine, evaluations and best checkpoints all on;
    # 40 examples in batches of 8: the stop at step 7 is in the middle of the second epoch
    settings = quick(steps=12, accumulate=2, ema=0.9, eval_every=4, checkpoint_every=5, warmup_steps=2)
    data, held_out = toy_data(40), toy_data(16, seed=1)

    straight = make_denoiser()
    fit(straight, data, held_out, settings, tmp_path / "straight", quiet=True)

    first = make_denoiser()
    stopped = fit(first, data, held_out, settings, tmp_path / "resumed", stop_at=7, quiet=True)
    assert stopped.step == 7
    second = make_denoiser(seed=123)  # other initial weights: everything must come from the checkpoint
    resumed = fit(second, data, held_out, settings, tmp_path / "resumed", resume=True, quiet=True)
    assert resumed.step == 12

    assert same(straight.state_dict(), second.state_dict())
    last = {name: find_checkpoint(tmp_path / name) for name in ("straight", "resumed")}
    assert same(*(load_file(p / "ema.safetensors") for p in last.values()))
    states = [load_trainer_state(p) for p in last.values()]
    assert all(torch.equal(states[0]["optimizer"]["state"][i][k], states[1]["optimizer"]["state"][i][k])
               for i in states[0]["optimizer"]["state"] for k in ("exp_avg", "exp_avg_sq", "step"))
    assert states[0]["samples_seen"] == states[1]["samples_seen"] == 12 * 8
    # the log replays too (the resumed run dropped nothing and duplicated nothing)
    assert train_records(tmp_path / "straight") == train_records(tmp_path / "resumed")


def test_resume_continues_to_a_new_total(tmp_path):
    fit(make_denoiser(), toy_data(), None, quick(steps=4), tmp_path, quiet=True)
    result = fit(make_denoiser(), toy_data(), None, quick(steps=7), tmp_path, resume=True, quiet=True)
    assert result.step == 7 and read_info(find_checkpoint(tmp_path))["step"] == 7


def test_a_crash_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    settings = quick(steps=6, checkpoint_every=2)
    real_save, calls = torch.save, []

    def save_then_crash(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) == 2:  # the second checkpoint: half a file, then the machine "dies"
            Path(f).write_bytes(b"PK\x03\x04 half a zip")
            raise OSError("simulated crash during the write")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_then_crash)
    with pytest.raises(CheckpointWriteError, match=r"step_00000004 \(simulated crash.*step_00000002"):
        fit(make_denoiser(), toy_data(), None, settings, tmp_path / "run", quiet=True)
    monkeypatch.undo()

    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000002"]
    assert not list((tmp_path / "run" / "checkpoints").glob(".tmp-*"))  # the half-written step was removed
    previous = find_checkpoint(tmp_path / "run")
    assert load_trainer_state(previous)["step"] == read_info(previous)["step"] == 2
    load_weights(previous, make_denoiser())

    resumed = make_denoiser(seed=7)
    fit(resumed, toy_data(), None, settings, tmp_path / "run", resume=True, quiet=True)
    straight = make_denoiser()
    fit(straight, toy_data(), None, settings, tmp_path / "straight", quiet=True)
    assert same(resumed.state_dict(), straight.state_dict())


class Killed(BaseException):
    """The process dying mid-write (SIGKILL, a power cut): no ``except Exception`` in the code under test can
    swallow it."""


class HalfThenKilled:
    """A writable file whose first write stores half its data, then the process "dies"."""

    def __init__(self, file):
        self.file = file

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        self.file.flush()
        raise Killed("killed in the middle of a write")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def __getattr__(self, name):
        return getattr(self.file, name)


def test_a_crash_while_writing_the_index_keeps_the_previous_one(tmp_path, monkeypatch):
    model = make_denoiser()

    def save(step: int, loss: float) -> None:
        save_checkpoint(tmp_path, step, model=model, ema=None, trainer_state={"step": step},
                        info={"provenance": []}, keep_last=0, best={"metric": "loss", "mode": "min", "value": loss})

    index = tmp_path / "checkpoints" / "index.json"
    save(1, 0.5)
    before = index.read_bytes()
    assert json.loads(before)["best"] == "step_00000001"

    real_open = io.open

    def open_then_die_writing_the_index(file, mode="r", *args, **kwargs):
        opened = real_open(file, mode, *args, **kwargs)
        writes = any(c in mode for c in "wax+")
        is_index = isinstance(file, (str, os.PathLike)) and "index.json" in os.path.basename(file)
        return HalfThenKilled(opened) if writes and is_index else opened

    monkeypatch.setattr(builtins, "open", open_then_die_writing_the_index)
    monkeypatch.setattr(io, "open", open_then_die_writing_the_index)  # what pathlib's writers call
    with pytest.raises(Killed):
        save(2, 0.25)  # a new best: the index is rewritten
    monkeypatch.undo()

    assert index.read_bytes() == before  # not empty, not half of the new one
    save(3, 0.125)  # the next write goes through, over whatever the crash left
    assert json.loads(index.read_text())["best"] == "step_00000003"


class CodePayload:
    """Unpickling this runs ``exec``: what a malicious trainer.pt would carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def test_a_trainer_state_that_would_run_code_is_refused(tmp_path):
    fit(make_denoiser(), toy_data(), None, quick(steps=2), tmp_path, quiet=True)
    marker = tmp_path / "pwned"
    found = find_checkpoint(tmp_path)
    torch.save({"step": 2, "payload": CodePayload(marker)}, found / "trainer.pt")

    with pytest.raises(CheckpointError, match="refusing to load"):
        load_trainer_state(found)
    with pytest.raises(CheckpointError, match="refusing to load"):
        fit(make_denoiser(), toy_data(), None, quick(steps=4), tmp_path, resume=True, quiet=True)
    assert not marker.exists()
    torch.load(found / "trainer.pt", weights_only=False)  # the payload is live: plain unpickling runs it
    assert marker.read_text() == "code ran"


def test_keeps_the_last_k_and_the_best(tmp_path):
    # best_mode=max on the loss marks the *worst* evaluation as best: an early step that pruning must spare
    settings = quick(steps=12, eval_every=3, checkpoint_every=2, keep_last=2, best_mode="max")
    fit(make_denoiser(), toy_data(), toy_data(16, seed=1), settings, tmp_path, quiet=True)
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if r["split"] == "eval"]
    best_step = max(evals, key=lambda r: r["metrics"]["loss"])["step"]
    assert best_step < 10
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == [f"step_{best_step:08d}", "step_00000010", "step_00000012"]
    assert find_checkpoint(tmp_path, "best").name == f"step_{best_step:08d}"
    index = json.loads((tmp_path / "checkpoints" / "index.json").read_text())
    assert index["value"] == pytest.approx(max(r["metrics"]["loss"] for r in evals))


def test_checkpoint_json_carries_what_rebuilds_the_run(tmp_path):
    recipe = {"model": {"name": "toy"}, "data": {"name": "toy"}, "train": {"steps": 2}}
    provenance = [{"kind": "model", "name": "toy", "plugin": "tests", "distribution": "genzoo", "version": "0"}]
    fit(make_denoiser(), toy_data(), None, quick(steps=2, ema=0.5), tmp_path, recipe=recipe,
        provenance=provenance, quiet=True)
    found = find_checkpoint(tmp_path)
    info = read_info(found)
    assert info["step"] == 2 and info["recipe"] == recipe and info["provenance"] == provenance
    assert TrainSettings(**info["settings"]) == quick(steps=2, ema=0.5)
    assert info["versions"]["torch"] == torch.__version__
    expected = {"model.safetensors", "ema.safetensors", "trainer.pt", "checkpoint.json"}
    assert {p.name for p in found.iterdir()} == expected


def test_training_into_an_existing_run_or_resuming_nothing_is_an_error(tmp_path):
    fit(make_denoiser(), toy_data(), None, quick(steps=2), tmp_path / "run", quiet=True)
    with pytest.raises(ZooError, match="zoo resume"):
        fit(make_denoiser(), toy_data(), None, quick(steps=2), tmp_path / "run", quiet=True)
    with pytest.raises(CheckpointError, match="has no checkpoints"):
        fit(make_denoiser(), toy_data(), None, quick(steps=2), tmp_path / "empty", resume=True, quiet=True)


MISSING = {"kind": "field", "name": "no-such-field", "plugin": "zoo_imaginary", "distribution": "zoo-imaginary",
           "version": "1.2.3"}


def test_a_missing_plugin_is_named_with_its_install_line(tmp_path):
    with pytest.raises(MissingPluginError) as info:
        check_provenance([MISSING])
    assert "no-such-field" in str(info.value) and "pip install zoo-imaginary==1.2.3 " in str(info.value)

    fit(make_denoiser(), toy_data(), None, quick(steps=2), tmp_path, quiet=True,
        recipe={"model": {"name": "no-such-field"}}, provenance=[MISSING])
    with pytest.raises(MissingPluginError, match="zoo-imaginary"):
        zoo.training.load(tmp_path)


def test_installed_components_pass_and_a_changed_version_warns():
    kl = get_registry().get("divergence", "kl")
    entry = {"kind": "divergence", "name": "kl", "plugin": kl.plugin, "distribution": kl.distribution,
             "version": kl.version}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_provenance([entry])
    with pytest.warns(UserWarning, match="built with genzoo 0.0.1"):
        check_provenance([{**entry, "version": "0.0.1"}])


# --- damaged checkpoints: named, skipped, and the run resumes from the newest intact one -----------------


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def huge_header(path: Path) -> None:
    """A safetensors header length claiming 2^62 bytes: read naively, an allocation no machine has."""
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 2**62) + data[8:])


def without_provenance(path: Path) -> None:
    info = json.loads(path.read_text())
    del info["provenance"]
    path.write_text(json.dumps(info))


DAMAGE = {  # (file, how): each a real way a checkpoint gets damaged after it was written
    "truncated weights": ("model.safetensors", truncate),
    "empty weights": ("model.safetensors", lambda p: p.write_bytes(b"")),
    "huge header": ("model.safetensors", huge_header),
    "truncated EMA": ("ema.safetensors", truncate),
    "missing EMA": ("ema.safetensors", Path.unlink),
    "invalid checkpoint.json": ("checkpoint.json", lambda p: p.write_text('{"step": 4, "recipe": ')),
    "checkpoint.json without provenance": ("checkpoint.json", without_provenance),
    "truncated trainer state": ("trainer.pt", truncate),
    "empty trainer state": ("trainer.pt", lambda p: p.write_bytes(b"")),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_named_and_the_one_before_is_used(tmp_path, damage):
    fit(make_denoiser(), toy_data(), None, quick(steps=4, checkpoint_every=2, ema=0.5), tmp_path, quiet=True)
    name, how = DAMAGE[damage]
    newest = tmp_path / "checkpoints" / "step_00000004"
    how(newest / name)

    with pytest.raises(CheckpointError, match=rf"{newest / name} is (damaged|missing)"):
        check_intact(newest)
    with pytest.warns(UserWarning, match=rf"skipping damaged checkpoint.*{newest / name}.*Using .*step_00000002"):
        assert find_checkpoint(tmp_path).name == "step_00000002"
    with pytest.raises(CheckpointError, match=rf"{newest / name}"):  # asked for by path: no fallback
        find_checkpoint(newest)


def test_a_run_whose_newest_checkpoint_is_truncated_resumes_bitwise_from_the_one_before(tmp_path):
    # as in the stopped-and-resumed test: noise, EMA, accumulation, warmup + cosine and evaluations all on
    settings = quick(steps=12, accumulate=2, ema=0.9, eval_every=4, checkpoint_every=4, warmup_steps=2)
    data, held_out = toy_data(40), toy_data(16, seed=1)
    straight = make_denoiser()
    fit(straight, data, held_out, settings, tmp_path / "straight", quiet=True)

    fit(make_denoiser(), data, held_out, settings, tmp_path / "damaged", stop_at=10, quiet=True)
    newest = tmp_path / "damaged" / "checkpoints" / "step_00000010"
    truncate(newest / "model.safetensors")  # the disk filled up, or a copy was cut short
    resumed = make_denoiser(seed=123)
    with pytest.warns(UserWarning, match=rf"{newest / 'model.safetensors'} is damaged.*step_00000008"):
        result = fit(resumed, data, held_out, settings, tmp_path / "damaged", resume=True, quiet=True)

    assert result.step == 12 and same(straight.state_dict(), resumed.state_dict())
    last = [find_checkpoint(tmp_path / name) for name in ("straight", "damaged")]
    assert same(*(load_file(p / "ema.safetensors") for p in last))
    assert train_records(tmp_path / "straight") == train_records(tmp_path / "damaged")


def test_a_run_with_no_intact_checkpoint_lists_what_is_damaged(tmp_path):
    fit(make_denoiser(), toy_data(), None, quick(steps=4, checkpoint_every=2), tmp_path, quiet=True)
    weights = [tmp_path / "checkpoints" / f"step_{step:08d}" / "model.safetensors" for step in (2, 4)]
    for path in weights:
        truncate(path)
    with pytest.raises(CheckpointError, match="no intact checkpoint") as error:
        find_checkpoint(tmp_path)
    assert all(str(path) in str(error.value) for path in weights)
    with pytest.raises(CheckpointError, match="no intact checkpoint"):
        fit(make_denoiser(), toy_data(), None, quick(steps=6), tmp_path, resume=True, quiet=True)


def test_a_damaged_best_checkpoint_or_index_is_named(tmp_path):
    settings = quick(steps=4, eval_every=2, checkpoint_every=2, best_mode="max")  # the worst (first) is "best"
    fit(make_denoiser(), toy_data(), toy_data(16, seed=1), settings, tmp_path, quiet=True)
    best = find_checkpoint(tmp_path, "best")
    truncate(best / "trainer.pt")
    with pytest.raises(CheckpointError, match=rf"best checkpoint of {tmp_path} is damaged: {best / 'trainer.pt'}"):
        find_checkpoint(tmp_path, "best")
    index = tmp_path / "checkpoints" / "index.json"
    index.write_text('{"best": "step_')
    with pytest.raises(CheckpointError, match=rf"{index} is damaged"):
        find_checkpoint(tmp_path, "best")


def test_a_kill_while_pruning_leaves_no_half_deleted_checkpoint_under_its_name(tmp_path, monkeypatch):
    real_rmtree = shutil.rmtree

    def rmtree_then_die(path, *args, **kwargs):  # one file gone, then the process is killed
        (Path(path) / "model.safetensors").unlink()
        raise Killed

    monkeypatch.setattr(shutil, "rmtree", rmtree_then_die)
    with pytest.raises(Killed):  # keep_last=2: saving step 6 prunes step 2
        fit(make_denoiser(), toy_data(), None, quick(steps=6, checkpoint_every=2, keep_last=2), tmp_path, quiet=True)
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)

    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000004", "step_00000006"]
    for step in list_checkpoints(tmp_path):
        check_intact(step)
    assert [p.name for p in (tmp_path / "checkpoints").glob(".tmp-*")] == [".tmp-old-step_00000002"]
    fit(make_denoiser(), toy_data(), None, quick(steps=8, checkpoint_every=2, keep_last=2), tmp_path, resume=True,
        quiet=True)
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))  # the next save cleared the debris
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000006", "step_00000008"]


# --- pruning and the best pointer rank only what loads ------------------------------------------------------


def copy_as_step(source: Path, step: int) -> Path:
    """A copy of a step folder under another step (its checkpoint.json says so too): a checkpoint of a later step."""
    target = source.with_name(f"step_{step:08d}")
    shutil.copytree(source, target)
    info = json.loads((target / "checkpoint.json").read_text())
    (target / "checkpoint.json").write_text(json.dumps({**info, "step": step}))
    return target


def test_pruning_keeps_the_step_just_written_over_a_damaged_newer_one(tmp_path):
    """The finding of issue 22: keep_last=1, a damaged step_99 beside the good step_30; resuming to 40 must keep
    step_40 (not step_30 and the damaged one), set step_99 aside, and the next resume must start at 40."""
    fit(make_denoiser(), toy_data(), None, quick(steps=30, checkpoint_every=10, keep_last=1), tmp_path, quiet=True)
    damaged = copy_as_step(tmp_path / "checkpoints" / "step_00000030", 99)
    truncate(damaged / "model.safetensors")

    with pytest.warns(UserWarning) as said:
        fit(make_denoiser(), toy_data(), None, quick(steps=40, checkpoint_every=10, keep_last=1), tmp_path,
            resume=True, quiet=True)
    messages = [str(w.message) for w in said]
    assert any(f"skipping damaged checkpoint(s): {damaged / 'model.safetensors'} is damaged" in m for m in messages)
    aside = tmp_path / "checkpoints" / "damaged" / "step_00000099"
    set_aside = (f"set the damaged checkpoint step_00000099 aside in {aside}, where it is neither used nor counted "
                 f"among the kept: {damaged / 'model.safetensors'} is damaged (Error while deserializing header: "
                 "incomplete metadata, file not fully covered): truncated, or not a safetensors file")
    assert [m for m in messages if "aside" in m] == [set_aside]  # named once, with where it went
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000040"]
    assert (aside / "model.safetensors").is_file()  # moved, not deleted
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing damaged is left to warn about
        assert find_checkpoint(tmp_path).name == "step_00000040"
        result = fit(make_denoiser(), toy_data(), None, quick(steps=45, checkpoint_every=10, keep_last=1), tmp_path,
                     resume=True, quiet=True)
    assert result.step == 45 and [p.name for p in list_checkpoints(tmp_path)] == ["step_00000045"]


def test_a_damaged_best_is_set_aside_not_kept(tmp_path):
    # best_mode=max on the loss: the first (worst) evaluation, step 2, stays the best and survives pruning
    settings = quick(steps=6, eval_every=2, checkpoint_every=2, keep_last=1, best_mode="max")
    fit(make_denoiser(), toy_data(), toy_data(16, seed=1), settings, tmp_path, quiet=True)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000002", "step_00000006"]
    truncate(tmp_path / "checkpoints" / "step_00000002" / "trainer.pt")
    with pytest.warns(UserWarning, match=r"set the damaged checkpoint step_00000002 aside"):
        fit(make_denoiser(), toy_data(), toy_data(16, seed=1), quick(steps=8, eval_every=2, checkpoint_every=2,
            keep_last=1, best_mode="max"), tmp_path, resume=True, quiet=True)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000008"]
    with pytest.raises(CheckpointError, match=r"step_00000002, was damaged and set aside in .*use which='latest'"):
        zoo.training.load(tmp_path, which="best")


@pytest.mark.parametrize("entry", [
    "../../other/checkpoints/step_00000002",  # another run's weights
    "OTHER/checkpoints/step_00000002",  # the same, as an absolute path
    "step_00000002/../../../other/checkpoints/step_00000002",
    "linked",  # a step folder of this run that is a link to another run's
    7,
])
def test_index_json_must_name_a_step_folder_of_this_run(tmp_path, entry):
    for name in ("run", "other"):
        fit(make_denoiser(seed=len(name)), toy_data(), toy_data(16, seed=1), quick(steps=2, eval_every=2),
            tmp_path / name, quiet=True)
    index = tmp_path / "run" / "checkpoints" / "index.json"
    if entry == "linked":
        entry = "step_00000099"
        (tmp_path / "run" / "checkpoints" / entry).symlink_to(tmp_path / "other" / "checkpoints" / "step_00000002")
    if isinstance(entry, str):
        entry = entry.replace("OTHER", str(tmp_path / "other"))
    index.write_text(json.dumps({**json.loads(index.read_text()), "best": entry}))

    with pytest.raises(CheckpointError, match=rf"{index} is damaged: its best entry .* is not a step folder of this "
                                              "run"):
        zoo.training.load(tmp_path / "run", which="best")


# --- trainer.pt is checked against checkpoint.json before a resume uses it ----------------------------------


def edit_state(change):
    def edit(path: Path) -> None:
        state = torch.load(path, weights_only=True)
        change(state)
        torch.save(state, path)
    return edit


def set_field(name, value):
    return edit_state(lambda state: state.__setitem__(name, value))


def drop_field(name):
    return edit_state(lambda state: state.pop(name))


TRAINER_STATES = {  # trainer.pt of step 4 -> what the warning names
    "negative step": (set_field("step", -5), "'step' is -5, but checkpoint.json says 4"),
    "step far beyond": (set_field("step", 10**15), "'step' is 1000000000000000, but checkpoint.json says 4"),
    "step as text": (set_field("step", "4"), "'step' is not an integer (found str)"),
    "missing rng": (drop_field("rng"), "'rng' is missing"),
    "rng of another shape": (set_field("rng", [{"torch": 5}]), "'rng' is not a list of RNG states"),
    "missing optimizer": (drop_field("optimizer"), "'optimizer' is missing"),
    "samples seen": (set_field("samples_seen", 7), "'samples_seen' is 7, but 4 steps of batch_size 8 are 32"),
    "skipped beyond the step": (set_field("skipped", 5), "'skipped' is 5, outside 0 .. 4"),
    "a list": (lambda path: torch.save([1, 2], path), "expected a mapping of the trainer's state, found list"),
}


@pytest.mark.parametrize("case", TRAINER_STATES)
def test_a_trainer_state_that_contradicts_its_checkpoint_is_named_and_the_one_before_is_resumed(tmp_path, case):
    settings = quick(steps=6, checkpoint_every=2, keep_last=0)
    fit(make_denoiser(), toy_data(), None, settings, tmp_path / "run", stop_at=4, quiet=True)
    edit, says = TRAINER_STATES[case]
    path = tmp_path / "run" / "checkpoints" / "step_00000004" / "trainer.pt"
    edit(path)

    resumed = make_denoiser(seed=9)
    with pytest.warns(UserWarning, match=rf"skipping damaged checkpoint\(s\): {re.escape(f'{path} is damaged: {says}')}"
                                         rf".*Using .*step_00000002"):
        result = fit(resumed, toy_data(), None, settings, tmp_path / "run", resume=True, quiet=True)
    straight = make_denoiser()
    fit(straight, toy_data(), None, settings, tmp_path / "straight", quiet=True)
    assert result.step == 6 and same(resumed.state_dict(), straight.state_dict())  # from step 2, exactly
    assert (tmp_path / "run" / "checkpoints" / "damaged" / "step_00000004").is_dir()  # newer than what was written


def test_a_run_whose_only_trainer_state_is_damaged_is_one_message(tmp_path):
    fit(make_denoiser(), toy_data(), None, quick(steps=2), tmp_path, quiet=True)
    path = tmp_path / "checkpoints" / "step_00000002" / "trainer.pt"
    drop_field("rng")(path)
    with pytest.raises(CheckpointError, match=rf"no intact checkpoint in {tmp_path}, so the run can't be resumed: "
                                              rf"{path} is damaged: 'rng' is missing"):
        fit(make_denoiser(), toy_data(), None, quick(steps=4), tmp_path, resume=True, quiet=True)


def test_a_checkpoint_json_whose_step_is_not_its_folders_is_damaged(tmp_path):
    fit(make_denoiser(), toy_data(), None, quick(steps=4, checkpoint_every=2), tmp_path, quiet=True)
    moved = tmp_path / "checkpoints" / "step_00000004"
    (moved / "checkpoint.json").write_text(json.dumps({**read_info(moved), "step": 40}))
    with pytest.warns(UserWarning, match=r"its step 40 is not the step of its folder step_00000004.*step_00000002"):
        assert find_checkpoint(tmp_path).name == "step_00000002"


# --- metrics.jsonl: a damaged log costs its damaged lines, never the resume ---------------------------------


def test_a_metrics_log_that_is_not_utf8_keeps_its_good_records_and_the_resume_goes_on(tmp_path):
    settings = quick(steps=6, checkpoint_every=2)
    fit(make_denoiser(), toy_data(), None, settings, tmp_path / "run", stop_at=4, quiet=True)
    log = tmp_path / "run" / "metrics.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2]) + b"\xff\xfe not text\n" + b'{"split": "train"}\n' + b"".join(lines[2:])
                    + b'{"step": 5, "spl')  # a torn last line
    with pytest.warns(UserWarning, match=rf"{log}: dropped 3 line\(s\) that are not UTF-8 JSON records with a step "
                                         r"\(line 3, 4, 7\)"):
        fit(make_denoiser(), toy_data(), None, settings, tmp_path / "run", resume=True, quiet=True)
    fit(make_denoiser(), toy_data(), None, settings, tmp_path / "straight", quiet=True)
    assert train_records(tmp_path / "run") == train_records(tmp_path / "straight")


# --- a failed write (a full disk) is one message; nothing half-written stays ---------------------------------


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def raises(error: Exception):
    def fail(*args, **kwargs):
        raise error
    return fail


WRITE_FAILURES = {  # what fails -> (its owner, its name, how it fails on a full disk)
    "weights": (safetensors.torch, "save_model",
                raises(SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"))),
    "trainer state": (torch, "save", raises(RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos "
                                                         "576 vs 534"))),
    "checkpoint.json": (Path, "write_text", disk_full),
    "fsync": (os, "fsync", disk_full),
}


@pytest.mark.parametrize("failing", WRITE_FAILURES)
def test_a_full_disk_is_one_message_naming_the_space_and_the_good_checkpoint(tmp_path, monkeypatch, failing):
    owner, name, fail = WRITE_FAILURES[failing]
    real, folder = getattr(owner, name), tmp_path / "run" / "checkpoints"

    def full_after_the_first_checkpoint(*args, **kwargs):
        return (fail if (folder / "step_00000002").is_dir() else real)(*args, **kwargs)

    monkeypatch.setattr(owner, name, full_after_the_first_checkpoint)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**6, 10**6 - 1234, 1234))
    with pytest.raises(CheckpointWriteError) as error:
        fit(make_denoiser(), toy_data(), None, quick(steps=4, checkpoint_every=2, ema=0.5), tmp_path / "run",
            quiet=True)
    monkeypatch.undo()

    message = str(error.value)
    assert re.fullmatch(rf"could not write checkpoint step_00000004 \(.+\): it needs about [\d,]+ bytes, 1,234 are "
                        rf"free in {folder} \(the disk is full\); the newest good checkpoint is "
                        rf"{folder / 'step_00000002'}\. Free some "
                        rf"space \(or fix the folder\), then `zoo resume {tmp_path / 'run'}`", message), message
    needed = int(re.search(r"needs about ([\d,]+)", message).group(1).replace(",", ""))
    assert needed > 4 * 4 * (8 * 16 + 16 + 16 * 8 + 8)  # weights, EMA and AdamW's two moments in float32
    assert [p.name for p in folder.iterdir()] == ["step_00000002"]  # nothing half-written, no debris
    check_intact(folder / "step_00000002")


def test_a_full_disk_under_the_command_is_one_line_and_status_2(tmp_path, monkeypatch, capsys):
    from zoo.cli import main

    run = tmp_path / "run"
    monkeypatch.setattr(torch, "save", disk_full)
    assert main(["train", "vae-tiny", "--out", str(run), "--device", "cpu", "--set", "train.steps=2"]) == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err and " ".join(line.split()).startswith(
        "error: could not write checkpoint step_00000002 (No space left on device): it needs about")
    assert "no checkpoint of this run was written yet. Free some space (or fix the folder) and train again" in line
    assert list((run / "checkpoints").iterdir()) == []


# --- plugin messages say what is true -------------------------------------------------------------------------


def test_a_plugin_that_is_installed_but_not_loaded_is_named_as_such(monkeypatch, fresh_registry):
    gon = {"kind": "model", "name": "gon", "plugin": "zoo_gon", "distribution": "genzoo", "version": zoo.__version__}
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo_vae")
    fresh_registry()
    with pytest.raises(MissingPluginError) as error:
        check_provenance([gon])
    assert str(error.value) == (
        f"this checkpoint was built with the model 'gon' from the plugin 'zoo_gon' (distribution genzoo "
        f"{zoo.__version__}), which is installed but not loaded (ZOO_LOAD_PLUGINS='zoo_vae'): add zoo_gon to "
        "ZOO_LOAD_PLUGINS, or unset it (then check `zoo list --kind model`)")
    assert "pip install" not in str(error.value)
    with pytest.raises(MissingPluginError, match=r"zoo_imaginary' \(distribution zoo-imaginary 1.2.3\), which is not "
                                                 r"installed: pip install zoo-imaginary==1.2.3 "):
        check_provenance([MISSING])


def test_a_component_its_installed_plugin_no_longer_registers_says_so(fresh_registry):
    gone = {"kind": "field", "name": "old-field", "plugin": "zoo_siren", "distribution": "genzoo", "version": "0.0.9"}
    with pytest.raises(MissingPluginError, match=rf"which is installed \(genzoo {zoo.__version__}\) but registers no "
                                                 r"field 'old-field': pip install genzoo==0.0.9"):
        check_provenance([gone])


# --- SIGTERM to a real `zoo train`: it saves, exits 143, and the run resumes bitwise ------------------------


def test_sigterm_to_zoo_train_saves_says_so_and_the_run_resumes_bitwise(tmp_path):
    # a constant learning rate: the run's total steps do not change its updates, so the interrupted run,
    # resumed to a total past where it stopped, must end bitwise where a straight run to that total ends
    train = ["train.schedule=constant", "train.eval_every=0", "train.checkpoint_every=0", "train.log_every=5",
             "train.threads=1"]
    recipe = load_recipe("vae-tiny", overrides=train)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "zoo", "train", "vae-tiny", "--out", str(run), "--device", "cpu",
               "--set", "train.steps=1000000", *(a for o in train for a in ("--set", o))]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while not ((run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text().count("\n") >= 2):
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.02)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 128 + signal.SIGTERM, err
    (line,) = [line for line in err.splitlines() if line.startswith("interrupted")]
    step = int(re.fullmatch(rf"interrupted at step (\d+) by SIGTERM: checkpoint step_(\d+) saved; continue with "
                            rf"`zoo resume {run}`", line).group(1))
    assert "Traceback" not in err and [p.name for p in list_checkpoints(run)] == [f"step_{step:08d}"]

    total = step + 7
    zoo.training.resume(run, steps=total, device="cpu", quiet=True, pictures=False)
    zoo.training.train(recipe, tmp_path / "straight", steps=total, device="cpu", quiet=True, pictures=False)
    last = [find_checkpoint(path) for path in (run, tmp_path / "straight")]
    assert same(*(load_file(p / "model.safetensors") for p in last))
    states = [load_trainer_state(p) for p in last]
    assert states[0]["samples_seen"] == states[1]["samples_seen"] == total * recipe["train"]["batch_size"]
    assert all(torch.equal(states[0]["optimizer"]["state"][i][k], states[1]["optimizer"]["state"][i][k])
               for i in states[0]["optimizer"]["state"] for k in ("exp_avg", "exp_avg_sq"))
