#!/usr/bin/env bash
# The release binary's size (issue 30, item 7: at most 25 MB with everything
# bundled), with the weight of what it embeds and the build's wall time.
#   bench/binary_size.sh                 this checkout
#   BASE_REV=<commit> bench/binary_size.sh
#       also builds <commit> (e.g. the previous one) in a temporary worktree,
#       with its own target directory (a full release build: minutes), and
#       prints both sizes side by side.
# Cargo's profile settings can be overridden from the environment to compare,
# e.g. CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1.
# The build time printed is that of this invocation: it is a full link (and
# more) only when something changed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB (%d bytes)", b / 1e6, b }'; }

start=$(date +%s.%N)
cargo build --release -q --locked
took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
bin=$repo/target/release/raincast
size=$(stat -c %s "$bin")
echo "this checkout ($(git rev-parse --short HEAD)$(git diff --quiet || echo ', modified')): $(mb "$size"); build ${took} s"
echo "  profile overrides: $(env | grep '^CARGO_PROFILE_RELEASE_' | tr '\n' ' ' || true)"

echo "embedded files (compiled in with include_bytes!/include_str!):"
out=$(ls -td target/release/build/raincast-*/out 2>/dev/null | head -1)
for f in data/weatherAUS.csv.gz data/bom/bom_dwo_raw_2024-08_2025-09.tar.gz \
         "$out/swagger-ui-bundle.js.gz" "$out/swagger-ui.css.gz" \
         static/vendor/swagger-ui/LICENSE static/vendor/swagger-ui/NOTICE \
         static/vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt \
         static/app.css static/app.js static/favicon.svg; do
  [ -f "$f" ] && printf '  %-58s %s\n' "${f#"$out/"}" "$(mb "$(stat -c %s "$f")")"
done
embedded=$(cat data/weatherAUS.csv.gz data/bom/bom_dwo_raw_2024-08_2025-09.tar.gz \
  "$out"/swagger-ui-*.gz static/vendor/swagger-ui/LICENSE static/vendor/swagger-ui/NOTICE \
  static/vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt static/app.* static/favicon.svg | wc -c)
echo "  total embedded: $(mb "$embedded"); code and the rest: $(mb $((size - embedded)))"
if command -v cargo-bloat >/dev/null; then
  echo "largest crates (cargo bloat):"
  cargo bloat --release --crates -n 15 2>/dev/null | sed 's/^/  /'
fi

if [ -n "${BASE_REV:-}" ]; then
  wt=$(mktemp -d)
  trap 'git -C "$repo" worktree remove --force "$wt" >/dev/null 2>&1 || true' EXIT
  git worktree add -q --detach "$wt" "$BASE_REV"
  start=$(date +%s.%N)
  CARGO_TARGET_DIR=$repo/target/binary-size-base cargo build --release -q --locked --manifest-path "$wt/Cargo.toml"
  took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
  base=$(stat -c %s "$repo/target/binary-size-base/release/raincast")
  echo "base $BASE_REV: $(mb "$base"); build ${took} s"
  echo "difference: $(awk -v a="$size" -v b="$base" 'BEGIN { printf "%+.2f MB (%+.1f %%)", (a - b) / 1e6, 100 * (a - b) / b }')"
fi
