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

import contextlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from zoo.training.runtime import pick_device

__all__ = ["Processes", "gather_objects", "max_across", "mean_across", "process_group"]


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


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[Processes]:
    """This process's place in the run, inside the process group for the duration of the ``with`` block.

    Reads torchrun's environment, picks this process's device and joins the group unless it is up
    already. The block is one ``fit``: when it ends normally every process waits for every other (rank 0
    may still be writing its last checkpoint); when it raises, the process leaves at once, so the others'
    next collective fails instead of waiting for a partner that never comes. Then the group is destroyed,
    while Python still runs: left for interpreter exit, a gloo thread could still be freeing the last
    collective's work while Python finalised, which aborted a finished process ("terminate called without
    an active exception"). A group the caller created stays up: it is theirs.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)
    if world_size == 1:
        yield Processes(0, 0, 1, chosen)
        return
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    created = not dist.is_initialized()
    if created:
        _create_group("nccl" if chosen.type == "cuda" else "gloo", rank, world_size, chosen)
    try:
        yield Processes(rank, local_rank, world_size, chosen)
        dist.barrier()
    finally:
        if created:
            dist.destroy_process_group()


# The run's key-value store (torchrun's, or rank 0's at MASTER_ADDR:MASTER_PORT), reached once per process,
# and the number of groups this process has created in it: each group gets keys of its own (below).
_store: dist.Store | None = None
_groups = itertools.count()


def _create_group(backend: str, rank: int, world_size: int, device: torch.device) -> None:
    """Create the default process group under a store prefix that no earlier group of this process used.

    Train-then-resume in one process creates a group per ``fit``. torch would rendezvous each under the
    same keys, where the previous group's are still stored: a fast process could read a peer's stale
    address before the peer rewrote it. Every process creates its groups in the same order (every process
    calls ``fit``), so counting them gives all processes the same fresh prefix.
    """
    global _store
    if _store is None:
        _store, _, _ = next(dist.rendezvous("env://", rank, world_size))
    store = dist.PrefixStore(f"zoo/group_{next(_groups)}", _store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size,
                            device_id=device if device.type == "cuda" else None)


def mean_across(values: torch.Tensor, procs: Processes) -> torch.Tensor:
    """The mean of ``values`` over processes (elementwise). gloo has no AVG, hence SUM / world_size."""
    if not procs.is_distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / procs.world_size


def max_across(value: int, procs: Processes) -> int:
    """The largest ``value`` of all processes, on every process (e.g. the number of a stop signal one saw, or 0):
    so that all processes stop together."""
    if not procs.is_distributed:
        return value
    values = torch.tensor([value], dtype=torch.int64, device=procs.device)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return int(values.item())


def gather_objects(obj: Any, procs: Processes) -> list[Any]:
    """``[obj from rank 0, obj from rank 1, ...]`` on every process (small things: RNG states)."""
    if not procs.is_distributed:
        return [obj]
    out: list[Any] = [None] * procs.world_size
    dist.all_gather_object(out, obj)
    return out
