#!/usr/bin/env bash
# The effect of the server knobs that a 2-core loopback machine can show, each measured
# side by side in one run: for every knob, one sluice per setting (1 shard, core 0, the
# write-ahead log on, as deployed), the same load from sluice-load (core 1) against each
# in turn, repeated ROUNDS times in alternation, best round kept (noise on a shared VM only
# ever slows a run down). Loopback only; every run is bounded by --duration-s.
# Prints a markdown table for tuning/README.md; JSON reports go to $OUT.
#
#   loadtest/knobs.sh [SECONDS] [ROUNDS]        (ONLY=TEXT: just the knobs whose title has TEXT)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-2}
OUT=${OUT:-target/knobs}
mkdir -p "$OUT"
cargo build --release -q -p sluice -p sluice-load --bins
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# start NAME PORT TOML-BEFORE TOML-AFTER: a sluice whose config is the default one with
# TOML-BEFORE prepended (top-level keys) and TOML-AFTER appended (tables).
start() {
  local name=$1 port=$2
  { printf '%b' "$3"; cat src/default-config.toml; printf '\n%b' "$4"; } >"$OUT/$name.toml"
  rm -rf "$OUT/data-$name"
  ./target/release/sluice --config "$OUT/$name.toml" --shards 1 --listen 127.0.0.1:$port \
    --data-dir "$OUT/data-$name" >"$OUT/$name.log" 2>&1 &
  pids+=($!)
  echo $! >"$OUT/$name.pid"
}
cpu() { awk '{print $14+$15}' "/proc/$(cat "$OUT/$1.pid")/stat"; }

# measure NAME PORT ROUND ARGS...: one sluice-load run; appends a JSON line of results.
measure() {
  local name=$1 port=$2 round=$3; shift 3
  local before after
  before=$(cpu "$name")
  ./target/release/sluice-load --target 127.0.0.1:"$port" --pipeline demo --table bench \
    --core 1 --duration-s "$secs" --warmup-s 1 --json-report "$OUT/$name-$round.json" "$@" \
    >"$OUT/$name-$round.txt" 2>&1
  after=$(cpu "$name")
  python3 - "$OUT/$name-$round.json" "$before" "$after" >>"$OUT/$name.results" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / os.sysconf("SC_CLK_TCK")
c = r.get("completion_latency_us") or {}
print(json.dumps({
    "mb_s": r["body_mb_per_s"], "req_s": r["req_per_s"], "rows_s": r["rows_per_s"],
    "p50_ms": r["latency_us"]["p50"] / 1000, "p99_ms": r["latency_us"]["p99"] / 1000,
    "cpu_s_per_100k_req": cpu / max(r["requests"], 1) * 1e5,
    "done_p50_ms": c.get("p50", 0) / 1000, "done_p99_ms": c.get("p99", 0) / 1000,
    "non_200": r["requests"] - r["status"].get("200", 0),
}))
PY
}

# knob TITLE SCENARIO-ARGS -- NAME:BEFORE:AFTER ...
knob() {
  local title=$1 args=$2; shift 2
  [[ -z ${ONLY:-} || $title == *"$ONLY"* ]] || return 0
  local port=18300 variants=("$@") v
  for v in "${variants[@]}"; do
    IFS=: read -r name before after <<<"$v"
    start "$name" $port "$before" "$after"
    echo $port >"$OUT/$name.port"
    rm -f "$OUT/$name.results"
    port=$((port + 1))
  done
  sleep 1
  for v in "${variants[@]}"; do
    name=${v%%:*}
    if ! kill -0 "$(cat "$OUT/$name.pid")" 2>/dev/null; then
      echo "sluice ($name) did not start:" >&2
      tail -3 "$OUT/$name.log" >&2
      exit 1
    fi
  done
  for round in $(seq "$rounds"); do
    for v in "${variants[@]}"; do
      name=${v%%:*}
      # shellcheck disable=SC2086
      measure "$name" "$(cat "$OUT/$name.port")" "$round" $args
    done
  done
  for v in "${variants[@]}"; do
    name=${v%%:*}
    python3 - "$OUT/$name.results" "$title" "$name" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
best = max(rs, key=lambda r: r["req_s"])
bad = sum(r["non_200"] for r in rs)
print(f"| {sys.argv[2]} | {sys.argv[3]} | {best['req_s']:,.0f} | {best['mb_s']:,.1f} | "
      f"{best['p50_ms']:.2f} | {best['p99_ms']:.2f} | {best['cpu_s_per_100k_req']:.2f} | "
      + (f"{best['done_p50_ms']:.1f} / {best['done_p99_ms']:.1f}" if best["done_p50_ms"] else "—")
      + " |" + (f" ({bad} non-200)" if bad else ""))
PY
    kill "$(cat "$OUT/$name.pid")" 2>/dev/null || true
  done
  sleep 1
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); ${secs} s x ${rounds} rounds, best round"
echo
echo "| knob (scenario) | setting | req/s | MB/s | p50 ms | p99 ms | server CPU s / 100k req | completion p50 / p99 ms |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
big="--format csv --body-bytes 1048576 --connections 8"
small="--format csv --rows-per-request 1 --connections 64"
light="--format csv --rows-per-request 1 --connections 2"
knob "ingest.batch_rows (1 MiB CSV bodies, 8 conns)" "$big" \
  "batch_rows=1024::[ingest]\nbatch_rows = 1024" \
  "batch_rows=8192 (default)::" \
  "batch_rows=65536::[ingest]\nbatch_rows = 65536"
knob "http.read_buffer_bytes (1 MiB CSV bodies, 8 conns)" "$big" \
  "read_buffer_bytes=98304::[http]\nread_buffer_bytes = 98304" \
  "read_buffer_bytes=262144 (default)::" \
  "read_buffer_bytes=1048576::[http]\nread_buffer_bytes = 1048576"
knob "spin_before_park_us (one-row CSV, 2 conns: a lightly loaded shard)" "$light" \
  "spin=0:spin_before_park_us = 0\n:" \
  "spin=50 (default)::" \
  "spin=500:spin_before_park_us = 500\n:"
knob "io_uring_coop_taskrun (one-row CSV, 64 conns)" "$small" \
  "coop=false:io_uring_coop_taskrun = false\n:" \
  "coop=true (default)::"
knob "io_uring_coop_taskrun (one-row CSV, 2 conns: a lightly loaded shard)" "$light" \
  "coop=false, light:io_uring_coop_taskrun = false\n:" \
  "coop=true (default), light::"
knob "wal.fsync (one-row CSV, 64 conns, 200 tokens sampled)" "$small --completion-sample 200" \
  "fsync=always (default)::" \
  "fsync=interval, 100 ms::[wal]\nfsync = \"interval\"\nfsync_interval_ms = 100"
knob "wal.buffer_bytes_max (1 MiB CSV bodies, 8 conns, every 20th token polled)" "$big --completion-sample 20" \
  "log buffer 16 MiB::[wal]\nbuffer_bytes_max = 16777216" \
  "log buffer 32 MiB (default)::" \
  "log buffer 64 MiB::[wal]\nbuffer_bytes_max = 67108864"
