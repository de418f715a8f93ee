#!/usr/bin/env bash
# Soak benchmark: RSS of `raincast serve` over several minutes at full load,
# once with nobody scraping /metrics and once with a Prometheus-like scrape
# every 2 s. Before the recorder's upkeep ran on a timer, the unscraped run
# grew about 1.7 MB/s (histogram samples kept until the next render).
# Prints one table: seconds since the load started, RSS of each run (MB).
# Usage: bench/soak.sh [SECONDS per run, default 300] [PATH, default /healthz]
# Needs: wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
path=${2:-/healthz}
step=${STEP:-20}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 2; }
cargo build --release -q
bin=$PWD/target/release/raincast
dir=$(mktemp -d)
port=${PORT:-18191}
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; [ -n "${scraper:-}" ] && kill "$scraper" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
export RAINCAST_LOG=warn RAINCAST_DATABASE__PATH="$dir/soak.db"
export RAINCAST_SCHEDULE__CATCH_UP=false RAINCAST_SCHEDULE__SCRAPE_ENABLED=false RAINCAST_SCHEDULE__TRAIN_ENABLED=false
export RAINCAST_CLOCK_START=2017-06-26T09:00:00Z
$bin import data/weatherAUS.csv.gz >/dev/null
RAINCAST_MODEL__N_TREES=20 $bin train >/dev/null
url=http://127.0.0.1:$port

rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# run NAME SCRAPE(0|1): writes $dir/NAME.tsv with "seconds rss".
run() {
  local name=$1 scrape=$2
  $bin serve --bind 127.0.0.1:$port & pid=$!
  until curl -fs "$url/readyz" >/dev/null; do sleep 0.2; done
  # Warm-up: 10 s of load, so allocator pools and caches are at size.
  wrk -t2 -c32 -d10s "$url$path" >/dev/null
  if [ "$scrape" = 1 ]; then
    (while sleep 2; do curl -fs "$url/metrics" >/dev/null || true; done) & scraper=$!
  fi
  wrk -t2 -c32 -d"${secs}s" "$url$path" > "$dir/$name.wrk" &
  local load=$! t=0
  : > "$dir/$name.tsv"
  while [ $t -le "$secs" ]; do
    echo "$t $(rss $pid)" >> "$dir/$name.tsv"
    sleep "$step"; t=$((t + step))
  done
  wait $load
  [ -n "${scraper:-}" ] && { kill "$scraper"; wait "$scraper" 2>/dev/null || true; scraper=; }
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  awk '/Requests\/sec/ {print $2}' "$dir/$name.wrk" > "$dir/$name.rps"
}

run noscrape 0
run scrape 1
echo "== RSS (MB) of raincast serve under wrk -t2 -c32 on $path, after a 10 s warm-up"
echo "== no scrape: $(cat $dir/noscrape.rps) req/s; /metrics every 2 s: $(cat $dir/scrape.rps) req/s"
printf '| %8s | %16s | %22s |\n' "seconds" "no scrape (MB)" "scrape every 2 s (MB)"
printf '|---------:|-----------------:|-----------------------:|\n'
join "$dir/noscrape.tsv" "$dir/scrape.tsv" | awk '{printf "| %8s | %16s | %22s |\n", $1, $2, $3}'
awk 'NR==1 {a=$2} {b=$2} END {printf "no scrape: %+.1f MB from start to end\n", b-a}' "$dir/noscrape.tsv"
awk 'NR==1 {a=$2} {b=$2} END {printf "scrape:    %+.1f MB from start to end\n", b-a}' "$dir/scrape.tsv"
