"""What the shared training loop costs: steps/s of a tiny MLP through ``zoo.training.fit`` vs a bare loop.

Both do the same work per step: a DataLoader batch of 256 from the same in-memory dataset, the model's
loss, backward, gradient-norm clipping, AdamW (same parameter groups), zero_grad. ``fit`` adds what makes it
a training loop: the learning-rate schedule, the skip check (one host sync), the running loss sums, the
log records and the progress display. Evaluation is off and checkpoints are only written at the end.

Fixed costs (start-up, the final checkpoint, the curve plot) are not per-step overhead, so each side is
timed at two lengths and the per-step cost is the difference divided by the extra steps. Runs alternate
(bare, fit, bare, fit, ...); other work on the machine can only add time, so each length's fastest repeat
is used (as ``timeit`` does). Both wall-clock time and this process's CPU time are measured: on a shared
machine the CPU time of a single-threaded run is the steadier number (other processes barely change it).

    python benchmarks/loop_overhead.py [--steps 600] [--repeats 5] [--batch-size 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from zoo.interfaces import Model
from zoo.training import TrainSettings, fit
from zoo.training.loop import make_optimizer
from machine import cpu_name


class Items(Dataset):
    def __init__(self, x: Tensor):
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Tensor:
        return self.x[i]


class TinyMLP(Model):
    """A 64 -> 256 -> 256 -> 64 MLP autoencoder: the loss is the reconstruction error."""

    def __init__(self, dim: int = 64, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, dim))

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        return {"recon": (self.net(batch) - batch).pow(2).mean()}


def settings(steps: int, batch_size: int) -> TrainSettings:
    return TrainSettings(steps=steps, batch_size=batch_size, lr=1e-3, grad_clip=1.0, eval_every=0,
                         checkpoint_every=0, log_every=50, device="cpu", precision="fp32")


def bare_loop(dataset: Dataset, steps: int, batch_size: int) -> tuple[float, float]:
    """The hand-written reference: (wall, CPU) seconds for ``steps`` steps, timed like ``fit_loop``."""
    torch.manual_seed(0)
    model = TinyMLP()
    optimizer = make_optimizer(model, settings(steps, batch_size), torch.device("cpu"))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    start, cpu = time.perf_counter(), time.process_time()
    step = 0
    while step < steps:
        for x in loader:
            loss = sum(model.loss(x).values())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step == steps:
                break
    return time.perf_counter() - start, time.process_time() - cpu


def fit_loop(dataset: Dataset, steps: int, batch_size: int) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fit`` for ``steps`` steps, fixed costs included."""
    torch.manual_seed(0)
    model = TinyMLP()
    with tempfile.TemporaryDirectory() as run_dir:
        start, cpu = time.perf_counter(), time.process_time()
        fit(model, dataset, None, settings(steps, batch_size), run_dir, quiet=True)
        return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="extra steps between the short and long runs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    dataset = Items(torch.randn(16384, 64))
    lengths = (50, 50 + args.steps)
    times: dict[tuple[str, int], list[tuple[float, float]]] = {}
    fit_loop(dataset, 20, args.batch_size)  # warm-up: imports, first checkpoint, allocator
    for _ in range(args.repeats):
        for name, run in (("bare", bare_loop), ("fit", fit_loop)):
            for steps in lengths:
                times.setdefault((name, steps), []).append(run(dataset, steps, args.batch_size))

    def per_step(name: str, clock: int) -> float:
        fastest = [min(t[clock] for t in times[(name, steps)]) for steps in lengths]
        return (fastest[1] - fastest[0]) / args.steps

    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, python {platform.python_version()}")
    print(f"batch {args.batch_size}, tiny MLP 64-256-256-64, {args.steps} timed steps, {args.repeats} repeats")
    for clock, label in ((0, "wall"), (1, "CPU")):
        bare, ours = per_step("bare", clock), per_step("fit", clock)
        print(f"{label:>4}: bare loop {1 / bare:7.1f} steps/s ({bare * 1e3:.3f} ms/step), "
              f"zoo fit {1 / ours:7.1f} steps/s ({ours * 1e3:.3f} ms/step): overhead {100 * (ours / bare - 1):+.1f}%")
    longest = lengths[1]
    print(f"whole runs of {longest} steps, fixed costs included (fastest wall): "
          f"bare {min(t[0] for t in times[('bare', longest)]):.2f} s, "
          f"fit {min(t[0] for t in times[('fit', longest)]):.2f} s")


if __name__ == "__main__":
    main()
