#!/usr/bin/env bash
# User-space instructions per one-row request, counted by callgrind on the server itself:
# noise-free, unlike req/s on a shared VM, so small per-request changes show. Runs BINARY
# (default target/release/sluice; 1 shard, no log unless LOG=1) under callgrind, sends
# one-row requests of FORMAT (csv or json, default csv) from sluice-load over 8 keep-alive
# connections for 3 s + 8 s, stops the server, and prints the instructions over the
# requests answered (start-up excluded, shutdown included: a few instructions per request).
# Loopback only, bounded by the two runs. The profile is left in DIR/callgrind.out for
# callgrind_annotate (`--inclusive=yes` shows where a request's instructions go). Needs
# valgrind. With LOG=1 the server keeps its write-ahead log (the default config's), to
# count what the log adds per request.
#
#   [LOG=1] loadtest/request-instructions.sh [BINARY] [FORMAT] [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
bin=${1:-target/release/sluice}
format=${2:-csv}
dir=${3:-target/request-instructions}
out=$dir/callgrind.out
cargo build --release -q -p sluice-load
[ "$bin" != target/release/sluice ] || cargo build --release -q -p sluice
mkdir -p "$dir"
# Only what this script writes there: DIR may be any directory.
rm -rf "$dir/data" "$out" "$out".*
{
  cat src/default-config.toml
  [ "${LOG:-0}" = 1 ] || printf '\n[wal]\nenabled = false\n'
} >"$dir/server.toml"
port=18330
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --config "$dir/server.toml" \
  --shards 1 --listen 127.0.0.1:$port --data-dir "$dir/data" >"$dir/server.log" 2>&1 &
vg=$!
trap 'kill -INT $vg 2>/dev/null || true' EXIT
for _ in $(seq 60); do
  curl -s -m 2 -o /dev/null http://127.0.0.1:$port/healthz && break
  sleep 0.5
done
# Dump what start-up cost (to OUT.1); callgrind then counts from zero.
callgrind_control -d $vg >/dev/null 2>&1
requests=0
for secs in 3 8; do
  ./target/release/sluice-load --target 127.0.0.1:$port --pipeline demo --table bench \
    --format "$format" --rows-per-request 1 --connections 8 --core 1 --duration-s $secs \
    --warmup-s 0 >"$dir/load-$secs.txt" 2>&1
  n=$(grep -oE "status +200: [0-9]+" "$dir/load-$secs.txt" | grep -oE "[0-9]+$")
  requests=$((requests + n))
done
kill -INT $vg
wait $vg || true
trap - EXIT
rm -f "$out.1"
total=$(callgrind_annotate "$out" 2>/dev/null | grep "PROGRAM TOTALS" | awk '{gsub(",", "", $1); print $1}')
echo "$format one-row: $requests requests, $total instructions, $((total / requests)) per request"
