#!/usr/bin/env bash
# Benchmark of a full BOM backfill: all 49 stations × 14 months (2024-08 …
# 2025-09, 686 station-months: 644 files + 42 realistic 404s) fetched from a
# local copy of BOM's paths, parsed and stored in a fresh SQLite database.
#
# Usage: bench/scrape.sh            (PORT=18766 by default)
# `raincast bom-server` serves the bundled archive of real files at BOM's
# paths, as of 2025-09-06. Target: under 10 s wall time on a 2-core machine.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-18766}

cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
bin=${CARGO_TARGET_DIR:-$repo/target}/release/raincast

work=$(mktemp -d)
setsid "$bin" bom-server --bind "127.0.0.1:$port" --ftp-bind off --day 2025-09-06 >"$work/serve.log" 2>&1 &
server=$!
trap 'kill -- "-$server" 2>/dev/null || true; rm -rf "$work"' EXIT

probe="http://127.0.0.1:$port/climate/dwo/202409/text/IDCJDW2124.202409.csv"
for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$probe" && break
    sleep 0.1
done
curl -sf -o /dev/null "$probe" || { cat "$work/serve.log" >&2; echo "file server did not start" >&2; exit 1; }

cd "$work" # so that no ./config.toml is picked up
start=$(date +%s.%N)
set +e
RAINCAST_BOM__DELAY_MS=0 RAINCAST_BOM__BASE_URL="http://127.0.0.1:$port" RAINCAST_LOG=warn \
    "$bin" --db "$work/bench.db" scrape --from 2024-08 --to 2025-09 --force 2>"$work/scrape.log"
rc=$?
set -e
end=$(date +%s.%N)

rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from observations').fetchone()[0])" "$work/bench.db")
echo "exit code: $rc; rows stored: $rows"
awk -v s="$start" -v e="$end" 'BEGIN { printf "wall time: %.2f s (target < 10 s)\n", e - s }'
exit "$rc"
