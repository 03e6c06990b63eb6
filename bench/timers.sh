#!/usr/bin/env bash
# bench/timers.sh: 1,000,000 timers scheduled, fired and cancelled: weft (bench/timers.c) against
# libuv (bench/peers/uv_timers.c) in the same run, interleaved, pinned to one CPU; prints the
# median ns per operation of each and the ratio libuv/weft (above 1: weft is faster).
# Usage: bench/timers.sh [RUNS] [N]     (defaults 5, 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
N=${2:-1000000}
CPU=${SERVER_CPU:-0}
scripts/deps libuv1-dev >/dev/null
make -s build >/dev/null
mkdir -p build/bench
cc -O2 -Wall -o build/bench/uv_timers bench/peers/uv_timers.c -luv

declare -A vals
for run in $(seq "$RUNS"); do
  for who in weft libuv; do
    if [ $who = weft ]; then bin=build/bench/timers; else bin=build/bench/uv_timers; fi
    line=$(taskset -c "$CPU" "$bin" "$N")
    for kv in $line; do vals[$who.${kv%%=*}]+="${kv#*=} "; done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "### Timers: $N scheduled, fired, cancelled (ns per operation, median of $RUNS runs, CPU $CPU)"
echo
echo "| operation | weft | libuv $(pkg-config --modversion libuv 2>/dev/null || echo) | libuv / weft |"
echo "|---|---:|---:|---:|"
for op in schedule_ns fire_ns cancel_ns; do
  w=$(echo "${vals[weft.$op]}" | median)
  u=$(echo "${vals[libuv.$op]}" | median)
  printf '| %s | %.1f | %.1f | %.2fx |\n' "${op%_ns}" "$w" "$u" "$(echo "$u / $w" | bc -l)"
done
