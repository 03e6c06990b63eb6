#!/usr/bin/env bash
# bench/coro.sh: coroutines, weft (bench/coro.c) against Twisted's async def + ensureDeferred
# (bench/coro_twisted.py): ns per await of a pending Deferred (a full suspend and resume) and
# resident memory per suspended coroutine, pinned to one CPU, median of RUNS runs; plus weft's bare
# context-switch pair and 100,000 coroutines each awaiting a timer.
# Usage: bench/coro.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
CPU=${SERVER_CPU:-0}
scripts/deps python3-twisted >/dev/null
make -s build >/dev/null

get() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A v
for run in $(seq "$RUNS"); do
  w=$(taskset -c "$CPU" build/bench/coro | tr '\n' ' ')
  t=$(taskset -c "$CPU" /usr/bin/python3 bench/coro_twisted.py)
  for k in await_ns bytes_per_coro switch_pair_ns sleep_rss_bytes_per_coro sleepers_seconds; do v[w.$k]+="$(get $k "$w") "; done
  for k in await_ns bytes_per_coro; do v[t.$k]+="$(get $k "$t") "; done
done
m() { echo "${v[$1]}" | median; }
tver=$(/usr/bin/python3 -c 'import twisted; print(twisted.__version__)')
echo "### Coroutines (median of $RUNS runs, CPU $CPU)"
echo
echo "| measure | weft | Twisted $tver (async def + ensureDeferred) | Twisted / weft |"
echo "|---|---:|---:|---:|"
printf '| await of a pending Deferred (ns) | %.1f | %.1f | %.1fx |\n' "$(m w.await_ns)" "$(m t.await_ns)" "$(echo "$(m t.await_ns) / $(m w.await_ns)" | bc -l)"
printf '| memory per suspended coroutine (bytes) | %.0f | %.0f | %.2fx |\n' "$(m w.bytes_per_coro)" "$(m t.bytes_per_coro)" "$(echo "$(m t.bytes_per_coro) / $(m w.bytes_per_coro)" | bc -l)"
echo
printf 'weft only: bare context-switch pair %.1f ns; 100,000 coroutines each awaiting a 1 s timer: %.0f bytes each, all done in %.2f s.\n' \
  "$(m w.switch_pair_ns)" "$(m w.sleep_rss_bytes_per_coro)" "$(m w.sleepers_seconds)"
