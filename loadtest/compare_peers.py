"""Peers of loadtest/compare.sh that are not HTTP servers, and its report.

  compare_peers.py pyarrow  DIR FORMAT SECONDS OUT.json
  compare_peers.py postgres DIR SECONDS PORT PGDATA OUT.json
  compare_peers.py table    OUT_DIR

The bodies in DIR are the ones `sluice-load --dump-bodies` wrote: the bytes the
HTTP peers are sent. Every loop is bounded by SECONDS of wall time (and the
postgres one also by a request count), and each prints one JSON record in the
shape `table` reads, beside the records it makes from sluice-load's
--json-report files. Standard library plus pyarrow and psycopg, which
compare.sh installs into a venv under target/.
"""

import glob
import json
import os
import sys
import time

# The demo `bench` table (src/default-config.toml) and sluice-load's default
# columns, in that order.
NAMES = [f"c{i}" for i in range(10)]

# A runaway loop is cut off even if the clock misbehaves: at ~1 MiB a body,
# a million requests is a terabyte, far beyond any bounded run here.
REQUESTS_MAX = 1_000_000


def load_bodies(directory, ext):
    paths = sorted(glob.glob(os.path.join(directory, f"body-*.{ext}")))
    if not paths:
        sys.exit(f"no body-*.{ext} in {directory} (sluice-load --dump-bodies)")
    bodies = [open(p, "rb").read() for p in paths]
    return bodies, [b.count(b"\n") for b in bodies]


def psi_total_us():
    """CPU pressure: microseconds in which some task waited for a CPU."""
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some"):
                    return int(line.split("total=")[1])
    except OSError:
        pass
    return None


