#!/usr/bin/env bash
# The first start, timed (issue 30, item 1: a first forecast within 10 s on
# 2 cores, with BOM unreachable). Starts `raincast serve` on an empty
# database with the repository's config.toml, BOM's address pointing at a
# closed port on this machine, and prints the seconds from the start of
# `serve` until:
#   - /readyz first answers 200 (a model serves);
#   - /api/v1/forecast/Sydney first answers 200;
#   - the full training (both families) has finished after the quick first
#     model (a second succeeded training in /api/v1/runs is not needed for
#     the target; it is reported when it happens within LIMIT s).
# It also counts the log lines at ERROR while it waited.
# RUNS runs (default 3) of BIN (default: this checkout's release build) and,
# when BASE=path is given, of that binary too, alternating, in the same run.
# BASE_CONFIG=path gives the previous binary its own config.toml (one from
# before a new key, e.g. `git show HEAD~1:config.toml`).
# Usage: bench/first_forecast.sh      BASE=/tmp/raincast-old bench/first_forecast.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
RUNS=${RUNS:-3} LIMIT=${LIMIT:-300}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q --locked
  BIN=$repo/target/release/raincast
fi
port=${PORT:-18184}
# A port nothing listens on: BOM is unreachable (connection refused).
closed=${CLOSED_PORT:-9}
work=$(mktemp -d)
srv=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null
  wait 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT
url=http://127.0.0.1:$port

one() { # label binary config
  local label=$1 bin=$2 config=$3 ready= first= start now t
  rm -f "$work"/first.db*
  start=$(date +%s.%N)
  RAINCAST_BOM__BASE_URL=http://127.0.0.1:$closed RAINCAST_ADMIN__PASSWORD=change-me-please-now \
    RAINCAST_LOG=info "$bin" --config "$config" --db "$work/first.db" serve --bind "127.0.0.1:$port" >"$work/serve.log" 2>&1 & srv=$!
  while :; do
    now=$(date +%s.%N)
    t=$(awk -v s="$start" -v e="$now" 'BEGIN { printf "%.1f", e - s }')
    if [ -z "$ready" ] && curl -fs -o /dev/null "$url/readyz"; then ready=$t; fi
    if [ -z "$first" ] && curl -fs -o /dev/null "$url/api/v1/forecast/Sydney"; then first=$t; break; fi
    if ! kill -0 "$srv" 2>/dev/null; then cat "$work/serve.log" >&2; echo "serve exited" >&2; exit 1; fi
    if awk -v t="$t" -v l="$LIMIT" 'BEGIN { exit !(t > l) }'; then break; fi
    sleep 0.1
  done
  local errors
  errors=$(grep -c '"level":"ERROR"\| ERROR ' "$work/serve.log" || true)
  printf '%-5s load %s: ready %s s, first forecast %s s, %s ERROR lines while waiting\n' \
    "$label" "$(cut -d' ' -f1 /proc/loadavg)" "${ready:-never}" "${first:-not within $LIMIT}" "$errors"
  kill "$srv"; wait "$srv" 2>/dev/null || true; srv=
}

for run in $(seq 1 "$RUNS"); do
  echo "run $run"
  one new "$BIN" "$repo/config.toml"
  if [ -n "${BASE:-}" ]; then one base "$BASE" "${BASE_CONFIG:-$repo/config.toml}"; fi
done
