"""NeRF and Instant-NGP on a CPU: the fast path against the paper's field, render time, where a step's time goes.

    export OMP_NUM_THREADS=1 PYTHONPATH=.:plugins
    python benchmarks/nerf.py race      # nerf-toy vs nerf-toy-vanilla as shipped: rays/s, time to 25 dB (~6-9 min)
    python benchmarks/nerf.py render    # one 200x200 view with each trained model; what the occupancy grid skips
    python benchmarks/nerf.py profile   # where a training step's time goes: nerf-toy and hashgrid-camera
    python benchmarks/nerf.py camera    # hashgrid-camera: time to 36.4 dB with 2 threads and with 1
    python benchmarks/nerf.py gpu       # nerf-blender's settings on the embedded scene at 400x400 (CUDA only)
    python benchmarks/nerf.py report --record benchmarks/RESULTS.md --png benchmarks/nerf.png \
        --curves benchmarks/nerf-curves.png

Issue 11's targets: ``nerf-toy`` (hash grid + occupancy grid) reaches 25 dB held-out PSNR at least 10x
sooner than ``nerf-toy-vanilla`` (the paper's field, narrowed); ``hashgrid-camera`` reaches 36.4 dB on the
256x256 cameraman in at most 10 s on a 2-core CPU (``siren-camera`` needs ~43 s).

Every recipe is built by ``zoo.training.build`` and trained by the shared loop (``zoo.training.fit``) as
shipped, with only ``train.eval_every`` made finer (``race``: every 10 and 25 steps, 0.3 s and 3.5 s of
training: the ratio of the two times to 25 dB is close to 10, and at 50 and 100 steps one evaluation
period left it anywhere between 8.4 and 10.7; ``camera``: 5). Evaluating does not change the training
(the loop evaluates in a forked RNG): the runs end with the same weights at any ``eval_every``. Each command
writes its numbers to ``OUT/COMMAND.json`` (``--out``, default ``runs/nerf-bench``; ``race`` also leaves its
runs there for ``render``); ``report`` turns the JSON files into a markdown section and the pictures.

**Training time without evaluations, exactly.** While a run trains, the loop's ``estimate_metrics`` and
``checkpoint.save_checkpoint`` are wrapped (module attributes, restored afterwards) by a stopwatch that
records when each call starts and ends. The training time at an evaluation is its start, minus the start
of ``fit``, minus every evaluation and checkpoint write that ended before it: what remains is the steps,
the loop's logging, the occupancy-grid updates and the loop's set-up (a few ms once ``torch._dynamo``,
which the first optimizer of a process imports, is imported before the clock starts). The evaluations
are matched to the eval records of the run's ``metrics.jsonl`` from the end (the first call is the
loop's check of ``best_metric`` on one batch). Both clocks are kept, wall-clock and the process's CPU
seconds (of all its threads): with one thread on a shared machine, CPU time is the fairer of the two.
The time to a PSNR is the training time at the first evaluation that reaches it: an upper bound, within
one evaluation period. Rays/s is ``rays_per_step`` x steps over the training time of the whole run;
field points/s counts, by a forward hook on the fields, the points they evaluated with autograd on (the
training steps; evaluations and occupancy updates run without it).

``profile`` trains ``--warmup`` steps, runs ``--steps`` + 1 more and times the last ``--steps`` of them,
then runs ``--steps`` + 1 more under ``torch.profiler`` with Python stacks, each segment a ``fit(...,
resume=True, stop_at=...)`` (whose first step carries its set-up). Both measure whole steps, from the end
of the first optimizer update (``zero_grad``, a step's last act) to the end of the last, so the
occupancy-grid updates, due at the start of every 8th step, come at their average rate. Every op's and
Python function's self time in the profiled steps goes to the innermost enclosing component it belongs
to: the hash grid (split into the table gather, the interpolation einsum, and the index arithmetic with
the corner weights), the MLP and heads, occupancy lookups, occupancy updates (all the work inside them,
the field's too), rays and masks (``model.py``), compositing and hierarchical sampling
(``rendering.py``), autograd's backward, the optimizer, data loading, the loop. Python tracing slows the
step down; the shares are of the profiled step, next to the unprofiled time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401  (the first optimizer of a process imports it, ~2 s here: not a cost of training)

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from zoo import viz  # noqa: E402
from zoo.recipes import apply_overrides, build_dataset, load_recipe  # noqa: E402
from zoo.training import build, checkpoint, fit, load, loop  # noqa: E402
from machine import cpu_name  # noqa: E402

FAST, VANILLA, CAMERA = "nerf-toy", "nerf-toy-vanilla", "hashgrid-camera"
SCENE_DB, CAMERA_DB = 25.0, 36.4  # the targets
COMMANDS = ("race", "render", "profile", "camera", "gpu")


def loads() -> list[float]:
    """The load averages over 1, 5 and 15 minutes."""
    return [round(x, 2) for x in os.getloadavg()]


def clocks() -> tuple[float, float]:
    """Wall-clock and process CPU seconds (of all its threads), now."""
    return time.perf_counter(), time.process_time()


@contextlib.contextmanager
def stopwatch(owner: object, name: str, calls: list):
    """Within the block, ``owner.name(...)`` also appends the ``clocks()`` at the start and the end of each
    call to ``calls``."""
    original, own = getattr(owner, name), name in vars(owner)  # not own: a method the class inherits

    @functools.wraps(original)
    def timed(*args, **kwargs):
        start = clocks()
        try:
            return original(*args, **kwargs)
        finally:
            calls.append((start, clocks()))

    setattr(owner, name, timed)
    try:
        yield calls
    finally:
        if own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


@contextlib.contextmanager
def counting_points(model: torch.nn.Module, *, with_grad_only: bool = False):
    """``{"points": n}``: the points ``model``'s field(s) evaluate within the block (``with_grad_only``: only
    those evaluated with autograd on, i.e. by training steps)."""
    counter = {"points": 0}

    def hook(module, inputs, output):
        if not with_grad_only or torch.is_grad_enabled():
            counter["points"] += inputs[0].shape[:-1].numel()

    fields = {id(f): f for f in (model.field, getattr(model, "fine_field", None)) if f is not None}
    handles = [f.register_forward_hook(hook) for f in fields.values()]
    try:
        yield counter
    finally:
        for handle in handles:
            handle.remove()


def read_log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


# -- race and camera: training time to a PSNR --------------------------------------------------------------


def train(recipe: str, overrides: list[str], run_dir: Path, *, target_db: float) -> dict:
    """Train ``recipe`` with ``overrides`` into ``run_dir``: its PSNR curve against training time without
    evaluations and checkpoint writes (module docstring), its speed and its final numbers."""
    run = build(apply_overrides(load_recipe(recipe), overrides), device="cpu")
    shutil.rmtree(run_dir, ignore_errors=True)  # fit refuses a folder that holds a run
    evals: list[tuple[tuple[float, float], tuple[float, float]]] = []  # (clocks() at the start, at the end)
    saves: list[tuple[tuple[float, float], tuple[float, float]]] = []
    before = loads()
    with (counting_points(run.model, with_grad_only=True) as counted, stopwatch(loop, "estimate_metrics", evals),
          stopwatch(checkpoint, "save_checkpoint", saves)):
        start = clocks()
        result = fit(run.model, run.train_set, run.test_set, run.settings, run_dir, recipe=run.recipe,
                     provenance=run.provenance, quiet=True)
        wall = time.perf_counter() - start[0]
    after = loads()
    records = [r for r in read_log(run_dir) if r["split"] == "eval"]
    curve = []
    for record, (eval_start, _) in zip(records, evals[-len(records):]):
        done = [(begin, end) for begin, end in evals + saves if end[0] <= eval_start[0]]
        seconds, cpu_seconds = (eval_start[k] - start[k] - sum(end[k] - begin[k] for begin, end in done)
                                for k in (0, 1))
        curve.append({"step": record["step"], "seconds": seconds, "cpu_seconds": cpu_seconds, **record["metrics"]})
    reached = next((p for p in curve if p["psnr"] >= target_db), None)
    train_seconds, steps = curve[-1]["seconds"], result.step
    model = result.eval_model
    numbers = {
        "recipe": recipe, "overrides": overrides, "steps": steps, "eval_every": run.settings.eval_every,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "train_seconds": train_seconds, "train_cpu_seconds": curve[-1]["cpu_seconds"],
        "s_per_step": train_seconds / steps, "fit_wall_seconds": wall,
        "eval_seconds": sum(end[0] - begin[0] for begin, end in evals), "evaluations": len(records),
        "checkpoint_seconds": sum(end[0] - begin[0] for begin, end in saves), "checkpoints": len(saves),
        "field_points_per_s": counted["points"] / train_seconds,
        "target_db": target_db, "seconds_to_target": reached and reached["seconds"],
        "cpu_seconds_to_target": reached and reached["cpu_seconds"],
        "step_to_target": reached and reached["step"], "final": curve[-1],
        "best": max(curve, key=lambda p: p["psnr"]), "curve": curve, "load_before": before, "load_after": after,
    }
    if hasattr(model, "rays_per_step"):
        numbers["rays_per_step"] = model.rays_per_step
        numbers["rays_per_s"] = model.rays_per_step * steps / train_seconds
    if getattr(model, "occupancy", None) is not None:
        numbers["occupied_cells"] = model.occupancy.mask.float().mean().item()
    return numbers


def print_run(label: str, r: dict) -> None:
    rays = f", {r['rays_per_s']:,.0f} rays/s" if "rays_per_s" in r else ""
    print(f"{label}: {r['steps']} steps, {r['train_seconds']:.1f} s training ({r['eval_seconds']:.1f} s evaluating, "
          f"{r['checkpoint_seconds']:.1f} s checkpoints excluded){rays}, {r['target_db']} dB: {reached(r)}, final "
          f"{r['final']['psnr']:.2f} dB, load {r['load_before']} -> {r['load_after']}", flush=True)


def cmd_race(args) -> dict:
    results = {}
    for recipe, every in ((FAST, args.eval_every[0]), (VANILLA, args.eval_every[1])):
        results[recipe] = train(recipe, [f"train.eval_every={every}", *args.set], args.out / "runs" / recipe,
                                target_db=SCENE_DB)
        print_run(recipe, results[recipe])
    for clock in ("seconds", "cpu_seconds"):
        fast, vanilla = (results[r][f"{clock}_to_target"] for r in (FAST, VANILLA))
        results[f"ratio_{clock}"] = vanilla / fast if fast and vanilla else None
    return results


def cmd_camera(args) -> dict:
    results = {}
    for threads in args.threads_list:
        torch.set_num_threads(threads)
        results[str(threads)] = train(CAMERA, [f"train.eval_every={args.eval_every}", *args.set],
                                      args.out / "runs" / f"{CAMERA}-{threads}", target_db=CAMERA_DB)
        print_run(f"{CAMERA}, {threads} thread(s)", results[str(threads)])
    torch.set_num_threads(args.threads)
    return results


# -- render ------------------------------------------------------------------------------------------------


def time_render(model, camera, repeats: int) -> dict:
    """Median seconds of ``repeats`` renders of ``camera`` after one warm-up, and the points the fields evaluated."""
    with counting_points(model) as counted:
        model.render_view(camera)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.render_view(camera)
        seconds.append(time.perf_counter() - start)
    # the coarse pass samples num_samples points a ray; the fine pass the coarse and the importance samples
    per_ray = model.num_samples + (model.num_samples + model.num_importance if model.num_importance else 0)
    rays = camera.height * camera.width
    return {"seconds": statistics.median(seconds), "all_seconds": seconds, "rays": rays, "samples_per_ray": per_ray,
            "points_evaluated": counted["points"], "evaluated_fraction": counted["points"] / (rays * per_ray)}


def cmd_render(args) -> dict:
    camera = build_dataset(load_recipe(FAST), "test").camera(0).resized(args.size, args.size)
    results = {"size": args.size, "repeats": args.repeats, "load_before": loads()}
    for recipe in (FAST, VANILLA):
        model, _ = load(args.out / "runs" / recipe, device="cpu")
        results[recipe] = time_render(model, camera, args.repeats)
        print(recipe, results[recipe], flush=True)
        if model.occupancy is not None:
            model.occupancy = None  # only the scene box bounds the samples now: what the grid saves
            results[f"{recipe} without its occupancy grid"] = time_render(model, camera, args.repeats)
            print("  without the grid:", results[f"{recipe} without its occupancy grid"], flush=True)
    results["load_after"] = loads()
    return results


# -- profile -----------------------------------------------------------------------------------------------

GATHER, INTERPOLATION, ARITHMETIC = ("hash grid: table gather (index_select)", "hash grid: interpolation (einsum)",
                                     "hash grid: index arithmetic, corner weights")
BACKWARD, UPDATES = "autograd backward (all of it)", "occupancy grid updates (densities at every cell)"
# (row, test on a profiler event's name), tried on an event and then on its ancestors, innermost first
COMPONENTS = [
    (BACKWARD, lambda name: name.startswith("autograd::engine::evaluate_function")),
    ("optimizer (fused AdamW, zero_grad)", lambda name: name.startswith("Optimizer.")),
    (ARITHMETIC, lambda name: name.startswith("nn.Module: HashGridEncoding")),
    ("tiny MLP, heads, direction encoding", lambda name: name.startswith("nn.Module: ")
     and name.split(": ")[1].rsplit("_", 1)[0] not in ("LossForward", "NeRF", "SignalFit", "OccupancyGrid")),
    ("occupancy grid lookups", lambda name: "zoo_nerf/occupancy.py" in name),
    ("compositing, hierarchical sampling (rendering.py)", lambda name: "zoo_nerf/rendering.py" in name),
    ("rays, sample points, masks, scatter, loss (model.py)", lambda name: "zoo_nerf/model.py" in name
     or "zoo_nerf/cameras.py" in name),
    ("signal-fit: random points, targets, loss", lambda name: "zoo_siren/fit.py" in name),
    ("data loading (the DataLoader's batch)", lambda name: "torch/utils/data" in name),
    ("the loop (gradient norm, lr, logging)", lambda name: "zoo/training/" in name),
]


def component(event) -> tuple[str, str | None]:
    """The profile row of a profiler event, and for backward events the autograd node they belong to."""
    chain = []  # the event and its ancestors, innermost first
    while event is not None:
        chain.append(event.name)
        event = event.cpu_parent
    if any("zoo_nerf/occupancy.py" in name and name.endswith(": update") for name in chain):
        return UPDATES, None
    for depth, name in enumerate(chain):
        for row, test in COMPONENTS:
            if not test(name):
                continue
            if row == BACKWARD:
                return row, name.split(": ", 1)[1]
            if row == ARITHMETIC:  # which part of the encoding: the ops inside it, up to it
                inside = chain[:depth]
                if any(n == "aten::index_select" for n in inside):
                    return GATHER, None
                if any(n == "aten::einsum" for n in inside):
                    return INTERPOLATION, None
            return row, None
    return "other (Python, dispatch, profiler)", None


def profile_recipe(recipe: str, overrides: list[str], run_dir: Path, *, warmup: int, steps: int) -> dict:
    """ms per step by component of ``steps`` training steps after ``warmup`` (module docstring)."""
    from torch.profiler import ProfilerActivity, profile

    run = build(apply_overrides(load_recipe(recipe), ["train.eval_every=0", *overrides]), device="cpu")
    if run.settings.steps < warmup + 2 * steps + 2:
        raise SystemExit(f"{recipe}: the profile runs {warmup + 2 * steps + 2} steps, but train.steps is "
                         f"{run.settings.steps}: raise it (--set train.steps=...) or lower --warmup / --steps")
    shutil.rmtree(run_dir, ignore_errors=True)

    def segment(stop_at: int) -> None:
        fit(run.model, run.train_set, run.test_set, run.settings, run_dir, recipe=run.recipe,
            provenance=run.provenance, resume=(run_dir / "metrics.jsonl").exists(), stop_at=stop_at, quiet=True)

    before = loads()
    segment(warmup)
    updates: list = []  # the same whole steps as the profile's, timed without it: zero_grad ends each step
    with stopwatch(torch.optim.AdamW, "zero_grad", updates):
        segment(warmup + steps + 1)
    unprofiled = (updates[-1][1][0] - updates[0][1][0]) / (len(updates) - 1)
    with profile(activities=[ProfilerActivity.CPU], with_stack=True) as prof:
        segment(warmup + 2 * steps + 2)
    after = loads()
    events = prof.events()
    # whole steps: from the end of one optimizer update (zero_grad, its last act) to the end of the next
    updates = [e for e in events if e.name.startswith("Optimizer.zero_grad")]
    begin, end, profiled = updates[0].time_range.end, updates[-1].time_range.end, len(updates) - 1
    rows: dict[str, float] = {}
    backward: dict[str, float] = {}
    for event in events:
        if event.time_range.start < begin or event.time_range.end > end:
            continue
        row, node = component(event)
        ms = event.self_cpu_time_total / 1e3 / profiled
        rows[row] = rows.get(row, 0.0) + ms
        if node is not None:
            backward[node] = backward.get(node, 0.0) + ms
    wall_ms = (end - begin) / 1e3 / profiled
    rows["other (Python, dispatch, profiler)"] = rows.get("other (Python, dispatch, profiler)", 0.0) + max(
        0.0, wall_ms - sum(rows.values()))
    return {"recipe": recipe, "warmup": warmup, "steps": profiled, "unprofiled_ms_per_step": 1e3 * unprofiled,
            "profiled_ms_per_step": wall_ms, "ms_per_step": rows,
            "backward_by_node": dict(sorted(backward.items(), key=lambda kv: -kv[1])), "load_before": before,
            "load_after": after}


def cmd_profile(args) -> dict:
    results = {}
    for recipe, warmup, steps in ((FAST, args.warmup, args.steps), (CAMERA, 20, 20)):
        results[recipe] = profile_recipe(recipe, args.set, args.out / "runs" / f"{recipe}-profile", warmup=warmup,
                                         steps=steps)
        print(json.dumps(results[recipe], indent=1), flush=True)
    return results


# -- gpu ---------------------------------------------------------------------------------------------------


def cmd_gpu(args) -> dict:
    """``nerf-blender``'s model and training settings on the embedded scene at ``--size``: rays/s on CUDA."""
    if args.device == "cuda" and not torch.cuda.is_available():
        return {"skipped": "no CUDA device here (torch.cuda.is_available() is False): not measured"}
    data = f"data={{name: procedural-scene, size: {args.size}, num_train: 20, num_test: 1}}"
    overrides = [data, "data.root=null", f"train.steps={args.steps}", "train.eval_every=0", "train.checkpoint_every=0",
                 f"train.log_every={max(1, args.steps // 10)}", *args.set]
    run = build(apply_overrides(load_recipe("nerf-blender"), overrides), device=args.device)
    run_dir = args.out / "runs" / "nerf-blender-scene"
    shutil.rmtree(run_dir, ignore_errors=True)
    before = loads()
    fit(run.model, run.train_set, None, run.settings, run_dir, recipe=run.recipe, provenance=run.provenance,
        quiet=True)
    after = loads()
    # from the first log step on (the first steps warm up kernels and the allocator); each log step syncs
    records = [r for r in read_log(run_dir) if r["split"] == "train"]
    first, last = records[0], records[-1]
    if first is last:
        first = {"step": 0, "elapsed_s": 0.0}
    rays = run.model.rays_per_step * (last["step"] - first["step"])
    device = torch.cuda.get_device_name() if args.device == "cuda" else cpu_name()
    return {"device": device, "size": args.size, "steps": run.settings.steps, "rays_per_step": run.model.rays_per_step,
            "samples_per_ray": run.model.num_samples * 2 + run.model.num_importance,
            "timed_steps": [first["step"], last["step"]], "rays_per_s": rays / (last["elapsed_s"] - first["elapsed_s"]),
            "overrides": overrides, "load_before": before, "load_after": after}


