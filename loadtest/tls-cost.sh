#!/usr/bin/env bash
# What HTTPS costs: the same sluice build (1 shard on core 0, log on) served over plain HTTP
# and over TLS ([tls], a throwaway certificate), driven side by side in one run by wrk
# (1 thread, 64 keep-alive connections, core 1) with the same CSV POSTs: one-row bodies and
# ~55 KB bodies (1,000 rows). Loopback only; each run lasts SECONDS (default 8).
# sluice-load speaks plain HTTP only, hence wrk here (it does not verify certificates).
#
#   loadtest/tls-cost.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
OUT=${OUT:-target/tls-cost}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p sluice
rm -rf "$OUT"
mkdir -p "$OUT"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUT/key.pem" -out "$OUT/cert.pem" \
  -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null
{ cat src/default-config.toml
  printf '\n[tls]\ncert_file = "%s"\nkey_file = "%s"\n' "$PWD/$OUT/cert.pem" "$PWD/$OUT/key.pem"
} >"$OUT/tls.toml"
taskset -c 0 ./target/release/sluice --shards 1 --listen 127.0.0.1:18221 --data-dir "$OUT/d1" \
  >"$OUT/plain.log" 2>&1 &
plain=$!
taskset -c 0 ./target/release/sluice --config "$OUT/tls.toml" --shards 1 \
  --listen 127.0.0.1:18222 --data-dir "$OUT/d2" >"$OUT/tls.log" 2>&1 &
tls=$!
trap 'kill $plain $tls 2>/dev/null || true' EXIT
sleep 1
row='2,bob,3.99,2,false,2026-11-28 12:01:00,2026-12-01'
printf '%s\n' "$row" >"$OUT/1row.csv"
for _ in $(seq 1000); do printf '%s\n' "$row"; done >"$OUT/1000rows.csv"
cat >"$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/csv"
local f = io.open(os.getenv("BODY"), "rb")
wrk.body = f:read("*a")
f:close()
LUA
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
echo "| body | scheme | req/s | MB/s of bodies | server CPU s |"
echo "|---|---|---:|---:|---:|"
for body in 1row 1000rows; do
  size=$(stat -c %s "$OUT/$body.csv")
  for scheme in http https; do
    if [ $scheme = http ]; then port=18221; pid=$plain; else port=18222; pid=$tls; fi
    before=$(cpu $pid)
    BODY="$OUT/$body.csv" taskset -c 1 wrk -t1 -c64 -d"${secs}s" -s "$OUT/post.lua" \
      "$scheme://127.0.0.1:$port/v0/pipelines/demo/ingress/orders?format=csv" >"$OUT/$body-$scheme.txt"
    after=$(cpu $pid)
    rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$body-$scheme.txt")
    python3 -c "import sys; r=float(sys.argv[1]); print(f'| {sys.argv[2]} | {sys.argv[3]} | {r:,.0f} | {r*int(sys.argv[4])/1e6:,.1f} | {(int(sys.argv[6])-int(sys.argv[5]))/100:.2f} |')" \
      "$rps" "$body" "$scheme" "$size" "$before" "$after"
    grep -q "Non-2xx" "$OUT/$body-$scheme.txt" && grep "Non-2xx" "$OUT/$body-$scheme.txt"
  done
done
