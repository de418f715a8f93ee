#!/usr/bin/env bash
# How long the README's test command (scripts/test) takes from a fresh clone
# with an empty target/, as CI runs it (issue 30, item 6: under 10 minutes on
# 2 cores). Each revision is cloned into a temporary folder and tested there,
# one after the other; give BASE to measure a baseline in the same run:
#   bench/test_suite.sh                  HEAD only
#   BASE=076514d bench/test_suite.sh     076514d, then HEAD
# Prints the wall time of scripts/test and, from its output, the clean test
# build and each test binary's own time. Commits only: uncommitted changes
# are not measured.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
revs=("${BASE:-}" HEAD)
for rev in "${revs[@]}"; do
    [ -n "$rev" ] || continue
    sha=$(git rev-parse --short "$rev")
    git clone -q "$repo" "$dir/$sha"
    git -C "$dir/$sha" checkout -q "$sha"
    log="$dir/$sha.log"
    start=$(date +%s)
    if ! (cd "$dir/$sha" && ./scripts/test) >"$log" 2>&1; then
        echo "scripts/test failed at $sha:" >&2
        tail -40 "$log" >&2
        exit 1
    fi
    end=$(date +%s)
    printf '%s  scripts/test  %4d s  (target < 600 s)\n' "$sha" $((end - start))
    grep -E "Finished .test. profile|^test result: ok\. [1-9]" "$log" | sed 's/^/    /'
    rm -rf "${dir:?}/$sha"
done
