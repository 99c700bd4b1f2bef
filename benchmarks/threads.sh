#!/bin/bash
# CPU threads against speed: vae-digits for 300 steps (no evaluation) with train.threads unset (the default),
# 1, 2 and 4, three times each; first as the machine is, then beside two CPU hogs. Prints one line per run:
# the loop's own seconds (the summary table's "this session") and the wall time of the whole command.
# Usage: benchmarks/threads.sh [ZOO]   (ZOO: the zoo command, default: zoo)
ZOO=${1:-zoo}
OUT=$(mktemp -d)
run() {  # $1 label, $2 threads ("" for the default)
  local set=(); [ -n "$2" ] && set=(--set "train.threads=$2")
  local t0=$(date +%s.%N)
  env -u OMP_NUM_THREADS "$ZOO" train vae-digits --out "$OUT/$1" --device cpu --set train.steps=300 \
      --set train.eval_every=0 --set train.log_every=300 "${set[@]}" > "$OUT/$1.txt" 2>&1
  local t1=$(date +%s.%N)
  local loop=$(grep -o "300 this session, [0-9.]* s" "$OUT/$1.txt" | grep -o "[0-9.]* s$")
  echo "$1 | threads ${2:-default} ($(grep -o "[0-9]* thread(s)" "$OUT/$1.txt")) | loop $loop |" \
       "wall $(echo "$t1 - $t0" | bc) s | load $(cut -d' ' -f1 /proc/loadavg)"
}
for cond in as-is hog; do
  if [ $cond = hog ]; then
    python3 -c 'while 1: pass' & H1=$!
    python3 -c 'while 1: pass' & H2=$!
    trap 'kill $H1 $H2' EXIT
    sleep 2
  fi
  for rep in 1 2 3; do
    for t in "" 1 2 4; do run "$cond-$rep-${t:-default}" "$t"; done
  done
done
rm -rf "$OUT"
