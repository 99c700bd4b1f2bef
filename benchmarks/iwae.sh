#!/usr/bin/env bash
# iwae-digits (K = 5 and K = 50) against vae-digits at equal steps (the recipes' 3000), two seeds: each run's
# test IWAE NLL with K = 1000 (`zoo eval`), as Burda et al. 2016 compare IWAE- and ELBO-trained models.
#     OMP_NUM_THREADS=1 bash benchmarks/iwae.sh /tmp/iwae    # runs and *.eval.json in that folder
set -euo pipefail
zoo=${ZOO:-zoo}
out=${1:-runs/iwae-benchmark}
mkdir -p "$out"
for seed in 0 1; do
  $zoo train vae-digits --out "$out/vae-$seed" --set train.seed=$seed
  $zoo train iwae-digits --out "$out/iwae5-$seed" --set train.seed=$seed
  $zoo train iwae-digits --out "$out/iwae50-$seed" --set model.num_samples=50 --set train.seed=$seed
  for run in vae iwae5 iwae50; do
    $zoo eval "$out/$run-$seed" --iwae-samples 1000 --json > "$out/$run-$seed.eval.json"
  done
done
