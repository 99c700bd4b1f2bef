"""The training settings: the ``train:`` section of a recipe, as one flat dataclass.

Every field has a plain type and a comment, like nanoGPT's config; ``TrainSettings.from_recipe`` checks a
recipe's ``train:`` mapping against the fields (names and types), and ``__post_init__`` the values (every
number finite, each in its range). ``batch_size`` is the number of examples per optimizer update, whatever
the hardware: the loop splits it over processes (DDP) and accumulation micro-steps, so the same recipe
optimises the same objective on one CPU or eight GPUs.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import asdict, dataclass
from typing import Any

from zoo.errors import RecipeError
from zoo.registry import did_you_mean

__all__ = ["TrainSettings"]

SCHEDULES = ("cosine", "constant")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")
BEST_MODES = ("min", "max")


@dataclass
class TrainSettings:
    """How to train: length, batch, AdamW, schedule, stability, EMA, eval, checkpoints, logging, runtime."""

    # length and batch
    steps: int = 1000  # optimizer updates in the whole run; the schedule spans exactly these
    batch_size: int = 64  # examples per update, summed over all processes and accumulation micro-steps
    accumulate: int = 1  # micro-steps per update: each process's share of batch_size is cut into this many
    # optimizer: AdamW
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.0  # decoupled weight decay, applied to weight matrices/kernels only (not biases)
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW's moment decay rates
    # schedule: linear warmup, then cosine (or constant)
    warmup_steps: int = 0  # steps of linear warmup from lr / (warmup_steps + 1) up to lr
    schedule: str = "cosine"  # "cosine": decay to lr * min_lr_ratio at the last step; "constant": hold lr
    min_lr_ratio: float = 0.1  # the cosine's floor, as a fraction of lr
    # stability
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: no clipping)
    skip_threshold: float = 0.0  # VDVAE: skip updates whose gradient norm exceeds this (0: skip only non-finite)
    ema: float = 0.0  # decay of an exponential moving average of the weights (e.g. 0.999; 0: off)
    seed: int = 0  # seeds python, numpy and torch; each DDP process adds its rank
    # evaluation on the held-out split
    eval_every: int = 500  # evaluate every this many steps and at the end (0: never)
    eval_batches: int = 20  # batches per evaluation, per process
    best_metric: str = "loss"  # the eval metric that picks the best checkpoint (saved whenever it improves)
    best_mode: str = "min"  # "min" or "max": whether a lower or higher best_metric is better
    # checkpoints and logs
    checkpoint_every: int = 1000  # save every this many steps; always at the end (0: only at the end)
    keep_last: int = 3  # step checkpoints to keep, besides the best one (0: keep all)
    log_every: int = 10  # steps between log lines, progress updates and metrics.jsonl records
    # runtime
    precision: str = "auto"  # "auto" (bf16 on CUDA that supports it, else fp32), "fp32", "bf16" (CUDA only)
    compile: bool = False  # torch.compile the model's loss
    device: str = "auto"  # "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps"
    num_workers: int = 0  # DataLoader worker processes (0: load in the training process)
    threads: int = 0  # CPU threads for torch's ops (0: OMP_NUM_THREADS when set, else 1, safe on a busy machine)

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # YAML gives lists
        problems = []
        # inf or NaN in any number here ends as NaN weights or a run that never stops: refuse them first
        for name, value in asdict(self).items():
            numbers = value if isinstance(value, (tuple, list)) else [value]
            if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
                problems.append(f"{name}={value} must be finite")
        if problems:
            raise RecipeError("train", "; ".join(problems))
        for name in ("steps", "batch_size", "accumulate"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("warmup_steps", "eval_every", "eval_batches", "checkpoint_every", "keep_last",
                     "num_workers", "threads", "grad_clip", "skip_threshold", "weight_decay"):
            if getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)} must not be negative")
        if self.log_every < 1:
            problems.append(f"log_every={self.log_every} must be at least 1")
        if not self.lr > 0:
            problems.append(f"lr={self.lr} must be positive")
        if not 0 <= self.min_lr_ratio <= 1:
            problems.append(f"min_lr_ratio={self.min_lr_ratio} must be in [0, 1]")
        if not 0 <= self.ema < 1:
            problems.append(f"ema={self.ema} must be in [0, 1): a decay such as 0.999, or 0 for no EMA")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            problems.append(f"betas={list(self.betas)} must be two numbers in [0, 1)")
        for name, allowed in (("schedule", SCHEDULES), ("precision", PRECISIONS), ("best_mode", BEST_MODES)):
            if getattr(self, name) not in allowed:
                problems.append(f"{name}={getattr(self, name)!r} is not one of {', '.join(map(repr, allowed))}")
        if self.device.split(":")[0] not in DEVICES:
            problems.append(f"device={self.device!r} is not one of {', '.join(map(repr, DEVICES))} (or 'cuda:N')")
        if problems:
            raise RecipeError("train", "; ".join(problems))

    @classmethod
    def from_recipe(cls, recipe: dict) -> TrainSettings:
        """The recipe's ``train`` section, checked name by name and type by type (errors name the setting)."""
        from zoo.recipes import check_value

        section = recipe.get("train") or {}
        if not isinstance(section, dict):
            raise RecipeError("train", f"expected the training settings as a mapping, got {section!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        values = {}
        for key, value in section.items():
            if key not in fields:
                hint = did_you_mean(key, list(fields))
                raise RecipeError(f"train.{key}", f"unknown training setting{hint}; settings: {', '.join(fields)}")
            values[key] = check_value(value, hints[key], f"train.{key}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def micro_batch_size(self, world_size: int) -> int:
        """Examples per forward pass in one process: batch_size / (world_size * accumulate)."""
        pieces = world_size * self.accumulate
        if self.batch_size % pieces:
            raise RecipeError(
                "train.batch_size",
                f"batch_size={self.batch_size} does not split evenly over {world_size} process(es) x "
                f"accumulate={self.accumulate}: make batch_size a multiple of {pieces}"
            )
        return self.batch_size // pieces