# -- report ------------------------------------------------------------------------------------------------


def reached(r: dict) -> str:
    """When run ``r`` first reached its target: wall and CPU seconds, and the step."""
    if r["seconds_to_target"] is None:
        return "never"
    return f"{r['seconds_to_target']:.1f} s / {r['cpu_seconds_to_target']:.1f} CPU s (step {r['step_to_target']})"


def race_table(race: dict) -> list[str]:
    lines = ["| recipe | params | steps x rays | train s / CPU s (no evals) | s/step | rays/s | field points/s | "
             "25 dB after | final PSNR / SSIM | best PSNR | load 1/5/15 min before -> after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for recipe in (FAST, VANILLA):
        r = race[recipe]
        lines.append(
            f"| `{recipe}` | {r['parameters']:,} | {r['steps']} x {r['rays_per_step']} | {r['train_seconds']:.1f} / "
            f"{r['train_cpu_seconds']:.1f} | {r['s_per_step']:.3f} | {r['rays_per_s']:,.0f} | "
            f"{r['field_points_per_s']:,.0f} | {reached(r)} | {r['final']['psnr']:.2f} dB / "
            f"{r['final']['ssim']:.3f} | {r['best']['psnr']:.2f} dB (step {r['best']['step']}) | "
            f"{r['load_before']} -> {r['load_after']} |")
    return lines


def render_table(render: dict) -> list[str]:
    lines = [f"| model | one {render['size']}x{render['size']} view, median of {render['repeats']} | samples a ray | "
             "field evaluations | of the samples |", "|---|---:|---:|---:|---:|"]
    for name, r in render.items():
        if isinstance(r, dict):
            lines.append(f"| `{name}` | {r['seconds']:.2f} s | {r['samples_per_ray']} | {r['points_evaluated']:,} | "
                         f"{r['evaluated_fraction']:.1%} |")
    return lines


def profile_table(profiles: dict) -> list[str]:
    names = list(profiles)
    rows = list(dict.fromkeys(row for p in profiles.values() for row in p["ms_per_step"]))
    lines = ["| ms per step (share) | " + " | ".join(f"`{n}`" for n in names) + " |", "|---|" + "---:|" * len(names)]
    for row in sorted(rows, key=lambda row: -profiles[names[0]]["ms_per_step"].get(row, 0.0)):
        cells = []
        for p in profiles.values():
            ms = p["ms_per_step"].get(row)
            cells.append(f"{ms:.1f} ({ms / p['profiled_ms_per_step']:.0%})" if ms else "")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines.append("| **profiled step** | " + " | ".join(f"{p['profiled_ms_per_step']:.1f}" for p in profiles.values())
                 + " |")
    lines.append("| **the same steps, unprofiled** | " + " | ".join(
        f"{p['unprofiled_ms_per_step']:.1f}" for p in profiles.values()) + " |")
    ranges = [(p["warmup"], p["steps"]) for p in profiles.values()]
    lines.append("| steps timed; steps profiled | " + " | ".join(f"{w + 2}-{w + k + 1}; {w + k + 3}-{w + 2 * k + 2}"
                                                             for w, k in ranges) + " |")
    lines.append("| load before -> after | " + " | ".join(f"{p['load_before']} -> {p['load_after']}"
                                                        for p in profiles.values()) + " |")
    for name, p in profiles.items():
        top = ", ".join(f"{node} {ms:.1f}" for node, ms in list(p["backward_by_node"].items())[:6])
        lines.append(f"\nBackward of `{name}` by autograd node (ms per step, the largest): {top}.")
    return lines


def camera_table(camera: dict) -> list[str]:
    lines = ["| `hashgrid-camera` | 36.4 dB after (no evals; CPU s of all threads) | s/step | train s, all steps | "
             "fit wall s (with evals) | final PSNR | best PSNR | load before -> after |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for threads, r in camera.items():
        lines.append(f"| {threads} thread(s), {r['steps']} steps | {reached(r)} | "
                     f"{r['s_per_step']:.3f} | {r['train_seconds']:.1f} | {r['fit_wall_seconds']:.1f} | "
                     f"{r['final']['psnr']:.2f} dB | {r['best']['psnr']:.2f} dB | {r['load_before']} -> "
                     f"{r['load_after']} |")
    return lines


def verdict(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "**not measured**"}[met]


def markdown(results: dict, args) -> str:
    out = [f"\n### NeRF and Instant-NGP (`benchmarks/nerf.py`) — {args.date}\n",
           f"Issue 11's benchmark. Machine: {cpu_name()}, {os.cpu_count()} vCPUs, torch {torch.__version__}, CPU; "
           "1 torch thread (`OMP_NUM_THREADS=1`) except where a row says 2. The machine was shared with other "
           "jobs: the load averages are next to every number.\n",
           "Commands: `OMP_NUM_THREADS=1 PYTHONPATH=.:plugins python benchmarks/nerf.py race` (then `render`, "
           "`profile`, `camera`, `gpu`), and `... report --record benchmarks/RESULTS.md --png benchmarks/nerf.png "
           "--curves benchmarks/nerf-curves.png`. Training time excludes evaluations and checkpoint writes exactly "
           "(the module docstring says how); the time to a PSNR is at the first evaluation that reaches it.\n"]
    race = results.get("race")
    if race:
        out += [f"**Race on the embedded scene** (held-out PSNR on its 8 test views at 32x32, evaluated every "
                f"{race[FAST]['eval_every']} steps for `{FAST}` and every {race[VANILLA]['eval_every']} for "
                f"`{VANILLA}`):\n",
                *race_table(race), ""]
        ratios = race["ratio_seconds"], race["ratio_cpu_seconds"]
        out.append(f"Time to 25 dB, vanilla / fast: {ratios[0]:.1f}x in wall-clock time, {ratios[1]:.1f}x in CPU "
                   "time." if all(ratios) else "Time to 25 dB, vanilla / fast: not defined (a run never reached it).")
    render = results.get("render")
    if render:
        size = f"{render['size']}x{render['size']}"
        out += ["", f"**Rendering one held-out camera at {size}** (after one warm-up render):\n", *render_table(render),
                f"\nLoad {render['load_before']} -> {render['load_after']}."]
    profiles = results.get("profile")
    if profiles:
        out += ["", "**Where a training step's time goes** (`torch.profiler` with Python stacks; self time of every "
                "op and Python function, by the innermost component it runs in):\n", *profile_table(profiles)]
    camera = results.get("camera")
    if camera:
        every = next(iter(camera.values()))["eval_every"]
        out += ["", f"**`{CAMERA}`** (the 256x256 cameraman, PSNR over all pixels every {every} steps):\n",
                *camera_table(camera)]
    gpu = results.get("gpu")
    if gpu:
        out += ["", "**GPU** (`nerf-blender`'s settings on the embedded scene at 400x400): " + (
            gpu["skipped"] if "skipped" in gpu else
            f"{gpu['rays_per_s']:,.0f} rays/s on {gpu['device']} ({gpu['rays_per_step']} rays x "
            f"{gpu['samples_per_ray']} samples a step, steps {gpu['timed_steps'][0]}-{gpu['timed_steps'][1]}).")]
    out += ["", "**Targets.**"]
    if race:
        for clock, ratio in (("wall-clock", race["ratio_seconds"]), ("CPU", race["ratio_cpu_seconds"])):
            out.append(f"- `{FAST}` reaches 25 dB at least 10x sooner than `{VANILLA}`, in {clock} time: "
                       f"{verdict(None if ratio is None else ratio >= 10)}" + (f" ({ratio:.1f}x)." if ratio else "."))
    for threads, r in (camera or {}).items():
        met = r["seconds_to_target"] is not None and r["seconds_to_target"] <= 10
        out.append(f"- `{CAMERA}` reaches 36.4 dB in at most 10 s on this 2-core CPU, with {threads} thread(s): "
                   f"{verdict(met)} ({reached(r)}).")
    if args.png:
        out += ["", f"![held-out views, nerf-toy and nerf-toy-vanilla renders]({args.png.name})", "",
                f"`benchmarks/{args.png.name}`: the 8 held-out views (top), `{FAST}`'s renders, `{VANILLA}`'s renders."]
    if args.curves:
        out += ["", f"![PSNR against training time]({args.curves.name})", "",
                f"`benchmarks/{args.curves.name}`: held-out PSNR against training time (evaluations excluded) on the "
                f"scene, and `{CAMERA}`'s PSNR against training time with 2 and 1 threads."]
    return "\n".join(out) + "\n"


def pictures(args, race: dict | None, camera: dict | None) -> None:
    if args.png:
        views = build_dataset(load_recipe(FAST), "test")
        rows = [torch.stack([views[i]["image"] for i in range(len(views))])]
        for recipe in (FAST, VANILLA):
            model, _ = load(args.out / "runs" / recipe, device="cpu")
            rows.append(torch.stack([model.render_view(views.camera(i))[0] for i in range(len(views))]))
        viz.save_image_grid(torch.cat(rows), args.png, nrow=len(views))
        print(f"wrote {args.png}")
    if args.curves and race:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 4))
        scene, image = fig.subplots(1, 2)
        for recipe in (FAST, VANILLA):
            curve = race[recipe]["curve"]
            scene.plot([p["seconds"] for p in curve], [p["psnr"] for p in curve], marker=".", label=recipe)
        scene.axhline(SCENE_DB, color="gray", lw=0.5)
        scene.set(xscale="log", xlabel="training seconds (1 thread, evaluations excluded)",
                  ylabel="held-out PSNR (dB)", title="embedded scene, 8 held-out views")
        for threads, r in (camera or {}).items():
            image.plot([p["seconds"] for p in r["curve"]], [p["psnr"] for p in r["curve"]],
                       label=f"{threads} thread(s)")
        image.axhline(CAMERA_DB, color="gray", lw=0.5)
        image.set(xlabel="training seconds (evaluations excluded)", ylabel="PSNR (dB)", title=f"{CAMERA}, 256x256")
        for ax in (scene, image):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.curves, dpi=72)
        print(f"wrote {args.curves}")


