#!/usr/bin/env bash
# An experiment, not a served feature: would correcting the forecasts' level
# online, from the outcomes already known at each issue, bring the held-out
# BOM year's levels within 0.01 (issues 25 and 26) without costing Brier?
# Steps: issue 25's setup (bench/bom_year.sh: a model trained on weatherAUS
# only, BOM's year as BOM showed it on 6 Sep 2025), then
# `raincast evaluate --forecasts` writes every scored forecast of the BOM
# year and of weatherAUS's own test window (2016-01-01..2017-06-25, the
# control: a year the model was not stale for). The correction, per issue
# and per amount: each rain day's forecasts are shifted in log-odds by
# w * (logit(observed) - logit(mean forecast)) over the forecasts whose
# outcome was known two days before (every station pooled, each day's
# weight halved every HALF days, w = n / (n + K) with n the weighted count,
# the observed rate smoothed by half a rain day).
# Prints, per issue, the level miss and Brier before and after.
# Usage: bench/level_online.sh [seed]   (HALF=180 K=2000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export RAINCAST_LOG=warn RAINCAST_MODEL__SEED=${1:-42}
# shellcheck source=bench/bom_year.sh
source bench/bom_year.sh
bom_year "$dir"
bin=$PWD/target/release/raincast
# In DIR, as bom_year runs: no config.toml is read.
(
    cd "$dir"
    "$bin" --db r.db evaluate --model 1 --raw --from 2024-08-02 --to 2025-09-05 --forecasts bom.csv >/dev/null
    "$bin" --db r.db evaluate --model 1 --raw --from 2016-01-01 --to 2017-06-25 --forecasts wa.csv >/dev/null
)
python3 - "$dir" "${HALF:-180}" "${K:-2000}" <<'PY'
import csv, math, sys, collections, datetime as dt
d, half, k = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
logit = lambda p: math.log(min(max(p, 1e-6), 1 - 1e-6) / (1 - min(max(p, 1e-6), 1 - 1e-6)))
sig = lambda x: 1 / (1 + math.exp(-x))
def events(path):
    """(issue, event) -> {rain day: [(chance, happened)]}"""
    out = collections.defaultdict(lambda: collections.defaultdict(list))
    with open(path) as f:
        for r in csv.DictReader(f):
            day = dt.date.fromisoformat(r["for_date"])
            out[(r["issue"], "more than 1 mm")][day].append((float(r["probability"]), int(r["rain"])))
            if r["chance_0.2mm"] and r["amount_mm"]:
                out[(r["issue"], "at least 0.2 mm")][day].append(
                    (float(r["chance_0.2mm"]), int(float(r["amount_mm"]) >= 0.2)))
    return out
def corrected(by_day):
    decay = 0.5 ** (1 / half)
    sp = sy = sn = 0.0
    days = sorted(by_day)
    known = 0  # days[:known] are in the sums
    out = []
    for day in days:
        while known < len(days) and days[known] <= day - dt.timedelta(days=2):
            gap = (days[known] - days[known - 1]).days if known else 0
            sp, sy, sn = sp * decay ** gap, sy * decay ** gap, sn * decay ** gap
            rows = by_day[days[known]]
            sp += sum(p for p, _ in rows); sy += sum(y for _, y in rows); sn += len(rows)
            known += 1
        shift = 0.0
        if sn > 0:
            shift = sn / (sn + k) * (logit((sy + 0.5) / (sn + 1)) - logit(sp / sn))
        out += [(p, sig(logit(p) + shift), y) for p, y in by_day[day]]
    return out
for name, path in (("BOM year 2024-08-02..2025-09-05", "bom.csv"), ("weatherAUS 2016-01-01..2017-06-25", "wa.csv")):
    print(f"{name} (half-life {half:g} days, K {k:g}):")
    for (issue, event), by_day in sorted(events(f"{d}/{path}").items()):
        rows = corrected(by_day)
        n = len(rows)
        obs = sum(y for *_, y in rows) / n
        raw, cor = (sum(r[i] for r in rows) / n for i in (0, 1))
        b_raw, b_cor = (sum((r[i] - r[2]) ** 2 for r in rows) / n for i in (0, 1))
        print(f"  {issue:<10} {event:<15} n {n:>6}  observed {obs:.4f}  "
              f"miss {raw - obs:+.4f} -> {cor - obs:+.4f}  Brier {b_raw:.5f} -> {b_cor:.5f}")
PY
