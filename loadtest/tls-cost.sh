#!/usr/bin/env bash
# What HTTPS costs: the same sluice build (1 shard on core 0, log on) served over plain HTTP
# and over TLS ([tls], a server certificate signed by a throwaway CA), driven side by side
# in one run by sluice-load (64 keep-alive connections, core 1, 1 s warm-up) with the same
# CSV POSTs to the demo `bench` table: one-row bodies and ~55 KB bodies. The TLS client
# verifies the server against that CA (--tls --ca-file) and handshakes on every connect.
# Two rounds, plain and TLS alternating (the order flips in round 2); each row of the table
# is the better round. Server CPU is sluice's utime + stime from /proc/PID/stat read before
# and after each sluice-load run, per 100,000 requests answered in it (warm-up included).
# Loopback only; each run lasts SECONDS (default 8). JSON reports go to $OUT.
#
#   loadtest/tls-cost.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
OUT=${OUT:-target/tls-cost}
cargo build --release -q -p sluice -p sluice-load
rm -rf "$OUT"
mkdir -p "$OUT"
# Absolute: the config names the certificate files (OUT may be relative or absolute).
OUT=$(cd "$OUT" && pwd)
# A CA and a server certificate for 127.0.0.1 it signed (rustls, like any verifying
# client, does not take a self-signed CA certificate as a server's own).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUT/ca.key" -out "$OUT/ca.pem" -days 1 \
  -subj "/CN=tls-cost CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$OUT/key.pem" -out "$OUT/csr.pem" \
  -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$OUT/ext.cnf"
openssl x509 -req -in "$OUT/csr.pem" -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" -CAcreateserial \
  -out "$OUT/cert.pem" -days 1 -extfile "$OUT/ext.cnf" 2>/dev/null
{ cat src/default-config.toml
  printf '\n[tls]\ncert_file = "%s"\nkey_file = "%s"\n' "$OUT/cert.pem" "$OUT/key.pem"
} >"$OUT/tls.toml"
taskset -c 0 ./target/release/sluice --shards 1 --listen 127.0.0.1:18221 --data-dir "$OUT/d1" \
  >"$OUT/plain.log" 2>&1 &
plain=$!
taskset -c 0 ./target/release/sluice --config "$OUT/tls.toml" --shards 1 \
  --listen 127.0.0.1:18222 --data-dir "$OUT/d2" >"$OUT/tls.log" 2>&1 &
tls=$!
trap 'kill $plain $tls 2>/dev/null || true' EXIT
sleep 1

cpu() { awk '{print $14+$15}' /proc/$1/stat; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for round in 1 2; do
  schemes="http https"
  [ $round = 2 ] && schemes="https http"
  for body in 1row 55KB; do
    case $body in
      1row) size=(--rows-per-request 1) ;;
      *) size=(--body-bytes 55000) ;;
    esac
    for scheme in $schemes; do
      if [ $scheme = http ]; then port=18221; pid=$plain; tlsargs=()
      else port=18222; pid=$tls; tlsargs=(--tls --ca-file "$OUT/ca.pem"); fi
      name=$body-$scheme-$round
      before=$(cpu $pid)
      ./target/release/sluice-load --target 127.0.0.1:$port --pipeline demo --table bench \
        --format csv "${size[@]}" --connections 64 --core 1 --duration-s "$secs" --warmup-s 1 \
        "${tlsargs[@]}" --json-report "$OUT/$name.json" >"$OUT/$name.txt" 2>&1
      after=$(cpu $pid)
      echo "$before $after" >"$OUT/$name.cpu"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
tick = os.sysconf("SC_CLK_TCK")
def load(body, scheme, rnd):
    n = f"{out}/{body}-{scheme}-{rnd}"
    r = json.load(open(n + ".json"))
    before, after = map(int, open(n + ".cpu").read().split())
    answered = r["requests"] + r["warmup_requests"]
    r["cpu_per_100k"] = (after - before) / tick / answered * 1e5 if answered else float("nan")
    r["bad"] = r["requests"] - r["status"].get("200", 0) + r["errors"]["io"] + r["errors"]["bad_response"]
    return r
print("| body | scheme | req/s | MB/s of bodies | p50 ms | p99 ms | server CPU s / 100k req "
      "| load CPU s / 100k req | CPU stalled % | vs plain (req/s, server CPU) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
for body in ["1row", "55KB"]:
    best = {}
    for scheme in ["http", "https"]:
        runs = [load(body, scheme, k) for k in (1, 2)]
        best[scheme] = max(runs, key=lambda r: r["req_per_s"])
    for scheme in ["http", "https"]:
        r, p = best[scheme], best["http"]
        vs = "" if scheme == "http" else \
            f"{r['req_per_s'] / p['req_per_s']:.2f}x, {r['cpu_per_100k'] / p['cpu_per_100k']:.2f}x"
        lat, h = r["latency_us"], r["host"]
        # The generator's CPU (measured part only) shows it was not the limit.
        gen_cpu = h["load"]["cpu_s"] / r["requests"] * 1e5 if r["requests"] else float("nan")
        stalled = h["cpu_pressure"]["stalled_pct"]
        print(f"| {body} | {scheme} | {r['req_per_s']:,.0f} | {r['body_mb_per_s']:,.1f} | "
              f"{lat['p50'] / 1000:.2f} | {lat['p99'] / 1000:.2f} | {r['cpu_per_100k']:.2f} | "
              f"{gen_cpu:.2f} | {'?' if stalled is None else f'{stalled:.0f}'} | {vs} |"
              + (f" ({r['bad']} failed, {r['connects']} connects)" if r["bad"] else ""))
print()
print("each row: the better of 2 rounds; CPU stalled: the share of the run in which some task"
      " waited for a CPU (/proc/pressure/cpu; over ~10% other work competed). Other round's req/s:",
      ", ".join(f"{b}/{s} {min((load(b, s, k) for k in (1, 2)), key=lambda r: r['req_per_s'])['req_per_s']:,.0f}"
                for b in ["1row", "55KB"] for s in ["http", "https"]))
PY
