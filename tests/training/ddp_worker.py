"""Run by test_distributed.py under ``torchrun`` (or called in-process): the same toy run, three ways.

``ddp_worker.py OUT``: ``straight`` trains 6 steps into OUT/straight; ``stop`` trains the same run into
OUT/resumed but stops at step 3; ``resume`` continues OUT/resumed to step 6 from other initial weights;
``signal`` trains into OUT/signal, where rank 1 alone gets a SIGTERM during its 3rd update (every rank
must stop after that update, together).
Each rank saves its final weights, last evaluation, and whether a process group is still up after ``fit``
to OUT/MODE-RANK.pt. Under torchrun the worker creates the group for ``resume`` itself (``fit`` must leave
a group it did not create up); ``fit`` creates, and must destroy, the others.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from train_toys import make_denoiser, toy_data

from zoo.training import TrainSettings, fit

SETTINGS = TrainSettings(steps=6, batch_size=8, lr=1e-2, warmup_steps=1, eval_every=3, checkpoint_every=0,
                         log_every=1, device="cpu")


def main(out: Path) -> None:
    data, held_out = toy_data(40), toy_data(16, seed=1)
    rank = int(os.environ.get("RANK", "0"))
    for mode in ("straight", "stop", "resume", "signal"):
        own_group = mode == "resume" and int(os.environ.get("WORLD_SIZE", "1")) > 1
        if own_group:
            dist.init_process_group("gloo")
        signal_at = 3 if mode == "signal" and rank == 1 else 0
        model = make_denoiser(seed=5 if mode == "resume" else 0, noise=0.0, interrupt_at=signal_at,
                              interrupt_with=signal.SIGTERM)
        run = out / {"straight": "straight", "signal": "signal"}.get(mode, "resumed")
        result = fit(model, data, held_out, SETTINGS, run, stop_at=3 if mode == "stop" else None,
                     resume=mode == "resume", quiet=True)
        torch.save({"weights": model.state_dict(), "eval": result.eval_metrics, "group_up": dist.is_initialized(),
                    "step": result.step, "stopped_by": int(result.stopped_by or 0)}, out / f"{mode}-{rank}.pt")
        if own_group:
            dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
