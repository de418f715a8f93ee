#!/usr/bin/env bash
# The README's offline recipe, timed (issue 30, item 2: current forecasts
# within 30 s). Starts `raincast bom-server --day 2025-09-06` and
# `raincast serve` against it on an empty database, with the repository's
# config.toml (as the recipe runs from a checkout) and an admin password,
# and prints the seconds from the start of `serve` until:
#   - /api/v1/locations first shows Sydney's observation of 2025-09-06 (the morning row BOM shows at noon) (the
#     scrape delivered current data, whether or not a model serves yet);
#   - /readyz first answers 200 (a model serves);
#   - /api/v1/forecast/Sydney first answers 200;
#   - it rests on current data (observation_date 2025-09-06, not stale).
# Gives up after LIMIT s (default 600). RUNS runs (default 3), each on a
# fresh database. BIN=path measures a given binary (e.g. a previous one).
# Usage: bench/offline_recipe.sh        RUNS=1 bench/offline_recipe.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
RUNS=${RUNS:-3} LIMIT=${LIMIT:-600}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q --locked
  BIN=$repo/target/release/raincast
fi
bom_port=${BOM_PORT:-18765} port=${PORT:-18183}
work=$(mktemp -d)
bom= srv=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null
  [ -n "$bom" ] && kill "$bom" 2>/dev/null
  wait 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT
"$BIN" bom-server --bind "127.0.0.1:$bom_port" --ftp-bind off --day 2025-09-06 >"$work/bom.log" 2>&1 & bom=$!
probe="http://127.0.0.1:$bom_port/climate/dwo/202409/text/IDCJDW2124.202409.csv"
for _ in $(seq 1 100); do curl -sf -o /dev/null "$probe" && break; sleep 0.1; done
curl -sf -o /dev/null "$probe" || { cat "$work/bom.log" >&2; echo "bom-server did not start" >&2; exit 1; }
url=http://127.0.0.1:$port
for run in $(seq 1 "$RUNS"); do
  rm -f "$work"/recipe.db*
  start=$(date +%s.%N)
  RAINCAST_BOM__BASE_URL=http://127.0.0.1:$bom_port RAINCAST_CLOCK_START=2025-09-06T02:00:00Z \
    RAINCAST_ADMIN__PASSWORD=change-me RAINCAST_LOG=warn \
    "$BIN" --db "$work/recipe.db" serve --bind "127.0.0.1:$port" >"$work/serve.log" 2>&1 & srv=$!
  ready= first= current= stored=
  while :; do
    now=$(date +%s.%N)
    t=$(awk -v s="$start" -v e="$now" 'BEGIN { printf "%.1f", e - s }')
    if [ -z "$stored" ] && locs=$(curl -fs "$url/api/v1/locations" 2>/dev/null) &&
      python3 -c 'import json, sys; l = [x for x in json.loads(sys.argv[1]) if x["location"] == "Sydney"]; sys.exit(0 if l and l[0]["latest_observation"] == "2025-09-06" else 1)' "$locs"; then
      stored=$t
    fi
    if [ -z "$ready" ] && curl -fs -o /dev/null "$url/readyz"; then ready=$t; fi
    if body=$(curl -fs "$url/api/v1/forecast/Sydney" 2>/dev/null); then
      [ -z "$first" ] && first=$t
      if python3 -c 'import json, sys; f = json.loads(sys.argv[1]); sys.exit(0 if f["observation_date"] == "2025-09-06" and not f["stale"] else 1)' "$body"; then
        current=$t; stored=${stored:-$t}; break
      fi
    fi
    if ! kill -0 "$srv" 2>/dev/null; then cat "$work/serve.log" >&2; echo "serve exited" >&2; exit 1; fi
    if awk -v t="$t" -v l="$LIMIT" 'BEGIN { exit !(t > l) }'; then break; fi
    sleep 0.2
  done
  admin=$(curl -s -o /dev/null -w '%{http_code}' "$url/admin/login")
  echo "run $run: current data stored ${stored:-never} s, ready ${ready:-never} s, first forecast ${first:-never} s, current forecast ${current:-not within $LIMIT} s; /admin/login answers $admin"
  kill "$srv"; wait "$srv" 2>/dev/null || true; srv=
done
