#!/usr/bin/env bash
# Overload: measure what one sluice shard (with its log) absorbs in a closed loop, then
# offer twice that at a constant rate (open loop, latency from the intended send time) for
# SECONDS (default 60) while sampling the server's resident memory every second, then drop
# to half the capacity and check that latency is back to normal within 5 s. Loopback only;
# every run is bounded by --duration-s. Prints a summary; reports go to $OUT.
#
#   loadtest/overload.sh [SECONDS] [csv|json] [ROWS_PER_REQUEST]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
format=${2:-json}
rows=${3:-100}
OUT=${OUT:-target/overload}
port=18211
cargo build --release -q -p sluice -p sluice-load
rm -rf "$OUT"
mkdir -p "$OUT"
taskset -c 0 ./target/release/sluice --shards 1 --listen 127.0.0.1:$port --data-dir "$OUT/data" \
  >"$OUT/sluice.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; kill $sampler 2>/dev/null || true' EXIT
sleep 1
load() { # name args...
  local name=$1; shift
  ./target/release/sluice-load --target 127.0.0.1:$port --pipeline demo --table bench \
    --format "$format" --rows-per-request "$rows" --connections 64 --core 1 \
    --server-pid "$pid" --json-report "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>&1
}
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

load capacity --duration-s 10 --warmup-s 2
cap=$(field "$OUT/capacity.json" "round(r['req_per_s'])")
echo "capacity (closed loop, 64 connections, $rows-row $format requests): $cap req/s"

( while kill -0 $pid 2>/dev/null; do
    awk '/VmRSS/ {print $2}' /proc/$pid/status; sleep 1
  done ) >"$OUT/rss-kib.txt" &
sampler=$!
load overload --rate $((2 * cap)) --duration-s "$secs" --warmup-s 0
load after --rate $((cap / 2)) --duration-s 10 --warmup-s 0
kill $sampler 2>/dev/null || true

python3 - "$OUT" "$cap" <<'PY'
import json, sys
out, cap = sys.argv[1], int(sys.argv[2])
o = json.load(open(f"{out}/overload.json"))
a = json.load(open(f"{out}/after.json"))
c = json.load(open(f"{out}/capacity.json"))
rss = [int(x) for x in open(f"{out}/rss-kib.txt") if x.strip()]
half = len(rss) // 2
print(f"offered 2x = {2 * cap} req/s for {o['duration_s']:.0f} s: accepted {o['req_per_s']:,.0f} req/s "
      f"= {o['req_per_s'] / cap:.2f}x capacity; statuses {o['status']}")
print(f"latency from intended send: p50 {o['latency_us']['p50'] / 1000:.1f} ms, "
      f"p99 {o['latency_us']['p99'] / 1000:.1f} ms (the queue of late sends)")
print(f"server RSS: max {max(rss) / 1024:.0f} MiB; first half max {max(rss[:half]) / 1024:.0f} MiB, "
      f"second half max {max(rss[half:]) / 1024:.0f} MiB (a plateau when these match)")
print(f"after, at 0.5x: p50 {a['latency_us']['p50'] / 1000:.1f} ms, p99 {a['latency_us']['p99'] / 1000:.1f} ms "
      f"(closed-loop capacity run: p50 {c['latency_us']['p50'] / 1000:.1f} ms, p99 {c['latency_us']['p99'] / 1000:.1f} ms); "
      f"statuses {a['status']}")
PY
