"""Where a `vae-digits` training step spends its time, and how fast it is without the training loop.

    PYTHONPATH=.:plugins python benchmarks/likelihood_speed.py                 # examples/s of a bare step
    PYTHONPATH=.:plugins python benchmarks/likelihood_speed.py --profile 25    # + cProfile's top 25 functions
    PYTHONPATH=.:plugins python benchmarks/likelihood_speed.py --recipe vdvae-digits

One torch thread. A bare step is what the loop does per update with nothing around it: a batch of the
recipe's size drawn from the training tensor, ``model.loss``, backward, gradient-norm clipping, AdamW
(made as the loop makes it). Distribution argument checks are off, as in the loop. The steps run in
blocks of 50; the fastest block is the number to compare (as ``timeit`` advises: on a machine shared with
other jobs every slower block measured them, not us), the median block says what a run would see now.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

import torch
from torch.distributions import Distribution

from zoo.recipes import load_recipe
from zoo.training import build
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="vae-digits")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N functions")
    args = parser.parse_args()
    torch.set_num_threads(1)
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
