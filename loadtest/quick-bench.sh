#!/usr/bin/env bash
# Performance check, side by side in one run: sluice (1 shard, core 0) with its write-ahead
# log (fsync = always, the default), the same build without it, and the do-nothing glommio
# server (loadtest/examples/null_server.rs, the HTTP ceiling of this machine), each driven
# by sluice-load pinned to core 1. Loopback only; every run is bounded by --duration-s.
# Prints a markdown table; JSON reports go to $OUT.
#
#   loadtest/quick-bench.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
OUT=${OUT:-target/quick-bench}
mkdir -p "$OUT"
cargo build --release -q -p sluice -p sluice-load --bins --examples
port_sluice=18181
port_null=18182
port_nolog=18183
rm -rf "$OUT/data" "$OUT/data-nolog"
./target/release/sluice --shards 1 --listen 127.0.0.1:$port_sluice --data-dir "$OUT/data" >"$OUT/sluice.log" 2>&1 &
sluice_pid=$!
{ cat src/default-config.toml; printf '\n[wal]\nenabled = false\n'; } >"$OUT/nolog.toml"
./target/release/sluice --config "$OUT/nolog.toml" --shards 1 --listen 127.0.0.1:$port_nolog \
  --data-dir "$OUT/data-nolog" >"$OUT/sluice-nolog.log" 2>&1 &
nolog_pid=$!
./target/release/examples/null_server 127.0.0.1:$port_null 0 >"$OUT/null.log" 2>&1 &
null_pid=$!
trap 'kill $sluice_pid $nolog_pid $null_pid 2>/dev/null || true' EXIT
sleep 1

run() { # name port args...
  local name=$1 port=$2; shift 2
  ./target/release/sluice-load --target 127.0.0.1:$port --pipeline demo --table bench --core 1 \
    --duration-s "$secs" --warmup-s 1 --json-report "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>&1
}
cpu() { awk '{print $14+$15}' /proc/$1/stat; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| scenario | server | req/s | rows/s | MB/s | p50 ms | p99 ms | server CPU s |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for scenario in "csv-1MiB:--format csv --body-bytes 1048576 --connections 8" \
                "json-1MiB:--format json --body-bytes 1048576 --connections 8" \
                "csv-1row:--format csv --rows-per-request 1 --connections 64" \
                "json-1row:--format json --rows-per-request 1 --connections 64"; do
  name=${scenario%%:*}; args=${scenario#*:}
  for server in sluice sluice-nolog null; do
    case $server in
      sluice) port=$port_sluice; pid=$sluice_pid ;;
      sluice-nolog) port=$port_nolog; pid=$nolog_pid ;;
      *) port=$port_null; pid=$null_pid ;;
    esac
    before=$(cpu $pid)
    # shellcheck disable=SC2086
    run "$name-$server" $port $args
    after=$(cpu $pid)
    python3 - "$OUT/$name-$server.json" "$name" "$server" "$before" "$after" <<'PY'
import json, sys, os
r = json.load(open(sys.argv[1]))
tick = os.sysconf("SC_CLK_TCK")
cpu = (int(sys.argv[5]) - int(sys.argv[4])) / tick
lat = r["latency_us"]
ok = r["status"].get("200", 0)
print(f"| {sys.argv[2]} | {sys.argv[3]} | {r['req_per_s']:,.0f} | {r['rows_per_s']:,.0f} | "
      f"{r['body_mb_per_s']:,.1f} | {lat['p50']/1000:.3f} | {lat['p99']/1000:.3f} | {cpu:.2f} |"
      + ("" if ok == r["requests"] else f" ({r['requests'] - ok} non-200)"))
PY
  done
done
