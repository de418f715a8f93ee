#!/usr/bin/env bash
# Slow-client benchmark: N sockets that each send half a request header and
# then nothing (slowloris). Reports how many the server still holds open
# over time, its RSS, and /healthz latency from a normal client meanwhile.
# Before the header timeout and the connection cap, 3,000 such sockets were
# all still open 32 s later and RSS rose to 117 MB.
# Usage: bench/slow_clients.sh [N, default 3000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3000}
cargo build --release -q
bin=$PWD/target/release/raincast
dir=$(mktemp -d)
port=${PORT:-18193}
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; [ -n "${att:-}" ] && kill "$att" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
ulimit -n $((n + 1024)) 2>/dev/null || true
export RAINCAST_LOG=error RAINCAST_DATABASE__PATH="$dir/slow.db"
export RAINCAST_SCHEDULE__CATCH_UP=false RAINCAST_SCHEDULE__SCRAPE_ENABLED=false RAINCAST_SCHEDULE__TRAIN_ENABLED=false
$bin serve --bind 127.0.0.1:$port & pid=$!
until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.2; done
timeout=${RAINCAST_SERVER__HEADER_TIMEOUT_SECS:-10}
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status"; }
# Server-side sockets to the port that are established (what it holds).
held() { ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l; }
python3 - "$port" "$n" <<'PY' & att=$!
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        s.send(b"GET /healthz HTTP/1.1\r\nHost: raincast\r\nX-Slow: ")
        socks.append(s)
    except OSError:
        s.close()
time.sleep(600)
PY
echo "== $n half-header sockets; header timeout ${timeout} s, server.max_connections 512 (defaults)"
printf '| %7s | %12s | %8s | %16s |\n' "seconds" "held by server" "RSS (MB)" "/healthz (ms)"
printf '|--------:|-------------:|---------:|-----------------:|\n'
start=$(date +%s.%N)
for t in 1 3 6 9 12 15 20 25 32; do
  now=$(date +%s.%N); sleep "$(echo "$t - ($now - $start)" | bc -l | awk '{print ($1>0)?$1:0}')"
  ms=$(curl -s -o /dev/null -m 20 -w '%{time_total}' "http://127.0.0.1:$port/healthz" | awk '{printf "%.1f", $1*1000}')
  printf '| %7s | %12s | %8s | %16s |\n' "$t" "$(held)" "$(rss)" "$ms"
done
