#!/usr/bin/env bash
# CPU per REGISTER-with-digest at one fixed rate, for one or more vigil binaries and Kamailio,
# interleaved over several rounds in the same run, so the figures of a change and of its
# baseline see the same machine load. Each round starts every server afresh (new database,
# empty location table) and sends the same sipp load (register.xml: REGISTER, 401, REGISTER
# with Authorization, 200) to each in turn. Server CPU is user+system from /proc (children
# included). Needs sipp and kamailio.
# Usage: benches/sip_register/cpu.sh [-r RATE] [-s SECONDS] [-n ROUNDS] VIGIL_BINARY...
# e.g.   cp target/release/vigil /tmp/vigil-before   # build the baseline first
#        benches/sip_register/cpu.sh -r 6000 -n 3 /tmp/vigil-before target/release/vigil
set -euo pipefail
rate=6000 secs=3 rounds=3
while getopts r:s:n: o; do
  case $o in
    r) rate=$OPTARG ;;
    s) secs=$OPTARG ;;
    n) rounds=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-r RATE] [-s SECONDS] [-n ROUNDS] VIGIL_BINARY..." >&2; exit 2; }
bins=()
for b in "$@"; do bins+=("$(realpath "$b")"); done
here=$(cd "$(dirname "$0")" && pwd)
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

cpu_ticks() { # pid and its children, user+system clock ticks
  local sum=0
  for p in $1 $(pgrep -P "$1" || true); do
    [ -r /proc/"$p"/stat ] && sum=$((sum + $(awk '{print $14+$15}' /proc/"$p"/stat)))
  done
  echo "$sum"
}

# name target pid -> one line: ok, failed, CPU seconds, CPU per registration
measure() {
  local name=$1 target=$2 pid=$3 n=$((rate * secs))
  rm -f "$work/stats.csv"
  local t0; t0=$(cpu_ticks "$pid")
  timeout 120 sipp -sf "$here/register.xml" -inf "$work/users.csv" "$target" -i 127.0.0.1 -p 25099 \
    -m "$n" -r "$rate" -nostdin -timeout 30 -trace_stat -stf "$work/stats.csv" -max_socket 1 \
    -l 100000 >/dev/null 2>&1 || true
  local t1; t1=$(cpu_ticks "$pid")
  read -r ok failed < <(python3 - "$work/stats.csv" <<'PY'
import sys
rows = [l.split(";") for l in open(sys.argv[1]).read().splitlines()]
h, last = rows[0], rows[-1]
g = lambda k: last[h.index(k)].strip()
print(int(g("SuccessfulCall(C)")), int(g("FailedCall(C)")))
PY
)
  local rss; rss=$(awk '/VmRSS/{print $2}' /proc/"$pid"/status)
  printf '%-28s ok %6d failed %5d  CPU %5.2f s  %.3f ms/registration  RSS %d MB\n' \
    "$name" "$ok" "$failed" "$(echo "($t1 - $t0) / 100" | bc -l)" \
    "$(echo "($t1 - $t0) * 10 / $n" | bc -l)" "$((rss / 1024))"
}

echo "machine: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rate $rate/s for $secs s ($((rate * secs)) registrations per server and round)"
for round in $(seq "$rounds"); do
  echo "-- round $round (load $(cut -d' ' -f1 /proc/loadavg))"
  for bin in "${bins[@]}"; do
    rm -f "$work"/vigil.db*
    VIGIL_SIP__LISTEN=127.0.0.1:25060 VIGIL_SIP__TRANSPORTS='["udp"]' VIGIL_HTTP__LISTEN=127.0.0.1:0 \
      VIGIL_DATABASE__URL="sqlite://$work/vigil.db" VIGIL_LOG__LEVEL=error "$bin" serve >/dev/null 2>&1 &
    local_pid=$!
    sleep 2
    measure "vigil $(basename "$(dirname "$bin")")/$(basename "$bin")" 127.0.0.1:25060 "$local_pid"
    kill "$local_pid"; wait "$local_pid" 2>/dev/null || true
  done
  kamailio -f "$here/kamailio.cfg" -DD -E -m 256 -M 16 -Y "$work" >"$work/kam.log" 2>&1 &
  kpid=$!
  sleep 2
  measure kamailio 127.0.0.1:25061 "$kpid"
  kill "$kpid"; wait "$kpid" 2>/dev/null || true
done