def cmd_report(args) -> dict:
    results = {name: json.loads((args.out / f"{name}.json").read_text()) for name in COMMANDS
               if (args.out / f"{name}.json").exists()}
    pictures(args, results.get("race"), results.get("camera"))
    text = markdown(results, args)
    print(text)
    if args.record:
        with args.record.open("a", encoding="utf-8") as f:
            f.write(text)
    return {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "nerf-bench",
                        help="where the runs and each command's JSON go (default runs/nerf-bench)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in (*COMMANDS, "report"):
        p = sub.add_parser(name)
        if name != "report":
            p.add_argument("--set", action="append", default=[], help="override for every recipe trained, a.b=value")
    sub.choices["race"].add_argument("--eval-every", type=int, nargs=2, default=[10, 25], metavar=("FAST", "VANILLA"))
    sub.choices["render"].add_argument("--size", type=int, default=200)
    sub.choices["render"].add_argument("--repeats", type=int, default=3)
    sub.choices["profile"].add_argument("--warmup", type=int, default=200, help="nerf-toy steps before the profile")
    sub.choices["profile"].add_argument("--steps", type=int, default=32,
                                       help="nerf-toy steps timed and profiled (a multiple of its grid updates' 8)")
    sub.choices["camera"].add_argument("--eval-every", type=int, default=5)
    sub.choices["camera"].add_argument("--threads-list", type=int, nargs="+", default=[2, 1])
    sub.choices["gpu"].add_argument("--device", default="cuda")
    sub.choices["gpu"].add_argument("--size", type=int, default=400)
    sub.choices["gpu"].add_argument("--steps", type=int, default=300)
    sub.choices["report"].add_argument("--record", type=Path, help="append the markdown section to this file")
    sub.choices["report"].add_argument("--png", type=Path, help="held-out views over both models' renders")
    sub.choices["report"].add_argument("--curves", type=Path, help="PSNR against training time")
    sub.choices["report"].add_argument("--date", default=datetime.date.today().isoformat())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load {loads()}", flush=True)
    commands = {"race": cmd_race, "render": cmd_render, "profile": cmd_profile, "camera": cmd_camera, "gpu": cmd_gpu,
                "report": cmd_report}
    result = commands[args.command](args)
    if args.command != "report":
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.command}.json").write_text(json.dumps(result, indent=1, default=float))
        print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, default=float))


if __name__ == "__main__":
    main()
