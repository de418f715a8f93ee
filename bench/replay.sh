#!/usr/bin/env bash
# How long a year of operation takes to replay: `raincast replay` runs the real
# scheduler and job runner on a fast clock against the bundled real BOM files
# (2024-09-01 to 2025-09-05: 370 days of per-zone scrapes and three issues a
# day, 53 weekly trainings), release build, default settings (forest and
# boosting, an empty database).
# Baselines in the same run: the bare import of the bundled history (the
# floor of what any start-up costs on this machine) and, with BASE=, a
# previous binary, replayed in turn with this one in every run so that both
# see the same machine. Their summaries must agree (apart from the database's
# size) unless the change was meant to move them.
# Target: under a minute on 2 cores.
# Usage:
#   bench/replay.sh                           three runs of this checkout's binary
#   BASE=/path/to/raincast bench/replay.sh    each run beside that binary
#   RUNS=1 FOREST=1 FROM=2025-01-01 TO=2025-03-01 ARGS=... bench/replay.sh
#     (FOREST=1 also times a forest-only replay per run; ARGS go to both binaries)
# A previous commit's binary: git worktree add /tmp/base REV &&
#   (cd /tmp/base && cargo build --release) and BASE=/tmp/base/target/release/raincast
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=$PWD/target/release/raincast
base=${BASE:-}
if [ -n "$base" ] && [ ! -x "$base" ]; then
  echo "BASE=$base is not an executable" >&2
  exit 2
fi
runs=${RUNS:-3}
from=${FROM:-2024-09-01} to=${TO:-2025-09-05}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
cd "$dir" # no ./config.toml: built-in defaults
export RAINCAST_LOG=warn
# ms OUT COMMAND... -> the command's wall time in milliseconds; its output in OUT
ms() { local out=$1 s e; shift; s=$(date +%s%N); "$@" >"$out"; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
printf 'baseline: import --bundled %6d ms\n' "$(ms /dev/null "$bin" --db "$dir/base.db" import --bundled)"
# shellcheck disable=SC2086 # ARGS is a word list
replay() { ms "$dir/$1.$3.json" "$2" replay --from "$from" --to "$to" --json ${ARGS:-}; }
for run in $(seq 1 "$runs"); do
  line="run $run, replay $from..$to, both families:"
  t=$(replay new "$bin" "$run"); line+=" raincast $t ms"
  echo "$t" >>"$dir/new.ms"
  if [ -n "$base" ]; then
    t=$(replay base "$base" "$run"); line+=", base $t ms"
    echo "$t" >>"$dir/base.ms"
  fi
  if [ -n "${FOREST:-}" ]; then
    t=$(RAINCAST_MODEL__BOOST=false ms /dev/null "$bin" replay --from "$from" --to "$to")
    line+=", forest alone $t ms"
  fi
  echo "$line"
done
python3 - "$dir" "$runs" "$([ -n "$base" ] && echo 1 || echo 0)" <<'PY'
import json, sys
d, runs, with_base = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def figures(name):
    ms = [int(x) for x in open(f"{d}/{name}.ms").read().split()]
    return " / ".join(f"{m / 1000:.1f}" for m in ms) + f" s (spread {(max(ms) - min(ms)) / 1000:.1f} s)", ms
def summary(name, run):
    s = json.load(open(f"{d}/{name}.{run}.json"))
    s.pop("database_bytes", None)
    return s
text, new = figures("new")
print(f"raincast: {text}")
ok = max(new) < 60000
if with_base:
    btext, _ = figures("base")
    print(f"base:     {btext}")
    same = all(summary("new", r) == summary("base", r) for r in range(1, runs + 1))
    print("summaries: " + ("the same in every run" if same else "DIFFER from the base's"))
steady = all(summary("new", r) == summary("new", 1) for r in range(1, runs + 1))
print("raincast's summaries: " + ("the same in every run" if steady else "DIFFER between runs"))
print(("PASS" if ok else "FAIL") + f"  slowest run {max(new) / 1000:.1f} s (target < 60 s in every run)")
print(json.dumps(summary("new", 1)))
PY
