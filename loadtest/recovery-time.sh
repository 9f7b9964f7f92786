#!/usr/bin/env bash
# Startup time over a large log: fill one shard's write-ahead log with at least SIZE_MB
# (default 1024) of segments by pushing 1 MiB CSV bodies with sluice-load, kill the server
# (SIGKILL, as a crash), then start it again three times and time each start until it
# listens (recovery replays every record before serving). Loopback only; every load run
# is bounded by --duration-s and the fill by a round count.
#
#   loadtest/recovery-time.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-1024}
OUT=${OUT:-target/recovery-time}
port=18191
cargo build --release -q -p sluice -p sluice-load
rm -rf "$OUT"
mkdir -p "$OUT"
# Retain more than we write, so nothing is deleted.
{ cat src/default-config.toml; printf '\n[wal]\nretain_bytes_max = %d\n' $(( (mb + 512) << 20 )); } \
  >"$OUT/sluice.toml"
serve() {
  ./target/release/sluice --config "$OUT/sluice.toml" --shards 1 --listen 127.0.0.1:$port \
    --data-dir "$OUT/data" >>"$OUT/sluice.log" 2>&1 &
  pid=$!
}
listening() { # waits until the log says so; prints nothing
  for _ in $(seq 1 6000); do
    if [ "$(grep -c 'listening on' "$OUT/sluice.log" || true)" -ge "$1" ]; then return 0; fi
    sleep 0.01
  done
  echo "sluice did not start" >&2; exit 1
}
log_mb() { du -sm "$OUT/data/wal" | cut -f1; }

serve; listening 1
for _ in $(seq 1 60); do
  [ "$(log_mb)" -ge "$mb" ] && break
  ./target/release/sluice-load --target 127.0.0.1:$port --pipeline demo --table bench \
    --format csv --body-bytes 1048576 --connections 8 --duration-s 5 --warmup-s 0 \
    --core 1 >/dev/null
done
kill -9 $pid; wait $pid 2>/dev/null || true
echo "log: $(log_mb) MiB in $(ls "$OUT"/data/wal/shard-000/*.wal | wc -l) segments"
starts=1
for run in 1 2 3; do
  # Cold page cache when allowed (root): the first start after a crash.
  cache=warm
  if [ -w /proc/sys/vm/drop_caches ]; then sync; echo 3 >/proc/sys/vm/drop_caches; cache=cold; fi
  t0=$(date +%s%N)
  serve; starts=$((starts + 1)); listening $starts
  t1=$(date +%s%N)
  echo "start $run ($cache cache): $(( (t1 - t0) / 1000000 )) ms until listening"
  kill $pid; wait $pid 2>/dev/null || true
done
grep 'recovered' "$OUT/sluice.log" | tail -1
