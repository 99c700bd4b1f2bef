"""Checkpoints: exact resume, atomic writes, safe loading, pruning, provenance, damaged files."""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import struct
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_toys import make_denoiser, toy_data

import zoo.training
from zoo.errors import ZooError
from zoo.registry import get_registry
from zoo.training import CheckpointError, MissingPluginError, TrainSettings, fit
from zoo.training.checkpoint import CheckpointWriteError
from zoo.training.checkpoint import (
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
