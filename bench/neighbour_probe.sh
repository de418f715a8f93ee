#!/usr/bin/env bash
# The probe behind feature schema 3: scikit-learn's HistGradientBoosting on
# schema 2's 50 columns of the exact matrix raincast's encoder exports, with
# and without 12 features the probe computes from neighbour stations'
# same-day observations (western humidity, rain fractions within 300-1500 km,
# pressure differences), three seeds, main split and backtest, then
# permutation importance (the main split alone, with --no-backtest --no-perm:
# 45 s on 2 cores). Then raincast's own booster on schema 2's columns against
# the full schema 3 export (about a minute more).
# Needs python3 with scikit-learn >= 1.4 and numpy (pip install scikit-learn).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import sklearn, numpy' 2>/dev/null || { echo "needs scikit-learn: pip install scikit-learn numpy" >&2; exit 2; }
cargo build --release --example forest_bench -q
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
bin=target/release/examples/forest_bench
$bin export data/weatherAUS.csv.gz "$dir/base"
OMP_NUM_THREADS=2 python3 bench/neighbour_probe.py "$dir/base" "$@"
# Then raincast's own booster (the production procedure and defaults) on
# schema 2's columns and on the whole export, three seeds each.
python3 bench/neighbour_probe.py "$dir/base" --write-schema2 "$dir/schema2" >/dev/null
ln -s base "$dir/schema3"
echo
echo "raincast boost, defaults (F1 / ROC AUC / Brier, calibrated, test window):"
for variant in schema2 schema3; do
  for seed in 42 1 2; do
    RAYON_NUM_THREADS=2 RAINCAST_MODEL__SEED=$seed $bin boost "$dir/$variant" |
      python3 -c 'import json, sys; d = json.load(sys.stdin); print("%-7s seed %2s: %.4f / %.4f / %.5f  fit %.1f s" % (sys.argv[1], sys.argv[2], d["f1"], d["roc_auc"], d["brier"], d["fit_seconds"]))' "$variant" "$seed"
  done
done
