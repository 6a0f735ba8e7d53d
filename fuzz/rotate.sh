#!/usr/bin/env bash
# Long fuzzing in rounds: each named target (or `all`) runs SLOT seconds (default 300) per
# round, with fresh RNG seeds every round, until the Unix time given first. A finding is
# printed (FINDING …, input saved under ./fuzz-findings/) and the rotation goes on.
# FIRST_ROUND=N starts at round N, so a restarted rotation does not repeat seeds.
#   fuzz/rotate.sh $(( $(date +%s) + 3600 )) all
set -u
until_ts=$1
shift
bin=${RECEIPT_FUZZ_BIN:-$(dirname "$0")/../target/release/receipt-fuzz}
slot=${SLOT:-300}
if [ "$*" = all ]; then
  set -- $("$bin" list | cut -d' ' -f1)
fi
round=${FIRST_ROUND:-0}
while :; do
  for t in "$@"; do
    now=$(date +%s)
    [ "$now" -ge "$until_ts" ] && exit 0
    left=$((until_ts - now))
    s=$((left < slot ? left : slot))
    # `time` reports the process's CPU time beside the wall time (the machine is shared).
    TIMEFORMAT="time target=$t real_s=%R user_s=%U sys_s=%S"
    time "$bin" run --seconds "$s" --seed $((round * 1000000 + 1)) "$t" ||
      echo "FINDING-EXIT target=$t round=$round"
  done
  round=$((round + 1))
done
