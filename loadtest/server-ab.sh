#!/usr/bin/env bash
# Two sluice builds side by side, end to end: each serves 1 shard on core 0 with the
# default config minus the write-ahead log (LOG=1 keeps it), sluice-load on core 1 drives
# the same scenario at each in turn, alternating for ROUNDS rounds; prints every round,
# the best and the median of each, and their ratios (NEW over OLD), then both cores' CPU
# per request from /proc/stat (median rounds): the whole machine's, so work a build moves
# off the server's core (a kernel worker on the core that takes the disk's interrupt, say)
# still counts; the warm-up second is counted at the run's rate. Keep an old build
# with e.g. `cp target/release/sluice /tmp/sluice-old` before rebuilding. Loopback only;
# every run is bounded by --duration-s.
#
#   loadtest/server-ab.sh OLD_BINARY NEW_BINARY [SECONDS] [ROUNDS]
#   SCENARIOS="csv-1MiB json-1MiB csv-1row json-1row" (the default) picks scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 secs=${3:-5} rounds=${4:-4}
scenarios=${SCENARIOS:-csv-1MiB json-1MiB csv-1row json-1row}
OUT=${OUT:-target/server-ab}
mkdir -p "$OUT"
cargo build --release -q -p sluice-load --bins
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

cfg="$OUT/config.toml"
cat src/default-config.toml >"$cfg"
[ "${LOG:-0}" = 1 ] || printf '\n[wal]\nenabled = false\n' >>"$cfg"
port=18290
for which in old new; do
  bin=$old; [ $which = new ] && bin=$new
  rm -rf "$OUT/data-$which"
  taskset -c 0 "$bin" --config "$cfg" --shards 1 --listen 127.0.0.1:$port \
    --data-dir "$OUT/data-$which" >"$OUT/$which.log" 2>&1 &
  pids+=($!)
  declare "port_$which=$port"
  port=$((port + 1))
done
sleep 1

args_of() {
  case $1 in
    csv-1MiB) echo "--format csv --body-bytes 1048576 --connections 8" ;;
    json-1MiB) echo "--format json --body-bytes 1048576 --connections 8" ;;
    csv-1row) echo "--format csv --rows-per-request 1 --connections 64" ;;
    json-1row) echo "--format json --rows-per-request 1 --connections 64" ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
  esac
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); OLD=$old NEW=$new, log ${LOG:-0}"
# Busy clock ticks of all cores (user, nice, system, irq, softirq, steal).
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
for s in $scenarios; do
  for r in $(seq "$rounds"); do
    for which in old new; do
      p=port_$which
      b0=$(busy)
      # shellcheck disable=SC2046 # the scenario's arguments are words on purpose.
      ./target/release/sluice-load --target 127.0.0.1:${!p} --pipeline demo --table bench \
        --core 1 --duration-s "$secs" --warmup-s 1 --json-report "$OUT/$s-$which-$r.json" \
        $(args_of "$s") >"$OUT/$s-$which-$r.txt" 2>&1
      echo $(($(busy) - b0)) >"$OUT/$s-$which-$r.ticks"
    done
  done
  python3 - "$OUT" "$s" "$rounds" "$secs" <<'PY'
import json, os, statistics, sys
out, s, rounds, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
key = "body_mb_per_s" if "MiB" in s else "req_per_s"
unit = "MB/s" if "MiB" in s else "req/s"
v = {w: [json.load(open(f"{out}/{s}-{w}-{r}.json"))[key] for r in range(1, rounds + 1)]
     for w in ("old", "new")}
for w in ("old", "new"):
    print(f"{s} {w}: rounds {', '.join(f'{x:,.1f}' for x in v[w])} {unit}")
b = max(v["new"]) / max(v["old"])
m = statistics.median(v["new"]) / statistics.median(v["old"])
print(f"{s}: best {max(v['old']):,.1f} -> {max(v['new']):,.1f} {unit} ({b:.2f}x), "
      f"median {statistics.median(v['old']):,.1f} -> {statistics.median(v['new']):,.1f} ({m:.2f}x)")
def cpu_us(w, r):
    # Ticks over warm-up and run; requests of the run only: scale to the run.
    ticks = int(open(f"{out}/{s}-{w}-{r}.ticks").read()) * secs / (secs + 1)
    return ticks / os.sysconf("SC_CLK_TCK") * 1e6 / json.load(open(f"{out}/{s}-{w}-{r}.json"))["requests"]
c = {w: statistics.median(cpu_us(w, r) for r in range(1, rounds + 1)) for w in ("old", "new")}
print(f"{s}: both cores' CPU per request {c['old']:,.2f} -> {c['new']:,.2f} us ({c['new'] / c['old']:.2f}x)")
PY
done
