#!/usr/bin/env bash
# Side by side in one run (issue 5): the same generated rows of the demo `bench` table, in
# 1 MiB CSV and JSON-lines bodies, pushed into the systems a user would pick instead of
# sluice, each limited to one core:
#   sluice       1 shard, write-ahead log with fsync = always (the default)
#   sluice-nolog 1 shard, [wal] enabled = false
#   clickhouse   HTTP INSERT ... FORMAT CSV / JSONEachRow into a MergeTree table,
#                max_threads=1, a throwaway server with a generated config
#   postgres     COPY bench FROM STDIN (FORMAT csv), logged table, synchronous_commit=on,
#                one transaction per body, a throwaway cluster (initdb)
#   nginx        reads every request body into memory and discards it (echo module's
#                echo_read_request_body): the HTTP ceiling of a mainstream server
#   pyarrow      pyarrow.csv / pyarrow.json readers, use_threads=False: the decode anchor
# Servers and pyarrow run on core 0 (taskset), the load (sluice-load, the COPY client) on
# core 1. One peer runs at a time and is stopped and deleted before the next starts. The
# bodies are generated once by sluice-load (--dump-bodies for the non-HTTP peers; the HTTP
# peers get the same bytes from the same seed). Loopback only; each run lasts SECONDS
# (+1 s warm-up), the whole script at most MAX_S seconds (a watchdog ends it); everything
# it starts is stopped and its data deleted on exit.
#
#   loadtest/compare.sh [SECONDS]
#     PEERS="sluice sluice-nolog clickhouse postgres nginx pyarrow"   (the default: all)
#     BUILD=0      use the binaries already built
#     INSTALL=0    never apt-get install (peers whose programs are missing are skipped)
#     OUT=target/compare  reports; compare.json and table.md hold the result
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
OUT=${OUT:-target/compare}
PEERS=${PEERS:-"sluice sluice-nolog clickhouse postgres nginx pyarrow"}
# Per peer: startup (<= 30 s), 2 runs of secs + 1 s, shutdown; plus builds and installs.
MAX_S=${MAX_S:-$((900 + 8 * (secs + 1) * 2))}
CORE_SERVER=0
CORE_LOAD=1
port_sluice=18201 port_nolog=18202 port_ch=18203 port_ch_tcp=18204 port_nginx=18205 port_pg=18206 port_nginx_check=18207
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RUNS="$OUT/runs.jsonl"
: >"$RUNS"

# The log alone can write ~300 MB/s; retention holds it near 1 GiB, and every peer's data
# is deleted after its runs, so a few GB suffice.
avail_kb=$(df -Pk "$OUT" | awk 'NR==2 {print $4}')
if [ "$avail_kb" -lt $((6 * 1024 * 1024)) ]; then
  echo "compare.sh: less than 6 GB free under $OUT; refusing to fill the disk" >&2
  exit 1
fi

pids=()
pg_data=""
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ] && as_pg pg_ctl -D "$pg_data" -m immediate stop >/dev/null 2>&1
  # The watchdog and its sleep, by pid.
  [ -n "${watchdog:-}" ] && kill $(pgrep -P "$watchdog") "$watchdog" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$OUT/data-sluice" "$OUT/data-nolog" "$OUT/ch" "$OUT/pg" "$OUT/nginx"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The watchdog turns a hang anywhere (a peer that never answers) into an exit and cleanup.
( sleep "$MAX_S"; echo "compare.sh: over MAX_S=$MAX_S s, stopping" >&2; kill -TERM $$ ) &
watchdog=$!

