#!/usr/bin/env bash
# REGISTER-with-digest throughput over UDP: vigil vs Kamailio, same sipp load, same run.
# For each server, sipp runs 3 s at increasing rates; the highest rate with no failed call
# is reported, with server CPU per rate. Needs sipp and kamailio. For CPU per registration of a
# change against its baseline and Kamailio, see cpu.sh.
# Usage: benches/sip_register/run.sh [rates...]
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
rates=("${@:-2000 4000 6000 8000 10000 12000 14000 16000}")
read -r -a rates <<< "${rates[*]}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$work/users.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("SEQUENTIAL\n")
    for i in range(200000):
        d = "3402000000132%07d" % i
        f.write(f"{d};[authentication username={d} password=12345678]\n")
PY
(cd ../.. && cargo build --release -q)
bin=$(cd ../.. && pwd)/target/release/vigil

run_sipp() { # target rate -> "ok failed achieved_rate"
  local target=$1 rate=$2 secs=3
  local n=$((rate * secs))
  rm -f "$work"/stats.csv
  timeout 60 sipp -sf "$here/register.xml" -inf "$work/users.csv" "$target" -i 127.0.0.1 -p 25099 \
    -m "$n" -r "$rate" -nostdin -timeout 30 -trace_stat -stf "$work/stats.csv" -max_socket 1 \
    -l 100000 >/dev/null 2>&1 || true
  python3 - "$work/stats.csv" "$n" <<'PY'
import sys
rows = [l.split(";") for l in open(sys.argv[1]).read().splitlines()]
h, last = rows[0], rows[-1]
g = lambda k: last[h.index(k)].strip()
ok, failed = int(g("SuccessfulCall(C)")), int(g("FailedCall(C)"))
el = g("ElapsedTime(C)").split(":")
secs = int(el[0]) * 3600 + int(el[1]) * 60 + float(el[2]) if len(el) == 3 else 0
print(ok, failed, round(ok / secs) if secs else 0)
PY
}

cpu_ticks() { # pid and its children, user+system clock ticks
  local sum=0
  for p in $1 $(pgrep -P "$1" || true); do
    [ -r /proc/"$p"/stat ] && sum=$((sum + $(awk '{print $14+$15}' /proc/"$p"/stat)))
  done
  echo "$sum"
}

measure() { # name target pid
  local name=$1 target=$2 pid=$3 best=0
  for r in "${rates[@]}"; do
    local t0; t0=$(cpu_ticks "$pid")
    read -r ok failed achieved < <(run_sipp "$target" "$r")
    local t1; t1=$(cpu_ticks "$pid")
    local cpu=$(( (t1 - t0) ))
    printf '%-9s rate %6d/s: ok %7d failed %5d achieved %6d/s  server CPU %5.2f s\n' "$name" "$r" "$ok" "$failed" "$achieved" "$(echo "$cpu/100" | bc -l)"
    # `achieved` counts from sipp's start (reading the 200,000-line users file included), so
    # it reads low on a loaded machine: the rate asked is what counts when nothing failed.
    if [ "$failed" -eq 0 ] && [ "$ok" -gt 0 ]; then best=$r; else break; fi
  done
  echo "$name: highest rate with zero failures: $best registrations/s"
}

VIGIL_SIP__LISTEN=127.0.0.1:25060 VIGIL_SIP__TRANSPORTS='["udp"]' VIGIL_HTTP__LISTEN=127.0.0.1:0 \
  VIGIL_DATABASE__URL="sqlite://$work/vigil.db" VIGIL_LOG__LEVEL=warn "$bin" serve &
vpid=$!
kamailio -f "$here/kamailio.cfg" -DD -E -m 256 -M 16 -Y "$work" >"$work/kam.log" 2>&1 &
kpid=$!
sleep 2
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
measure vigil 127.0.0.1:25060 "$vpid"
echo "vigil RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$vpid/status)"
measure kamailio 127.0.0.1:25061 "$kpid"
