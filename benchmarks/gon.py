"""Gradient Origin Networks on 32x32 digits: the reference anchor, the zoo's GONs, an autoencoder beside them.

    PYTHONPATH=.:plugins python benchmarks/gon.py                                  # everything, 1 thread
    PYTHONPATH=.:plugins python benchmarks/gon.py --threads 2 --record benchmarks/RESULTS.md --png benchmarks/gon.png

What runs, each from the same seed on scikit-learn's digits resized to 32x32 (bilinear, held in memory;
the 180 test digits of the zoo's fixed split):

1. **anchor**: the reference GON.py (github.com/cwkx/GON) written out in plain PyTorch — a DCGAN generator
   (nz 32, ngf 16, BatchNorm with running statistics, ELU, a sigmoid out), squared error summed over
   channels and averaged, Adam lr 1e-4, batch 64, 1,001 steps. Its test MSE is measured with the latents
   computed in training mode (the test batch's BatchNorm statistics, as the reference code would) and in
   eval mode (the running statistics): the BatchNorm trap.
2. the recipes ``gon-official-digits`` (the anchor's configuration in the zoo: the ``dcgan`` decoder,
   whose BatchNorm keeps no running statistics, a Gaussian likelihood, no sigmoid), ``gon-digits`` (the
   faster variant: no BatchNorm, batch 32, lr 2e-3, 500 steps), ``gon-siren-digits`` (the implicit GON,
   on 8x8 digits, also scored decoded at 32x32), trained by the shared loop (``zoo.training.fit``), and
   ``ae-digits`` with ``gon-digits``' decoder, latent size, data and training settings plus a conv
   encoder: a GON against an autoencoder with the same decoder. ``gon-digits`` and the autoencoder are
   trained with ``--seeds`` seeds (3 by default), the rest with seed 0.
3. **profile**: where a ``gon-digits`` step's time goes (data, inner gradient, outer forward, backward,
   update), and the GON step time over the AE's.

Test numbers are the models' own ``metrics`` in eval mode over the 180 test digits in batches of 64
(the per-pixel MSE of the decoded mean). Times are wall-clock and process CPU seconds of the whole
``fit`` (the final evaluation, the post-hoc prior fit and checkpoints included); train steps/s are the
training steps alone, from the run's log. ``--record`` appends a markdown section with the
machine, its load (``uptime``) before and after, and the table; ``--png`` writes the test digits over
each model's reconstructions.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from zoo import viz  # noqa: E402
from zoo.recipes import load_recipe  # noqa: E402
from zoo.training import build, fit  # noqa: E402
from zoo.training.runtime import seed_everything  # noqa: E402
from machine import cpu_name  # noqa: E402

AE_STEP = "AE step (encoder, decoder, backward, update)"
DATA = "data (a DataLoader batch from memory)"


def stack(dataset) -> Tensor:
    return torch.stack([dataset[i] for i in range(len(dataset))])


def load() -> str:
    """The load averages (1, 5, 15 min) as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


class Clock:
    """Wall-clock and process CPU seconds of a ``with`` block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


# --- 1. the anchor: the reference GON.py, in plain PyTorch ---------------------------------------------------


def reference_generator(nz: int = 32, ngf: int = 16) -> nn.Module:
    """GON.py's F: transposed convolutions 1 -> 4 -> 8 -> 16 -> 32 pixels, BatchNorm, ELU, sigmoid."""
    def block(c_in: int, c_out: int, stride: int, padding: int) -> list[nn.Module]:
        return [nn.ConvTranspose2d(c_in, c_out, 4, stride, padding), nn.BatchNorm2d(c_out), nn.ELU()]

    return nn.Sequential(*block(nz, 4 * ngf, 1, 0), *block(4 * ngf, 2 * ngf, 2, 1), *block(2 * ngf, ngf, 2, 1),
                         nn.ConvTranspose2d(ngf, 1, 4, 2, 1), nn.Sigmoid())


