"""The CPU time of `zoo list`, `zoo info`, `zoo --help` against `python -c 'import torch'`, side by side.

A user pays a listing's start-up on every `zoo list` and every typo, so it is compared with the one thing
every zoo command would otherwise pay: importing torch. Each command runs in a fresh process, the commands
interleaved round by round (so a load that comes and goes hits all of them alike); the CPU seconds are the
child's user + system time, which a busy machine inflates far less than wall time. The median of the rounds
is reported with the load average.

    python benchmarks/cli_startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import cpu_name  # noqa: E402

ZOO = [sys.executable, "-m", "zoo"]
COMMANDS = {
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "zoo list": [*ZOO, "list"],
    "zoo list --kind field": [*ZOO, "list", "--kind", "field"],
    "zoo info kl": [*ZOO, "info", "kl"],
    "zoo --help": [*ZOO, "--help"],
    "zoo lsit (a typo)": [*ZOO, "lsit"],
}


def cpu_seconds(argv: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of ``argv`` in a fresh process."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    for argv in COMMANDS.values():  # warm the file cache and any listing cache once
        cpu_seconds(argv)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            samples[name].append(cpu_seconds(argv))
    load_after = os.getloadavg()[0]
    torch_cpu = statistics.median(cpu for cpu, _ in samples["python -c 'import torch'"])
    print(f"{datetime.date.today()}  {cpu_name()}  {os.cpu_count()} cores  load {load_before:.1f} -> "
          f"{load_after:.1f}  median of {args.rounds} rounds\n")
    print("| command | CPU s | wall s | CPU / import torch |\n|---|---:|---:|---:|")
    for name, runs in samples.items():
        cpu, wall = statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs)
        print(f"| `{name}` | {cpu:.3f} | {wall:.3f} | {cpu / torch_cpu:.2f} |")


if __name__ == "__main__":
    main()
