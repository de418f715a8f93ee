#!/usr/bin/env bash
# Feature schema 3's probe: scikit-learn's HistGradientBoosting on the exact
# feature matrix raincast's encoder exports, with and without 12 features from
# neighbour stations' same-day observations (western humidity, rain fractions
# within 300-1500 km, pressure differences), three seeds, main split and
# backtest, then permutation importance: a few minutes on 2 cores (the main
# split alone, with --no-backtest --no-perm: 47 s).
# Needs python3 with scikit-learn >= 1.4 and numpy (pip install scikit-learn).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import sklearn, numpy' 2>/dev/null || { echo "needs scikit-learn: pip install scikit-learn numpy" >&2; exit 2; }
cargo build --release --example forest_bench -q
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
target/release/examples/forest_bench export data/weatherAUS.csv.gz "$dir"
OMP_NUM_THREADS=2 python3 bench/neighbour_probe.py "$dir" "$@"