as_pg() { # PostgreSQL refuses to run as root: use its own user then.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
wait_http() { # url: up to 30 s for a peer to answer
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "compare.sh: nothing answers $1" >&2
  return 1
}
want() { [[ " $PEERS " == *" $1 "* ]]; }
note_run() { # kind peer scenario file note
  python3 -c 'import json,sys; print(json.dumps(dict(zip(["kind","peer","scenario","file","note"], sys.argv[1:]))))' \
    "$@" >>"$RUNS"
}
psi_avg10() { awk '/^some/{split($2,a,"="); print a[2]}' /proc/pressure/cpu 2>/dev/null || echo "?"; }

# --- programs --------------------------------------------------------------------------
if [ "${BUILD:-1}" != 0 ]; then
  cargo build --release -q -p sluice -p sluice-load --bins
fi
missing=()
want clickhouse && ! command -v clickhouse-server >/dev/null && missing+=(clickhouse-server)
want nginx && ! [ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] && missing+=(nginx libnginx-mod-http-echo)
if [ ${#missing[@]} -gt 0 ] && [ "${INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ]; then
  # No service starts: the peers below run as our own processes with generated configs.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$OUT/apt.log" 2>&1 \
    || echo "compare.sh: apt-get install ${missing[*]} failed (see $OUT/apt.log)" >&2
fi
VENV=target/compare-venv
if { want pyarrow || want postgres; } && ! "$VENV/bin/python" -c 'import pyarrow, psycopg' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "pyarrow==25.0.1" "psycopg[binary]==3.3.6"
fi
LOAD=./target/release/sluice-load
HELPER=loadtest/compare_peers.py

# --- the bodies ------------------------------------------------------------------------
# Same seed, columns and size as every HTTP run below, so these are byte for byte the
# bodies those runs send (loadtest/src/tests.rs checks the dump against the pool).
gen_args=(--body-bytes 1048576 --seed 1)
for f in csv json; do
  rm -rf "$OUT/bodies-$f"
  $LOAD "${gen_args[@]}" --table bench --format $f --dump-bodies "$OUT/bodies-$f" >/dev/null
done

load() { # name peer scenario note port format table [extra sluice-load args]
  local name=$1 peer=$2 scenario=$3 note=$4 port=$5 fmt=$6 table=$7; shift 7
  $LOAD --target 127.0.0.1:$port "${gen_args[@]}" --table "$table" --format "$fmt" --connections 8 \
    --core $CORE_LOAD --duration-s "$secs" --warmup-s 1 --server-pid auto \
    --json-report "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>&1 \
    || { echo "compare.sh: $name failed (see $OUT/$name.txt)" >&2; return 1; }
  note_run sluice-load "$peer" "$scenario" "$OUT/$name.json" "$note"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), CPU pressure avg10 $(psi_avg10)%" | tee "$OUT/machine.txt"

# --- sluice ----------------------------------------------------------------------------
for peer in sluice sluice-nolog; do
  want $peer || continue
  if [ $peer = sluice ]; then
    port=$port_sluice data="$OUT/data-sluice" cfg=src/default-config.toml
    note="1 shard, log fsync=always (default)"
  else
    port=$port_nolog data="$OUT/data-nolog" cfg="$OUT/nolog.toml"
    { cat src/default-config.toml; printf '\n[wal]\nenabled = false\n'; } >"$cfg"
    note="1 shard, [wal] enabled = false"
  fi
  rm -rf "$data"
  taskset -c $CORE_SERVER ./target/release/sluice --config "$cfg" --shards 1 \
    --listen 127.0.0.1:$port --data-dir "$data" >"$OUT/$peer.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_http "http://127.0.0.1:$port/healthz"
  load "$peer-csv" $peer csv-1MiB "$note" $port csv bench || true
  load "$peer-json" $peer json-1MiB "$note" $port json bench || true
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
done

# --- ClickHouse ------------------------------------------------------------------------
ch_sql() { curl -fsS --data-binary "$1" "http://127.0.0.1:$port_ch/"; }
if want clickhouse && command -v clickhouse-server >/dev/null; then
  ch="$OUT/ch"
  rm -rf "$ch"
  mkdir -p "$ch/data" "$ch/tmp" "$ch/log"
  # A throwaway server: its own ports, paths and user, not the system service.
  # max_threads=1 in the profile limits query processing to one thread; taskset
  # holds background merges and every other thread to the same core.
  cat >"$ch/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$ch/log/server.log</log><errorlog>$ch/log/err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>$port_ch</http_port>
  <tcp_port>$port_ch_tcp</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>256</max_connections>
  <keep_alive_timeout>10</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <mark_cache_size>67108864</mark_cache_size>
  <path>$ch/data/</path>
  <tmp_path>$ch/tmp/</tmp_path>
  <user_files_path>$ch/user_files/</user_files_path>
  <format_schema_path>$ch/format_schemas/</format_schema_path>
  <users_config>$ch/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
XML
  cat >"$ch/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_threads>1</max_threads><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  taskset -c $CORE_SERVER clickhouse-server --config-file="$ch/config.xml" >"$ch/log/stdout.log" 2>&1 &
  ch_pid=$!
  pids+=("$ch_pid")
  wait_http "http://127.0.0.1:$port_ch/ping"
  ch_version=$(ch_sql "SELECT version()")
  # The bench columns in ClickHouse 18.16's types. Two deviations, because 18.16 cannot
  # read the text sluice reads: c5 TIMESTAMP is a String (its DateTime has no fraction of
  # a second and refuses ".789012"), and c3 BOOLEAN (no Bool type) is Enum8 for CSV
  # (UInt8 refuses "true" in CSV) and UInt8 for JSON (where it takes true/false).
  for f in csv json; do
    if [ $f = csv ]; then c3="Enum8('false' = 0, 'true' = 1)"; else c3=UInt8; fi
    ch_sql "CREATE TABLE bench_$f (c0 Int64, c1 String, c2 Float64, c3 $c3, c4 Date, c5 String,
      c6 Int32, c7 Decimal(10, 2), c8 String, c9 Int16) ENGINE = MergeTree ORDER BY tuple()"
  done
  for f in csv json; do
    note="ClickHouse $ch_version, MergeTree, max_threads=1; c5 as String, c3 as $( [ $f = csv ] && echo Enum8 || echo UInt8)"
    load "clickhouse-$f" clickhouse "$f-1MiB" "$note" $port_ch $f bench_$f --peer clickhouse || true
    stored=$(ch_sql "SELECT count() FROM bench_$f" || echo "?")
    parts=$(ch_sql "SELECT count() FROM system.parts WHERE table = 'bench_$f' AND active" || echo "?")
    # The stored count includes the warm-up's rows; the note says what the table holds.
    python3 - "$RUNS" "$stored" "$parts" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
last = json.loads(lines[-1])
last["note"] += f"; {sys.argv[2].strip()} rows stored (warm-up included), {sys.argv[3].strip()} active parts after the run"
lines[-1] = json.dumps(last)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
  done
  kill "$ch_pid"
  wait "$ch_pid" 2>/dev/null || true
  rm -rf "$ch"
elif want clickhouse; then
  echo "compare.sh: clickhouse-server not installed, skipped" >&2
fi

# --- PostgreSQL ------------------------------------------------------------------------
if want postgres && command -v initdb >/dev/null; then
  pg="$OUT/pg"
  rm -rf "$pg"
  mkdir -p "$pg"
  [ "$(id -u)" = 0 ] && chown postgres "$pg"
  pg_data="$pg/data"
  as_pg initdb -D "$pg_data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$OUT/initdb.log" 2>&1
  # Unix socket in the cluster's own directory; TCP on loopback only.
  as_pg taskset -c $CORE_SERVER pg_ctl -D "$pg_data" -l "$pg/server.log" -w -t 30 \
    -o "-p $port_pg -k $pg -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c fsync=on" \
    start >/dev/null
  psql -q -h 127.0.0.1 -p $port_pg -U postgres -c "CREATE TABLE bench (c0 bigint, c1 text,
    c2 double precision, c3 boolean, c4 date, c5 timestamp, c6 int, c7 numeric(10, 2),
    c8 text, c9 smallint)"
  taskset -c $CORE_LOAD "$VENV/bin/python" $HELPER postgres "$OUT/bodies-csv" "$secs" $port_pg \
    "$pg_data" "$OUT/postgres-csv.json" && note_run record postgres csv-1MiB "$OUT/postgres-csv.json" "" \
    || echo "compare.sh: postgres run failed" >&2
  as_pg pg_ctl -D "$pg_data" -m fast stop >/dev/null
  rm -rf "$pg"
  pg_data=""
elif want postgres; then
  echo "compare.sh: PostgreSQL's initdb not found, skipped" >&2
fi

# --- nginx -----------------------------------------------------------------------------
echo_mod=/usr/lib/nginx/modules/ngx_http_echo_module.so
if want nginx && command -v nginx >/dev/null && [ -f $echo_mod ]; then
  ngx="$OUT/nginx"
  rm -rf "$ngx"
  mkdir -p "$ngx"
  # echo_read_request_body reads the whole body before the handler answers. A plain
  # `return 200` would answer first and only then drain the body (discard), and a large
  # client_body_buffer_size keeps the body in memory, not in a temp file. The second
  # server, same location, logs $request_length (head + body bytes nginx read) for a
  # short check before the measured runs, which have no log.
  location='location / { echo_read_request_body; echo ok; }'
  cat >"$ngx/nginx.conf" <<CONF
load_module $echo_mod;
daemon off;
worker_processes 1;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    log_format bodies '\$request_length \$content_length \$status';
    client_body_temp_path $ngx/body;
    proxy_temp_path $ngx/proxy;
    fastcgi_temp_path $ngx/fastcgi;
    uwsgi_temp_path $ngx/uwsgi;
    scgi_temp_path $ngx/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    client_max_body_size 4m;
    client_body_buffer_size 4m;
    server { listen 127.0.0.1:$port_nginx; $location }
    server { listen 127.0.0.1:$port_nginx_check; access_log $ngx/check.log bodies; $location }
}
CONF
  taskset -c $CORE_SERVER nginx -c "$ngx/nginx.conf" -p "$ngx" >"$ngx/stdout.log" 2>&1 &
  ngx_pid=$!
  pids+=("$ngx_pid")
  wait_http "http://127.0.0.1:$port_nginx/"
  $LOAD --target 127.0.0.1:$port_nginx_check "${gen_args[@]}" --table bench --format csv \
    --connections 4 --requests 64 --core $CORE_LOAD >"$OUT/nginx-check.txt" 2>&1
  # Every POST must have been read whole: $request_length = its head + Content-Length.
  ngx_check=$(python3 - "$ngx/check.log" <<'PY'
import sys
posts = [l.split() for l in open(sys.argv[1]) if l.split()[1] != "-"]
ok = [p for p in posts if p[2] == "200" and 0 < int(p[0]) - int(p[1]) < 1024]
body = sum(int(p[1]) for p in ok)
print(f"check: {len(ok)} of {len(posts)} POSTs logged with $request_length = head + "
      f"Content-Length ({body / 1e6:.1f} MB of bodies read)")
PY
)
  echo "nginx $ngx_check"
  for f in csv json; do
    load "nginx-$f" nginx "$f-1MiB" "nginx $(nginx -v 2>&1 | cut -d/ -f2), 1 worker, echo_read_request_body; $ngx_check" \
      $port_nginx $f bench || true
  done
  kill "$ngx_pid"
  wait "$ngx_pid" 2>/dev/null || true
  rm -rf "$ngx"
elif want nginx; then
  echo "compare.sh: nginx or its echo module (libnginx-mod-http-echo) not installed, skipped" >&2
fi

# --- pyarrow ---------------------------------------------------------------------------
if want pyarrow; then
  for f in csv json; do
    taskset -c $CORE_SERVER "$VENV/bin/python" $HELPER pyarrow "$OUT/bodies-$f" $f "$secs" \
      "$OUT/pyarrow-$f.json" && note_run record pyarrow "$f-1MiB" "$OUT/pyarrow-$f.json" "" \
      || echo "compare.sh: pyarrow $f failed" >&2
  done
fi

echo
python3 $HELPER table "$OUT" | tee "$OUT/table.md"
echo
echo "JSON: $OUT/compare.json; per-run reports and logs in $OUT"