def reference_latent(F: nn.Module, x: Tensor, nz: int, create_graph: bool) -> Tensor:
    """GON.py's latent: minus the gradient of the mean squared error at z = 0."""
    z = torch.zeros(len(x), nz, 1, 1, requires_grad=True)
    inner = ((F(z) - x) ** 2).sum(1).mean()
    return -torch.autograd.grad(inner, z, create_graph=create_graph)[0]


def anchor(train: Tensor, test: Tensor, *, steps: int = 1001, batch_size: int = 64, seed: int = 0) -> dict:
    seed_everything(seed)
    F, nz = reference_generator(), 32
    optimizer = torch.optim.Adam(F.parameters(), lr=1e-4)
    order = torch.Generator().manual_seed(seed)
    with Clock() as clock:
        for _ in range(steps):
            x = train[torch.randint(len(train), (batch_size,), generator=order)]
            loss = ((F(reference_latent(F, x, nz, True)) - x) ** 2).sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def reconstruct(x: Tensor, training: bool) -> Tensor:
        F.train(training)
        z = reference_latent(F, x, nz, False)
        with torch.no_grad():
            return F(z)

    results = {"steps": steps, "wall_s": clock.wall, "cpu_s": clock.cpu, "parameters": count(F)}
    for mode, training in (("train_mode", True), ("eval_mode", False)):
        recon = torch.cat([reconstruct(x, training) for x in test.split(batch_size)])
        results[f"test_mse_{mode}"] = ((recon - test) ** 2).mean().item()
        results[f"pictures_{mode}"] = recon[:8]
    F.train()  # the statistics the eval-mode run used are the ones training left: reconstruct() changed none
    return results


# --- 2. the zoo's recipes through the shared loop ----------------------------------------------------------------


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def evaluate(model, test: Tensor, batch_size: int = 64) -> dict[str, float]:
    """The model's metrics in eval mode, averaged over the test examples in batches of ``batch_size``."""
    model.eval()
    sums: dict[str, float] = {}
    for x in test.split(batch_size):
        for name, value in model.metrics(x).items():
            sums[name] = sums.get(name, 0.0) + float(value) * len(x)
    return {name: total / len(test) for name, total in sums.items()}


def ae_like(gon_recipe: dict) -> dict:
    """``ae-digits`` with the GON recipe's decoder, latent size, data and training: a conv encoder added."""
    recipe = copy.deepcopy(load_recipe("ae-digits"))
    decoder = copy.deepcopy(gon_recipe["model"]["decoder"])
    recipe["model"]["decoder"] = decoder
    recipe["model"]["encoder"] = {"name": "conv", "shape": decoder["shape"], "latent_dim": decoder["latent_dim"],
                                  "channels": [16, 32, 64], "deterministic": True}
    recipe["data"], recipe["train"] = copy.deepcopy(gon_recipe["data"]), copy.deepcopy(gon_recipe["train"])
    recipe["name"] = "ae-digits (gon-digits' decoder)"
    return recipe


def train_recipe(recipe: dict, test_32: Tensor, seed: int = 0) -> dict:
    """Train ``recipe`` (with ``train.seed=seed``) through the shared loop; its numbers and 8 reconstructions.

    The reconstructions are decoded at 32x32; a model trained on 8x8 digits with a resizable decoder is
    also scored there, against the 32x32 test digits (its super-resolved reconstructions).
    """
    recipe = copy.deepcopy(recipe)
    recipe["train"] = {**recipe["train"], "seed": seed}
    run = build(recipe, device="cpu")
    with tempfile.TemporaryDirectory() as scratch:
        with Clock() as clock:
            result = fit(run.model, run.train_set, run.test_set, run.settings, Path(scratch) / "run",
                         recipe=run.recipe, provenance=run.provenance, quiet=True)
        log = [json.loads(line) for line in (Path(scratch) / "run" / "metrics.jsonl").read_text().splitlines()]
    # the training steps alone: the last train record's clock, before the final evaluation and prior fit
    last = [r for r in log if r["split"] == "train"][-1]
    model, test = result.eval_model, stack(run.test_set)
    metrics = evaluate(model, test)
    numbers = {"steps": run.settings.steps, "batch_size": run.settings.batch_size, "lr": run.settings.lr,
               "parameters": count(model), "wall_s": clock.wall, "cpu_s": clock.cpu,
               "train_steps_per_s": last["step"] / last["elapsed_s"], "test_mse": metrics["mse"],
               "test_reconstruction_nll": metrics["reconstruction"]}
    with torch.no_grad():
        if test.shape[-1] != 32 and model.decoder.resizable:
            big = torch.cat([model.reconstruct(x, spatial=(32, 32)) for x in test.split(64)])
            numbers["test_mse_decoded_at_32x32"] = ((big - test_32) ** 2).mean().item()
        else:
            big = model.reconstruct(test[:8])
    return numbers | {"pictures": big[:8]}