def cpu_s(pids):
    """utime + stime of these processes (all their threads), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                # Fields after the command name, which may hold spaces.
                rest = f.read().rsplit(")", 1)[1].split()
            total += int(rest[11]) + int(rest[12])
        except OSError:
            pass  # a process that exited meanwhile takes its ticks with it
    return total / tick


def record(peer, scenario, secs, requests, rows, nbytes, cpu, load_cpu, psi_a, psi_b, errors,
           note):
    stalled = None
    if psi_a is not None and psi_b is not None and secs > 0:
        stalled = 100.0 * (psi_b - psi_a) / 1e6 / secs
    return {
        "peer": peer,
        "scenario": scenario,
        "duration_s": secs,
        "requests": requests,
        "rows": rows,
        "body_bytes": nbytes,
        "server_cpu_s": cpu,
        "load_cpu_s": load_cpu,
        "cpu_pressure_stalled_pct": stalled,
        "errors": errors,
        "note": note,
    }


def pyarrow_run(directory, fmt, seconds, out):
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson

    # One thread for everything, as the one-core servers get.
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    ts = pa.timestamp("us")
    if fmt == "csv":
        types = [pa.int64(), pa.string(), pa.float64(), pa.bool_(), pa.date32(), ts,
                 pa.int32(), pa.decimal128(10, 2), pa.string(), pa.int16()]
        note = "use_threads=False, explicit bench schema"
    else:
        # pyarrow's JSON reader cannot turn a string into date32, so c4 stays
        # a string (its only deviation from the bench schema).
        types = [pa.int64(), pa.string(), pa.float64(), pa.bool_(), pa.string(), ts,
                 pa.int32(), pa.decimal128(10, 2), pa.string(), pa.int16()]
        note = "use_threads=False, explicit schema; c4 (DATE) read as string"
    schema = pa.schema(list(zip(NAMES, types)))
    bodies, rows_per = load_bodies(directory, fmt)
    bufs = [pa.py_buffer(b) for b in bodies]

    def decode(buf):
        src = pa.BufferReader(buf)
        if fmt == "csv":
            t = pcsv.read_csv(src,
                              read_options=pcsv.ReadOptions(use_threads=False,
                                                            column_names=NAMES,
                                                            block_size=2 << 20),
                              convert_options=pcsv.ConvertOptions(column_types=schema))
        else:
            t = pjson.read_json(src,
                                read_options=pjson.ReadOptions(use_threads=False,
                                                               block_size=2 << 20),
                                parse_options=pjson.ParseOptions(explicit_schema=schema))
        return t.num_rows

    # Warm-up and a check that every row decodes (a decoder that dropped
    # rows would look fast).
    for buf, n in zip(bufs, rows_per):
        got = decode(buf)
        if got != n:
            sys.exit(f"pyarrow {fmt}: {got} rows decoded, {n} in the body")
    requests = rows = nbytes = 0
    psi_a, cpu_a, t0 = psi_total_us(), time.process_time(), time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline and requests < REQUESTS_MAX:
        i = requests % len(bufs)
        rows += decode(bufs[i])
        nbytes += len(bodies[i])
        requests += 1
    secs = time.monotonic() - t0
    cpu, psi_b = time.process_time() - cpu_a, psi_total_us()
    r = record("pyarrow", f"{fmt}-1MiB", secs, requests, rows, nbytes, cpu, None, psi_a, psi_b, 0,
               f"pyarrow {pa.__version__} {note}; in-process, no HTTP")
    json.dump(r, open(out, "w"), indent=1)


def cluster_pids(pgdata):
    """The postmaster and its children (backends, WAL writer, checkpointer)."""
    with open(os.path.join(pgdata, "postmaster.pid")) as f:
        master = int(f.readline())
    pids = [master]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def postgres_run(directory, seconds, port, pgdata, out):
    import psycopg

    bodies, rows_per = load_bodies(directory, "csv")
    conn = psycopg.connect(host="127.0.0.1", port=int(port), user="postgres",
                           dbname="postgres", autocommit=True)
    cur = conn.cursor()
    cur.execute("SHOW synchronous_commit")
    sync = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM bench")
    before_rows = cur.fetchone()[0]

    def copy(body):
        # One COPY per body, each its own transaction (autocommit): a commit
        # per request, as sluice's durable mode syncs before tokens complete.
        with cur.copy("COPY bench FROM STDIN (FORMAT csv)") as cp:
            cp.write(body)

    copy(bodies[0])  # warm-up: connection, plan and relation caches
    pids = cluster_pids(pgdata)  # after warm-up, so the backend is there
    requests = rows = nbytes = 0
    psi_a, cpu_a, t0 = psi_total_us(), cpu_s(pids), time.monotonic()
    load_a = time.process_time()
    deadline = t0 + seconds
    while time.monotonic() < deadline and requests < REQUESTS_MAX:
        i = requests % len(bodies)
        copy(bodies[i])
        rows += rows_per[i]
        nbytes += len(bodies[i])
        requests += 1
    secs = time.monotonic() - t0
    cpu, psi_b = cpu_s(pids) - cpu_a, psi_total_us()
    load_cpu = time.process_time() - load_a
    cur.execute("SELECT count(*) FROM bench")
    stored = cur.fetchone()[0] - before_rows
    conn.close()
    # The table must hold what was sent (warm-up included), or the run lied.
    errors = 0 if stored == rows + rows_per[0] else 1
    r = record("postgres", "csv-1MiB", secs, requests, rows, nbytes, cpu, load_cpu, psi_a, psi_b,
               errors,
               f"COPY FROM STDIN (FORMAT csv), logged table, synchronous_commit={sync}, "
               f"one transaction per body (psycopg {psycopg.__version__}); {stored} rows stored")
    json.dump(r, open(out, "w"), indent=1)


def from_sluice_load(path, peer, scenario, note):
    j = json.load(open(path))
    host = j.get("host") or {}
    cpu = (host.get("server") or {}).get("cpu_s")
    load_cpu = (host.get("load") or {}).get("cpu_s")
    stalled = (host.get("cpu_pressure") or {}).get("stalled_pct")
    errs = j["errors"]
    return {
        "peer": peer,
        "scenario": scenario,
        "duration_s": j["duration_s"],
        "requests": j["requests"],
        "rows": j["rows"],
        "body_bytes": j["body_bytes"],
        "server_cpu_s": cpu,
        "load_cpu_s": load_cpu,
        "cpu_pressure_stalled_pct": stalled,
        "errors": errs["non_2xx"] + errs["io"] + errs["bad_response"],
        "note": note,
    }


def table(out_dir):
    with open(os.path.join(out_dir, "runs.jsonl")) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    recs = []
    for run in runs:
        if run["kind"] == "sluice-load":
            recs.append(from_sluice_load(run["file"], run["peer"], run["scenario"], run["note"]))
        else:
            r = json.load(open(run["file"]))
            recs.append(r)
    print("| scenario | peer | req/s | rows/s | MB/s | server CPU s | CPU-s per GB | rows per CPU-s "
          "| load CPU s | CPU pressure | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        d = r["duration_s"]
        cpu = r["server_cpu_s"]
        gb = r["body_bytes"] / 1e9
        r["req_per_s"] = r["requests"] / d
        r["rows_per_s"] = r["rows"] / d
        r["mb_per_s"] = r["body_bytes"] / 1e6 / d
        r["cpu_s_per_gb"] = cpu / gb if cpu and gb else None
        r["rows_per_cpu_s"] = r["rows"] / cpu if cpu else None
        stalled = r["cpu_pressure_stalled_pct"]
        print(f"| {r['scenario']} | {r['peer']} | {r['req_per_s']:,.0f} | {r['rows_per_s']:,.0f} | "
              f"{r['mb_per_s']:,.1f} | {cpu:.2f} | "
              + (f"{r['cpu_s_per_gb']:.2f}" if r["cpu_s_per_gb"] else "-") + " | "
              + (f"{r['rows_per_cpu_s']:,.0f}" if r["rows_per_cpu_s"] else "-") + " | "
              + (f"{r['load_cpu_s']:.2f}" if r.get("load_cpu_s") is not None else "-") + " | "
              + (f"{stalled:.0f}%" if stalled is not None else "-") + f" | {r['errors']} |")
    print()
    for r in recs:
        print(f"- {r['scenario']} {r['peer']}: {r['note']}")
    json.dump(recs, open(os.path.join(out_dir, "compare.json"), "w"), indent=1)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "pyarrow" and len(sys.argv) == 6:
        pyarrow_run(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
    elif cmd == "postgres" and len(sys.argv) == 7:
        postgres_run(sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
    elif cmd == "table" and len(sys.argv) == 3:
        table(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
