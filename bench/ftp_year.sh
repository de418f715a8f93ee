#!/usr/bin/env bash
# Issue 29, item 4: a replayed year with the website refused (403) throughout
# and only the FTP channel, against the website replay of the same year.
# Both start from the bundled history (the website-refused server has no
# other), release build, default model settings. Targets:
#   - forecasts every day for every location with a feed station (the
#     archive has no Perth, Melbourne or Richmond files: not counted);
#   - the FTP replay's live Brier within 0.005 of the website replay's;
#   - the summary names the locations it could not serve, and why.
# FROM/TO change the period. Needs python3 for the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=$PWD/target/release/raincast
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
cd "$dir" # no ./config.toml: built-in defaults
export RAINCAST_LOG=warn
from=${FROM:-2024-09-01} to=${TO:-2025-09-05}
s=$(date +%s)
"$bin" replay --from "$from" --to "$to" --with-history --source website \
  --keep "$dir/web.db" --json > web.json
printf 'website replay %s..%s: %d s\n' "$from" "$to" $(( $(date +%s) - s ))
s=$(date +%s)
"$bin" replay --from "$from" --to "$to" --with-history --source ftp \
  --fault "$from..$to:forbidden" --keep "$dir/ftp.db" --json > ftp.json
printf 'FTP-only replay, website 403 throughout: %d s\n' $(( $(date +%s) - s ))
python3 - "$from" "$to" <<'PY'
import json, sqlite3, sys, datetime as dt
web, ftp = json.load(open("web.json")), json.load(open("ftp.json"))
print(f"sources: {web['sources']} / {ftp['sources']}")
print(f"live Brier: website {web['brier']:.4f}, FTP only {ftp['brier']:.4f}, "
      f"difference {abs(web['brier'] - ftp['brier']):.4f} (target <= 0.005)")
# Like for like: the forecasts both replays scored (same location, rain
# day and issue; the first one issued of each), overall and per issue.
def scored(path):
    con = sqlite3.connect(path)
    rows = con.execute("SELECT location, for_date, issue, probability, outcome FROM predictions "
                       "WHERE outcome IS NOT NULL ORDER BY served_at DESC")
    return {(l, d, i): (p, o) for l, d, i, p, o in rows}
w, f = scored("web.db"), scored("ftp.db")
both = sorted(set(w) & set(f))
def brier(rows, keys):
    return sum((rows[k][0] - rows[k][1]) ** 2 for k in keys) / max(len(keys), 1)
bw, bf = brier(w, both), brier(f, both)
print(f"like for like, {len(both)} forecasts both scored: website {bw:.4f}, FTP only {bf:.4f}, "
      f"difference {abs(bw - bf):.4f} (target <= 0.005)")
for issue in sorted({k[2] for k in both}):
    keys = [k for k in both if k[2] == issue]
    print(f"  {issue}: {len(keys)} forecasts, website {brier(w, keys):.4f}, FTP only {brier(f, keys):.4f}")
print("not served every day (FTP only):")
for u in ftp["unserved"]:
    print(f"  {u['location']}: {u['why']}")
frm, to = (dt.date.fromisoformat(d) for d in sys.argv[1:3])
db = sqlite3.connect("ftp.db")
days = {}
for loc, d in db.execute("SELECT DISTINCT location, for_date FROM predictions WHERE for_date BETWEEN ? AND ?", (str(frm), str(to))):
    days.setdefault(loc, set()).add(d)
want = (to - frm).days + 1 - 2  # the first two days have no assembled row yet
print("feed locations with a forecast on fewer than all days from the third:",
      {l: len(d) for l, d in days.items() if len(d) < want} or "none")
PY
