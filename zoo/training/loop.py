"""The training loop: ``fit``, one function that reads top to bottom like nanoGPT's train.py.

Processes and device, model + EMA + AdamW, resume, data, then the loop, one update per turn: learning
rate, the model's ``before_update``, forward/backward over the accumulation micro-steps, gradient norm
(clip, or skip the update when it is not finite or too large), the update and the EMA, log, evaluate,
checkpoint. No callbacks and no trainer hierarchy: to change what training does, read this file and
change it. A model that torch.compile or bf16 can't run (a GON's loss holds a double backward) fails at
its first step; that step is retried eagerly in fp32, with a warning, and the run goes on that way.

Stopping: the first SIGINT (Ctrl-C), SIGTERM (a scheduler, ``timeout``, systemd, a container runtime) or
SIGHUP (a closed terminal) lets the update in progress finish, saves a checkpoint, prints one line (the
signal, the step saved, the resume command) and returns ``FitResult(interrupted=True)``; under torchrun
the processes agree on the stop before saving. A second signal while stopping aborts at once
(``TrainingAborted``): the checkpoint being written is abandoned, the ones before stay intact.

Determinism: on a given machine a run is a pure function of the initial weights and the settings (seed
included). Everything random that training draws comes from the global RNGs, which checkpoints capture;
the data order is a function of (seed, position) (``StreamSampler``); evaluation runs in a forked RNG, so
evaluating (or not) never changes the training. Hence a run stopped at any step (or by Ctrl-C) and
resumed ends bitwise equal to the uninterrupted run on CPU (tests/training/test_checkpoint.py).
``train.threads`` is applied for the run: a thread count that changes between sessions may change the
float sums, so a resume replays bitwise when it computes with as many threads.
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator
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
from zoo.errors import TrainingAborted, ZooError, ZooWarning
from zoo.interfaces import BeforeUpdate, Model, PosthocPrior
from zoo.registry import did_you_mean
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
# What stops a run cleanly (a checkpoint first): Ctrl-C, and what schedulers and terminals send (not on Windows)
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class DivergedError(ZooError):
    """Training diverged: most recent updates had a non-finite (or too large) gradient norm."""


@dataclass
class FitResult:
    """What ``fit`` did: where, how far, and the last numbers."""

    run_dir: Path
    step: int  # the step the run ended at (== settings.steps unless stopped or interrupted)
    skipped: int  # updates skipped because the gradient norm was not finite or above skip_threshold
    interrupted: bool  # stopped by a signal (a checkpoint was saved)
    eval_metrics: dict[str, float] = field(default_factory=dict)  # the last evaluation
    best: dict[str, Any] | None = None  # {"metric", "mode", "value", "step"} of the best evaluation
    eval_model: Model | None = None  # the weights to evaluate and draw from: the EMA when kept, else the model
    stopped_by: signal.Signals | None = None  # the signal that interrupted the run (SIGINT, SIGTERM, SIGHUP)


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


class _StopSignals:
    """The first stop signal (``STOP_SIGNALS``) is noted for the loop, which finishes the update, saves and
    returns; a second one raises ``TrainingAborted`` at once."""

    def __enter__(self):
        self.received, self.previous = 0, {}  # received: the first signal's number (0: none yet)
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            self.previous = {signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received:
            raise TrainingAborted(signum)
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)


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


def _leave_signals_to_the_trainer(worker_id: int) -> None:
    """DataLoader workers leave stop signals (also sent to a whole process group) to the training process,
    which stops them after saving."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _check_terms(terms: Any, model: Model) -> None:
    if not isinstance(terms, dict) or not terms:
        raise ZooError(f"{type(model).__name__}.loss must return a non-empty dict of scalar terms, "
                       f"got {type(terms).__name__}")
    for name, value in terms.items():
        if not isinstance(value, Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ZooError(f"{type(model).__name__}.loss returned term {name!r} of shape {shape}; terms must be "
                           "scalar tensors (average over the batch inside loss)")


class _Update:
    """``model.loss`` forward and backward over one update's micro-steps, through DDP and torch.compile.

    DDP all-reduces the gradients on the last micro-step only. The session's first micro-step checks the
    loss terms; when it fails compiled or in bf16 (a GON's loss holds a double backward, which AOTAutograd
    refuses) it is retried eagerly in fp32 from the same RNG state, with a warning, and the run goes on so.
    """

    def __init__(self, model: Model, procs: distributed.Processes, s: TrainSettings, precision: str):
        self.model, self.device, self.accumulate, self.precision = model, procs.device, s.accumulate, precision
        self.eager: nn.Module = LossForward(model)
        self.ddp = None
        if procs.is_distributed:
            device_ids = [procs.device.index] if procs.device.type == "cuda" else None
            self.eager = self.ddp = DistributedDataParallel(self.eager, device_ids=device_ids)
        self.forward = torch.compile(self.eager) if s.compile else self.eager
        self.names: list[str] = []  # the loss terms, then "loss": known after the first micro-step

    def __call__(self, batches: Iterator[Any]) -> Tensor:
        """The loss terms and their total, each summed over the micro-steps: ``(terms + 1,)``."""
        values: Tensor | float = 0.0
        for micro in range(self.accumulate):
            batch = runtime.to_device(next(batches), self.device)
            sync = self.ddp is None or micro == self.accumulate - 1
            with contextlib.nullcontext() if sync else self.ddp.no_sync():
                terms, loss = self._backward(batch) if self.names else self._first_backward(batch)
            values = values + torch.stack([*terms.values(), loss]).detach().float()
        return values

    def _first_backward(self, batch: Any) -> tuple[dict[str, Tensor], Tensor]:
        rng = runtime.rng_state()
        try:
            terms, loss = self._backward(batch, check=True)
        except RuntimeError as error:
            if self.forward is self.eager and self.precision == "fp32":
                raise
            reason = (str(error).strip().splitlines() or [""])[0]
            how = "compiled" if self.forward is not self.eager else "in bf16"
            warnings.warn(f"the first step failed {how} ({type(error).__name__}: {reason}); training on eagerly "
                          "in fp32", stacklevel=4, category=ZooWarning)
            self.forward, self.precision = self.eager, "fp32"
            self.model.zero_grad(set_to_none=True)
            runtime.set_rng_state(rng)  # the retry draws what the failed attempt drew
            terms, loss = self._backward(batch, check=True)
        self.names = [*terms, "loss"]
        return terms, loss

    def _backward(self, batch: Any, *, check: bool = False) -> tuple[dict[str, Tensor], Tensor]:
        with runtime.autocast(self.device, self.precision):
            terms = self.forward(batch)
        if check:
            _check_terms(terms, self.model)
        loss = sum(terms.values())
        (loss / self.accumulate).backward()
        return terms, loss


def _gradient_norm(params: list[nn.Parameter], grad_clip: float) -> float:
    """The global gradient norm, after clipping it to ``grad_clip`` when that is > 0."""
    if grad_clip > 0:
        return torch.nn.utils.clip_grad_norm_(params, grad_clip).item()
    return torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]).item()


