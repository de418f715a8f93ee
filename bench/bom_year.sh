# shellcheck shell=bash
# Sourced by the BOM-year benchmarks (issue_skill.sh, level_by_station.sh):
# `bom_year DIR` builds the release binary, imports the bundled weatherAUS
# history into DIR/r.db, trains on it (seed RAINCAST_MODEL__SEED), loads
# BOM's year as BOM showed it on 6 Sep 2025 from the stand-in, and writes
# `raincast evaluate --model 1` on 2024-08-02..2025-09-05 to DIR/e.json.
bom_year() {
    local dir=$1 bin port sim
    cargo build --release -q
    bin=$PWD/target/release/raincast
    # In DIR, so that no config.toml is read: the defaults, as shipped.
    pushd "$dir" >/dev/null || return
    "$bin" --db "$dir/r.db" import --bundled >/dev/null
    "$bin" --db "$dir/r.db" train >/dev/null
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$bin" bom-server --day 2025-09-06 --bind "127.0.0.1:$port" --ftp-bind off >/dev/null 2>&1 &
    sim=$!
    sleep 1
    RAINCAST_BOM__BASE_URL="http://127.0.0.1:$port" RAINCAST_CLOCK_START=2025-09-06T08:00:00Z \
        "$bin" --db "$dir/r.db" scrape --from 2024-07 --to 2025-09 >/dev/null || true
    kill "$sim" 2>/dev/null || true
    "$bin" --db "$dir/r.db" evaluate --model 1 --from 2024-08-02 --to 2025-09-05 --json > "$dir/e.json"
    popd >/dev/null || return
}
