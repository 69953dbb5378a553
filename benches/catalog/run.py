#!/usr/bin/env python3
"""Catalog sync under load: `vigil serve` (SQLite, or --pg URL) and `vigil sim` as separate
processes on loopback. Starts the platform, starts N devices x M channels at once, polls
GET /api/v1/devices until every catalog is complete, and prints the time to that point,
the server's CPU (user+system from /proc/<pid>/stat) and its RSS (current and peak).

  cargo build --release -p vigil
  benches/catalog/run.py --devices 1000 --channels 16 --page 1
  benches/catalog/run.py --devices 1 --channels 2000 --page 1

benches/catalog/compare.sh runs these cases with two binaries in turn (before/after).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) / 1024
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def devices(http):
    with urllib.request.urlopen(f"http://{http}/api/v1/devices?per_page=1000", timeout=30) as r:
        return json.load(r)["items"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", default="target/release/vigil")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--page", type=int, default=1, help="catalog items per MESSAGE")
    ap.add_argument("--pg", help="PostgreSQL server URL (postgres://USER@HOST:PORT/DB) to run on "
                    "instead of a temp SQLite file; a scratch database is created there and dropped")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="vigil-catalog-bench-")
    db_url = f"sqlite://{tmp}/vigil.db"
    scratch = None
    if args.pg:
        scratch = f"vigil_bench_{os.getpid()}"
        subprocess.run(["psql", args.pg, "-qc", f"CREATE DATABASE {scratch}"], check=True)
        db_url = args.pg.rsplit("/", 1)[0] + "/" + scratch
    sip, http = "127.0.0.1:37060", "127.0.0.1:38080"
    env = dict(
        os.environ,
        VIGIL_SIP__LISTEN=sip,
        VIGIL_HTTP__LISTEN=http,
        VIGIL_DATABASE__URL=db_url,
        VIGIL_LOG__LEVEL="warn",
        # This measures catalogs, not logins: the API it polls is left open.
        VIGIL_AUTH__ENABLED="false",
    )
    server = subprocess.Popen([args.vigil, "serve"], env=env)
    if os.environ.get("BENCH_PERF"):
        subprocess.Popen(["perf", "record", "-F", "499", "-g", "-o", os.environ["BENCH_PERF"], "-p", str(server.pid)], stderr=subprocess.DEVNULL)
    sim = None
    try:
        for _ in range(100):
            try:
                devices(http)
                break
            except OSError:
                time.sleep(0.1)
        cpu0 = cpu_seconds(server.pid)
        t0 = time.monotonic()
        sim = subprocess.Popen(
            [args.vigil, "sim", "--server", sip, "--devices", str(args.devices),
             "--channels", str(args.channels), "--catalog-page", str(args.page),
             "--rate", "0", "--id-prefix", "3402000000118", "--status-every", "3600"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        online_at = None
        while True:
            time.sleep(0.2)
            items = devices(http)
            t = time.monotonic() - t0
            online = sum(1 for d in items if d["online"])
            complete = sum(1 for d in items if d["catalog_state"] == "complete")
            if online_at is None and online >= args.devices:
                online_at = t
            if complete >= args.devices:
                break
            if t > args.timeout:
                states = {}
                for d in items:
                    states[d["catalog_state"]] = states.get(d["catalog_state"], 0) + 1
                sys.exit(f"timeout after {t:.1f} s: online {online}, catalog states {states}")
        cpu = cpu_seconds(server.pid) - cpu0
        rss, hwm = rss_mib(server.pid)
        channels = sum(d["catalog_received"] for d in items)
        print(json.dumps({
            "devices": args.devices, "channels_per_device": args.channels,
            "items_per_message": args.page, "database": "postgres" if args.pg else "sqlite",
            "all_online_s": round(online_at or t, 2), "all_catalogs_complete_s": round(t, 2),
            "channels_stored": channels, "server_cpu_s": round(cpu, 2),
            "server_rss_mib": round(rss), "server_peak_rss_mib": round(hwm),
        }))
    finally:
        if sim:
            sim.terminate()
            sim.wait()
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        if scratch:
            subprocess.run(["psql", args.pg, "-qc", f"DROP DATABASE {scratch} WITH (FORCE)"])


if __name__ == "__main__":
    main()