def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> Callable[[], None]:
    """``ema <- decay * ema + (1 - decay) * model``, in place; buffers (BatchNorm statistics, ...) copied."""
    average = get_ema_multi_avg_fn(decay)
    ema_params, model_params = list(ema.parameters()), list(model.parameters())
    buffers = list(zip(ema.buffers(), model.buffers()))

    def update() -> None:
        average(ema_params, model_params, None)
        for ema_buffer, buffer in buffers:
            ema_buffer.copy_(buffer)

    return update


class _Tally:
    """The loss terms (and their total) summed over the updates applied since the last log step, as one
    tensor on the device: adding them up costs one op per update and reading them one sync per log step."""

    def __init__(self, accumulate: int):
        self.accumulate = accumulate
        self.values, self.count, self.norms = 0.0, 0, 0.0

    def add(self, values: Tensor, grad_norm: float) -> None:
        self.values, self.count, self.norms = self.values + values, self.count + 1, self.norms + grad_norm

    def take(self, names: list[str], procs: distributed.Processes) -> dict[str, Any]:
        """``{"metrics": {term: mean}, "grad_norm": mean}`` since the last call (means over processes)."""
        means = {}
        if self.count:
            averaged = distributed.mean_across(self.values / (self.count * self.accumulate), procs)
            means = dict(zip(names, averaged.tolist()))
        taken = {"metrics": means, "grad_norm": self.norms / self.count if self.count else math.nan}
        self.values, self.count, self.norms = 0.0, 0, 0.0
        return taken


