"""Where a `vae-digits` training step spends its time, and how fast it is without the training loop.

    PYTHONPATH=.:plugins python benchmarks/likelihood_speed.py                 # examples/s of a bare step
    PYTHONPATH=.:plugins python benchmarks/likelihood_speed.py --profile 25    # + cProfile's top 25 functions
    PYTHONPATH=.:plugins python benchmarks/likelihood_speed.py --recipe vdvae-digits
    PYTHONPATH=.:plugins python benchmarks/likelihood_speed.py --fit --steps 3000 --repeats 3   # the whole loop

One torch thread. A bare step is what the loop does per update with nothing around it: a batch of the
recipe's size drawn from the training tensor, ``model.loss``, backward, gradient-norm clipping, AdamW
(made as the loop makes it). Distribution argument checks are off, as in the loop. The steps run in
blocks of 50; the fastest block is the number to compare (as ``timeit`` advises: on a machine shared with
other jobs every slower block measured them, not us), the median block says what a run would see now.

``--fit`` times the shared loop instead (``zoo.training.fit`` as ``zoo train`` runs it: evaluations,
checkpoints, the curve plot), at ``--steps`` and at a sixth of them, alternately, ``--repeats`` times: the
whole run's examples/s, and the marginal examples/s of the extra steps (the difference of the two runs), which
leaves out what a run pays once (imports: torch.optim's first use imports torch._dynamo; the plot imports
matplotlib).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.distributions import Distribution

from zoo.recipes import load_recipe
from zoo.training import build, fit
from zoo.training.loop import make_optimizer


BLOCK = 50  # steps per timed block


def bare_steps(recipe_name: str, steps: int, overrides: list[str]) -> tuple[list[float], int]:
    """Run ``steps`` bare training steps; returns (the wall seconds of each block of BLOCK steps, batch size)."""
    run = build(load_recipe(recipe_name, overrides=overrides), device="cpu")
    model, batch_size = run.model.train(), run.settings.batch_size
    data = torch.stack([run.train_set[i] for i in range(len(run.train_set))])
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(model, run.settings, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    batches = [data[torch.randint(len(data), (batch_size,), generator=generator)] for _ in range(steps)]

    def step(batch: torch.Tensor) -> None:
        loss = sum(model.loss(batch).values())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, run.settings.grad_clip or float("inf"))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for batch in batches[:20]:  # warm up the allocator and the dispatch caches
        step(batch)
    blocks = []
    for start in range(0, steps - BLOCK + 1, BLOCK):
        wall = time.perf_counter()
        for batch in batches[start: start + BLOCK]:
            step(batch)
        blocks.append(time.perf_counter() - wall)
    return blocks, batch_size


def fit_seconds(recipe_name: str, steps: int, overrides: list[str]) -> tuple[float, int]:
    """Wall seconds of ``fit`` for ``steps`` updates (quiet, in a scratch folder), and the batch size."""
    run = build(load_recipe(recipe_name, overrides=overrides), steps=steps, device="cpu")
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        fit(run.model, run.train_set, run.test_set, run.settings, Path(scratch) / "run", recipe=run.recipe,
            provenance=run.provenance, quiet=True)
        return time.perf_counter() - start, run.settings.batch_size


def time_fit(recipe_name: str, steps: int, repeats: int, overrides: list[str]) -> None:
    short = max(steps // 6, 1)
    whole, marginal = [], []
    for _ in range(repeats):
        (long_s, batch), (short_s, _) = fit_seconds(recipe_name, steps, overrides), fit_seconds(recipe_name, short,
                                                                                                  overrides)
        whole.append(steps * batch / long_s)
        marginal.append((steps - short) * batch / (long_s - short_s))
        print(f"  {steps} steps {long_s:.2f} s, {short} steps {short_s:.2f} s", flush=True)
    print(f"{recipe_name}: fit, {steps} steps of {batch}: whole run best {max(whole):,.0f} examples/s "
          f"(median {statistics.median(whole):,.0f}); marginal best {max(marginal):,.0f} examples/s "
          f"(median {statistics.median(marginal):,.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="vae-digits")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N functions")
    parser.add_argument("--fit", action="store_true", help="time the shared training loop instead of bare steps")
    parser.add_argument("--repeats", type=int, default=3, help="--fit: rounds of the long and the short run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.fit:
        return time_fit(args.recipe, args.steps, args.repeats, args.overrides)
    Distribution.set_default_validate_args(False)  # as in the training loop
    blocks, batch = bare_steps(args.recipe, args.steps, args.overrides)
    best, median = min(blocks), statistics.median(blocks)
    print(f"{args.recipe}: {len(blocks)} blocks of {BLOCK} bare steps of {batch}: best {BLOCK * batch / best:,.0f} "
          f"examples/s ({1e3 * best / BLOCK:.3f} ms per step), median {BLOCK * batch / median:,.0f} examples/s")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        bare_steps(args.recipe, min(args.steps, 500), args.overrides)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
