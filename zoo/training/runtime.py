"""Where and how the loop computes: device choice, mixed precision, CPU threads, seeding, and the RNG states
a checkpoint carries so that a resumed run draws exactly the random numbers the uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from zoo.errors import RecipeError

__all__ = [
    "autocast", "cpu_threads", "pick_device", "resolve_precision", "rng_state", "seed_everything", "set_rng_state",
    "thread_count", "to_device",
]

# train.threads=0 without OMP_NUM_THREADS: this many. torch's own default (one thread per core) made vae-digits
# 3.5-43x slower than one thread on a machine whose cores were busy (benchmarks/RESULTS.md, "CPU threads"): an
# OpenMP thread that is not running holds up every op. A big model on an idle machine asks for more.
DEFAULT_THREADS = 1


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"`` -> CUDA (this process's GPU under torchrun), then MPS, then CPU; anything else as asked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError("train.device", f"{name!r} was asked for, but this torch ({torch.__version__}) sees no "
                          "CUDA device: use --device cpu (or auto), or install a CUDA build of torch")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RecipeError("train.device", f"{name!r} was asked for, but MPS is not available here: use --device cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def resolve_precision(device: torch.device, precision: str) -> str:
    """``"auto"`` -> ``"bf16"`` on a CUDA device that supports it, else ``"fp32"``; checks that bf16 can run."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "bf16" and device.type != "cuda":
        raise RecipeError("train.precision", f"'bf16' needs a CUDA device, but this run is on {device}: "
                          "use --set train.precision=fp32 (or auto, which picks bf16 only on CUDA)")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The mixed-precision context for forward passes: bf16 autocast on CUDA, nothing otherwise.

    bf16 keeps fp32's exponent range, so unlike fp16 it needs no loss scaling.
    """
    if resolve_precision(device, precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16)


def thread_count(threads: int = 0) -> int:
    """``train.threads`` -> CPU threads for torch's ops: ``threads`` when > 0, else ``OMP_NUM_THREADS`` when
    set (torchrun sets it to 1 for several processes per machine), else ``DEFAULT_THREADS``."""
    if threads > 0:
        return threads
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()  # "4,2" is nested parallelism: the outer
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    return DEFAULT_THREADS


@contextlib.contextmanager
def cpu_threads(threads: int = 0) -> Iterator[int]:
    """Compute with ``thread_count(threads)`` CPU threads inside the block, and as many as before after it."""
    previous = torch.get_num_threads()
    count = thread_count(threads)
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every global RNG state, as data that ``torch.load(weights_only=True)`` accepts (no numpy arrays)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }
    if torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a batch (a tensor, or a dict/list/tuple of them) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
