#!/bin/bash
# Before/after catalog figures in one session: runs the catalog cases of run.py with two
# vigil binaries, alternating, so both see the same machine load (printed per run).
#
#   benches/catalog/compare.sh /tmp/vigil-before target/release/vigil [REPEATS] [PG_URL]
#
# Cases: 1,000 devices x 16 channels and one NVR with 2,000 channels, one item per MESSAGE,
# on SQLite and (when PG_URL is given) PostgreSQL.
set -euo pipefail
before=$1
after=$2
repeats=${3:-3}
pg=${4:-}
here=$(dirname "$0")
cases=("--devices 1000 --channels 16 --page 1" "--devices 1 --channels 2000 --page 1")
if [ -n "$pg" ]; then
  cases+=("--devices 1000 --channels 16 --page 1 --pg $pg" "--devices 1 --channels 2000 --page 1 --pg $pg")
fi
for _ in $(seq "$repeats"); do
  for c in "${cases[@]}"; do
    for label in before after; do
      bin=$before
      [ "$label" = after ] && bin=$after
      load=$(cut -d' ' -f1 /proc/loadavg)
      # shellcheck disable=SC2086 # the case is a list of arguments
      out=$(python3 "$here/run.py" --vigil "$bin" $c | tail -1)
      echo "$label load=$load $out"
    done
  done
done
