"""Signed distance fields: Chamfer distance and normal consistency of each SDF recipe, and its training time.

For each recipe (sdf-torus with SIREN, the same budget with a ReLU + positional-encoding field, the hash grid,
the procedural scene's objects) this trains it through the zoo's loop at one thread and reports the held-out
geometry (``zoo_sdf.SdfFit.metrics``: the fitted surface against another sample of the exact one) and the
wall and CPU seconds of ``training.train`` (without pictures; the data's sampling and the loop's two
evaluations, before and after, included). The floor is what the metric gives the exact surface itself: the
analytic shape meshed and sampled as a fitted one is, against the same held-out points (what sampling 100k
points a side costs the Chamfer distance).

    OMP_NUM_THREADS=1 python benchmarks/sdf.py                 # every recipe, a markdown table
    OMP_NUM_THREADS=1 python benchmarks/sdf.py sdf-torus --json sdf.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from zoo import training  # noqa: E402
from zoo.errors import ZooWarning  # noqa: E402
from zoo.interfaces import ImplicitField  # noqa: E402
from zoo.recipes import build_dataset, build_model, load_recipe  # noqa: E402

#: name -> (recipe, overrides)
RUNS = {
    "sdf-torus (SIREN)": ("sdf-torus", []),
    "sdf-torus, the paper's ω0 = 30": ("sdf-torus", ["model.field.w0_initial=30.0"]),
    "sdf-torus, ReLU+PE field": ("sdf-torus", ["model.field=relu-pe", "model.field.hidden_dim=128",
                                              "model.field.num_layers=3"]),
    "sdf-torus, 700 steps": ("sdf-torus", ["train.steps=700", "train.eval_every=700"]),
    "sdf-hashgrid-torus": ("sdf-hashgrid-torus", []),
    "sdf-scene (SIREN)": ("sdf-scene", []),
}


def floor(recipe: dict) -> dict[str, float]:
    """The metrics of the exact surface: the analytic shape in place of the field."""
    from zoo_sdf.shapes import SHAPES

    class Exact(ImplicitField):
        in_dim, out_dim = 3, 1

        def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
            return shape.sdf(coords.double()).float()[..., None]

    shape = SHAPES[recipe["data"]["shape"]](recipe["data"].get("seed", 0))
    model = build_model(recipe)
    model.field = Exact()
    metrics = model.metrics(build_dataset(recipe, "test")[0][None])
    return {"chamfer": float(metrics["chamfer"]), "normal_consistency": float(metrics["normal_consistency"])}


def run(name: str) -> dict:
    recipe_name, overrides = RUNS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZooWarning)
        recipe = load_recipe(recipe_name, overrides=overrides)
    with tempfile.TemporaryDirectory() as out:
        wall, cpu = time.perf_counter(), time.process_time()
        training.train(recipe, Path(out) / "run", quiet=True, pictures=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        metrics = training.evaluate(Path(out) / "run", device="cpu")
    return {"run": name, "steps": recipe["train"]["steps"], "train_wall_s": round(wall, 1),
            "train_cpu_s": round(cpu, 1),
            "chamfer_percent_of_diagonal": round(100 * metrics["chamfer"], 3),
            "normal_consistency": round(metrics["normal_consistency"], 4),
            "surface_abs": round(metrics["surface_abs"], 5), "eikonal_error": round(metrics["eikonal_error"], 4),
            "floor_chamfer_percent": round(100 * floor(recipe)["chamfer"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help=f"which (default: all): {', '.join(RUNS)}; or a recipe name")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    names = [n for n in RUNS if not args.runs or n in args.runs or RUNS[n][0] in args.runs]
    torch.set_num_threads(1)
    rows = []
    for name in names:
        rows.append(run(name))
        print(json.dumps(rows[-1]), flush=True)
    columns = list(rows[0])
    print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
