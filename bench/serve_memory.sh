#!/usr/bin/env bash
# Memory of a weekly training inside `raincast serve`: imports weatherAUS into
# a scratch database, starts the server with the training schedule set to fire
# once about 90 s later (no catch-up, no scrape), and reads the process's RSS
# from /proc. A server without a model trains at start-up (a quick first
# model, then the full training); once both are done it reads "idle", resets
# the peak, then waits for the scheduled training and reads its peak (VmHWM)
# and the RSS after it finished.
# Targets: peak < 150 MB, after within 20 MB of idle.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=$PWD/target/release/raincast
dir=$(mktemp -d); pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
export RAINCAST_DATABASE__PATH=$dir/r.db RAINCAST_SCHEDULE__CATCH_UP=false \
  RAINCAST_SCHEDULE__SCRAPE_ENABLED=false RAINCAST_SERVER__BIND=127.0.0.1:0
$bin import data/weatherAUS.csv.gz >/dev/null
# Fire once, ~90 s from now (cron with seconds, UTC).
at=$(date -u -d '+90 seconds' '+%-S %-M %-H %-d %-m *')
RAINCAST_SCHEDULE__TRAIN="$at" $bin serve >"$dir/log" 2>&1 &
pid=$!
rss() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2/1024}' "/proc/$pid/status"; }
# Wait for the n-th registered version (each training registers one).
trained() {
  for _ in $(seq 1 600); do
    [ "$(grep -c 'registered version' "$dir/log")" -ge "$1" ] && return 0
    grep -qi 'training.*fail\|run failed' "$dir/log" && { cat "$dir/log"; exit 1; }
    sleep 1
  done
  echo "no training finished" >&2; exit 1
}
trained 1 # the start-up training (a quick first model, then the full one)
# Wait for the start-up's trainings to end: no run may be going.
for _ in $(seq 1 600); do
  grep -q 'the full training of every family follows' "$dir/log" || break
  [ "$(grep -c 'registered version' "$dir/log")" -ge 2 ] && break
  sleep 1
done
sleep 5
started=$(grep -c 'registered version' "$dir/log")
idle=$(rss VmRSS)
echo "idle RSS: $idle MB (peak so far, the start-up's $started training(s): $(rss VmHWM) MB)"
# Reset the peak (VmHWM) so that it is the scheduled training's alone.
echo 5 >"/proc/$pid/clear_refs"
trained $((started + 1)) # the scheduled one
sleep 5
peak=$(rss VmHWM); after=$(rss VmRSS)
echo "peak RSS: $peak MB   after training: $after MB"
python3 - "$idle" "$peak" "$after" <<'PY'
import sys
idle, peak, after = map(float, sys.argv[1:4])
ok1, ok2 = peak < 150, after - idle <= 20
print(("PASS" if ok1 else "FAIL") + f"  peak {peak:.1f} MB (target < 150 MB)")
print(("PASS" if ok2 else "FAIL") + f"  after - idle = {after - idle:.1f} MB (target <= 20 MB)")
sys.exit(0 if ok1 and ok2 else 1)
PY
