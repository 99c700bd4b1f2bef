"""zoo.training.report: the speed a person reads, and lines printed as they are (never as rich markup)."""

from __future__ import annotations

import errno
import json
import re
import shutil

import pytest

from zoo.errors import ZooError
from zoo.training import report
from zoo.training.report import RunLog


@pytest.fixture
def clock(monkeypatch):
    """perf_counter under the test's control: set ``clock[0]`` to the time in seconds."""
    now = [0.0]
    monkeypatch.setattr(report.time, "perf_counter", lambda: now[0])
    return now


@pytest.mark.parametrize(("items_per_step", "speed"), [
    (1, "1.6 steps/s"),  # one image per step (a SIREN fit): 2 steps in 1.25 s, not "2 items/s"
    (64, "102 items/s"),  # 2 x 64 digits in 1.25 s
    (1000, "1,600 items/s"),
])
def test_speed_is_in_steps_when_a_step_is_one_item(tmp_path, capsys, clock, items_per_step, speed):
    log = RunLog(tmp_path, start_step=0, total_steps=4, items_per_step=items_per_step)
    clock[0] = 1.25
    log.train(2, {"mse": 0.5}, lr=1e-3, grad_norm=1.0, skipped=0)
    log.stop()
    log.summary(step=2, skipped=0, best=None, run_dir=tmp_path)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"step 2/4  mse 0.5  lr 0.001  {speed}"
    assert f" {speed} " in next(line for line in lines if "throughput" in line)  # the summary's too
    record = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert record["items_per_s"] == pytest.approx(2 * items_per_step / 1.25)  # the file keeps items/s


def test_names_and_paths_are_printed_as_they_are(tmp_path, capsys, clock):
    run_dir = tmp_path / ("a-folder-whose-name-alone-is-wider-than-the-console-" * 2) / "[old]"
    run_dir.mkdir(parents=True)  # a path wider than 80 columns is still printed whole, to be copied
    log = RunLog(run_dir, start_step=0, total_steps=4, items_per_step=8)
    clock[0] = 1.0
    log.train(1, {"nll[/red]": 0.5}, lr=1e-3, grad_norm=1.0, skipped=1)  # a metric name from a plugin
    log.eval(1, {"psnr [dB]": 20.0}, best=True)
    log.note(f"interrupted: continue with `zoo resume {run_dir}`")
    log.stop()
    log.summary(step=1, skipped=1, best={"metric": "psnr [dB]", "value": 20.0, "step": 1}, run_dir=run_dir)
    err = capsys.readouterr().err
    assert "nll[/red] 0.5  lr 0.001  skipped 1" in err
    assert "eval @ step 1: psnr [dB] 20  best" in err
    assert f"zoo resume {run_dir}" in err
    assert f"run {run_dir}" in err and "psnr [dB] 20 at step 1" in err and f"metrics {run_dir}" in err


class FullDisk:
    """A file on a full disk: every write fails as the OS says it."""

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self):
        pass

    def close(self):
        raise OSError(errno.ENOSPC, "No space left on device")  # what is buffered can't be written either


def test_a_log_on_a_full_disk_is_one_message_naming_the_space(tmp_path, monkeypatch):
    log = RunLog(tmp_path, start_step=0, total_steps=4, items_per_step=8, quiet=True)
    log.file.close()
    log.file = FullDisk()
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**6, 10**6 - 10, 10))
    with pytest.raises(ZooError) as error:
        log.train(1, {"mse": 0.5}, lr=1e-3, grad_norm=1.0, skipped=0)
    log.stop()  # as fit's finally does: it must not hide the error with one of its own
    assert re.fullmatch(rf"could not write {tmp_path / 'metrics.jsonl'} \(No space left on device\): it needs about "
                        rf"\d+ bytes, 10 are free in {tmp_path} \(the disk is full\); the checkpoints written so far "
                        rf"are intact",
                        str(error.value))
