#!/usr/bin/env bash
# Every public read against /healthz in the same run, and memory under a mix
# of all of them (issue 30, item 5). Builds release (or takes BIN=path, and
# BASE_BIN=path to measure a previous binary the same way right after),
# imports the bundled weatherAUS history into a fresh database and trains
# the default models once, then for each of RUNS runs (default 3) starts
# `raincast serve` afresh and:
#   1. sends 32 simultaneous first requests to /metrics (time of the slowest);
#   2. measures each read with wrk (-t1 -c32, DUR s, default 5) right after
#      /healthz, and prints the pair's ratio (target >= 0.5);
#   3. runs a MIX s (default 60) mix of every read (wrk, one path per request
#      in turn) and prints RSS idle (after one request of each), peak and after.
# Requests carry `Accept-Encoding: gzip`, as browsers and Prometheus send.
# The load generator runs on the same cores as the server.
# Needs: wrk, curl, python3 (apt-get install wrk).
# Usage: bench/reads.sh            RUNS=1 DUR=3 MIX=20 bench/reads.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 2; }
RUNS=${RUNS:-3} DUR=${DUR:-5} MIX=${MIX:-60}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q --locked
  BIN=$PWD/target/release/raincast
fi
dir=$(mktemp -d)
port=${PORT:-18182}
url=http://127.0.0.1:$port
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
export RAINCAST_LOG=warn RAINCAST_DATABASE__PATH="$dir/reads.db"
export RAINCAST_SCHEDULE__CATCH_UP=false RAINCAST_SCHEDULE__SCRAPE_ENABLED=false
export RAINCAST_CLOCK_START=2017-06-26T09:00:00Z
echo "== preparing: import + train ($BIN)"
"$BIN" import --bundled >/dev/null
"$BIN" train >/dev/null

rss() { awk -v k="$2:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.3f}' if b else 'n/a')" "$1" "$2"; }
wrk_rps() { wrk -t1 -c32 -d"${DUR}s" -H 'Accept-Encoding: gzip' "$url$1" | awk '/Requests\/sec/ {print $2}'; }

bench() {  # $1 = binary, $2 = label
  local bin=$1 label=$2
  for run in $(seq 1 "$RUNS"); do
    "$bin" serve --bind "127.0.0.1:$port" & pid=$!
    until curl -fs "$url/readyz" >/dev/null 2>&1; do sleep 0.2; done
    echo "== $label, run $run of $RUNS (pid $pid)"
    # 1. 32 simultaneous first requests to /metrics.
    python3 - "$url/metrics" <<'PY'
import sys, time, threading, urllib.request
url, times = sys.argv[1], []
def one():
    t = time.monotonic()
    urllib.request.urlopen(url).read()
    times.append(time.monotonic() - t)
threads = [threading.Thread(target=one) for _ in range(32)]
[t.start() for t in threads]; [t.join() for t in threads]
print(f"32 simultaneous first /metrics: slowest {max(times):.3f} s, median {sorted(times)[16]:.3f} s")
PY
    echo "RSS after them: $(rss "$pid" VmRSS) MiB (peak $(rss "$pid" VmHWM) MiB)"
    local models detail
    models=$(curl -fs "$url/api/v1/models")
    # The largest stored model (a forest): the detail that read through it.
    detail=$(python3 -c 'import json, sys; m = json.loads(sys.argv[1])["models"]; print(max(m, key=lambda x: x["blob_bytes"])["version"])' "$models")
    paths=(/readyz /api/v1/forecast/Sydney /api/v1/locations /api/v1/models "/api/v1/models/$detail"
      /api/v1/openapi.json /metrics / /forecast/Sydney /api/docs /static/app.css
      /api/docs/swagger-ui/swagger-ui-bundle.js)
    for p in "${paths[@]}"; do curl -fs -o /dev/null -H 'Accept-Encoding: gzip' "$url$p"; done
    sleep 1
    local idle; idle=$(rss "$pid" VmRSS)
    # 2. Each read right after /healthz.
    printf '%-42s %10s %10s %7s\n' path "req/s" "healthz" ratio
    for p in "${paths[@]}"; do
      local h r
      h=$(wrk_rps /healthz); r=$(wrk_rps "$p")
      printf '%-42s %10s %10s %7s\n' "$p" "$r" "$h" "$(ratio "$r" "$h")"
    done
    # 3. A mix of every read.
    local lua="$dir/mix.lua"
    { printf 'local paths = {'; printf '"%s",' "${paths[@]}" /healthz; printf '}\n'
      cat <<'LUA'
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})
end
LUA
    } > "$lua"
    local before; before=$(rss "$pid" VmRSS)
    local mix; mix=$(wrk -t1 -c32 -d"${MIX}s" -s "$lua" "$url" | awk '/Requests\/sec/ {print $2}')
    sleep 1
    echo "mix of every read, ${MIX} s: $mix req/s; RSS idle $idle MiB, before the mix $before MiB, after $(rss "$pid" VmRSS) MiB, peak $(rss "$pid" VmHWM) MiB"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  done
}

bench "$BIN" "$(basename "$BIN") $("$BIN" --version 2>/dev/null | head -1)"
if [ -n "${BASE_BIN:-}" ]; then
  # The previous binary on the same database (it migrates nothing newer: a
  # copy made before this binary touched it would be needed for an older
  # schema; the import is redone instead).
  rm -f "$dir"/reads.db*
  "$BASE_BIN" import --bundled >/dev/null
  "$BASE_BIN" train >/dev/null
  bench "$BASE_BIN" "baseline $BASE_BIN"
fi
