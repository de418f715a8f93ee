#!/usr/bin/env bash
# Where the forecast level goes wrong on the held-out BOM year: a model
# trained on weatherAUS only (as bench/issue_skill.sh), evaluated on
# 2024-08-02..2025-09-05 from the rows BOM showed on 6 Sep 2025. Prints the
# stations whose mean forecast is furthest above how often it rained
# (all issues together), the per-station monthly climatology's level on the
# same days, and the fields a station reported in weatherAUS's last years
# (2014-01..2017-06) but no longer reports in BOM's year (more than 20
# points more often missing). Usage: bench/level_by_station.sh [seed]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export RAINCAST_LOG=warn RAINCAST_MODEL__SEED=${1:-42}
# shellcheck source=bench/bom_year.sh
source bench/bom_year.sh
bom_year "$dir"
python3 - "$dir" <<'PY'
import collections, json, sqlite3, sys
d = sys.argv[1]
e = json.load(open(f"{d}/e.json"))
c = sqlite3.connect(f"{d}/r.db")
excess = lambda s: (s["mean_forecast"] - s["observed_frequency"]) * s["n"]
print(f"all issues: mean forecast {e['mean_forecast']:.4f} vs observed {e['observed_frequency']:.4f} "
      f"({sum(excess(s) for s in e['stations']):+.0f} rain days over {e['n']} forecasts)")
rates = collections.defaultdict(lambda: [0, 0])
for loc, day, r in c.execute("SELECT location, date, rainfall FROM observations "
                             "WHERE date < '2024-08-02' AND rainfall IS NOT NULL"):
    k = (loc, int(day[5:7])); rates[k][0] += r > 1; rates[k][1] += 1
f = o = n = 0
for loc, day, r in c.execute("SELECT location, date, rainfall FROM observations "
                             "WHERE date >= '2024-08-03' AND date <= '2025-09-05' AND rainfall IS NOT NULL"):
    k = (loc, int(day[5:7]))
    if rates[k][1] >= 20:
        f += rates[k][0] / rates[k][1]; o += r > 1; n += 1
print(f"station-month climatology on the same days: {f / n:.4f} vs observed {o / n:.4f}")
cols = ["evaporation", "sunshine", "cloud_9am", "cloud_3pm", "humidity_3pm", "wind_speed_3pm", "temp_3pm", "pressure_3pm"]
def missing(loc, lo, hi):
    total = c.execute("SELECT count(*) FROM observations WHERE location = ? AND date >= ? AND date < ?", (loc, lo, hi)).fetchone()[0]
    return {col: c.execute(f"SELECT count(*) FROM observations WHERE location = ? AND date >= ? AND date < ? AND {col} IS NULL",
                           (loc, lo, hi)).fetchone()[0] / max(total, 1) for col in cols}
for s in sorted(e["stations"], key=lambda s: -excess(s))[:10]:
    a, b = missing(s["location"], "2014-01-01", "2017-07-01"), missing(s["location"], "2024-08-01", "2025-09-06")
    lost = ", ".join(f"{k} {a[k]:.0%}->{b[k]:.0%}" for k in cols if b[k] - a[k] > 0.2) or "none"
    print(f"{s['location']:<16} mean {s['mean_forecast']:.3f} vs {s['observed_frequency']:.3f} "
          f"({excess(s):+.0f} rain days); fields lost: {lost}")
PY
