#!/usr/bin/env bash
# bench/http_workers.sh: does `weft web --workers 2` scale over `--workers 1`?
usage() {
  cat <<'EOF'
usage: bench/http_workers.sh [-r RUNS] [-d SECS] [-c CONNS]

`weft web --path DOCROOT --workers N` for N = 1 and 2, serving /hello.txt (13 bytes), nothing
pinned: the machine has two cores, and the load generator must share them with the workers, so
the method is stated with the figures:
  c64      wrk -t2 -cCONNS (default 64) keep-alive: each request costs wrk about what it costs
           the server, so two workers and wrk compete for two cores (scaling is capped well
           below 2x by the method, not by weft);
  pipe16   the same with 16 requests per write (../shared/bench/pipeline.lua): wrk's cost per
           request is smaller, so this is the closer measure of what a second worker adds.
Also reported: requests per second of server CPU (utime + stime of the parent and its workers,
from /proc): if it stays the same with two workers, nothing is shared between them (no lock, no
contention) and throughput grows with the cores the server is given.
Runs interleaved (1 worker, 2 workers, 1, 2, ...), medians of RUNS (default 3) runs of SECS
(default 3) seconds. The ratio is 2 workers / 1 worker.
EOF
}
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${WEFT_SHARED_BENCH:-$ROOT/../shared/bench}
"$ROOT/scripts/deps" wrk >/dev/null || exit 1
make -C "$ROOT" -s build >/dev/null || exit 1
. "$SHARED/lib.sh"
DUR=3
parse_common "$@"
CONNS=64
set -- "${REST[@]}"
while [ $# -gt 0 ]; do
  case $1 in
    -c) CONNS=$2 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift 2
done
need wrk curl setsid
prepare_files
raise_nofile >/dev/null

# cpu_ticks PID: utime + stime of PID and its descendants, in clock ticks.
cpu_ticks() {
  local p sum=0 v
  for p in $(tree_pids "$1"); do
    v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

new_raw http_workers
declare -A PIDS URLS
for n in 1 2; do
  pick_port
  setsid "$ROOT/build/weft" web --listen "tcp:$PICKED:interface=127.0.0.1" --path "$DOCROOT" --workers "$n" \
    </dev/null >"$BENCH_WORK/logs/workers-$n.log" 2>&1 &
  PIDS[$n]=$!
  STARTED+=("${PIDS[$n]}")
  wait_port "$PICKED" "${PIDS[$n]}" 15 || die "weft web --workers $n did not come up (see $BENCH_WORK/logs/workers-$n.log)"
  URLS[$n]=http://127.0.0.1:$PICKED/hello.txt
  [ "$(curl -s --max-time 5 "${URLS[$n]}")" = "Hello, World!" ] || die "--workers $n: wrong body"
  timeout 30 wrk -t2 -c"$CONNS" -d1s "${URLS[$n]}" >/dev/null 2>&1
done

for run in $(seq "$RUNS"); do
  for n in 1 2; do
    for test in c64 pipe16; do
      args=(-t2 -c"$CONNS" -d"${DUR}s" "${URLS[$n]}")
      [ $test = pipe16 ] && args=(-t2 -c"$CONNS" -d"${DUR}s" -s "$SHARED/pipeline.lua" "${URLS[$n]}" -- 16)
      c0=$(cpu_ticks "${PIDS[$n]}")
      out=$(timeout $((DUR + 30)) wrk "${args[@]}" 2>&1)
      c1=$(cpu_ticks "${PIDS[$n]}")
      rps=$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")
      total=$(awk '/requests in/ {print $1}' <<< "$out")
      per_cpu=$(awk -v t="$total" -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { if (d > 0) printf "%.0f", t / (d / hz) }')
      record "workers-$n" "$test" "$run" rps "$rps"
      record "workers-$n" "$test" "$run" per_cpu "$per_cpu"
      log "--workers $n $test run $run: $rps req/s, $per_cpu req per server CPU second"
    done
  done
done

cat <<EOF
### weft web --workers 1 vs 2 (13-byte static file; wrk -t2 -c$CONNS on the same two cores, nothing pinned)

EOF
report --ref workers-1 "c64.rps=c64 req/s:sr" "pipe16.rps=pipe16 req/s:sr" "c64.per_cpu=c64 req per CPU s:sr" \
  "pipe16.per_cpu=pipe16 req per CPU s:sr"
echo
log "done; raw: $RAW"
