#!/usr/bin/env bash
# How the booster's calibrator should set the level of its forecasts, judged
# on six rolling weatherAUS windows instead of the one test window: for each
# year Y in 2010..2015, train before Y, tune on Y, test on Y + 1 (2016-01-01
# to 2017-06-25 for Y = 2015, the evaluation split), with the production
# procedure and defaults, three seeds each. Per test window it prints the
# observed rain frequency, the held-out tune forecasts' miss (what a
# calibrator that re-fits the level learns), and the mean-forecast miss and
# Brier score of:
#   raw       the booster without calibration;
#   kept      the calibrator training uses: spread corrected, level kept;
#   refitted  a plain isotonic/Platt fit, which also re-fits the level.
# Then each one's mean absolute miss, windows within 0.01, and mean Brier.
# Usage: bench/calibration_level.sh [SEED...]   (default 42 1 2; about
# 1.5 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
data=data/weatherAUS.csv.gz
if (($#)); then seeds=("$@"); else seeds=(42 1 2); fi
cargo build --release --example forest_bench -q
bin=target/release/examples/forest_bench
dir=$(mktemp -d)
# A failed export or fit shows what it said before the directory goes.
trap 'rc=$?; if ((rc)); then cat "$dir/log" >&2; fi; rm -rf "$dir"' EXIT
export RAYON_NUM_THREADS=2
for y in 2010 2011 2012 2013 2014 2015; do
  FOREST_BENCH_SPLIT_YEAR=$y $bin export "$data" "$dir/$y" 2>>"$dir/log"
  for s in "${seeds[@]}"; do
    printf '%s %s ' "$y" "$s"
    RAINCAST_MODEL__SEED=$s $bin boost "$dir/$y" 2>>"$dir/log" | tail -1
  done
done > "$dir/results"
python3 - "$dir/results" <<'PY'
import json, sys
from collections import defaultdict
by = defaultdict(list)
for line in open(sys.argv[1]):
    year, seed, js = line.split(" ", 2)
    by[int(year)].append(json.loads(js))
mean = lambda xs: sum(xs) / len(xs)
kinds = [("raw", "mean_forecast_raw", "brier_raw"), ("kept", "mean_forecast", "brier"), ("refitted", "mean_forecast_other", "brier_other")]
print(f"{len(next(iter(by.values())))} seed(s) per window; misses are forecast minus observed")
print(f"{'tune':>5} {'test':>9} {'observed':>8} {'tune miss':>9}" + "".join(f"{k:>10} {'Brier':>8}" for k, _, _ in kinds))
summary = defaultdict(list)
for y in sorted(by):
    rs = by[y]
    obs = rs[0]["observed"]
    tune_miss = mean([r["tune_mean_forecast_raw"] - r["tune_observed"] for r in rs])
    test = "2016-17" if y == 2015 else str(y + 1)
    cells = ""
    for k, m, b in kinds:
        miss, brier = mean([r[m] for r in rs]) - obs, mean([r[b] for r in rs])
        summary[k].append((miss, brier))
        cells += f"{miss:>+10.4f} {brier:>8.5f}"
    print(f"{y:>5} {test:>9} {obs:>8.4f} {tune_miss:>+9.4f}" + cells)
print()
for k, _, _ in kinds:
    ms = summary[k]
    print(f"{k:>9}: mean |miss| {mean([abs(m) for m, _ in ms]):.4f}, within 0.01 in {sum(abs(m) <= 0.01 for m, _ in ms)} of {len(ms)} windows, mean Brier {mean([b for _, b in ms]):.5f}")
PY
