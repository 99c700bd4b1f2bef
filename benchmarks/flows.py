"""Benchmark the normalizing flows: exact (and dequantised) NLL against the VAEs' bounds, the flow prior and the IAF
posterior against vae-digits, fitted flow vs fitted Gaussian mixture for the autoencoder, the shared loop's cost
over a bare zuko loop on flow-moons, and samples per second.

    PYTHONPATH=.:plugins python benchmarks/flows.py nll --seeds 0 1 2      # the exact-vs-bound table
    PYTHONPATH=.:plugins python benchmarks/flows.py ae                     # held-out codes under each fitted prior
    PYTHONPATH=.:plugins python benchmarks/flows.py overhead --repeats 5   # fit vs a bare zuko loop, flow-moons
    PYTHONPATH=.:plugins python benchmarks/flows.py speed                  # samples/s

``nll`` trains each recipe as shipped (its ``train.steps``, ``train.seed`` replaced) through ``zoo.training.train``
and evaluates it with ``zoo.training.evaluate``: a VAE's test NLL is its IWAE bound with K = 1000, a flow's the
one ``zoo eval`` prints (``nll``: exact on continuous data; on the digits, the uniformly dequantised NLL, an upper
bound on the discrete NLL, like the IWAE one). ``overhead`` times both loops at two lengths and takes the
difference per step, fastest of the repeats (as ``loop_overhead.py``): the bare loop is the recipe's model's
zuko flow trained as a zuko user would write it (batches indexed from the points tensor by a permutation per
epoch), with the same AdamW, clipping and batch size, and without the zoo's loop or model around it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from zoo import training
from zoo.recipes import build_dataset, load_recipe
from zoo.training import TrainSettings, fit
from zoo.training.loop import make_optimizer
from machine import cpu_name

NLL_RECIPES = ("flow-moons", "flow-digits", "vae-digits", "vae-flowprior-digits", "vae-iaf-digits")


def machine() -> str:
    return (f"machine: {cpu_name()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch thread(s), "
            f"torch {torch.__version__}, python {platform.python_version()}")


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def nll(args: argparse.Namespace) -> None:
    print(machine())
    for name in args.recipes:
        rows = []
        for seed in args.seeds:
            recipe = load_recipe(name, overrides=[f"train.seed={seed}"])
            with tempfile.TemporaryDirectory() as out:
                start, cpu = time.perf_counter(), time.process_time()
                run = training.train(recipe, Path(out) / "run", quiet=True, pictures=False)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                model, _ = training.load(run)
                metrics = training.evaluate(run, iwae_samples=1000)
            key = "nll" if "nll" in metrics else "iwae_nll"
            rows.append(metrics[key])
            extra = {k: round(v, 3) for k, v in metrics.items() if k in ("elbo", "kl", "bits_per_dim",
                                                                         "iwae_bits_per_dim")}
            print(f"{name} seed {seed}: {key} {metrics[key]:.2f} nats {extra}, {parameters(model):,} parameters, "
                  f"train {wall:.1f} s wall / {cpu:.1f} s CPU", flush=True)
        spread = statistics.stdev(rows) if len(rows) > 1 else 0.0
        print(f"{name}: mean {statistics.mean(rows):.2f} ± {spread:.2f} (sd over {len(rows)} seeds)", flush=True)


def ae(args: argparse.Namespace) -> None:
    """Train ae-digits once; fit its codes with the fitted Gaussian mixture and with the fitted flow; score both."""
    from zoo_flows import FittedFlow

    print(machine())
    with tempfile.TemporaryDirectory() as out:
        run = training.train("ae-digits", Path(out) / "run", quiet=True, pictures=False)
        model, recipe = training.load(run)
        codes = {split: torch.cat([model.encode(x) for x in DataLoader(build_dataset(recipe, split), 256)])
                 for split in ("train", "test")}
    flow = load_recipe("ae-flowprior-digits")["model"]["prior"]
    fitted = {"fitted-gaussian (10 components)": model.prior,
              f"fitted-flow ({flow['family']}, {flow['steps']} steps)": FittedFlow(
                  model.prior.latent_dim, family=flow["family"], transforms=flow["transforms"],
                  hidden_dim=flow["hidden_dim"], steps=flow["steps"])}
    for label, prior in fitted.items():
        start = time.perf_counter()
        with torch.no_grad():
            prior.fit(codes["train"])
            scores = {split: float(-prior().log_prob(c).mean()) for split, c in codes.items()}
        print(f"{label}: NLL of the codes, train {scores['train']:.3f}, held out {scores['test']:.3f} nats "
              f"(fit {time.perf_counter() - start:.1f} s)", flush=True)


def _flow_moons():
    recipe = load_recipe("flow-moons")
    built = training.build(recipe)
    return built, TrainSettings.from_recipe(recipe)


def bare_loop(steps: int) -> tuple[float, float]:
    """zuko's flow from the recipe's model, trained by hand: (wall, CPU) seconds for ``steps`` steps."""
    built, settings = _flow_moons()
    flow, points, size = built.model.flow, built.train_set.points, settings.batch_size
    optimizer = make_optimizer(built.model, settings, torch.device("cpu"))
    start, cpu = time.perf_counter(), time.process_time()
    step = 0
    while step < steps:
        for batch in torch.randperm(len(points)).split(size)[: len(points) // size]:  # an epoch of full batches
            loss = -flow().log_prob(points[batch]).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(flow.parameters(), settings.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step == steps:
                break
    return time.perf_counter() - start, time.process_time() - cpu


def fit_loop(steps: int) -> tuple[float, float]:
    """The same through ``zoo.training.fit`` (evaluation off, one checkpoint at the end)."""
    import dataclasses

    built, settings = _flow_moons()
    settings = dataclasses.replace(settings, steps=steps, eval_every=0, checkpoint_every=0)
    with tempfile.TemporaryDirectory() as run_dir:
        start, cpu = time.perf_counter(), time.process_time()
        fit(built.model, built.train_set, None, settings, run_dir, quiet=True)
        return time.perf_counter() - start, time.process_time() - cpu


def overhead(args: argparse.Namespace) -> None:
    lengths = (20, 20 + args.steps)
    times: dict[tuple[str, int], list[tuple[float, float]]] = {}
    fit_loop(10)  # warm-up
    for _ in range(args.repeats):
        for name, run in (("bare", bare_loop), ("fit", fit_loop)):
            for steps in lengths:
                times.setdefault((name, steps), []).append(run(steps))
    print(machine())
    print(f"flow-moons (nsf, batch {_flow_moons()[1].batch_size}), {args.steps} timed steps, {args.repeats} repeats")
    for clock, label in ((0, "wall"), (1, "CPU")):
        bare, ours = ((min(t[clock] for t in times[(name, lengths[1])]) -
                       min(t[clock] for t in times[(name, lengths[0])])) / args.steps for name in ("bare", "fit"))
        print(f"{label:>4}: bare zuko loop {bare * 1e3:.2f} ms/step, zoo fit {ours * 1e3:.2f} ms/step: "
              f"overhead {100 * (ours / bare - 1):+.1f}%")


def speed(args: argparse.Namespace) -> None:
    print(machine())
    for name, n in (("flow-moons", 10000), ("flow-digits", 1000)):
        model = training.build(name).model.eval()
        model.sample(8)  # warm-up
        start = time.perf_counter()
        model.sample(n)
        print(f"{name} ({model.family}): {n / (time.perf_counter() - start):,.0f} samples/s (untrained weights: "
              "the cost does not depend on them)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("nll")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--recipes", nargs="+", default=list(NLL_RECIPES))
    p.set_defaults(func=nll)
    sub.add_parser("ae").set_defaults(func=ae)
    p = sub.add_parser("overhead")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    p.set_defaults(func=overhead)
    sub.add_parser("speed").set_defaults(func=speed)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.func(args)


if __name__ == "__main__":
    main()
