#!/usr/bin/env bash
# One-row requests, sluice against nginx (issue 5's small-request goal: sluice's req/s at
# least 1.0x nginx's). Side by side in one run: sluice (1 shard, with and without its
# log) and nginx reading and discarding each body (echo module, as in compare.sh), each
# on core 0, driven by sluice-load on core 1 with the same one-row CSV POSTs over 64
# keep-alive connections. Loopback only; each run lasts SECONDS (default 8). The servers
# take turns for ROUNDS rounds (default 3) and each one's best round is reported, with
# the range of its rounds: on a shared VM noise only ever slows a run down, and a noisy
# spell then cannot fall on one server's only run.
#
#   loadtest/small-vs-nginx.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
rounds=${2:-3}
OUT=${OUT:-target/small-vs-nginx}
echo_mod=/usr/lib/nginx/modules/ngx_http_echo_module.so
command -v nginx >/dev/null && [ -f $echo_mod ] ||
  { echo "needs nginx and its echo module (apt-get install nginx libnginx-mod-http-echo)" >&2; exit 1; }
cargo build --release -q -p sluice -p sluice-load
rm -rf "$OUT"
mkdir -p "$OUT/nginx"
# Absolute, for nginx (OUT may be given relative or absolute).
OUT=$(cd "$OUT" && pwd)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
cat >"$OUT/nginx/nginx.conf" <<CONF
load_module $echo_mod;
daemon off;
worker_processes 1;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $OUT/nginx/body;
    keepalive_requests 10000000;
    client_body_buffer_size 64k;
    server { listen 127.0.0.1:18232; location / { echo_read_request_body; echo ok; } }
}
CONF
taskset -c 0 nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" >"$OUT/nginx.log" 2>&1 &
pids+=($!)
{ cat src/default-config.toml; printf '\n[wal]\nenabled = false\n'; } >"$OUT/nolog.toml"
taskset -c 0 ./target/release/sluice --shards 1 --listen 127.0.0.1:18230 --data-dir "$OUT/d1" \
  >"$OUT/sluice.log" 2>&1 &
pids+=($!)
taskset -c 0 ./target/release/sluice --config "$OUT/nolog.toml" --shards 1 \
  --listen 127.0.0.1:18231 --data-dir "$OUT/d2" >"$OUT/nolog.log" 2>&1 &
pids+=($!)
sleep 1.5
for round in $(seq "$rounds"); do
  for port in 18230 18231 18232; do
    ./target/release/sluice-load --target 127.0.0.1:$port --pipeline demo --table bench \
      --format csv --rows-per-request 1 --connections 64 --core 1 --duration-s "$secs" \
      --warmup-s 1 --server-pid auto --json-report "$OUT/$port-$round.json" >"$OUT/$port-$round.txt" 2>&1
  done
done
python3 - "$OUT" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
print("| server | req/s (best round) | rounds' req/s | p50 ms | p99 ms | server CPU-s per 100k requests |")
print("|---|---:|---|---:|---:|---:|")
best, median = {}, {}
for name, port in [("sluice (log)", 18230), ("sluice (no log)", 18231), ("nginx", 18232)]:
    rs = [json.load(open(f"{out}/{port}-{k}.json")) for k in range(1, rounds + 1)]
    r = max(rs, key=lambda r: r["req_per_s"])
    best[name] = r["req_per_s"]
    median[name] = statistics.median(x["req_per_s"] for x in rs)
    cpu = ((r.get("host") or {}).get("server") or {}).get("cpu_s")
    per = f"{cpu / r['requests'] * 1e5:.2f}" if cpu else "-"
    bad = any(x["status"].get("200", 0) != x["requests"] for x in rs)
    span = " / ".join(f"{x['req_per_s']:,.0f}" for x in rs)
    print(f"| {name} | {r['req_per_s']:,.0f} | {span} | {r['latency_us']['p50'] / 1000:.3f} | "
          f"{r['latency_us']['p99'] / 1000:.3f} | {per} |" + (" (non-200!)" if bad else ""))
print()
print(f"best rounds against nginx: {best['sluice (log)'] / best['nginx']:.2f}x with the log, "
      f"{best['sluice (no log)'] / best['nginx']:.2f}x without; median rounds: "
      f"{median['sluice (log)'] / median['nginx']:.2f}x and "
      f"{median['sluice (no log)'] / median['nginx']:.2f}x")
PY
