"""Retrain the weights that ship with the zoo's plugins, deterministically, and record what they measure.

    OMP_NUM_THREADS=1 python benchmarks/pretrain.py                  # every recipe in RECIPES
    OMP_NUM_THREADS=1 python benchmarks/pretrain.py vae-digits nerf-toy
    OMP_NUM_THREADS=1 python benchmarks/pretrain.py --check           # which shipped weights are stale, nothing trained

Each recipe is trained as registered (its own seed, one CPU thread, on the CPU) into a temporary run directory; the
weights it ends with (the EMA's where it keeps one: what `zoo.load` loads) are written into the ``pretrained/`` folder
of the plugin that owns the recipe, and its ``manifest.json`` records the file's sha256, the recipe's hash and, measured
from the written file: the headline numbers (``zoo eval NAME``: the model's test metrics, IWAE NLL where it has a
likelihood), sample quality where the model samples images of a domain with a feature network
(``zoo.quality``), and a quick check that ``tests/test_pretrained.py`` repeats.

A recipe whose plugin is elsewhere (flows, SDFs) is one more line in RECIPES: its name, how many test batches its
quick check evaluates, and its headline metric. ``--table`` prints the README's table from the manifests.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

import zoo  # noqa: E402
from zoo import pretrained, training  # noqa: E402
from zoo.recipes import load_recipe  # noqa: E402
from zoo.registry import get_registry  # noqa: E402

# recipe -> (test batches its quick check evaluates, 0: all; its headline metric, for the README's table). The
# feature networks come first: the others' sample quality is measured with them
RECIPES = {
    "features-digits": (0, "accuracy"),
    "features-faces": (0, "accuracy"),
    "vae-digits": (0, "iwae_nll"),
    "ae-digits": (0, "reconstruction"),
    "swae-digits": (0, "reconstruction"),
    "vae-siren-digits": (0, "iwae_nll"),
    "gon-digits": (0, "mse"),
    "gon-siren-digits": (0, "mse"),
    "vgon-digits": (0, "loss"),
    "nerf-toy": (0, "psnr"),
    "vae-faces": (0, "iwae_nll"),
    "gon-siren-faces": (0, "mse"),
    "siren-camera": (0, "psnr"),
    "flow-moons": (0, "nll"),
    "flow-digits": (0, "nll"),
    "vdvae-digits": (1, "iwae_nll"),  # 7 CPU minutes alone; not shipped yet: the machine was shared five ways
}
QUALITY_SAMPLES = 1000  # samples for the sample-quality numbers recorded in the manifest


def plugin_folder(recipe: str) -> Path:
    """The ``pretrained/`` folder in the source of the plugin that owns ``recipe`` (an editable install's)."""
    registry = get_registry()
    plugin = registry.get("recipe", recipe).plugin
    module = next(p.module for p in registry.plugins if p.name == plugin)
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"plugin {plugin} ({module}) is not a package, so it can't hold a {pretrained.FOLDER}/ folder")
    return Path(spec.submodule_search_locations[0]) / pretrained.FOLDER


def retrain(name: str) -> None:
    """Train ``name`` as registered and write its weights (measured by ``measure`` afterwards)."""
    torch.set_num_threads(1)
    start = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        run = training.train(name, Path(tmp) / name, device="cpu", quiet=True, pictures=False)
        model, _ = training.load(run, device="cpu")
    metrics = {"train_cpu_seconds": round(time.process_time() - start, 1)}
    pretrained.write_weights(plugin_folder(name), name, model, load_recipe(name), metrics=metrics, check={})


def measure(name: str, batches: int) -> dict:
    """Measure the shipped weights of ``name`` from their file, through the paths a user takes, and record it."""
    from zoo import quality

    torch.set_num_threads(1)
    weights = pretrained.require(name)
    torch.manual_seed(0)
    metrics = {"train_cpu_seconds": weights.metrics.get("train_cpu_seconds"), **training.evaluate(name, device="cpu")}
    check = {"max_batches": batches, "metrics": pretrained.quick_metrics(name, max_batches=batches)}
    model, recipe = zoo.load_pretrained(name)
    if quality.features_for(recipe) is not None and quality.samples_images(model):
        metrics |= quality.sample_quality(model, recipe, n=QUALITY_SAMPLES, seed=0)
    pretrained.write_weights(plugin_folder(name), name, model, recipe, metrics=metrics, check=check)
    return metrics


def table() -> str:
    """The README's table of shipped weights, from the manifests: recipe, headline metric, its value, FID."""
    shipped = pretrained.available()
    lines = ["| recipe | metric (`zoo eval NAME`) | value | FID (domain network) | CPU s to train |",
             "|---|---|---|---|---|"]
    for name, (_, metric) in RECIPES.items():
        if name in shipped:
            metrics = shipped[name].metrics
            fid = f"{metrics['fid']:.2f}" if "fid" in metrics else ""
            seconds = metrics["train_cpu_seconds"]
            lines.append(f"| `{name}` | {metric} | {metrics[metric]:.4g} | {fid} | {seconds:.0f} |")
    return "\n".join(lines)


def check_stale() -> int:
    shipped = pretrained.available()
    stale = 0
    for name in RECIPES:
        if name not in shipped:
            print(f"{name}: no weights shipped")
            stale += 1
            continue
        weights = shipped[name]
        if pretrained.recipe_hash(load_recipe(name)) != weights.recipe_hash:
            print(f"{name}: stale (the recipe changed since they were trained)")
            stale += 1
        else:
            print(f"{name}: up to date")
    return 1 if stale else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="*", help=f"recipes to retrain (default: {', '.join(RECIPES)})")
    parser.add_argument("--check", action="store_true", help="say which shipped weights are stale; train nothing")
    parser.add_argument("--table", action="store_true", help="print the README's table of shipped weights")
    parser.add_argument("--measure", action="store_true",
                        help="measure the shipped weights again (the manifest's numbers); train nothing")
    args = parser.parse_args()
    if args.check:
        return check_stale()
    if args.table:
        print(table())
        return 0
    unknown = [name for name in args.recipes if name not in RECIPES]
    if unknown:
        sys.exit(f"not in RECIPES: {', '.join(unknown)} (add a line there: the name, its quick check's batches, its "
                 "headline metric)")
    for name in args.recipes or RECIPES:
        if not args.measure:
            retrain(name)
        metrics = measure(name, RECIPES[name][0])
        shown = ", ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        print(f"{name}: {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