@dataclass
class _Progress:
    """Where the run is: the counters a checkpoint's trainer state holds besides the optimizer and RNGs."""

    step: int = 0  # updates taken, applied or skipped
    skipped: int = 0  # updates skipped (gradient norm not finite, or above skip_threshold)
    samples_seen: int = 0  # examples drawn from the training stream, over all processes
    best: dict[str, Any] | None = None  # {"metric", "mode", "value", "step"} of the best evaluation so far


def _check_skips(recent: deque[bool], at: _Progress, start_step: int, *, grad_norm: float, lr: float,
                 run_dir: Path) -> None:
    """Stop a run most of whose recent updates were skipped (``SKIP_WINDOW``): it diverged."""
    if at.step - start_step >= SKIP_MIN_STEPS and 2 * sum(recent) > len(recent):
        raise DivergedError(
            f"training diverged: {sum(recent)} of the last {len(recent)} updates were skipped (gradient norm "
            f"{grad_norm:.3g}; {at.skipped} skipped in all) at step {at.step} with lr={lr:.3g}. The newest "
            f"checkpoint in {run_dir} holds the last good weights; lower train.lr, raise train.warmup_steps or "
            "set train.grad_clip")


def _track_best(at: _Progress, value: float, s: TrainSettings) -> bool:
    """Record an evaluation of ``best_metric`` that beats the best so far; True when it did."""
    better = at.best is None or (value < at.best["value"] if s.best_mode == "min" else value > at.best["value"])
    if better and math.isfinite(value):
        at.best = {"metric": s.best_metric, "mode": s.best_mode, "value": value, "step": at.step}
    return better and math.isfinite(value)


def _check_eval(value: float, at: _Progress, s: TrainSettings, *, lr: float, run_dir: Path) -> None:
    """A NaN or infinitely bad evaluation: weights that overflowed without a NaN gradient. The run diverged."""
    worst = math.inf if s.best_mode == "min" else -math.inf
    if math.isnan(value) or value == worst:
        raise DivergedError(
            f"training diverged: the eval {s.best_metric} is {value} at step {at.step} with lr={lr:.3g} "
            f"({at.skipped} updates skipped). The best checkpoint in {run_dir} holds the last good weights, if "
            "any; lower train.lr, raise train.warmup_steps or set train.grad_clip")


def _resume(run_dir: Path, model: Model, ema: nn.Module | None,
            optimizer: torch.optim.Optimizer) -> tuple[_Progress, list[dict[str, Any]]]:
    """Load the newest resumable checkpoint: weights, EMA, optimizer; its counters and RNG states."""
    found, state = checkpoint.find_resumable(run_dir)
    checkpoint.load_weights(found, model)
    if ema is not None:
        checkpoint.load_weights(found, ema, ema=(found / "ema.safetensors").exists())
    kernels = [{k: g[k] for k in ("foreach", "fused")} for g in optimizer.param_groups]
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, TypeError) as e:
        raise checkpoint.CheckpointError(f"{found / 'trainer.pt'}: 'optimizer' does not fit the optimizer of the "
                                         f"model built from the recipe ({type(e).__name__}: {e})") from None
    for group, kernel in zip(optimizer.param_groups, kernels):  # this machine's choice, not the saver's
        group.update(kernel)
    return _Progress(state["step"], state["skipped"], state["samples_seen"], state["best"]), state["rng"]


def _restore_rng(rng_states: list[dict[str, Any]], procs: distributed.Processes, s: TrainSettings,
                 step: int) -> None:
    """Each process resumes its own random stream; another number of processes reseeds (with a warning)."""
    if len(rng_states) == procs.world_size:
        runtime.set_rng_state(rng_states[procs.rank])
        return
    warnings.warn(f"the checkpoint was written by {len(rng_states)} process(es), this run has {procs.world_size}: "
                  "random draws are reseeded, so the run will not replay exactly", ZooWarning, stacklevel=3)
    runtime.seed_everything(s.seed + procs.rank + step)


