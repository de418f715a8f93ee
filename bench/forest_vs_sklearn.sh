#!/usr/bin/env bash
# Our forest against scikit-learn's RandomForestClassifier(n_estimators=100,
# n_jobs=2) on the same weatherAUS feature matrix, in the same run. Prints fit
# wall time, peak RSS, F1 (rain = yes) and ROC AUC on the evaluation split
# (train < 2015, tune 2015, test 2016-01-01..2017-06-25), then the ratios.
# Needs python3 with scikit-learn >= 1.4 and numpy (pip install scikit-learn).
set -euo pipefail
cd "$(dirname "$0")/.."
data=data/weatherAUS.csv.gz
python3 -c 'import sklearn, numpy' 2>/dev/null || { echo "needs scikit-learn: pip install scikit-learn numpy" >&2; exit 2; }
cargo build --release --example forest_bench -q
bin=target/release/examples/forest_bench
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
$bin export "$data" "$dir"

measure() { # command... -> JSON line with peak_rss_mb added
  local out
  out=$(/usr/bin/time -f '%M' -o "$dir/rss" "$@")
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["peak_rss_mb"]=round(int(open(sys.argv[2]).read().split()[-1])/1024,1); print(json.dumps(d))' "$out" "$dir/rss"
}
ours=$(RAYON_NUM_THREADS=2 measure $bin fit "$dir")
theirs=$(measure python3 bench/sklearn_fit.py "$dir")
echo "$ours"
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
speed = b["fit_seconds"] / a["fit_seconds"]
mem = a["peak_rss_mb"] / b["peak_rss_mb"]
print(f"\n{'':14}{'raincast':>12}{'scikit-learn':>14}")
for k, unit in [("fit_seconds", "s"), ("peak_rss_mb", "MB"), ("f1", ""), ("roc_auc", ""), ("brier", ""), ("predict_row_us", "µs")]:
    print(f"{k:14}{a[k]:>12}{b[k]:>14} {unit}")
print(f"\nfit speed-up: {speed:.1f}x (target >= 4x)   peak memory: {mem:.2f} of scikit-learn's (target <= 0.25)")
print(f"F1 {a['f1']} (target >= 0.647)   ROC AUC {a['roc_auc']} (target >= 0.871)")
ok = speed >= 4 and mem <= 0.25 and a["f1"] >= 0.647 and a["roc_auc"] >= 0.871
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
