"""Does depth help at this scale? A Very Deep VAE against the flat VAE on the same data and step budget.

    PYTHONPATH=.:plugins python benchmarks/vdvae.py                                  # vdvae-digits vs vae-digits
    PYTHONPATH=.:plugins python benchmarks/vdvae.py vdvae-faces vae-faces --iwae-samples 100
    PYTHONPATH=.:plugins python benchmarks/vdvae.py --record benchmarks/RESULTS.md
    PYTHONPATH=.:plugins python benchmarks/vdvae.py --speed vdvae-cifar10 --batch 16 --threads 2   # vs the reference

Each recipe is trained as shipped (its ``train.steps`` x ``train.batch_size``, through the shared loop, one
torch thread unless ``--threads``), then scored on its whole test split with the weights ``zoo eval`` would
use (the EMA when the recipe keeps one): the negative ELBO in bits/dim and the importance-weighted bound with
``--iwae-samples`` draws. Steps/s is over the whole ``fit`` call (its evaluations and checkpoints included).
The machine's load average is recorded before and after: on a shared machine it explains the timings.

``--speed RECIPE`` instead times forward + backward of the recipe's model and of the reference's model at the
same settings (``vdvae_reference.ReferenceVDVAE``, openai/vdvae restated) on one random batch of ``--batch``
images, in one run: a warm-up each, then ``--repeats`` timings of each in turn; it reports the seconds of
each, which is faster, and where the time goes per kind of layer.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from einops import rearrange
from torch.utils.data import DataLoader

from zoo.interfaces import LikelihoodEstimator
from zoo.metrics import estimate_nll
from zoo.recipes import build_model, load_recipe
from zoo.training import build, fit
from zoo.training.loop import estimate_metrics
from machine import cpu_name
from vdvae_reference import ReferenceVDVAE


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


KINDS = {"convolution": ("conv",), "gelu": ("gelu",), "pooling and upsampling": ("pool", "upsample"),
         "likelihood": ("LogBinMass", "logsumexp", "log_softmax", "tanh", "sigmoid", "softplus")}


def _forward_backward(model: torch.nn.Module, loss) -> float:
    """Seconds of ``loss().backward()``; the gradients are dropped after, so every repeat allocates alike."""
    start = time.perf_counter()
    loss().backward()
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return seconds


def _by_kind(model: torch.nn.Module, loss) -> dict[str, float]:
    """Self CPU seconds of one profiled forward + backward, summed per kind of layer (``KINDS``, else "other")."""
    with torch.profiler.profile() as profile:
        _forward_backward(model, loss)
    by_kind = dict.fromkeys([*KINDS, "other"], 0.0)
    for event in profile.key_averages():
        kind = next((k for k, keys in KINDS.items() if any(key in event.key for key in keys)), "other")
        by_kind[kind] += event.self_cpu_time_total / 1e6
    return {k: round(v, 2) for k, v in by_kind.items()}


def speed(name: str, batch: int, repeats: int) -> dict:
    """Seconds of one forward + backward of recipe ``name``'s model and of the reference's (``ReferenceVDVAE`` at
    the recipe's layout, widths and mixture) on the same ``batch`` random RGB images, timed in turn.

    Each model gets one warm-up (allocations, oneDNN's kernel choice), then ``repeats`` timings alternating
    which goes first, so a change in the machine's load falls on both, compared by their minimum; then one
    profiled run of ours, whose self times per kind of layer say where the time goes (the profiler adds its
    own overhead). The reference runs the same layers in the same order (its profile has the same mix).
    """
    spec = load_recipe(name)["model"]
    channels, size = spec["shape"][0], spec["shape"][-1]
    if spec["name"] != "vdvae" or channels != 3 or spec["likelihood"]["name"] != "discretized-logistic-mixture":
        raise SystemExit(f"--speed compares against the reference's RGB model with a mixture of logistics; "
                         f"{name} is a {spec['name']} on {channels}-channel images: use vdvae-cifar10")
    torch.manual_seed(0)
    ours = build_model(load_recipe(name)).train()
    reference = ReferenceVDVAE(encoder_layout=spec["encoder_layout"], decoder_layout=spec["decoder_layout"],
                               width=spec["width"], latent_channels=spec["latent_channels"],
                               bottleneck=spec.get("bottleneck", 0.25), num_mix=spec["likelihood"]["num_mix"],
                               size=size).train()
    x = torch.randint(0, 256, (batch, 3, size, size), generator=torch.Generator().manual_seed(0)).float() / 255
    x_reference = rearrange(2 * x - 1, "b c h w -> b h w c").contiguous()  # its loader's layout and range
    losses = {"zoo": (ours, lambda: sum(ours.loss(x).values())),
              "reference": (reference, lambda: reference.loss(x_reference))}
    for model, loss in losses.values():
        _forward_backward(model, loss)
    seconds: dict[str, list[float]] = {k: [] for k in losses}
    for repeat in range(repeats):
        for key in (list(losses) if repeat % 2 == 0 else list(losses)[::-1]):
            seconds[key].append(_forward_backward(*losses[key]))
    fastest = {k: min(v) for k, v in seconds.items()}
    ratio = fastest["zoo"] / fastest["reference"]  # the minimum: other processes only ever add time
    verdict = f"zoo faster by {1 - ratio:.1%}" if ratio < 1 else f"reference faster by {1 - 1 / ratio:.1%}"
    return {
        "recipe": name, "batch": batch, "threads": torch.get_num_threads(), "repeats": repeats,
        "parameters": {k: sum(p.numel() for p in model.parameters()) for k, (model, _) in losses.items()},
        "forward_backward_seconds": {k: [round(t, 2) for t in v] for k, v in seconds.items()},
        "min_seconds": {k: round(v, 2) for k, v in fastest.items()},
        "median_seconds": {k: round(statistics.median(v), 2) for k, v in seconds.items()},
        "min_ratio_zoo_over_reference": round(ratio, 3), "verdict": verdict,
        "zoo_profiled_seconds_by_kind": _by_kind(*losses["zoo"]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", default=["vdvae-digits", "vae-digits"])
    parser.add_argument("--steps", type=int, help="override every recipe's train.steps")
    parser.add_argument("--iwae-samples", type=int, default=100, help="K of the IWAE bound (0: skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--speed", metavar="RECIPE",
                        help="time forward+backward of this recipe's model against the reference's instead")
    parser.add_argument("--batch", type=int, default=16, help="batch size for --speed")
    parser.add_argument("--repeats", type=int, default=3, help="timed forward+backward passes per model for --speed")
    parser.add_argument("--record", type=Path, help="append a markdown section with the numbers to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    before = load()
    if args.speed:
        rows = [speed(args.speed, args.batch, args.repeats)]
    else:
        rows = [score(n, args.steps, args.iwae_samples) for n in args.recipes]
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
