"""The training loop: ``fit``, one function that reads top to bottom like nanoGPT's train.py.

Processes and device, model + EMA + AdamW, resume, data, then the loop: learning rate, forward/backward
over accumulation micro-steps, gradient norm (clip, or skip the update when it is not finite or too
large), EMA, log, evaluate, checkpoint. No callbacks and no trainer hierarchy: to change what training
does, read this file and change it. A model that torch.compile or bf16 can't run (a GON's loss holds a
double backward) fails at its first step; that step is retried eagerly in fp32, with a warning, and the
run goes on that way.

Determinism: on a given machine a run is a pure function of the initial weights and the settings (seed
included). Everything random that training draws comes from the global RNGs, which checkpoints capture;
the data order is a function of (seed, position) (``StreamSampler``); evaluation runs in a forked RNG, so
evaluating (or not) never changes the training. Hence a run stopped at any step (or by Ctrl-C) and
resumed ends bitwise equal to the uninterrupted run on CPU (tests/training/test_checkpoint.py).
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import threading
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

import zoo
from zoo.errors import ZooError, ZooWarning
from zoo.registry import did_you_mean
from zoo.interfaces import Annealed, Model, PosthocPrior
from zoo.training import checkpoint, distributed, runtime
from zoo.training.report import RunLog
from zoo.training.sampler import StreamSampler
from zoo.training.settings import TrainSettings

__all__ = [
    "DivergedError", "FitResult", "LossForward", "estimate_metrics", "fit", "fit_posthoc_prior", "learning_rate",
    "make_optimizer",
]

# A run stops when more than half of its last SKIP_WINDOW updates were skipped (once it has made at least
# SKIP_MIN_STEPS): a few skipped spikes are VDVAE's rule at work, a storm of them is a diverged run that
# would otherwise "finish" with the weights it had when the storm began and an infinite loss.
SKIP_WINDOW, SKIP_MIN_STEPS = 50, 10


class DivergedError(ZooError):
    """Training diverged: most recent updates had a non-finite (or too large) gradient norm."""


@dataclass
class FitResult:
    """What ``fit`` did: where, how far, and the last numbers."""

    run_dir: Path
    step: int  # the step the run ended at (== settings.steps unless stopped or interrupted)
    skipped: int  # updates skipped because the gradient norm was not finite or above skip_threshold
    interrupted: bool  # stopped by Ctrl-C (a checkpoint was saved)
    eval_metrics: dict[str, float] = field(default_factory=dict)  # the last evaluation
    best: dict[str, Any] | None = None  # {"metric", "mode", "value", "step"} of the best evaluation
    eval_model: Model | None = None  # the weights to evaluate and draw from: the EMA when kept, else the model


def learning_rate(step: int, s: TrainSettings) -> float:
    """Linear warmup to ``lr``, then a cosine from ``lr`` down to ``lr * min_lr_ratio`` at the last step."""
    if step < s.warmup_steps:
        return s.lr * (step + 1) / (s.warmup_steps + 1)
    if s.schedule == "constant":
        return s.lr
    progress = min(1.0, (step - s.warmup_steps) / max(1, s.steps - 1 - s.warmup_steps))
    min_lr = s.lr * s.min_lr_ratio
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (s.lr - min_lr)


def make_optimizer(model: nn.Module, s: TrainSettings, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay on weight matrices and kernels (dim >= 2) only, not on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ZooError(f"{type(model).__name__} has no trainable parameters: there is nothing to train")
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": s.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # the fused kernel on CPUs too: for small models the per-tensor update costs more than the forward pass
    # (vae-digits: 0.2 ms against 0.85 ms per step; benchmarks/RESULTS.md)
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=s.lr, betas=s.betas,
                             fused=True if device.type in ("cuda", "cpu") else None)


class LossForward(nn.Module):
    """``model.loss`` as a module's forward, so that DDP's gradient sync and torch.compile see the call."""

    def __init__(self, model: Model):
        super().__init__()
        self.model = model

    def forward(self, batch: Any) -> dict[str, Tensor]:
        return self.model.loss(batch)


def _batch_len(batch: Any) -> int:
    if isinstance(batch, dict):
        batch = next(iter(batch.values()))
    elif isinstance(batch, (list, tuple)):
        batch = batch[0]
    return len(batch)


def estimate_metrics(model: Model, loader: DataLoader, *, device: torch.device, precision: str = "fp32",
                     max_batches: int = 0, procs: distributed.Processes | None = None) -> dict[str, float]:
    """``model.metrics`` averaged over examples of up to ``max_batches`` batches (0: all), over all processes.

    Runs in eval mode and in a forked RNG with a fixed seed: every evaluation of a run sees the same noise,
    and evaluating leaves the training's random stream untouched. Autograd stays on: a model whose metrics
    need no gradients decorates its own ``metrics`` with ``torch.no_grad()``.
    """
    was_training = model.training
    model.eval()
    sums: dict[str, Tensor] = {}
    count = 0
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device.index or 0]):
        batches = iter(loader)  # before seeding: making a DataLoader iterator draws a random number
        torch.manual_seed(0)
        for i, batch in enumerate(batches):
            if max_batches and i >= max_batches:
                break
            batch = runtime.to_device(batch, device)
            with runtime.autocast(device, precision):
                metrics = model.metrics(batch)
            n = _batch_len(batch)
            for name, value in metrics.items():
                sums[name] = sums.get(name, 0.0) + value.detach().float() * n
            count += n
    model.train(was_training)
    if not sums:
        return {}
    totals = torch.stack([*sums.values(), torch.tensor(float(count), device=device)])
    if procs is not None:
        totals = distributed.mean_across(totals, procs)  # mean / mean == sum / sum
    return {name: (total / totals[-1]).item() for name, total in zip(sums, totals)}


class _CtrlC:
    """First Ctrl-C: finish the step, save a checkpoint and return. A second one aborts at once."""

    def __enter__(self):
        self.pressed, self.previous = False, None
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.pressed = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def fit_posthoc_prior(models: list[Model], dataset: Dataset, *, device: torch.device, batch_size: int) -> None:
    """Fit each model's sampling prior to the codes of the whole training set (``PosthocPrior``, e.g. an AE)."""
    loader = DataLoader(dataset, batch_size=batch_size)
    for model in models:
        was_training = model.training
        model.eval()
        model.fit_prior(torch.cat([model.encode(runtime.to_device(x, device)).detach() for x in loader]))
        model.train(was_training)


