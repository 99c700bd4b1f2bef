"""Data-parallel training: 2 CPU processes under torchrun (gloo) against 1 process.

Two processes with half batches each must take the same steps as one process with whole batches:
the ranks' shards of each batch are, together, the single process's batch (``StreamSampler``), each rank's
loss is a mean over its half, and DDP averages the ranks' gradients, so the averaged gradient is the
whole-batch mean gradient. Only the order of the float additions differs (two partial sums, then the
all-reduce), a few float32 ulps (~1e-7 relative) per gradient. AdamW divides by the root of the second
moment, which keeps relative errors relative, so after 6 steps at lr 1e-2 the weights agree to ~1e-7;
the tolerance (rtol 1e-5, atol 1e-6) leaves a 10x-100x margin and is still 1000x below how far the
weights move in training (checked). Within one launch everything is bitwise: the ranks hold identical
replicas, and a 2-process run stopped and resumed ends where the straight 2-process run ends.

Each ``fit`` leaves the process group it created before returning (a group left for interpreter exit
aborted finished processes now and then), and creates a fresh one when called again in the same process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import ddp_worker
import pytest
import torch
from train_toys import make_denoiser

import zoo
from zoo.training.checkpoint import find_checkpoint, list_checkpoints, load_trainer_state

WORKER = Path(__file__).with_name("ddp_worker.py")
MODES = ("straight", "stop", "resume", "signal")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_two_processes(out: Path) -> None:
    repo = Path(zoo.__file__).resolve().parent.parent
    path = [str(repo), str(repo / "plugins"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p), "OMP_NUM_THREADS": "1"}
    if sys.platform == "linux":
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # keep gloo on the loopback interface
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
               "--master-addr", "127.0.0.1", "--master-port", str(free_port()), str(WORKER), str(out)]
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]


@pytest.mark.slow
def test_two_processes_with_half_batches_match_one_process(tmp_path):
    (tmp_path / "one").mkdir()
    ddp_worker.main(tmp_path / "one")  # in this process: world size 1, batch 8
    (tmp_path / "two").mkdir()
    torchrun_two_processes(tmp_path / "two")  # 2 processes, batch 4 each
    one = {mode: torch.load(tmp_path / "one" / f"{mode}-0.pt", weights_only=True) for mode in MODES}
    two = [{mode: torch.load(tmp_path / "two" / f"{mode}-{r}.pt", weights_only=True) for mode in MODES}
           for r in (0, 1)]
    initial = make_denoiser(noise=0.0).state_dict()

    for name, expected in one["straight"]["weights"].items():
        got = two[0]["straight"]["weights"][name]
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6, msg=name)
        assert (expected - initial[name]).abs().max() > 1e-3  # training moved far beyond the tolerance
        assert torch.equal(got, two[1]["straight"]["weights"][name])  # the replicas stay identical
        assert torch.equal(got, two[0]["resume"]["weights"][name])  # stop + resume under torchrun is exact
    assert two[0]["straight"]["eval"] == pytest.approx(one["straight"]["eval"], rel=1e-5)  # reduced over ranks
    # fit destroyed the groups it created, and left up the one the worker created for "resume"
    assert [two[r][mode]["group_up"] for r in (0, 1) for mode in MODES] == [False, False, True, False] * 2
    # a SIGTERM that reached rank 1 only stops both ranks after the same update, with one checkpoint of both
    assert [(two[r]["signal"]["step"], two[r]["signal"]["stopped_by"]) for r in (0, 1)] == [(3, signal.SIGTERM)] * 2
    assert [p.name for p in list_checkpoints(tmp_path / "two" / "signal")] == ["step_00000003"]
    assert len(load_trainer_state(find_checkpoint(tmp_path / "two" / "signal"))["rng"]) == 2
    assert one["signal"]["step"] == 6 and one["signal"]["stopped_by"] == 0  # one process: rank 0 gets no signal

    # only rank 0 wrote; the checkpoint holds each rank's RNG state
    run = tmp_path / "two" / "straight"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "metrics.jsonl"]  # pictures: zoo.training.train
    assert len(load_trainer_state(find_checkpoint(run))["rng"]) == 2
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 6 + 2  # 6 train records, 2 evaluations
