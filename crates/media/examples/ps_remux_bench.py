#!/usr/bin/env python3
"""Remux throughput, vigil vs ffmpeg, whole process, same run (docs/BENCHMARKS.md).

    cargo build --release -p vigil-media --example ps_remux
    target/release/examples/ps_remux make-ps /dev/shm/in.ps 60
    crates/media/examples/ps_remux_bench.py /dev/shm/in.ps [--runs 30] [--vigil PATH]...

Each round runs every command once, in turn, so a load change on the shared machine hits all
of them alike. Per run: wall time (spawn to exit) and CPU time (user + system of the child,
from wait4). Outputs are deleted before each run (untimed) unless --overwrite is given, so
no run pays for freeing the previous run's output. `cat` (read the input, write a copy) is
the I/O floor on the same files. At the end each output is checked with ffprobe: the same
number of video frames and the same duration.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time


def run(cmd, out, overwrite):
    if not overwrite and os.path.exists(out):
        os.remove(out)
    actions = [(os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    if cmd[0] == "cat":
        actions.append((os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    start = time.perf_counter_ns()
    # posix_spawn (vfork-like) rather than fork: forking this Python process costs about a
    # millisecond of page-table copying, the same for every command but a large share of
    # the fastest ones.
    pid = os.posix_spawnp(cmd[0], cmd, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - start) / 1e6
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed: {status}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1e3


def frames(path):
    r = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_packets:format=duration", "-of", "csv=p=0", path],
        capture_output=True, text=True, check=True)
    return " ".join(r.stdout.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--vigil", action="append",
                    help="ps_remux binaries to compare (default target/release/examples/ps_remux)")
    ap.add_argument("--overwrite", action="store_true",
                    help="write over the previous run's output instead of deleting it first")
    ap.add_argument("--no-floor", action="store_true", help="skip the cat floor")
    a = ap.parse_args()
    out_dir = os.path.dirname(os.path.abspath(a.input))
    vigils = a.vigil or ["target/release/examples/ps_remux"]
    cmds = []
    for i, v in enumerate(vigils):
        out = os.path.join(out_dir, f"remux_vigil{i}.mp4")
        cmds.append((f"vigil {v}", [v, a.input, out], out))
    ff_out = os.path.join(out_dir, "remux_ffmpeg.mp4")
    cmds.append(("ffmpeg -c copy", ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", a.input,
                                    "-c", "copy", "-f", "mp4", "-movflags",
                                    "frag_keyframe+empty_moov", ff_out], ff_out))
    if not a.no_floor:
        cmds.append(("cat (I/O floor)", ["cat", a.input], os.path.join(out_dir, "remux_cat.bin")))
    results = {name: ([], []) for name, _, _ in cmds}
    for _ in range(a.runs):
        for name, cmd, out in cmds:
            wall, cpu = run(cmd, out, a.overwrite)
            results[name][0].append(wall)
            results[name][1].append(cpu)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"{a.runs} rounds, load average after: {load}")
    ff_wall = statistics.median(results["ffmpeg -c copy"][0])
    ff_cpu = statistics.median(results["ffmpeg -c copy"][1])
    print(f"{'command':<48} {'wall ms (median, p10-p90)':>28} {'CPU ms (median)':>16} {'ffmpeg/this':>18}")
    for name, _, _ in cmds:
        wall, cpu = results[name]
        q = statistics.quantiles(wall, n=10)
        w, c = statistics.median(wall), statistics.median(cpu)
        print(f"{name:<48} {w:>10.1f} ({q[0]:>5.1f}-{q[-1]:>5.1f})        {c:>10.1f}"
              f"       {ff_wall / w:>5.1f}x / {ff_cpu / c:>4.1f}x")
    for name, _, out in cmds:
        if out.endswith(".mp4"):
            print(f"{name}: {frames(out)} (frames, duration s)")


if __name__ == "__main__":
    main()
