"""SIREN on the cameraman: speed per step, where the time goes, and PSNR against wall-clock time.

Reproduces the SIREN paper's central image-fitting claim on a CPU: at the same time budget, a SIREN fits
scikit-image's camera (256 x 256, grey) far better than a ReLU MLP on a positional encoding (``relu-pe``)
or on random Fourier features (``fourier-features``). Anchor: the official notebook (vsitzmann/siren,
``explore_siren.ipynb``): 256 wide, 3 hidden layers (``num_layers=4`` here), ω0 = 30, Adam lr 1e-4, all
65,536 pixels per step, targets in [-1, 1] -> about 36.4 dB after 500 steps.

    python benchmarks/siren.py profile             # where one step's time goes: notebook form vs ours
    python benchmarks/siren.py speed --compile     # s/step of each speed-up, one at a time
    python benchmarks/siren.py fit --set train.steps=400           # one recipe's PSNR curve (siren-camera)
    python benchmarks/siren.py fit --notebook --set train.lr=1e-4 --set train.schedule=constant \
        --set train.warmup_steps=0 --set train.steps=500 --json official.json   # the anchor, at its speed
    python benchmarks/siren.py compare --extra official.json --json compare.json   # + benchmarks/siren.png

The training loop here is a minimal copy of the shared loop's step (``zoo.training.loop``'s AdamW,
``learning_rate`` schedule and gradient clipping, reused, not re-implemented), with a PSNR evaluation
every ``eval_every`` steps (``--set train.eval_every=10`` for a finer curve). Wall times include those
evaluations. Results go to stdout as markdown and, with ``--json``, to a file; ``compare`` (and
``figure``, from saved results) writes ``benchmarks/siren.png``. Use the machine alone: other processes
on the two cores inflate every wall time (``speed`` interleaves its variants and reports the minimum).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

import zoo  # noqa: E402
from zoo.interfaces import ImplicitField  # noqa: E402
from zoo.recipes import apply_overrides, build_dataset, build_model, load_recipe  # noqa: E402
from zoo.training import TrainSettings  # noqa: E402
from zoo.training.loop import learning_rate, make_optimizer  # noqa: E402


class NotebookSiren(ImplicitField):
    """The official notebook's forward, ``sin(ω0 · linear(x))``, on the parameters of a zoo ``Siren``.

    Same function and gradients as ``Siren``; it multiplies the full ``(n, 256)`` pre-activations by ω0
    instead of the weights: the per-step speed of the reference code, for the profile.
    """

    def __init__(self, siren: ImplicitField):
        super().__init__()
        self.siren, self.in_dim, self.out_dim = siren, siren.in_dim, siren.out_dim

    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        x = coords
        for layer in self.siren.layers:
            x = torch.sin(layer.w0 * layer.linear(x))
        return self.siren.head(x)


def load(recipe: str, overrides: list[str]) -> tuple[torch.nn.Module, Tensor, object]:
    """A recipe -> (model, the batch holding the whole signal, train settings)."""
    spec = apply_overrides(load_recipe(recipe), overrides)
    dataset = build_dataset(spec)
    batch = dataset[0][None]  # (1, c, h, w): what a DataLoader with batch_size 1 yields
    return build_model(spec), batch, TrainSettings.from_recipe(spec)


def step_fn(model, settings):
    """One update of the shared loop: forward, backward, clip, AdamW with the scheduled lr."""
    optimizer = make_optimizer(model, settings, torch.device("cpu"))
    params = [p for p in model.parameters() if p.requires_grad]

    def step(i: int, batch: Tensor) -> float:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(i, settings)
        loss = sum(model.loss(batch).values())
        loss.backward()
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    return step


def seconds_per_step(model, batch, settings, steps: int = 5) -> float:
    """Median wall time of ``steps`` updates after one warm-up (on a copy: the model is left untouched)."""
    import copy

    model = copy.deepcopy(model)
    step = step_fn(model, settings)
    step(0, batch)
    times = []
    for i in range(steps):
        start = time.perf_counter()
        step(i + 1, batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- profile and speed ------------------------------------------------------------------------------------

CATEGORIES = {  # profiler op names (exact, or a prefix ending in "_") -> a row of the profile table
    "matmul (mm, addmm)": ("aten::mm", "aten::addmm"),
    "sin / cos": ("aten::sin", "aten::cos"),
    "elementwise mul (ω0 scaling, sin backward)": ("aten::mul",),
    "copies and allocation (cat, copy_, empty, fill)": (
        "aten::copy_", "aten::cat", "aten::empty", "aten::empty_strided", "aten::fill_", "aten::zero_"),
    "reductions (bias grads, mse) and adds": (
        "aten::sum", "aten::mse_loss", "aten::mean", "aten::add", "aten::add_"),
    "optimizer (AdamW)": ("aten::_foreach_", "aten::lerp_", "aten::addcdiv_", "aten::addcmul_", "aten::sqrt",
                          "aten::div", "aten::mul_"),
}


def profile_step(model, batch, settings, steps: int = 3) -> tuple[dict[str, float], float]:
    """Self CPU time per category (ms per step) of ``steps`` updates, and the wall time per step."""
    from torch.profiler import ProfilerActivity, profile

    step = step_fn(model, settings)
    step(0, batch)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            step(i + 1, batch)
    wall = (time.perf_counter() - start) / steps
    totals = {name: 0.0 for name in CATEGORIES} | {"other": 0.0}
    for event in prof.key_averages():
        if not event.key.startswith("aten::"):
            continue  # autograd/profiler wrappers: their self time is bookkeeping, counted under "other"
        ms = event.self_cpu_time_total / 1e3 / steps
        row = next((name for name, ops in CATEGORIES.items()
                    if any(event.key == op or (op.endswith("_") and event.key.startswith(op)) for op in ops)),
                   "other")
        totals[row] += ms
    totals["other"] += max(0.0, wall * 1e3 - sum(totals.values()))  # Python, autograd engine, allocator
    return totals, wall


def cmd_profile(args) -> dict:
    model, batch, settings = load(args.recipe, args.set)
    notebook = build_model(apply_overrides(load_recipe(args.recipe), [*args.set, "model.chunk_size=0"]))
    notebook.field = NotebookSiren(notebook.field)
    rows = {
        "notebook form (ω0 on activations, one 65,536-point batch)": profile_step(notebook, batch, settings),
        f"ours (ω0 folded into W, chunks of {model.chunk_size})": profile_step(model, batch, settings),
    }
    print("\n| ms per step, by op (wall time inside each op) | " + " | ".join(rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for name in [*CATEGORIES, "other"]:
        print(f"| {name} | " + " | ".join(f"{totals[name]:.0f}" for totals, _ in rows.values()) + " |")
    print("| **wall time per step** | " + " | ".join(f"{w * 1e3:.0f}" for _, w in rows.values()) + " |")
    return {name: {"cpu_ms": totals, "wall_s": wall} for name, (totals, wall) in rows.items()}


def cmd_speed(args) -> dict:
    """s/step of each speed-up, added one at a time: rounds over all variants, so that load from other
    processes hits them alike; the minimum over rounds is the unloaded speed, the median is reported too."""
    spec = apply_overrides(load_recipe(args.recipe), args.set)
    batch = build_dataset(spec)[0][None]
    settings = TrainSettings.from_recipe(spec)
    one_batch = ["model.chunk_size=0"]
    # name -> (overrides, wrap the field in the notebook's form, threads, torch.compile the loss)
    variants = {
        "notebook form sin(ω0 · linear(x)), one batch, 1 thread": (one_batch, True, 1, False),
        "notebook form sin(ω0 · linear(x)), one batch, 2 threads": (one_batch, True, 2, False),
        "ω0 folded into W and b, one batch": (one_batch, False, 2, False),
        **{f"ω0 folded, chunks of {c} points": ([f"model.chunk_size={c}"], False, 2, False)
           for c in (32768, 16384, 8192, 4096)},
    }
    if args.compile:
        variants["ω0 folded, chunks of 8192, torch.compile(loss)"] = (["model.chunk_size=8192"], False, 2,
                                                                        True)
    steps, times, first = {}, {name: [] for name in variants}, {}
    for name, (overrides, notebook, threads, compiled) in variants.items():
        model = build_model(apply_overrides(spec, overrides))
        if notebook:
            model.field = NotebookSiren(model.field)
        if compiled:
            model.loss = torch.compile(model.loss)
        steps[name] = step_fn(model, settings)
        torch.set_num_threads(threads)
        start = time.perf_counter()
        steps[name](0, batch)  # warm-up (and compilation)
        first[name] = time.perf_counter() - start
    for i in range(args.rounds):
        for name, (_, _, threads, _) in variants.items():
            torch.set_num_threads(threads)
            start = time.perf_counter()
            steps[name](i + 1, batch)
            times[name].append(time.perf_counter() - start)
    torch.set_num_threads(2)
    print(f"| variant (all 65,536 pixels per step, 256 wide, 4 sine layers) | s/step, min of {args.rounds} | "
          "median | first step |\n|---|---:|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {min(t):.3f} | {statistics.median(t):.3f} | {first[name]:.1f} |")
    return {name: {"min": min(t), "median": statistics.median(t), "first": first[name]}
            for name, t in times.items()}


# -- fitting ----------------------------------------------------------------------------------------------


def fit(recipe: str, overrides: list[str], *, seconds: float | None = None, label: str | None = None,
        notebook: bool = False) -> dict:
    """Train one recipe with the shared loop's step; PSNR every ``eval_every`` steps against wall time.

    With ``seconds``, the number of steps is set from a measured s/step so that the run (and its cosine
    schedule) ends within that budget. ``notebook`` runs the SIREN in the official notebook's form (one
    65,536-point batch, ω0 on the activations): its per-step speed, for the anchor run.
    """
    if notebook:
        overrides = [*overrides, "model.chunk_size=0"]
    model, batch, settings = load(recipe, overrides)
    if notebook:
        model.field = NotebookSiren(model.field)
    if seconds:
        per_step = seconds_per_step(model, batch, settings, steps=3)
        settings.steps = max(1, int(seconds * 0.97 / (per_step * 1.02)))  # 2 % for evaluations, 3 % margin
    torch.manual_seed(settings.seed)
    step = step_fn(model, settings)
    curve, elapsed, evals = [], 0.0, 0.0
    every = settings.eval_every or settings.steps
    for i in range(settings.steps):
        start = time.perf_counter()
        step(i, batch)
        elapsed += time.perf_counter() - start
        if (i + 1) % every == 0 or i + 1 == settings.steps or i < 1:
            start = time.perf_counter()
            psnr = model.metrics(batch)["psnr"].item()
            evals += time.perf_counter() - start
            curve.append({"step": i + 1, "seconds": elapsed + evals, "psnr": psnr})
            print(f"  {label or recipe}: step {i + 1:5d} {elapsed + evals:7.1f} s {psnr:6.2f} dB", flush=True)
    first_36 = next((p for p in curve if p["psnr"] >= 36.4), None)
    return {
        "recipe": recipe,
        "label": label or recipe,
        "overrides": overrides,
        "steps": settings.steps,
        "lr": settings.lr,
        "s_per_step": elapsed / settings.steps,
        "train_seconds": elapsed,
        "total_seconds": elapsed + evals,
        "psnr": curve[-1]["psnr"],
        "seconds_to_36.4dB": first_36["seconds"] if first_36 else None,
        "curve": curve,
        "image": model.render(tuple(batch.shape[2:]))[0].tolist(),
    }


def summary_row(run: dict) -> str:
    to36 = f"{run['seconds_to_36.4dB']:.0f} s" if run["seconds_to_36.4dB"] else "never"
    return (f"| {run['label']} | {run['steps']} | {run['s_per_step']:.2f} | {run['total_seconds']:.0f} | "
            f"{run['psnr']:.2f} | {to36} |")


SUMMARY_HEADER = ("| run | steps | s/step | wall s (incl. evals) | final PSNR (dB) | reaches 36.4 dB |\n"
                  "|---|---:|---:|---:|---:|---:|")


def cmd_fit(args) -> dict:
    run = fit(args.recipe, args.set, seconds=args.seconds, label=args.label, notebook=args.notebook)
    print(SUMMARY_HEADER + "\n" + summary_row(run))
    return run


COMPARED = {"siren": "siren-camera", "relu-pe": "relu-pe-camera", "fourier-features": "fourier-camera"}


def cmd_compare(args) -> dict:
    runs = {name: fit(recipe, args.set, seconds=args.seconds, label=name)
            for name, recipe in COMPARED.items()}
    print(SUMMARY_HEADER)
    for run in runs.values():
        print(summary_row(run))
    figure(runs, [json.loads(path.read_text()) for path in args.extra], args.figure)
    return runs


def cmd_figure(args) -> dict:
    """Redraw the figure from saved results: ``compare --json`` output and ``fit --json`` curves."""
    runs = json.loads(args.runs.read_text())
    figure(runs, [json.loads(path.read_text()) for path in args.extra], args.figure)
    return {}


def figure(runs: dict, extra: list[dict], path: Path) -> None:
    """The target, the reconstructions, and PSNR against wall-clock time and against steps, in one PNG.

    ``extra`` runs (``fit --json`` results, e.g. the official notebook's settings) add dashed curves.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = zoo.create("dataset", "camera", size=256)[0][0]
    fig, axes = plt.subplots(1, len(runs) + 3, figsize=(3.6 * (len(runs) + 3), 3.9))
    axes[0].imshow(target, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("target: camera 256x256", fontsize=10)
    for ax, (name, run) in zip(axes[1:], runs.items()):
        ax.imshow(run["image"], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{name}: {run['psnr']:.1f} dB", fontsize=10)
    for ax in axes[: len(runs) + 1]:
        ax.axis("off")
    by_time, by_step = axes[-2], axes[-1]
    for name, run in runs.items():
        by_time.plot([p["seconds"] for p in run["curve"]], [p["psnr"] for p in run["curve"]], label=name)
        by_step.plot([p["step"] for p in run["curve"]], [p["psnr"] for p in run["curve"]], label=name)
    for run, style in zip(extra, ["--", "-.", ":"] * len(extra)):
        for ax, x in ((by_time, "seconds"), (by_step, "step")):
            ax.plot([p[x] for p in run["curve"]], [p["psnr"] for p in run["curve"]], style, color="black",
                    lw=1, label=run["label"])
    for ax, xlabel in ((by_time, "wall-clock seconds (2-core CPU)"), (by_step, "step (all 65,536 pixels)")):
        ax.axhline(36.4, color="gray", lw=0.5, label="36.4 dB")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    by_step.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("profile", "speed", "fit", "compare", "figure"):
        p = sub.add_parser(name)
        p.add_argument("--recipe", default="siren-camera")
        p.add_argument("--set", action="append", default=[], help="recipe override, e.g. train.lr=1e-3")
        p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    sub.choices["speed"].add_argument("--rounds", type=int, default=5)
    sub.choices["speed"].add_argument("--compile", action="store_true", help="also try torch.compile")
    for name in ("fit", "compare"):
        sub.choices[name].add_argument("--seconds", type=float, help="wall-clock budget (sets the steps)")
    sub.choices["fit"].add_argument("--label")
    sub.choices["fit"].add_argument("--notebook", action="store_true",
                                    help="the official notebook's forward (for its speed): the anchor run")
    for name in ("compare", "figure"):
        sub.choices[name].add_argument("--figure", type=Path, default=ROOT / "benchmarks" / "siren.png")
        sub.choices[name].add_argument("--extra", type=Path, action="append", default=[],
                                       help="a `fit --json` result to draw as an extra dashed curve")
    sub.choices["figure"].add_argument("runs", type=Path, help="the JSON written by `compare --json`")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.recipe} {args.set or ''}")
    commands = {"profile": cmd_profile, "speed": cmd_speed, "fit": cmd_fit, "compare": cmd_compare,
                "figure": cmd_figure}
    result = commands[args.command](args)
    if args.json:
        args.json.write_text(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
