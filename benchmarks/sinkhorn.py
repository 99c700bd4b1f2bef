"""The Sinkhorn divergence against POT and geomloss: CPU time and value, 1k to 16k points, 2-D and 64-D.

Each peer computes the same debiased divergence S_ε = OT_ε(x, y) - ½ OT_ε(x, x) - ½ OT_ε(y, y) between
x ~ N(0, I) and y ~ N(1, ¼ I), cost |x - y|², ε = 0.05·d (the same relative blur in both dimensions), on one
thread, float32, the full cost matrices in memory (geomloss's "tensorized" backend, no KeOps):

- genzoo ``sinkhorn_divergence`` (log domain, ε-scaling by 0.5, then Sinkhorn iterations until the marginal
  error ‖Σ_i P_ij - b_j‖₂, POT's criterion, is below ``--tol``, and below 1e-2);
- POT ``ot.sinkhorn2(method="sinkhorn_log")`` on torch tensors, three solves, stopping at ``stopThr = --tol``
  (POT's own marginal error) or ``--pot-iterations``; each value is <P, C> + ε KL(P ‖ a ⊗ b) of its plan;
- geomloss ``SamplesLoss("sinkhorn", p=2, blur=√(ε/2), scaling=s, backend="tensorized")``: its cost is
  |x - y|²/2, and OT_ε for the cost C/2 at ε/2 is half ours, so its value is doubled. It has no tolerance,
  only a fixed ε-schedule: s = 0.5 (its default) and s = 0.9 (slower, closer).

"error" is |value - reference| / reference, the reference being genzoo at tolerance 1e-7 (sizes up to 4k).
CPU seconds are the process's user + system time (``time.process_time``), which a busy machine inflates far
less than wall time; the load average is written beside them.

    OMP_NUM_THREADS=1 python benchmarks/sinkhorn.py [--sizes 1000 4000 16000] [--dims 2 64] [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import ot
import torch
from geomloss import SamplesLoss
from zoo_divergences import sinkhorn_divergence

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_name  # noqa: E402


def clouds(n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(n + d)
    return torch.randn(n, d, generator=generator), 1.0 + 0.5 * torch.randn(n, d, generator=generator)


def ours(x, y, eps, tol):
    return sinkhorn_divergence(x, y, eps=eps, tol=tol, max_iter=100_000).item()


def pot(x, y, eps, tol, iterations):
    def entropic(u, v):
        n, m = len(u), len(v)
        a, b = torch.full((n,), 1 / n), torch.full((m,), 1 / m)
        cost = ot.dist(u, v)
        plan = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", stopThr=tol, numItermax=iterations)
        positive = plan > 0
        kl = (plan[positive] * (plan[positive] * n * m).log()).sum()
        return float((plan * cost).sum() + eps * kl)

    return entropic(x, y) - 0.5 * (entropic(x, x) + entropic(y, y))


def geomloss(x, y, eps, scaling):
    loss = SamplesLoss("sinkhorn", p=2, blur=(eps / 2) ** 0.5, scaling=scaling, backend="tensorized")
    return 2 * loss(x, y).item()


def timed(run) -> tuple[float, float, float]:
    """(value, CPU seconds, wall seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    value = run()
    return value, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 64])
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--pot-iterations", type=int, default=2000)
    parser.add_argument("--pot-max-size", type=int, default=4000, help="POT is not run above this many points")
    parser.add_argument("--reference-max-size", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    now = datetime.datetime.now(datetime.UTC)
    print(f"{cpu_name()}, torch {torch.__version__}, 1 thread, {now:%Y-%m-%d %H:%M} UTC")
    for d in args.dims:
        for n in args.sizes:
            x, y = clouds(n, d)
            eps = 0.05 * d
            peers = {"genzoo": lambda: ours(x, y, eps, args.tol),
                     "genzoo tol=1e-2": lambda: ours(x, y, eps, 1e-2),
                     "geomloss s=0.5": lambda: geomloss(x, y, eps, 0.5),
                     "geomloss s=0.9": lambda: geomloss(x, y, eps, 0.9)}
            if n <= args.pot_max_size:
                peers["POT"] = lambda: pot(x, y, eps, args.tol, args.pot_iterations)
            reference = ours(x.double(), y.double(), eps, 1e-7) if n <= args.reference_max_size else None
            for name, run in peers.items():
                load = os.getloadavg()[0]
                value, cpu, wall = timed(run)
                error = abs(value - reference) / abs(reference) if reference is not None else None
                row = {"method": name, "n": n, "d": d, "eps": eps, "value": value, "error": error, "cpu_s": cpu,
                       "wall_s": wall, "load": load}
                rows.append(row)
                print(json.dumps(row), flush=True)
            (args.out / "sinkhorn.json").write_text(json.dumps(rows, indent=1))  # so far, should a size not finish
            plot(rows, args.out / "sinkhorn.png")


def plot(rows: list[dict], out: Path) -> None:
    from matplotlib.figure import Figure

    dims = sorted({r["d"] for r in rows})
    fig = Figure(figsize=(4.5 * len(dims), 3.6), layout="constrained")
    for ax, d in zip(fig.subplots(1, len(dims), squeeze=False)[0], dims):
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = sorted((r["n"], r["cpu_s"]) for r in rows if r["d"] == d and r["method"] == method)
            ax.plot(*zip(*mine), marker="o", label=method)
        ax.set(xscale="log", yscale="log", xlabel="points per set n", ylabel="CPU seconds (1 thread)",
               title=f"debiased Sinkhorn, d = {d}, ε = {0.05 * d:g}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main()
