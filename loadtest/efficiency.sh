#!/usr/bin/env bash
# Generator efficiency (issue 5): one load-generator core must drive at least 1.5x what one
# server core absorbs, so that a one-core generator can saturate a one-core server. Measured
# for sluice-load and for wrk with the same request (one-row CSV POSTs, 135 byte body,
# keep-alive, 64 connections) against two servers on core 0: the cheapest server there is
# (examples/null_server.rs, which only frames and discards requests: the generator's work
# per request is about the server's here, so expect a ratio near 1) and sluice itself with
# one shard and no write-ahead log (CPU-bound, no disk). The generator runs on core 1. The figure that matters is CPU-normalised: requests per generator
# CPU-second over requests per server CPU-second (= server CPU / generator CPU for the same
# requests), so a busy machine lowers throughput more than it moves the ratio; CPU pressure
# is printed beside every run so you can tell. Each is measured one request at a time and
# pipelined (DEPTHS, default "1 16": requests written back to back per connection before
# their answers are read, sluice-load --pipelining and wrk's pipeline script), which spares
# both sides most sends and receives and so shows each side's own per-request work.
# Loopback only; every run is bounded by SECONDS (wrk -d, sluice-load --duration-s).
#
#   loadtest/efficiency.sh [SECONDS] [RUNS]      (BUILD=0: use the binaries already built;
#                                                  DEPTHS="1 16": the pipelining depths)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
runs=${2:-3}
OUT=${OUT:-target/efficiency}
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }
if [ "${BUILD:-1}" != 0 ]; then
  cargo build --release -q -p sluice -p sluice-load --bins --examples
fi
port_null=18190
port_sluice=18191
./target/release/examples/null_server 127.0.0.1:$port_null 0 >"$OUT/null.log" 2>&1 &
null_pid=$!
rm -rf "$OUT/data"
{ cat src/default-config.toml; printf '\n[wal]\nenabled = false\n'; } >"$OUT/nolog.toml"
taskset -c 0 ./target/release/sluice --config "$OUT/nolog.toml" --shards 1 \
  --listen 127.0.0.1:$port_sluice --data-dir "$OUT/data" >"$OUT/sluice.log" 2>&1 &
sluice_pid=$!
trap 'kill $null_pid $sluice_pid 2>/dev/null || true' EXIT
sleep 1

# The same row shape sluice-load generates for its default columns, 135 bytes with the newline.
cat >"$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/csv"
wrk.body = "4242424242,Lorem ipsum dolor sit ame,3.14159265358979,true,2024-05-17,2024-05-17 12:34:56.789012,123456,12345.67,consectetur adip,1234\n"
LUA
# Pipelined: DEPTH copies of the same request in one buffer, as wrk's own
# scripts/pipeline.lua does; wrk counts the requests in it and reads as many answers.
cat "$OUT/post.lua" - >"$OUT/pipeline.lua" <<'LUA'
local depth = tonumber(os.getenv("DEPTH"))
init = function(args)
  local r = {}
  for i = 1, depth do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
LUA

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
psi() { awk '/^some/{split($2,a,"="); print a[2]}' /proc/pressure/cpu 2>/dev/null || echo "-"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| server | depth | run | generator | req/s | server CPU s | generator CPU s | req per server CPU-s | req per generator CPU-s | ratio | PSI some avg10 before/after |"
echo "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|"
for server in null sluice; do
  case $server in
    null) port=$port_null; pid=$null_pid ;;
    *) port=$port_sluice; pid=$sluice_pid ;;
  esac
  url="http://127.0.0.1:$port/v0/pipelines/demo/ingress/bench?format=csv&update_format=raw"
  for depth in ${DEPTHS:-1 16}; do
    script=$OUT/post.lua
    [ "$depth" = 1 ] || script=$OUT/pipeline.lua
    for i in $(seq 1 "$runs"); do
      name=$server-d$depth-$i
      # sluice-load reads both CPUs and the pressure itself.
      psi_a=$(psi)
      ./target/release/sluice-load --target 127.0.0.1:$port --pipeline demo --table bench --core 1 \
        --format csv --rows-per-request 1 --connections 64 --pipelining "$depth" --duration-s "$secs" \
        --server-pid $pid --json-report "$OUT/sluice-load-$name.json" >"$OUT/sluice-load-$name.txt" 2>&1
      psi_b=$(psi)
      python3 - "$OUT/sluice-load-$name.json" "$server $depth" "$i" "$psi_a" "$psi_b" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
h = r["host"]
srv, gen = h["server"]["cpu_s"], h["load"]["cpu_s"]
n = r["requests"]
bad = r["requests"] - r["status"].get("200", 0)
print(f"| {' | '.join(sys.argv[2].split())} | {sys.argv[3]} | sluice-load | {r['req_per_s']:,.0f} | {srv:.2f} | {gen:.2f} | "
      f"{n/srv:,.0f} | {n/gen:,.0f} | {srv/gen:.2f} | {sys.argv[4]} / {sys.argv[5]} |"
      + (f" {bad} non-200" if bad else ""))
PY
      # wrk: the server's CPU from /proc around the run, wrk's own from GNU time.
      psi_a=$(psi)
      before=$(ticks $pid)
      /usr/bin/time -f "%U %S" -o "$OUT/wrk-$name.time" \
        env DEPTH="$depth" taskset -c 1 wrk -t1 -c64 -d"${secs}s" -s "$script" "$url" >"$OUT/wrk-$name.txt" 2>&1
      after=$(ticks $pid)
      psi_b=$(psi)
      python3 - "$OUT/wrk-$name.txt" "$OUT/wrk-$name.time" "$before" "$after" "$server $depth" "$i" "$psi_a" "$psi_b" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
n = int(re.search(r"(\d+) requests in", text).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
u, s = map(float, open(sys.argv[2]).read().split()[-2:])
gen = u + s
srv = (int(sys.argv[4]) - int(sys.argv[3])) / os.sysconf("SC_CLK_TCK")
print(f"| {' | '.join(sys.argv[5].split())} | {sys.argv[6]} | wrk | {rps:,.0f} | {srv:.2f} | {gen:.2f} | "
      f"{n/srv:,.0f} | {n/gen:,.0f} | {srv/gen:.2f} | {sys.argv[7]} / {sys.argv[8]} |"
      + (f" {bad.group(1)} non-2xx" if bad else ""))
PY
    done
  done
done
