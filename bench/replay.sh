#!/usr/bin/env bash
# How long a year of operation takes to replay: `raincast replay` runs the real
# scheduler and job runner on a fast clock against the bundled real BOM files
# (2024-09-01 to 2025-09-05: 370 daily scrapes and forecasts, 53 weekly
# trainings), release build, default settings (forest and boosting, the
# bundled history). Baseline in the same run: the bare import of the bundled
# history, the floor of what any start-up costs on this machine.
# Target: under a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=$PWD/target/release/raincast
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
cd "$dir" # no ./config.toml: built-in defaults
export RAINCAST_LOG=warn
secs() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
ms=$(secs "$bin" --db "$dir/base.db" import --bundled)
printf 'baseline: import --bundled                    %6d ms\n' "$ms"
from=${FROM:-2024-09-01} to=${TO:-2025-09-05}
ms=$(secs env RAINCAST_MODEL__BOOST=false "$bin" replay --from "$from" --to "$to")
printf 'replay %s..%s, forest only       %6d ms\n' "$from" "$to" "$ms"
s=$(date +%s%N)
"$bin" replay --from "$from" --to "$to" --json ${ARGS:-} > "$dir/summary.json"
e=$(date +%s%N)
printf 'replay %s..%s, both families     %6d ms (target < 60000)\n' "$from" "$to" $(( (e - s) / 1000000 ))
cat "$dir/summary.json"