def _data(train_set: Dataset, eval_set: Dataset | None, s: TrainSettings, procs: distributed.Processes,
          at: _Progress) -> tuple[Iterator[Any], DataLoader | None]:
    """An endless seeded stream of training batches from where the run left off; evaluation in a fixed order."""
    options = {"batch_size": s.micro_batch_size(procs.world_size), "num_workers": s.num_workers,
               "pin_memory": procs.device.type == "cuda", "worker_init_fn": _leave_signals_to_the_trainer,
               "persistent_workers": s.num_workers > 0}
    stream = StreamSampler(train_set, seed=s.seed, rank=procs.rank, world_size=procs.world_size,
                           start=at.samples_seen // procs.world_size)
    # the loader's own generator seeds its workers, so making an iterator never draws from the global RNG
    train_loader = DataLoader(train_set, sampler=stream, generator=torch.Generator().manual_seed(s.seed + at.step),
                              **options)
    eval_loader = None
    if eval_set is not None and s.eval_every:
        shards = None
        if procs.is_distributed:
            shards = DistributedSampler(eval_set, procs.world_size, procs.rank, shuffle=False)
        eval_loader = DataLoader(eval_set, sampler=shards, **options)
    return iter(train_loader), eval_loader


def _save(run_dir: Path, at: _Progress, *, is_best: bool, model: Model, ema: nn.Module | None,
          optimizer: torch.optim.Optimizer, procs: distributed.Processes, s: TrainSettings,
          info: dict[str, Any]) -> None:
    """A checkpoint of this step, written by rank 0, with every process's RNG state (each resumes its own)."""
    rng = distributed.gather_objects(runtime.rng_state(), procs)
    if procs.is_main:
        checkpoint.save_checkpoint(
            run_dir, at.step, model=model, ema=ema, keep_last=s.keep_last, best=at.best if is_best else None,
            trainer_state={"step": at.step, "optimizer": optimizer.state_dict(), "rng": rng,
                           "samples_seen": at.samples_seen, "skipped": at.skipped, "best": at.best},
            info=info)


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
    with distributed.process_group(settings.device) as procs, runtime.cpu_threads(settings.threads):
        return _fit(procs, model, train_set, eval_set, settings, Path(run_dir), recipe=recipe,
                    provenance=provenance, resume=resume, stop_at=stop_at, quiet=quiet)


def _fit(procs: distributed.Processes, model: Model, train_set: Dataset, eval_set: Dataset | None,
         s: TrainSettings, run_dir: Path, *, recipe: dict | None, provenance: list[dict] | None, resume: bool,
         stop_at: int | None, quiet: bool) -> FitResult:
    # -- device, precision (fit set the threads) ------------------------------------------------------------
    device = procs.device
    precision = runtime.resolve_precision(device, s.precision)
    micro_batch = s.micro_batch_size(procs.world_size)
    if not resume and checkpoint.list_checkpoints(run_dir):
        raise ZooError(f"{run_dir} already holds a run ({checkpoint.list_checkpoints(run_dir)[-1].name}): continue it "
                       f"with `zoo resume {run_dir}`, or train into another directory (--out)")
    if procs.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)

    # -- model, EMA, optimizer; a resumed run's weights and counters (its RNG states are restored last) --------
    model.to(device).train()
    ema = copy.deepcopy(model).requires_grad_(False).eval() if s.ema else None
    optimizer = make_optimizer(model, s, device)
    if resume:
        at, rng_states = _resume(run_dir, model, ema, optimizer)
    else:
        at, rng_states = _Progress(), None
        runtime.seed_everything(s.seed + procs.rank)

    # -- data, the update (through DDP and torch.compile when asked), the EMA --------------------------------
    batches, eval_loader = _data(train_set, eval_set, s, procs, at)
    update = _Update(model, procs, s, precision)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    update_ema = _ema_update(ema, model, s.ema) if ema is not None else None
    if s.best_metric and eval_loader is not None:  # a misspelt best_metric fails now, not at the first eval
        _check_best_metric(model, eval_loader, s, device=device, precision=precision)
    if rng_states is not None:
        _restore_rng(rng_states, procs, s, at.step)

    # -- the loop: one update per turn; then evaluate, checkpoint, log ---------------------------------------
    end = s.steps if stop_at is None else min(stop_at, s.steps)
    start_step, eval_metrics, stopped_by = at.step, {}, 0
    info = {"recipe": recipe, "provenance": provenance or [], "settings": s.to_dict(), "world_size": procs.world_size,
            "versions": {"genzoo": zoo.__version__, "torch": torch.__version__}}
    log = RunLog(run_dir, start_step=at.step, total_steps=s.steps, items_per_step=s.batch_size,
                 enabled=procs.is_main, quiet=quiet)
    log.note(f"training {type(model).__name__} ({sum(p.numel() for p in params):,} parameters) on {device} x "
             f"{procs.world_size} | batch {s.batch_size} = {procs.world_size} process(es) x {s.accumulate} "
             f"micro-step(s) x {micro_batch} | {precision}{' | compiled' if s.compile else ''} | "
             f"{torch.get_num_threads()} thread(s) | step {at.step} -> {end}")
    if at.step >= end:
        log.note(f"{run_dir} is already at step {at.step} of {end}: nothing to do (raise the total with --steps)")
    tally, recent_skips = _Tally(s.accumulate), deque(maxlen=SKIP_WINDOW)
    try:
        with _StopSignals() as signals, _distribution_checks(False):
            while at.step < end:
                # update: forward and backward, then the step unless the gradient norm says skip (VDVAE's
                # rule: a NaN or a spike never reaches the weights; all processes see the same norm)
                lr = learning_rate(at.step, s)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if isinstance(model, BeforeUpdate):
                    model.before_update(at.step - at.skipped)  # the updates applied so far, not forward calls
                values = update(batches)
                grad_norm = _gradient_norm(params, s.grad_clip)
                skip = not math.isfinite(grad_norm) or (s.skip_threshold > 0 and grad_norm > s.skip_threshold)
                if not skip:
                    optimizer.step()
                    if update_ema is not None:
                        update_ema()
                    tally.add(values, grad_norm)
                optimizer.zero_grad(set_to_none=True)
                at.step, at.skipped, at.samples_seen = at.step + 1, at.skipped + skip, at.samples_seen + s.batch_size
                recent_skips.append(skip)
                _check_skips(recent_skips, at, start_step, grad_norm=grad_norm, lr=lr, run_dir=run_dir)

                # log, evaluate, checkpoint (a stop signal on any process: save and return)
                if at.step % s.log_every == 0 or at.step == end:
                    log.train(at.step, **tally.take(update.names, procs), lr=lr, skipped=at.skipped)
                is_best = False
                if eval_loader is not None and (at.step % s.eval_every == 0 or at.step == s.steps):
                    eval_metrics = estimate_metrics(ema if ema is not None else model, eval_loader, device=device,
                                                    precision=update.precision, max_batches=s.eval_batches,
                                                    procs=procs)
                    is_best = _track_best(at, eval_metrics[s.best_metric], s)
                    log.eval(at.step, eval_metrics, best=is_best)
                    _check_eval(eval_metrics[s.best_metric], at, s, lr=lr, run_dir=run_dir)
                if at.step == s.steps and isinstance(model, PosthocPrior):  # an AE samples through a fitted prior
                    fit_posthoc_prior([m for m in (model, ema) if m is not None], train_set, device=device,
                                      batch_size=micro_batch)
                stopped_by = distributed.max_across(signals.received, procs)
                periodic = s.checkpoint_every and at.step % s.checkpoint_every == 0
                if stopped_by or periodic or is_best or at.step == end:
                    _save(run_dir, at, is_best=is_best, model=model, ema=ema, optimizer=optimizer, procs=procs, s=s,
                          info={**info, "eval_metrics": eval_metrics})
                if stopped_by:
                    log.note(f"interrupted at step {at.step} by {signal.Signals(stopped_by).name}: checkpoint "
                             f"step_{at.step:08d} saved; continue with `zoo resume {run_dir}`")
                    break
    finally:
        log.stop()
        del update  # the DDP wrapper, with its hooks on the parameters, goes while the process group is up

    log.summary(step=at.step, skipped=at.skipped, best=at.best, run_dir=run_dir)
    return FitResult(run_dir, at.step, at.skipped, bool(stopped_by), eval_metrics, at.best,
                     ema if ema is not None else model, signal.Signals(stopped_by) if stopped_by else None)