def over_seeds(recipe: dict, test_32: Tensor, seeds: int) -> dict:
    """``train_recipe`` for seeds 0..seeds-1: seed 0's numbers, with the test MSE of each seed."""
    runs = [train_recipe(recipe, test_32, seed) for seed in range(seeds)]
    return runs[0] | {"test_mse_by_seed": [r["test_mse"] for r in runs]}


# --- 3. where a step's time goes ---------------------------------------------------------------------------------


def profile(recipe: dict, ae_recipe: dict, repeats: int = 30) -> dict[str, float]:
    """CPU ms per phase of a GON step, and of the AE's whole step on the same batch (medians over ``repeats``)."""
    gon_run, ae_run = build(recipe, device="cpu"), build(ae_recipe, device="cpu")
    gon, ae = gon_run.model.train(), ae_run.model.train()
    loader = torch.utils.data.DataLoader(gon_run.train_set, batch_size=gon_run.settings.batch_size, shuffle=True)
    batches = iter(loader)
    optimizers = {id(m): torch.optim.AdamW(m.parameters(), lr=1e-4) for m in (gon, ae)}
    phases: dict[str, list[float]] = {}

    def timed(name: str, fn):
        start = time.process_time()
        out = fn()
        phases.setdefault(name, []).append(1000 * (time.process_time() - start))
        return out

    for _ in range(repeats + 3):
        x = timed(DATA, lambda: next(batches, None))
        if x is None:
            batches = iter(loader)
            x = next(batches)
        z = timed("inner step (F and its gradient at the origin)", lambda: gon.encode(x))
        loss = timed("outer forward (F at the latent, NLL)", lambda: -gon.decoder(z).log_prob(x).mean())
        timed("backward (through the inner gradient)", loss.backward)
        timed("optimizer update", lambda: (optimizers[id(gon)].step(), optimizers[id(gon)].zero_grad()))

        def ae_step():
            ae_loss = sum(ae.loss(x).values())
            ae_loss.backward()
            optimizers[id(ae)].step()
            optimizers[id(ae)].zero_grad()

        timed(AE_STEP, ae_step)
    # the median of the later rounds: the first ones warm up allocators and caches
    return {name: sorted(values[3:])[len(values[3:]) // 2] for name, values in phases.items()}


# --- report -------------------------------------------------------------------------------------------------------


def machine(threads: int) -> str:
    return f"{cpu_name()}, {os.cpu_count()} vCPUs, {threads} torch thread(s), torch {torch.__version__}, CPU"


def _mse(r: dict) -> str:
    seeds = r.get("test_mse_by_seed")
    if not seeds or len(seeds) == 1:
        return f"{r['test_mse']:.5f}"
    return f"{r['test_mse']:.5f} (seeds: {', '.join(f'{v:.5f}' for v in seeds)})"


def markdown(results: dict, timings: dict[str, float], threads: int, loads: tuple[str, str], date: str) -> str:
    a = results["anchor"]
    rows = [
        "| run | steps x batch | lr | params | wall s | CPU s | train steps/s | test MSE per pixel |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| anchor: the reference GON.py, latents in training mode | {a['steps']} x 64 | 1e-4 | "
        f"{a['parameters']:,} | {a['wall_s']:.1f} | {a['cpu_s']:.1f} | {a['steps'] / a['wall_s']:.1f} | "
        f"{a['test_mse_train_mode']:.5f} |",
        f"| the same anchor weights in eval mode (running BatchNorm statistics) | | | | | | | "
        f"{a['test_mse_eval_mode']:.4f} |",
    ]
    for name, r in results.items():
        if name == "anchor":
            continue
        mse = _mse(r)
        if "test_mse_decoded_at_32x32" in r:
            mse += f" at 8x8; {r['test_mse_decoded_at_32x32']:.5f} decoded at 32x32"
        rows.append(f"| `{name}` | {r['steps']} x {r['batch_size']} | {r['lr']:g} | {r['parameters']:,} | "
                    f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['train_steps_per_s']:.1f} | {mse} |")
    steps = {k: v for k, v in timings.items() if not k.startswith("AE")}
    gon_ms, ae_ms = sum(steps.values()), timings[AE_STEP]
    compute_ms = gon_ms - timings[DATA]  # the AE's step is timed on a batch at hand, without loading it
    profile_rows = ["| phase of a `gon-digits` step (batch 32) | CPU ms | share |", "|---|---:|---:|"]
    profile_rows += [f"| {k} | {v:.1f} | {v / gon_ms:.0%} |" for k, v in steps.items()]
    profile_rows += [f"| the whole GON step | {gon_ms:.1f} | |",
                     f"| the autoencoder's step (same decoder + conv encoder) | {ae_ms:.1f} | "
                     f"GON / AE (without data) = {compute_ms / ae_ms:.2f} |"]
    return "\n".join([
        f"\n### Gradient Origin Networks (`benchmarks/gon.py`) — {date}\n",
        f"Machine: {machine(threads)}. Load average (1, 5, 15 min) before: {loads[0]}; after: {loads[1]}: the "
        "timings were taken under that load (other jobs shared the 2 cores), so compare CPU seconds, not wall.",
        f"Command: `PYTHONPATH=.:plugins python benchmarks/gon.py --threads {threads} --record ...`.\n",
        *rows, "", *profile_rows, "",
    ])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--record", type=Path, help="append a markdown section with the numbers to this file")
    parser.add_argument("--png", type=Path, help="write the test digits over each model's reconstructions here")
    parser.add_argument("--seeds", type=int, default=3, help="seeds for gon-digits and its autoencoder (default 3)")
    parser.add_argument("--skip-anchor", action="store_true", help="leave out the 1,001-step reference run")
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    before = load()

    gon_digits = load_recipe("gon-digits")
    run = build(gon_digits, device="cpu")
    train, test = stack(run.train_set), stack(run.test_set)
    results: dict[str, dict] = {}
    if not args.skip_anchor:
        results["anchor"] = anchor(train, test)
    results["gon-official-digits"] = train_recipe(load_recipe("gon-official-digits"), test)
    results["gon-digits"] = over_seeds(gon_digits, test, args.seeds)
    results["ae-digits, with gon-digits' decoder, latent size, data and training"] = over_seeds(
        ae_like(gon_digits), test, args.seeds)
    results["gon-siren-digits (8x8 digits)"] = train_recipe(load_recipe("gon-siren-digits"), test)
    timings = profile(gon_digits, ae_like(gon_digits))
    after = load()

    printable = {name: {k: v for k, v in r.items() if not k.startswith("pictures")} for name, r in results.items()}
    print(json.dumps({"results": printable, "profile_cpu_ms": timings, "load": [before, after]}, indent=2))
    if args.png:
        rows = [test[:8]]
        if "anchor" in results:
            rows += [results["anchor"]["pictures_train_mode"], results["anchor"]["pictures_eval_mode"]]
        rows += [r["pictures"] for name, r in results.items() if name != "anchor"]
        viz.save_image_grid(torch.cat(rows), args.png, nrow=8)
    if args.record:
        if "anchor" not in results:
            raise SystemExit("--record needs the anchor run (leave out --skip-anchor)")
        with open(args.record, "a", encoding="utf-8") as f:
            f.write(markdown(results, timings, args.threads, (before, after), args.date))
    return results


if __name__ == "__main__":
    main()
