#!/usr/bin/env bash
# Heavy valid batches against `raincast serve` (issue 28): 16 clients post at
# once a batch of 1,000 observations on old dates each (every row and every
# day is a database read, none in the in-memory board); a refused batch (503)
# is posted again after its Retry-After, until all 16 are answered. Meanwhile
# another client asks /healthz every 50 ms and the server's RSS is sampled
# every 100 ms. Reports /healthz p50/p99/max during the burst, the batches'
# latencies and refusals, and RSS idle (before), at peak, and 30 s after.
# Targets: /healthz p99 < 100 ms; RSS 30 s after within 30 MB of idle.
# BIN=path/to/raincast runs another build (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then cargo build --release -q; BIN=$PWD/target/release/raincast; fi
dir=$(mktemp -d); pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export RAINCAST_DATABASE__PATH=$dir/r.db RAINCAST_SCHEDULE__CATCH_UP=false \
  RAINCAST_SCHEDULE__SCRAPE_ENABLED=false RAINCAST_SCHEDULE__TRAIN_ENABLED=false \
  RAINCAST_LOG=warn RAINCAST_MODEL__N_TREES=30 RAINCAST_MODEL__BOOST=false
"$BIN" import --bundled >/dev/null
"$BIN" train >/dev/null
"$BIN" serve --bind "127.0.0.1:$port" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$dir/log"; exit 1; }
sleep 3
python3 - "$port" "$pid" <<'PY'
import json, sys, threading, time, urllib.request, urllib.error, datetime
port, pid = int(sys.argv[1]), int(sys.argv[2])
url = f"http://127.0.0.1:{port}"

def rss():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

locations = ["Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Hobart", "Darwin",
             "Canberra", "Albury", "Cairns", "Townsville", "GoldCoast", "Launceston",
             "Ballarat", "Bendigo", "Wollongong"]
start = datetime.date(2009, 1, 1)
def batch(i):
    first = start + datetime.timedelta(days=60 * i)
    rows = [{"Location": locations[i], "Date": str(first + datetime.timedelta(days=k))} for k in range(1000)]
    return json.dumps(rows).encode()

idle = rss()
stop = threading.Event()
health, samples = [], [idle]
def probe():
    while not stop.is_set():
        t = time.perf_counter()
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=30).read()
            health.append(time.perf_counter() - t)
        except Exception as e:
            health.append(float("inf"))
        time.sleep(0.05)
def sample():
    while not stop.is_set():
        samples.append(rss())
        time.sleep(0.1)

results = [None] * 16
def client(i):
    body, t0, refused = batch(i), time.perf_counter(), 0
    while True:
        req = urllib.request.Request(f"{url}/api/v1/predict", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                n = len(json.loads(r.read()))
                results[i] = (time.perf_counter() - t0, refused, n)
                return
        except urllib.error.HTTPError as e:
            if e.code != 503:
                results[i] = (time.perf_counter() - t0, refused, f"HTTP {e.code}: {e.read()[:200]!r}")
                return
            refused += 1
            time.sleep(float(e.headers.get("Retry-After", "1")))

threads = [threading.Thread(target=probe), threading.Thread(target=sample)]
for t in threads: t.start()
t0 = time.perf_counter()
clients = [threading.Thread(target=client, args=(i,)) for i in range(16)]
for c in clients: c.start()
for c in clients: c.join()
burst = time.perf_counter() - t0
stop.set()
for t in threads: t.join()
peak = max(samples)
time.sleep(30)
after = rss()

bad = [r for r in results if not isinstance(r[2], int) or r[2] != 1000]
lat = sorted(r[0] for r in results)
h = sorted(health)
q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))]
print(f"16 batches x 1,000 old-date rows: all answered in {burst:.1f} s; "
      f"per batch {lat[0]:.1f} .. {lat[-1]:.1f} s (median {q(lat, .5):.1f} s); "
      f"503 refusals before an answer: {sum(r[1] for r in results)}")
if bad: print("FAILED batches:", bad)
print(f"/healthz during the burst: {len(h)} probes, p50 {q(h, .5)*1000:.1f} ms, "
      f"p99 {q(h, .99)*1000:.1f} ms, max {h[-1]*1000:.1f} ms")
print(f"RSS: idle {idle:.1f} MB, peak {peak:.1f} MB, 30 s after {after:.1f} MB")
ok1, ok2 = q(h, .99) < 0.1, after - idle <= 30
print(("PASS" if ok1 else "FAIL") + f"  /healthz p99 {q(h, .99)*1000:.1f} ms (target < 100 ms)")
print(("PASS" if ok2 else "FAIL") + f"  after - idle = {after - idle:.1f} MB (target <= 30 MB)")
sys.exit(0 if ok1 and ok2 and not bad else 1)
PY
