"""Benchmark the autoencoder recipes: training throughput (examples/s) and test NLL (IWAE, K samples).

    PYTHONPATH=.:plugins python benchmarks/vae.py vae-digits                      # the recipe as shipped
    PYTHONPATH=.:plugins python benchmarks/vae.py vae-digits --steps 500 --set encoder.latent_dim=8
    PYTHONPATH=.:plugins python benchmarks/vae.py vae-digits --record benchmarks/RESULTS.md --grid /tmp/s.png

Builds the recipe's model and data through ``zoo.recipes``, trains for the recipe's ``train.steps``
through the shared loop (``zoo.training.fit``, into ``--out`` or a temporary run directory), then evaluates
the whole test split: the ELBO terms and the IWAE bound with ``--iwae-samples`` (default 1000, Burda et
al. 2016) as the test NLL, in nats and bits/dim. An ``ae`` gets its sampling prior fitted to the
training codes after training. Throughput is training examples per second of wall time of the whole
``fit`` call, its periodic evaluations and checkpoints included.
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn
from zoo_vae import AE

from zoo.interfaces import LikelihoodEstimator, PointMass
from zoo.metrics import estimate_nll
from zoo.recipes import load_recipe
from zoo.training import build
from zoo.training import fit
from machine import cpu_name


def stack(dataset) -> Tensor:
    """All items of a small in-memory dataset as one tensor ``(n, *shape)``."""
    return torch.stack([dataset[i] for i in range(len(dataset))])


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, iwae_samples: int, batch_size: int = 100) -> dict[str, float]:
    """Mean held-out metrics over ``images``, plus the IWAE test NLL when the model has a likelihood."""
    model.eval()
    batches = list(images.split(batch_size))
    sums: dict[str, float] = {}
    for batch in batches:
        for key, value in model.metrics(batch).items():
            sums[key] = sums.get(key, 0.0) + float(value) * len(batch)
    results = {key: value / len(images) for key, value in sums.items()}
    if iwae_samples and isinstance(model, LikelihoodEstimator) and not isinstance(model.encoder(batches[0]), PointMass):
        results.update(estimate_nll(model, batches, num_samples=iwae_samples))
    return results


def machine() -> str:
    return f"{cpu_name()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}, CPU"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="vae-digits")
    parser.add_argument("--steps", type=int, help="override train.steps")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--iwae-samples", type=int, default=1000, help="K of the IWAE bound (0: skip)")
    parser.add_argument("--grid", type=Path, help="save 64 samples (and reconstructions) as PNG grids here")
    parser.add_argument("--record", type=Path, help="append a markdown section with the numbers to this file")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, help="keep the run directory here (default: a temporary one)")
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    overrides = list(args.overrides) + ([f"train.steps={args.steps}"] if args.steps else [])
    recipe = load_recipe(args.recipe, overrides=overrides)
    run = build(recipe, device="cpu")
    model, train_set, test_set, settings = run.model, run.train_set, run.test_set, run.settings
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        fit(
            model,
            train_set,
            test_set,
            settings,
            args.out or Path(scratch) / "run",
            recipe=recipe,
            provenance=run.provenance,
            quiet=True,
        )
        seconds = time.perf_counter() - start

    model.eval()
    test_images = stack(test_set)
    results = {
        "recipe": args.recipe,
        "overrides": overrides,
        "steps": settings.steps,
        "batch_size": settings.batch_size,
        "train_seconds": round(seconds, 2),
        "examples_per_second": round(settings.steps * settings.batch_size / seconds, 1),
        "test_examples": len(test_images),
        "iwae_samples": args.iwae_samples,
        **{f"test_{k}": round(v, 4) for k, v in evaluate(model, test_images, args.iwae_samples).items()},
    }
    print(json.dumps(results, indent=2))

    if args.grid:
        from torchvision.utils import save_image

        def save(images: Tensor, path: Path) -> None:  # small images upscaled (nearest) to be visible
            scale = max(1, 64 // images.shape[-1])
            save_image(nn.functional.interpolate(images, scale_factor=scale), path, nrow=8, pad_value=0.5)

        save(model.sample(64), args.grid)
        if isinstance(model, AE):  # the same decoder fed N(0, I) codes: why the fitted prior is needed
            save(
                model.sample(64, standard_normal=True),
                args.grid.with_name(args.grid.stem + "-standard-normal.png"),
            )
        pairs = torch.stack([test_images[:32], model.reconstruct(test_images[:32])], 1).flatten(0, 1)
        save(pairs, args.grid.with_name(args.grid.stem + "-reconstructions.png"))
    if args.record:
        command = " ".join(
            ["PYTHONPATH=.:plugins python benchmarks/vae.py", args.recipe]
            + [f"--set {o}" for o in args.overrides]
            + ([f"--steps {args.steps}"] if args.steps else [])
            + ([f"--threads {args.threads}"] if args.threads else [])
        )
        lines = [
            f"\n### `{args.recipe}` — {args.date}\n",
            f"Machine: {machine()}. Command: `{command}`.\n",
            "| metric | value |",
            "|---|---|",
        ]
        lines += [
            f"| {key} | {value} |" for key, value in results.items() if key not in ("recipe", "overrides")
        ]
        if not args.record.exists():
            lines.insert(0, "# Benchmark results")
        with open(args.record, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return results


if __name__ == "__main__":
    main()
