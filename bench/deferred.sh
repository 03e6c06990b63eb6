#!/usr/bin/env bash
# bench/deferred.sh: ns per create + add callback(s) + fire + free of a Deferred, weft
# (bench/deferred.c) against Twisted (bench/deferred_twisted.py, Debian's python3-twisted), with 1
# and 10 callbacks, pinned to one CPU; prints a markdown table with the ratio Twisted/weft (above
# 1: weft is faster). Each figure is the median of REPEATS runs; weft runs N iterations per run,
# Twisted PY_N (fewer by default: the figure is per Deferred, and Python is slow enough that
# 1,000,000 would take minutes).
# Usage: bench/deferred.sh [REPEATS] [N] [PY_N]     (defaults 5, 1000000, 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-5}
N=${2:-1000000}
PY_N=${3:-200000}
CPU=${SERVER_CPU:-0}
scripts/deps python3-twisted >/dev/null
make -s build >/dev/null

get() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
weft=$(taskset -c "$CPU" build/bench/deferred "$N" "$REPEATS")
twisted=$(taskset -c "$CPU" /usr/bin/python3 bench/deferred_twisted.py "$PY_N" "$REPEATS")
tver=$(/usr/bin/python3 -c 'import twisted; print(twisted.__version__)')
pver=$(/usr/bin/python3 -c 'import platform; print(platform.python_version())')

echo "### Deferred: create + add callbacks + fire + free (ns per Deferred, median of $REPEATS runs, CPU $CPU)"
echo
echo "| callbacks | weft ($N per run) | Twisted $tver, Python $pver ($PY_N per run) | Twisted / weft |"
echo "|---:|---:|---:|---:|"
for n in 1 10; do
  w=$(get "cb${n}_ns" "$weft")
  t=$(get "cb${n}_ns" "$twisted")
  printf '| %d | %.1f | %.1f | %.1fx |\n' "$n" "$w" "$t" "$(echo "$t / $w" | bc -l)"
done
