#!/usr/bin/env bash
# Soak: one sluice server (1 shard, with its log) through a long steady load, a long idle
# spell, and a second load, checking that nothing accumulates with time. It is how the
# fifteenth session's crash would have been caught: a shard panicked after 32,767 polls of
# one pending accept, 5.5 minutes of a server with no new connection
# (vendor/glommio/SLUICE-PATCH.md, change 6).
#
#   [SLUICE=BINARY] [SHARDS=N] loadtest/soak.sh [LOAD_S] [IDLE_S] [RATE]
#
# 1. LOAD_S seconds (default 180) of one-row CSV requests at RATE req/s (default 20000,
#    open loop) over 16 keep-alive connections, opened once;
# 2. IDLE_S seconds (default 400) with no request and no connection;
# 3. LOAD_S/2 seconds of the same load again.
# Every 5 s it samples the server's resident memory and open descriptors. The table keeps
# 8 MiB of rows in memory (`table_memory_bytes_max`, 64 MiB by default), so that the first
# load fills it and memory then has a plateau. It fails (exit 1) when the server died,
# logged a panic, answered a request with anything but 200, lost a row (completion_status
# of the last token is not `complete`), holds more descriptors at the end than after the
# idle spell, or grew its memory in the second load by more than 10% past the first
# load's peak or the idle spell's end (khugepaged may fill huge pages while idle).
# Loopback only; every phase is bounded. Reports go to $OUT. SLUICE picks the server
# binary (default target/release/sluice), e.g. an older build to compare. SHARDS (default
# 1) runs more shards on cores 0..N-1: connections land on every shard and all but the
# table's owner send their rows across the shards' channels.
set -euo pipefail
cd "$(dirname "$0")/.."
load_s=${1:-180}
idle_s=${2:-400}
rate=${3:-20000}
OUT=${OUT:-target/soak}
port=${PORT:-18240}
sluice=${SLUICE:-./target/release/sluice}
shards=${SHARDS:-1}
cargo build --release -q -p sluice -p sluice-load
rm -rf "$OUT"
mkdir -p "$OUT"
{ cat src/default-config.toml; printf '\n[ingest]\ntable_memory_bytes_max = 8388608\n'; } >"$OUT/soak.toml"
taskset -c "0-$((shards - 1))" "$sluice" --config "$OUT/soak.toml" --shards "$shards" --listen 127.0.0.1:$port --data-dir "$OUT/data" \
  >"$OUT/sluice.log" 2>&1 &
pid=$!
sampler=
trap 'kill $pid 2>/dev/null || true; [ -z "$sampler" ] || kill $sampler 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -s -m 1 -o /dev/null "http://127.0.0.1:$port/healthz" && break
  sleep 0.2
done
fds() { { ls /proc/$pid/fd 2>/dev/null || true; } | wc -l; }
# phase, seconds since start, RSS KiB, descriptors, RSS in transparent huge pages KiB.
( t0=$(date +%s)
  while kill -0 $pid 2>/dev/null; do
    echo "$(cat "$OUT/phase" 2>/dev/null || echo start) $(($(date +%s) - t0)) \
$(awk '/VmRSS/ {print $2}' /proc/$pid/status) $(ls /proc/$pid/fd | wc -l) \
$(awk '/AnonHugePages/ {print $2}' /proc/$pid/smaps_rollup)"
    sleep 5
  done ) >"$OUT/samples.txt" 2>/dev/null &
sampler=$!
load() { # name seconds
  echo "$1" >"$OUT/phase"
  ./target/release/sluice-load --target 127.0.0.1:$port --pipeline demo --table bench \
    --format csv --rows-per-request 1 --connections 16 --core 1 --rate "$rate" \
    --duration-s "$2" --server-pid "$pid" --json-report "$OUT/$1.json" >"$OUT/$1.txt" 2>&1 || true
}
echo "soak: $shards shard(s), load ${load_s} s at $rate req/s, idle ${idle_s} s, load $((load_s / 2)) s (reports in $OUT)"
load first "$load_s"
echo idle >"$OUT/phase"
sleep "$idle_s"
alive_after_idle=$(kill -0 $pid 2>/dev/null && echo yes || echo no)
# The baseline: the log's segment is open and the first load's connections are closed.
fds_idle=$(fds)
load second $((load_s / 2))
echo end >"$OUT/phase"
# The last row: its token must complete (the log synced it, nothing lost on the way).
token=$(curl -s -m 5 -X POST "http://127.0.0.1:$port/v0/pipelines/demo/ingress/bench?format=csv" \
  --data-binary $'1,x,1.5,true,2026-12-08,2026-12-08 00:00:00,1,1.00,y,1\n' |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("token", ""))' 2>/dev/null || true)
