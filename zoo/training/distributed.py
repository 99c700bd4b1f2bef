"""Data-parallel training under torchrun: who am I, join the process group, reduce numbers.

``torchrun`` starts N copies of the program with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in their
environment. Each copy reads its own shard of every batch (``StreamSampler``); ``DistributedDataParallel``
averages the gradients, so all copies take the same update; gloo carries the collectives on CPU, nccl on
CUDA. ``batch_size`` is the global batch, so a recipe optimises the same thing on any number of devices::

    torchrun --nproc-per-node 8 -m zoo train vae-digits              # one machine, 8 GPUs
    torchrun --nproc-per-node 2 -m zoo train vae-digits --device cpu  # 2 CPU processes (gloo)
    # 2 machines x 8 GPUs: the same command on both; HOST0 is either of them
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-id myrun --rdzv-backend c10d \\
             --rdzv-endpoint HOST0:29500 -m zoo train vae-digits --out /shared/runs/vae
    # `zoo resume RUN_DIR` is launched the same way (the number of processes may change)

Only rank 0 writes the run directory, so on several machines it must be on a shared filesystem for
``zoo resume`` (every rank reads the checkpoint). Without torchrun's variables everything here is a no-op
for a single process.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from zoo.training.runtime import pick_device

__all__ = ["Processes", "any_across", "gather_objects", "mean_across", "start", "stop"]


@dataclass(frozen=True)
class Processes:
    """This process's place in the run and the device it computes on."""

    rank: int  # 0 .. world_size - 1; rank 0 writes checkpoints and logs
    local_rank: int  # rank within this machine: which GPU to use
    world_size: int  # number of processes in the run
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def start(device: str = "auto") -> Processes:
    """Read torchrun's environment, pick this process's device, and join the process group if needed.

    The group stays up until the process exits, so later ``fit`` calls in the same process (train, then
    resume) reuse it: re-creating a group after destroying it can race with the old one's teardown.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)
    if world_size == 1:
        return Processes(0, 0, 1, chosen)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world_size,
                                device_id=chosen if chosen.type == "cuda" else None)
        atexit.register(dist.destroy_process_group)
    return Processes(rank, local_rank, world_size, chosen)


def stop(procs: Processes) -> None:
    """Wait until every process is done (rank 0 may still be writing its last checkpoint)."""
    if procs.is_distributed:
        dist.barrier()


def mean_across(values: torch.Tensor, procs: Processes) -> torch.Tensor:
    """The mean of ``values`` over processes (elementwise). gloo has no AVG, hence SUM / world_size."""
    if not procs.is_distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / procs.world_size


def any_across(flag: bool, procs: Processes) -> bool:
    """True on every process when ``flag`` is true on any (e.g. one process saw Ctrl-C)."""
    if not procs.is_distributed:
        return flag
    value = torch.tensor([float(flag)], device=procs.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather_objects(obj: Any, procs: Processes) -> list[Any]:
    """``[obj from rank 0, obj from rank 1, ...]`` on every process (small things: RNG states)."""
    if not procs.is_distributed:
        return [obj]
    out: list[Any] = [None] * procs.world_size
    dist.all_gather_object(out, obj)
    return out
