#!/usr/bin/env bash
# Wall time of `raincast import weatherAUS.csv.gz` (145,460 rows) into a fresh
# database, release build, 3 runs; plus reading the same file with zcat, as
# the same-run floor of what just decompressing it costs on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
data=data/weatherAUS.csv.gz
cargo build --release -q
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
t() { local s=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $s" | bc; }
printf 'zcat | wc -l (floor): %.3f s\n' "$(t sh -c "zcat '$data' | wc -l")"
for i in 1 2 3; do
  rm -f "$dir"/w.db*
  printf 'import, fresh db, run %d: %.3f s\n' "$i" "$(t env RAINCAST_LOG=warn target/release/raincast --db "$dir/w.db" import "$data")"
done
printf 'import again (all rows unchanged): %.3f s\n' "$(t env RAINCAST_LOG=warn target/release/raincast --db "$dir/w.db" import "$data")"
