#!/usr/bin/env bash
# bench/portforward.sh: `weft portforward` throughput against a direct connection, in one run.
#
#   direct     echoload -> weft echo
#   forwarded  echoload -> weft portforward -> weft echo
#
# The echo server and echoload share CPU 1 in both rows and the forwarder has CPU 0 to itself,
# so the ratio says how much the forwarder slows a connection down (the goal is >= 0.9).
# Tests: bulk (1 GiB through, every byte checked, MB/s) and ping-pong on 64 connections.
# Usage: bench/portforward.sh [-r RUNS] [-d SECS] [--bytes TOTAL]
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${WEFT_SHARED_BENCH:-$ROOT/../shared/bench}
usage() { sed -n '2,13p' "$0"; }
. "$SHARED/lib.sh"
DUR=3
parse_common "$@"
TOTAL=1073741824
set -- "${REST[@]}"
while [ $# -gt 0 ]; do
  case $1 in
    --bytes) TOTAL=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
need taskset setsid ss timeout cc
build
raise_nofile >/dev/null
WEFT=$ROOT/build/weft
[ -x "$WEFT" ] || die "build weft first (make build)"
new_raw portforward

declare -A EPORT
pick_port; ECHO_PORT=$PICKED
PORT=$ECHO_PORT
start_server pf-echo taskset -c "$LOAD_CPU" "$WEFT" echo --listen "tcp:$ECHO_PORT:interface=127.0.0.1" --log-level warn
wait_port "$ECHO_PORT" "$SERVER_PID" 10 || die "weft echo did not start"
EPORT[direct]=$ECHO_PORT
pick_port; PORT=$PICKED
start_server pf-forward "$WEFT" portforward --listen "tcp:$PORT:interface=127.0.0.1" --to "127.0.0.1:$ECHO_PORT" --log-level warn
wait_port "$PORT" "$SERVER_PID" 10 || die "weft portforward did not start"
EPORT[forwarded]=$PORT
run_bounded 60 "$BUILD/echoload" bulk "$PORT" 16777216 1048576 20 >/dev/null || die "the forwarder does not echo 16 MiB intact"

run_test() {
  local name=$1 test=$2 run=$3 port=${EPORT[$1]} out s0 s1
  case $test in
    bulk) out=$(run_bounded 90 "$BUILD/echoload" bulk "$port" "$TOTAL" 1048576 60 2>&1) ;;
    pp64) out=$(run_bounded 30 "$BUILD/echoload" pingpong "$port" 64 64 "$DUR" 0.5 2>&1) ;;
  esac || { log "$name $test run $run failed: $out"; record "$name" "$test" "$run" errors 1; return; }
  declare -A kv
  local pair
  for pair in $(tail -1 <<< "$out"); do kv[${pair%%=*}]=${pair#*=}; done
  if [ "$test" = bulk ]; then record "$name" bulk "$run" mbps "${kv[mbps]}"; else record "$name" pp64 "$run" rate "${kv[rate]}"; fi
  log "$name $test run $run: $(tail -1 <<< "$out")"
}

for run in $(seq "$RUNS"); do
  for name in direct forwarded; do
    for test in bulk pp64; do run_test "$name" "$test" "$run"; done
  done
done

cat <<EOF2
### weft portforward against a direct connection

echoload and \`weft echo\` on CPU $LOAD_CPU, \`weft portforward\` on CPU $SERVER_CPU, 127.0.0.1; median of $RUNS interleaved runs.
bulk: \`echoload bulk PORT $TOTAL 1048576 60\` (MB/s, every byte checked); pp64: 64 connections of 64-byte ping-pong.

EOF2
REF=direct
report --ref direct "bulk.mbps=bulk MB/s:sr" "pp64.rate=pp64 round trips/s:sr" errors
