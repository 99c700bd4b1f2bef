"""Does depth help at this scale? A Very Deep VAE against the flat VAE on the same data and step budget.

    PYTHONPATH=.:plugins python benchmarks/vdvae.py                                  # vdvae-digits vs vae-digits
    PYTHONPATH=.:plugins python benchmarks/vdvae.py vdvae-faces vae-faces --iwae-samples 100
    PYTHONPATH=.:plugins python benchmarks/vdvae.py --record benchmarks/RESULTS.md
    PYTHONPATH=.:plugins python benchmarks/vdvae.py --speed vdvae-cifar10 --batch 16   # one forward+backward

Each recipe is trained as shipped (its ``train.steps`` x ``train.batch_size``, through the shared loop, one
torch thread unless ``--threads``), then scored on its whole test split with the weights ``zoo eval`` would
use (the EMA when the recipe keeps one): the negative ELBO in bits/dim and the importance-weighted bound with
``--iwae-samples`` draws. Steps/s is over the whole ``fit`` call (its evaluations and checkpoints included).
The machine's load average is recorded before and after: on a shared machine it explains the timings.

``--speed RECIPE`` instead times forward + backward of the recipe's model on one random batch of
``--batch`` images (after one warm-up step) and reports where the time goes per kind of layer.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from zoo.interfaces import LikelihoodEstimator
from zoo.metrics import estimate_nll
from zoo.recipes import build_model, load_recipe
from zoo.training import build, fit
from zoo.training.loop import estimate_metrics
from machine import cpu_name


def load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def score(name: str, steps: int | None, iwae_samples: int) -> dict:
    """Train recipe ``name`` and score it on its test split."""
    run = build(load_recipe(name), steps=steps, device="cpu")
    s = run.settings
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        result = fit(run.model, run.train_set, run.test_set, s, Path(scratch) / "run", recipe=run.recipe,
                     provenance=run.provenance, quiet=True)
        seconds = time.perf_counter() - start
    model = result.eval_model.eval()
    loader = DataLoader(run.test_set, batch_size=100)
    torch.manual_seed(0)
    metrics = estimate_metrics(model, loader, device=torch.device("cpu"))
    numbers = {
        "recipe": name, "parameters": sum(p.numel() for p in model.parameters()), "steps": s.steps,
        "batch_size": s.batch_size, "train_seconds": round(seconds, 1),
        "steps_per_second": round(s.steps / seconds, 2), "skipped": result.skipped,
        "test_examples": len(run.test_set), "elbo_bits_per_dim": round(metrics["bits_per_dim"], 4),
    }
    if iwae_samples and isinstance(model, LikelihoodEstimator):
        torch.manual_seed(0)
        nll = estimate_nll(model, iter(loader), num_samples=iwae_samples)
        numbers |= {"iwae_samples": iwae_samples, "iwae_nll_nats": round(nll["iwae_nll"], 3),
                    "iwae_bits_per_dim": round(nll["iwae_bits_per_dim"], 4)}
    return numbers


def speed(name: str, batch: int) -> dict:
    """Seconds of one forward + backward of recipe ``name``'s model on ``batch`` random images, by layer kind."""
    model = build_model(load_recipe(name)).train()
    x = torch.randint(0, 256, (batch, *model.shape)).float() / 255
    sum(model.loss(x).values()).backward()  # warm-up: allocations, oneDNN's kernel choice
    model.zero_grad(set_to_none=True)
    with torch.profiler.profile() as profile:
        start = time.perf_counter()
        sum(model.loss(x).values()).backward()
        seconds = time.perf_counter() - start
    kinds = {"convolution": ("conv",), "gelu": ("gelu",), "pooling and upsampling": ("pool", "upsample"),
             "likelihood": ("LogBinMass", "logsumexp", "log_softmax", "tanh")}
    by_kind = dict.fromkeys([*kinds, "other"], 0.0)
    for event in profile.key_averages():
        kind = next((k for k, keys in kinds.items() if any(key in event.key for key in keys)), "other")
        by_kind[kind] += event.self_cpu_time_total / 1e6
    return {"recipe": name, "parameters": sum(p.numel() for p in model.parameters()), "batch": batch,
            "threads": torch.get_num_threads(), "forward_backward_seconds": round(seconds, 2),
            "profiled_seconds_by_kind": {k: round(v, 2) for k, v in by_kind.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", default=["vdvae-digits", "vae-digits"])
    parser.add_argument("--steps", type=int, help="override every recipe's train.steps")
    parser.add_argument("--iwae-samples", type=int, default=100, help="K of the IWAE bound (0: skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--speed", metavar="RECIPE", help="time one forward+backward of this recipe's model instead")
    parser.add_argument("--batch", type=int, default=16, help="batch size for --speed")
    parser.add_argument("--record", type=Path, help="append a markdown section with the numbers to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    before = load()
    rows = [speed(args.speed, args.batch)] if args.speed else [score(n, args.steps, args.iwae_samples)
                                                                 for n in args.recipes]
    after = load()
    print(json.dumps({"load_before": before, "load_after": after, "results": rows}, indent=2))
    if args.record:
        cpu = cpu_name()
        lines = [f"\n### VDVAE benchmark (`benchmarks/vdvae.py`) — {datetime.date.today().isoformat()}\n",
                 f"Machine: {cpu}, {args.threads} torch thread(s), torch {torch.__version__}, CPU; {before} before, "
                 f"{after} after (shared with other jobs).\n",
                 "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(str(v) for v in row.values()) + " |" for row in rows]
        with args.record.open("a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
