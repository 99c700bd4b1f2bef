"""Sample quality on the digits: FID, KID and precision/recall of each model family, in the digits' feature network.

    OMP_NUM_THREADS=1 python benchmarks/sample_quality.py                 # seeds 0, 1, 2 (vdvae-digits: seed 0)
    OMP_NUM_THREADS=1 python benchmarks/sample_quality.py --seeds 0       # the shipped weights only: a minute

Seed 0 is the weights shipped with the plugins (``benchmarks/pretrain.py`` trained them with the recipes' seed, 0);
seeds 1 and 2 retrain the recipe with ``train.seed`` set, on one CPU thread. Each model draws 1000 samples (seeded),
compared with the 180 test digits in the feature space of ``features-digits`` (``zoo.quality``): FID with a domain
network, comparable between these rows, not with Inception FID. The autoencoder is measured twice: decoding codes
from N(0, I), which it was never trained on, and from the Gaussian mixture fitted to its codes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

import zoo  # noqa: E402
from zoo import pretrained, quality, training  # noqa: E402
from zoo.recipes import load_recipe  # noqa: E402

SAMPLES = 1000
# row -> (recipe, options of model.sample, the seeds it can afford)
ROWS = {
    "ae, z ~ N(0, I)": ("ae-digits", {"standard_normal": True}, (0, 1, 2)),
    "ae, fitted prior": ("ae-digits", {}, (0, 1, 2)),
    "vae": ("vae-digits", {}, (0, 1, 2)),
    "swae": ("swae-digits", {}, (0, 1, 2)),
    "gon": ("gon-digits", {}, (0, 1, 2)),
    "variational gon": ("vgon-digits", {}, (0, 1, 2)),
    "vdvae": ("vdvae-digits", {}, (0,)),  # 7 CPU minutes a training: the shipped weights only
}
METRICS = ("fid", "kid", "precision", "recall")


def model_for(recipe: str, seed: int, folder: Path):
    if seed == 0:
        return zoo.load_pretrained(recipe)
    run = folder / f"{recipe}-{seed}"
    if not (run / "checkpoints").is_dir():
        training.train(load_recipe(recipe, overrides=[f"train.seed={seed}"]), run, device="cpu", quiet=True,
                       pictures=False)
    return training.load(run, device="cpu")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--runs", type=Path, help="keep the retrained runs here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write every measurement here, one JSON object a line")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.runs or Path(tmp)
        records = []
        for row, (recipe, options, affordable) in ROWS.items():
            for seed in [s for s in args.seeds if s in affordable]:
                if seed == 0 and pretrained.find(recipe) is None:
                    print(f"{recipe}: no shipped weights (benchmarks/pretrain.py {recipe}); skipped", file=sys.stderr)
                    continue
                model, trained_from = model_for(recipe, seed, folder)
                measured = quality.sample_quality(model, trained_from, n=SAMPLES, seed=0, options=options)
                records.append({"row": row, "recipe": recipe, "seed": seed, **measured})
                print(json.dumps(records[-1]), file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in records))
    print("| model (recipe) | seeds | FID | KID x 1000 | precision | recall |")
    print("|---|---|---|---|---|---|")
    for row, (recipe, _, _) in ROWS.items():
        mine = [r for r in records if r["row"] == row]
        if not mine:
            continue
        cells = []
        for metric in METRICS:
            scale = 1000 if metric == "kid" else 1
            values = [r[metric] * scale for r in mine]
            spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.2f}{spread}")
        print(f"| {row} (`{recipe}`) | {len(mine)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
