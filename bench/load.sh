#!/usr/bin/env bash
# Load benchmark of the public reads and the forecast page. Builds release,
# imports the bundled weatherAUS history into a fresh database, trains the default model, starts
# `raincast serve` on 127.0.0.1 and measures with wrk (throughput) and hey
# (latency at a fixed rate). /healthz is measured too, as the same-run
# baseline of what the HTTP stack alone does on this machine.
# Needs: wrk, hey (apt-get install wrk hey).
set -euo pipefail
cd "$(dirname "$0")/.."
for t in wrk hey; do command -v $t >/dev/null || { echo "needs $t: apt-get install wrk hey" >&2; exit 2; }; done
cargo build --release -q
bin=$PWD/target/release/raincast
dir=$(mktemp -d)
port=${PORT:-18181}
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
export RAINCAST_LOG=warn RAINCAST_DATABASE__PATH="$dir/load.db"
$bin import --bundled >/dev/null
$bin train >/dev/null
RAINCAST_SCHEDULE__CATCH_UP=false RAINCAST_CLOCK_START=2017-06-26T09:00:00Z \
  $bin serve --bind 127.0.0.1:$port & pid=$!
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
url=http://127.0.0.1:$port
curl -fs "$url/api/v1/forecast/Sydney" >/dev/null

echo "== throughput (wrk -t2 -c64 -d10s), same machine as the server (2 cores shared)"
for path in /healthz /api/v1/forecast/Sydney /api/v1/locations /api/v1/models /metrics; do
  rps=$(wrk -t2 -c64 -d10s "$url$path" | awk '/Requests\/sec/ {print $2}')
  printf '%-28s %10s req/s\n' "$path" "$rps"
done
# POST /api/v1/predict with one observation (the day after Sydney's newest).
cat > "$dir/predict.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"Location":"Sydney","Date":"2017-06-26","MinTemp":8.1,"MaxTemp":17.2,"Rainfall":0.2,"Humidity9am":82,"Humidity3pm":60,"Pressure9am":1021.3,"Pressure3pm":1019.0,"WindGustDir":"W","WindGustSpeed":37,"Temp9am":10.5,"Temp3pm":16.4}'
LUA
rps=$(wrk -t2 -c64 -d10s -s "$dir/predict.lua" "$url/api/v1/predict" | awk '/Requests\/sec/ {print $2}')
printf '%-28s %10s req/s\n' "POST /api/v1/predict (1)" "$rps"

echo "== latency at 1,000 req/s (hey: 10 workers x 100 req/s, 10 s)"
hey -z 10s -c 10 -q 100 "$url/api/v1/forecast/Sydney" > "$dir/hey.txt"
awk '/Requests\/sec/ {print "achieved   " $2 " req/s"} /50%|90%|99%/ {print $1 " " $3*1000 " ms"}' "$dir/hey.txt"
grep -E "^\s*\[[0-9]+\]" "$dir/hey.txt" | sed 's/^/status /'

echo "== forecast page, server-side render (hey -c 1, 500 requests, full history city)"
hey -n 500 -c 1 "$url/forecast/Sydney" > "$dir/page.txt"
awk '/Average/ {print "mean " $2*1000 " ms"} /50%|99%/ {print $1 " " $3*1000 " ms"}' "$dir/page.txt"
