"""siren-video: PSNR against the number of frames fitted and the time it takes, through the zoo's own loop.

Trains the ``siren-video`` recipe (a 64-wide, 3-layer SIREN fitting Φ(t, y, x) -> RGB on scikit-image's
24-frame clip of 25 x 14 pixels) on the clip's first ``--frames`` frames, with the recipe's 500 steps
and an evaluation every 100, and reports the PSNR of the whole clip and of its worst frame at each
evaluation next to the training time so far (``elapsed_s`` of metrics.jsonl, evaluations excluded).
The network is the same for every frame count, so more frames means fewer parameters per value:

    OMP_NUM_THREADS=1 python benchmarks/video.py                      # 3, 6, 12, 24 frames
    OMP_NUM_THREADS=1 python benchmarks/video.py --frames 24 --set train.steps=1000 --json video.json

Results go to stdout as a markdown table and, with ``--json``, to a file. Use the machine alone: other
processes on the two cores inflate every time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from zoo import training  # noqa: E402
from zoo.recipes import build_model, load_recipe  # noqa: E402


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def fit(frames: int, overrides: list[str]) -> dict:
    """One fit of ``frames`` frames: its evaluations with the training time before each, and its wall time."""
    recipe = load_recipe("siren-video", overrides=[f"data.frames={frames}", *overrides])
    parameters = sum(p.numel() for p in build_model(recipe).parameters())
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        training.train(recipe, Path(folder) / "run", quiet=True, pictures=False)
        wall = time.perf_counter() - start
        records = _records(Path(folder) / "run")
    elapsed = {r["step"]: r["elapsed_s"] for r in records if r["split"] == "train"}
    evals = [{"step": r["step"], "train_s": elapsed.get(r["step"]), **r["metrics"]}
             for r in records if r["split"] == "eval"]
    return {"frames": frames, "values": 3 * frames * 25 * 14, "parameters": parameters, "wall_s": wall,
            "evals": evals}


def table(results: list[dict]) -> str:
    lines = ["| frames | values / parameters | step | training s | PSNR dB | worst frame dB |",
             "|---:|---:|---:|---:|---:|---:|"]
    for result in results:
        ratio = result["values"] / result["parameters"]
        for e in result["evals"]:
            lines.append(f"| {result['frames']} | {ratio:.2f} | {e['step']} | {e['train_s']:.1f} | {e['psnr']:.2f} | "
                         f"{e['psnr_frame_min']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[3, 6, 12, 24], help="frame counts to fit")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results = [fit(frames, args.set) for frames in args.frames]
    print(table(results))
    print("\nwall s (with evaluations): " + ", ".join(f"{r['frames']} frames {r['wall_s']:.1f}" for r in results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