def _check_best_metric(model: Model, loader: DataLoader, s: TrainSettings, *, device: torch.device,
                       precision: str) -> None:
    """Fail before training when ``best_metric`` is not among the model's eval metrics (one held-out batch)."""
    names = estimate_metrics(model, loader, device=device, precision=precision, max_batches=1)
    if s.best_metric not in names:
        hint = did_you_mean(s.best_metric, list(names))
        raise ZooError(f"train.best_metric={s.best_metric!r} is not among the eval metrics of {type(model).__name__}"
                       f"{hint}: {', '.join(names)} (set train.best_metric to one of them)")


@contextlib.contextmanager
def _distribution_checks(enabled: bool):
    """Turn torch.distributions' argument checks off while training: a diverging step's NaN parameters then
    reach the gradient norm and the step is skipped, instead of a ValueError from a constructor."""
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(enabled)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)


def _ignore_sigint(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the training process, which stops them after saving."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _check_terms(terms: Any, model: Model) -> None:
    if not isinstance(terms, dict) or not terms:
        raise ZooError(f"{type(model).__name__}.loss must return a non-empty dict of scalar terms, "
                       f"got {type(terms).__name__}")
    for name, value in terms.items():
        if not isinstance(value, Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ZooError(f"{type(model).__name__}.loss returned term {name!r} of shape {shape}; terms must be "
                           "scalar tensors (average over the batch inside loss)")


def _forward_backward(forward: nn.Module, batch: Any, model: Model, device: torch.device, precision: str,
                      accumulate: int, *, check: bool) -> tuple[dict[str, Tensor], Tensor]:
    """One micro-step: the loss terms (checked on the first step) and their sum, backpropagated / accumulate."""
    with runtime.autocast(device, precision):
        terms = forward(batch)
    if check:
        _check_terms(terms, model)
    loss = sum(terms.values())
    (loss / accumulate).backward()
    return terms, loss


def _warn_fallback(error: RuntimeError, how: str) -> None:
    reason = (str(error).strip().splitlines() or [""])[0]
    warnings.warn(f"the first step failed {how} ({type(error).__name__}: {reason}); training on eagerly in fp32",
                  stacklevel=3, category=ZooWarning)


def fit(
    model: Model,
    train_set: Dataset,
    eval_set: Dataset | None,
    settings: TrainSettings,
    run_dir: str | Path,
    *,
    recipe: dict | None = None,
    provenance: list[dict] | None = None,
    resume: bool = False,
    stop_at: int | None = None,
    quiet: bool = False,
) -> FitResult:
    """Train ``model`` on ``train_set``, evaluating on ``eval_set``, writing checkpoints and logs to ``run_dir``.

    ``recipe`` and ``provenance`` are stored in every checkpoint, so the run can be rebuilt from its
    directory (``zoo.training.load``). ``resume`` continues from the newest checkpoint in ``run_dir``
    (``settings.steps`` may be larger than before). ``stop_at`` ends the run early at that step (with a
    checkpoint) as if it had been interrupted; the schedule still spans ``settings.steps``. Under torchrun
    every process calls ``fit``; only rank 0 writes.
    """
    if settings.batch_size > len(train_set):  # the default 64 on one image to fit: 64 copies of it in each update
        raise ZooError(f"train.batch_size={settings.batch_size} is larger than the training set, which holds "
                       f"{len(train_set)}: every update would repeat the same items; set train.batch_size to at "
                       f"most {len(train_set)}")
    # the process group outlives all that uses it: _fit drops its DDP wrapper when its loop ends
    with distributed.process_group(settings.device) as procs:
        return _fit(procs, model, train_set, eval_set, settings, Path(run_dir), recipe=recipe,
                    provenance=provenance, resume=resume, stop_at=stop_at, quiet=quiet)


def _fit(procs: distributed.Processes, model: Model, train_set: Dataset, eval_set: Dataset | None,
         s: TrainSettings, run_dir: Path, *, recipe: dict | None, provenance: list[dict] | None, resume: bool,
         stop_at: int | None, quiet: bool) -> FitResult:
    # -- device, precision -----------------------------------------------------------------------------------
    device = procs.device
    precision = runtime.resolve_precision(device, s.precision)
    micro_batch = s.micro_batch_size(procs.world_size)
    if not resume and checkpoint.list_checkpoints(run_dir):
        raise ZooError(f"{run_dir} already holds a run ({checkpoint.list_checkpoints(run_dir)[-1].name}): continue it "
                       f"with `zoo resume {run_dir}`, or train into another directory (--out)")
    if procs.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)

    # -- model, EMA, optimizer -------------------------------------------------------------------------------
    model.to(device).train()
    ema = copy.deepcopy(model).requires_grad_(False).eval() if s.ema else None
    optimizer = make_optimizer(model, s, device)

    # -- resume: weights, optimizer, counters (the RNG states are restored last, just before the loop) ------
    step, skipped, best, samples_seen, rng_states = 0, 0, None, 0, None
    if resume:
        found = checkpoint.find_checkpoint(run_dir)
        checkpoint.load_weights(found, model)
        state = checkpoint.load_trainer_state(found)
        if ema is not None:
            checkpoint.load_weights(found, ema, ema=(found / "ema.safetensors").exists())
        kernels = [{k: g[k] for k in ("foreach", "fused")} for g in optimizer.param_groups]
        optimizer.load_state_dict(state["optimizer"])
        for group, kernel in zip(optimizer.param_groups, kernels):  # this machine's choice, not the saver's
            group.update(kernel)
        step, skipped, best, samples_seen = state["step"], state["skipped"], state["best"], state["samples_seen"]
        rng_states = state["rng"]
    else:
        runtime.seed_everything(s.seed + procs.rank)

    # -- data: an endless seeded stream from where the checkpoint left off; evaluation in a fixed order ------
    loader_options = {"batch_size": micro_batch, "num_workers": s.num_workers, "pin_memory": device.type == "cuda",
                      "worker_init_fn": _ignore_sigint, "persistent_workers": s.num_workers > 0}
    stream = StreamSampler(train_set, seed=s.seed, rank=procs.rank, world_size=procs.world_size,
                           start=samples_seen // procs.world_size)
    # the loader's own generator seeds its workers, so making an iterator never draws from the global RNG
    train_loader = DataLoader(train_set, sampler=stream, generator=torch.Generator().manual_seed(s.seed + step),
                              **loader_options)
    eval_loader = None
    if eval_set is not None and s.eval_every:
        shards = None
        if procs.is_distributed:
            shards = DistributedSampler(eval_set, procs.world_size, procs.rank, shuffle=False)
        eval_loader = DataLoader(eval_set, sampler=shards, **loader_options)
    batches = iter(train_loader)

    # -- what a step calls: model.loss, through DDP (gradient all-reduce) and torch.compile when asked -------
    forward: nn.Module = LossForward(model)
    ddp = None
    if procs.is_distributed:
        forward = ddp = DistributedDataParallel(forward, device_ids=[device.index] if device.type == "cuda" else None)
    eager = forward
    if s.compile:
        forward = torch.compile(forward)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if ema is not None:
        update_ema = get_ema_multi_avg_fn(s.ema)  # ema <- decay * ema + (1 - decay) * model, in place
        ema_params, model_params = list(ema.parameters()), list(model.parameters())
        ema_buffers, model_buffers = list(ema.buffers()), list(model.buffers())
    if s.best_metric and eval_loader is not None:  # a misspelt best_metric fails now, not at the first eval
        _check_best_metric(model, eval_loader, s, device=device, precision=precision)

    if rng_states is not None:
        if len(rng_states) == procs.world_size:
            runtime.set_rng_state(rng_states[procs.rank])
        else:
            warnings.warn(f"the checkpoint was written by {len(rng_states)} process(es), this run has "
                          f"{procs.world_size}: random draws are reseeded, so the run will not replay exactly",
                          ZooWarning)
            runtime.seed_everything(s.seed + procs.rank + step)

    # -- the loop --------------------------------------------------------------------------------------------
    end = s.steps if stop_at is None else min(stop_at, s.steps)
    start_step, interrupted, eval_metrics = step, False, {}
    log = RunLog(run_dir, start_step=step, total_steps=s.steps, items_per_step=s.batch_size,
                 enabled=procs.is_main, quiet=quiet)
    n_params = sum(p.numel() for p in params)
    log.note(f"training {type(model).__name__} ({n_params:,} parameters) on {device} x {procs.world_size} | "
             f"batch {s.batch_size} = {procs.world_size} process(es) x {s.accumulate} micro-step(s) x "
             f"{micro_batch} | {precision}{' | compiled' if s.compile else ''} | step {step} -> {end}")
    if step >= end:
        log.note(f"{run_dir} is already at step {step} of {end}: nothing to do (raise the total with --steps)")
    # the terms (and their total) summed over the updates since the last log step, as one tensor on the
    # device: adding them up costs one op per micro-step and reading them one sync per log step
    names: list[str] = []
    running, counted, norm_sum = 0.0, 0, 0.0
    recent_skips: deque[bool] = deque(maxlen=SKIP_WINDOW)
    try:
        with _CtrlC() as ctrl_c, _distribution_checks(False):
            while step < end:
                lr = learning_rate(step, s)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if isinstance(model, Annealed):
                    model.anneal(step - skipped)  # the updates applied so far, not forward calls

                # forward and backward over the micro-steps; DDP all-reduces gradients on the last one only
                step_values: Tensor | float = 0.0
                for micro in range(s.accumulate):
                    batch = runtime.to_device(next(batches), device)
                    sync = ddp is None or micro == s.accumulate - 1
                    with contextlib.nullcontext() if sync else ddp.no_sync():
                        first = step == start_step and micro == 0
                        rng = runtime.rng_state() if first else None
                        try:
                            terms, loss = _forward_backward(forward, batch, model, device, precision, s.accumulate,
                                                            check=first)
                        except RuntimeError as error:
                            # what torch.compile or bf16 can't run (a GON's loss holds a double backward, which
                            # AOTAutograd refuses) fails at its first step: train it eagerly in fp32 instead
                            if not first or (forward is eager and precision == "fp32"):
                                raise
                            _warn_fallback(error, "compiled" if forward is not eager else "in bf16")
                            forward, precision = eager, "fp32"
                            optimizer.zero_grad(set_to_none=True)
                            runtime.set_rng_state(rng)  # the retry draws what the failed attempt drew
                            terms, loss = _forward_backward(forward, batch, model, device, precision, s.accumulate,
                                                            check=True)
                        if first:
                            names = [*terms, "loss"]
                    step_values = step_values + torch.stack([*terms.values(), loss]).detach().float()  # (terms + 1,)

                # the gradient norm (clipped when grad_clip > 0) decides whether this update happens at all:
                # VDVAE's rule, so a NaN or a spike never reaches the weights. Identical on every process
                # (gradients are already all-reduced), so all processes skip together.
                if s.grad_clip > 0:
                    grad_norm = torch.nn.utils.clip_grad_norm_(params, s.grad_clip).item()
                else:
                    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]).item()
                skip = not math.isfinite(grad_norm) or (s.skip_threshold > 0 and grad_norm > s.skip_threshold)
                if skip:
                    skipped += 1
                else:
                    optimizer.step()
                    if ema is not None:
                        update_ema(ema_params, model_params, None)
                        for ema_buffer, buffer in zip(ema_buffers, model_buffers):  # BatchNorm statistics, ...
                            ema_buffer.copy_(buffer)
                    running, counted, norm_sum = running + step_values, counted + 1, norm_sum + grad_norm
                optimizer.zero_grad(set_to_none=True)
                step += 1
                recent_skips.append(skip)
                if step - start_step >= SKIP_MIN_STEPS and 2 * sum(recent_skips) > len(recent_skips):
                    raise DivergedError(
                        f"training diverged: {sum(recent_skips)} of the last {len(recent_skips)} updates were skipped "
                        f"(gradient norm {grad_norm:.3g}; {skipped} skipped in all) at step {step} with lr={lr:.3g}. "
                        f"The newest checkpoint in {run_dir} holds the last good weights; lower train.lr, raise "
                        f"train.warmup_steps or set train.grad_clip")

                if step % s.log_every == 0 or step == end:
                    means = {}
                    if counted:
                        averaged = distributed.mean_across(running / (counted * s.accumulate), procs)
                        means = dict(zip(names, averaged.tolist()))
                    mean_grad_norm = norm_sum / counted if counted else math.nan
                    log.train(step, means, lr=lr, grad_norm=mean_grad_norm, skipped=skipped)
                    running, counted, norm_sum = 0.0, 0, 0.0

                is_best = False
                if eval_loader is not None and (step % s.eval_every == 0 or step == s.steps):
                    eval_metrics = estimate_metrics(ema if ema is not None else model, eval_loader, device=device,
                                                    precision=precision, max_batches=s.eval_batches, procs=procs)
                    value = eval_metrics[s.best_metric]
                    better = best is None or (value < best["value"] if s.best_mode == "min" else value > best["value"])
                    is_best = math.isfinite(value) and better
                    if is_best:
                        best = {"metric": s.best_metric, "mode": s.best_mode, "value": value, "step": step}
                    log.eval(step, eval_metrics, best=is_best)
                    worst = math.inf if s.best_mode == "min" else -math.inf
                    if math.isnan(value) or value == worst:  # weights that overflowed without a NaN gradient
                        raise DivergedError(
                            f"training diverged: the eval {s.best_metric} is {value} at step {step} with lr={lr:.3g} "
                            f"({skipped} updates skipped). The best checkpoint in {run_dir} holds the last good "
                            "weights, if any; lower train.lr, raise train.warmup_steps or set train.grad_clip")

                if step == s.steps and isinstance(model, PosthocPrior):  # an AE samples through a fitted prior
                    fit_posthoc_prior([m for m in (model, ema) if m is not None], train_set, device=device,
                                      batch_size=micro_batch)

                interrupted = distributed.any_across(ctrl_c.pressed, procs)
                periodic = s.checkpoint_every and step % s.checkpoint_every == 0
                if interrupted or periodic or is_best or step == end:
                    # every process's RNG state, so that each resumes its own random stream
                    rng = distributed.gather_objects(runtime.rng_state(), procs)
                    if procs.is_main:
                        checkpoint.save_checkpoint(
                            run_dir, step, model=model, ema=ema, keep_last=s.keep_last,
                            best=best if is_best else None,
                            trainer_state={"step": step, "optimizer": optimizer.state_dict(), "rng": rng,
                                           "samples_seen": samples_seen + (step - start_step) * s.batch_size,
                                           "skipped": skipped, "best": best},
                            info={"recipe": recipe, "provenance": provenance or [], "settings": s.to_dict(),
                                  "eval_metrics": eval_metrics, "world_size": procs.world_size,
                                  "versions": {"genzoo": zoo.__version__, "torch": torch.__version__}},
                        )
                if interrupted:
                    log.note(f"interrupted at step {step}: checkpoint saved; continue with `zoo resume {run_dir}`")
                    break
    finally:
        log.stop()
        del forward, ddp  # the DDP wrapper, with its hooks on the parameters, goes while the process group is up

    log.summary(step=step, skipped=skipped, best=best, run_dir=run_dir)
    return FitResult(run_dir, step, skipped, interrupted, eval_metrics, best, ema if ema is not None else model)