status=none
for _ in $(seq 50); do
  status=$(curl -s -m 5 "http://127.0.0.1:$port/v0/pipelines/demo/completion_status?token=$token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("status", ""))' 2>/dev/null || true)
  [ "$status" = complete ] && break
  sleep 0.1
done
sleep 6 # let idle keep-alive connections of the last load close on the server side
fds_end=$(fds)
kill $sampler 2>/dev/null || true
python3 - "$OUT" "$alive_after_idle" "$status" "$fds_idle" "$fds_end" "$rate" <<'PY'
import json, sys
out, alive, status, fds0, fds1, rate = sys.argv[1:7]
log = open(f"{out}/sluice.log").read()
def report(name):
    try:
        return json.load(open(f"{out}/{name}.json"))
    except (OSError, ValueError):
        return None
first, second = report("first"), report("second")
samples = [l.split() for l in open(f"{out}/samples.txt") if len(l.split()) == 5]
def peak(phase, col=2):
    return max((int(s[col]) for s in samples if s[0] == phase), default=0)
def last(phase, col=2):
    return ([int(s[col]) for s in samples if s[0] == phase] or [0])[-1]
problems = []
if alive != "yes":
    problems.append("the server died during the idle spell")
if "panicked" in log:
    problems.append("the server log has a panic")
for name, r in (("first", first), ("second", second)):
    if r is None:
        problems.append(f"{name} load: no report (see {out}/{name}.txt)")
        continue
    bad = {k: v for k, v in r["status"].items() if k != "200"}
    if bad or r["errors"]["io"]:
        problems.append(f"{name} load: statuses {r['status']}, io errors {r['errors']['io']}")
if status != "complete":
    problems.append(f"the last token's completion_status is {status!r}, not 'complete'")
if int(fds1) > int(fds0):
    problems.append(f"descriptors: {fds0} after the idle spell, {fds1} at the end")
# The baseline is the larger of the first load's peak and the memory at the end of the
# idle spell: there the kernel's khugepaged may have filled whole 2 MiB huge pages around
# the allocator's pages (mimalloc asks for them), which grows RSS with no allocation.
p1, p2, idle_end = peak("first"), peak("second"), last("idle")
base = max(p1, idle_end)
if p2 > base * 1.10:
    problems.append(f"memory: second load's peak {p2 / 1024:.0f} MiB > {base / 1024:.0f} MiB "
                    "(first load's peak or the idle spell's end) + 10%")
for name, r in (("first", first), ("second", second)):
    if r is None:
        continue
    print(f"{name} load: {r['req_per_s']:,.0f} req/s of {int(rate):,} offered, "
          f"p50 {r['latency_us']['p50'] / 1000:.2f} ms, p99 {r['latency_us']['p99'] / 1000:.2f} ms, "
          f"statuses {r['status']}")
print(f"RSS: first load's peak {p1 / 1024:.0f} MiB, idle spell's end {idle_end / 1024:.0f} MiB "
      f"(in huge pages: {last('first', 4) / 1024:.0f} MiB at the first load's end, "
      f"{last('idle', 4) / 1024:.0f} MiB at the idle spell's), second load's peak {p2 / 1024:.0f} MiB; "
      f"descriptors after the idle spell {fds0}, at the end {fds1}; "
      f"alive after the idle spell: {alive}; last token: {status}")
if problems:
    print("SOAK FAILED: " + "; ".join(problems))
    sys.exit(1)
print("soak passed")
PY
