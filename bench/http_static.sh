#!/usr/bin/env bash
# bench/http_static.sh: `weft web` serving static files against nginx's and h2o's static serving.
usage() {
  cat <<'EOF'
usage: bench/http_static.sh [-r RUNS] [-d SECS] [-c CONNS] [--only PEERS]

Every server on CPU 0, wrk (1 thread) on CPU 1, 127.0.0.1 only; the same docroot for all
(../shared/bench/lib.sh prepare_files, plus big.bin: 1 MiB of random bytes). Two tests, runs
interleaved across peers, medians of RUNS (default 3) runs of SECS (default 3) seconds:
  small   GET /hello.txt (13 bytes), wrk -c CONNS (default 64), keep-alive
  big     GET /big.bin   (1 MiB),    wrk -c 16, keep-alive: requests/s and MB/s of body
Peers (--only, comma-separated; default all):
  weft    build/weft web --listen tcp:PORT:interface=127.0.0.1 --path DOCROOT
  nginx   ../shared/bench/peers/nginx.sh (1 worker, open_file_cache on, sendfile off: the shared
          script's setting, chosen there for small files)
  h2o     ../shared/bench/peers/h2o.sh (1 thread, file.dir)
Each body is checked (size and bytes) with curl before measuring; ratios are weft / peer.
EOF
}
# No `set -e`: lib.sh's helpers (stop_server, ...) are written for scripts without it.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${WEFT_SHARED_BENCH:-$ROOT/../shared/bench}
"$ROOT/scripts/deps" nginx-light h2o wrk >/dev/null || exit 1
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
need wrk curl taskset setsid cmp
prepare_files
raise_nofile >/dev/null
[ -s "$DOCROOT/big.bin" ] || head -c 1048576 /dev/urandom > "$DOCROOT/big.bin"

PEERS=()
in_list weft "$ONLY" && PEERS+=(weft)
in_list nginx "$ONLY" && PEERS+=(nginx)
in_list h2o "$ONLY" && PEERS+=(h2o)
[ ${#PEERS[@]} -gt 0 ] || die "no peer selected"

declare -A BASE SPID
for name in "${PEERS[@]}"; do
  pick_port; PORT=$PICKED H2C_PORT="" TLS_PORT=""
  case $name in
    weft) start_server static-weft "$ROOT/build/weft" web --listen "tcp:$PORT:interface=127.0.0.1" --path "$DOCROOT" ;;
    nginx) start_server static-nginx "$SHARED/peers/nginx.sh" ;;
    h2o) start_server static-h2o "$SHARED/peers/h2o.sh" ;;
  esac
  if ! wait_port "$PORT" "$SERVER_PID" 15; then
    log "$name: nothing listens on port $PORT"; tail -5 "$BENCH_WORK/logs/static-$name.log" >&2
    stop_server "$SERVER_PID"; continue
  fi
  base=http://127.0.0.1:$PORT
  if [ "$(curl -s --max-time 5 "$base/hello.txt")" != "Hello, World!" ] ||
    ! curl -s --max-time 10 "$base/big.bin" | cmp -s - "$DOCROOT/big.bin"; then
    log "$name: a body differs from the file: left out"; stop_server "$SERVER_PID"; continue
  fi
  BASE[$name]=$base SPID[$name]=$SERVER_PID
  run_bounded 30 wrk -t1 -c"$CONNS" -d1s "$base/hello.txt" >/dev/null 2>&1
  log "$name: ready at $base (pid $SERVER_PID)"
done
[ ${#BASE[@]} -gt 0 ] || die "no peer came up"

new_raw http_static
WRKLOG=${RAW%.tsv}.log
run_wrk() { # NAME TEST RUN
  local name=$1 test=$2 run=$3 args s0 s1 out fig busy
  case $test in
    small) args=(-t1 -c"$CONNS" -d"${DUR}s" "${BASE[$name]}/hello.txt") ;;
    big) args=(-t1 -c16 -d"${DUR}s" "${BASE[$name]}/big.bin") ;;
  esac
  s0=$(cpu_snap)
  out=$(run_bounded $((DUR + 30)) wrk "${args[@]}" 2>&1)
  s1=$(cpu_snap)
  printf '### %s %s run %s: wrk %s\n%s\n' "$name" "$test" "$run" "${args[*]}" "$out" >> "$WRKLOG"
  fig=$(awk '
    function mb(v) { if (v ~ /GB$/) return v * 1024; if (v ~ /MB$/) return v + 0; if (v ~ /KB$/) return v / 1024; return v / 1048576 }
    /^Requests\/sec:/ { rps = $2 }
    /^Transfer\/sec:/ { mbs = mb($2) }
    /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { err += $5 }
    END { if (rps != "") print rps, mbs, err + 0 }' <<< "$out")
  [ -n "$fig" ] || { log "$name $test run $run: wrk gave no result (see $WRKLOG)"; return; }
  busy=$(cpu_busy "$s0" "$s1")
  set -- $fig $busy
  record "$name" "$test" "$run" rps "$1"
  record "$name" "$test" "$run" mbps "$2"
  record "$name" "$test" "$run" errors "$3"
  record "$name" "$test" "$run" srv_pct "$4"
  record "$name" "$test" "$run" load_pct "$5"
  log "$name $test run $run: $1 req/s, $2 MB/s, errors $3, cores $4%/$5%"
}

for run in $(seq "$RUNS"); do
  for name in "${PEERS[@]}"; do
    [ -n "${BASE[$name]:-}" ] || continue
    for test in small big; do run_wrk "$name" "$test" "$run"; done
  done
done

REF=nginx
[ -n "${BASE[nginx]:-}" ] || REF=${PEERS[0]}
cat <<EOF
### Static files (weft web vs nginx and h2o)

Server on CPU $SERVER_CPU, wrk 1 thread on CPU $LOAD_CPU, 127.0.0.1; median of $RUNS interleaved runs of ${DUR} s.
\`small\`: \`wrk -t1 -c$CONNS\` GET /hello.txt (13 B); \`big\`: \`wrk -t1 -c16\` GET /big.bin (1 MiB).

EOF
report --ref "$REF" "small.rps=13 B req/s:sr" "big.rps=1 MiB req/s:sr" "big.mbps=1 MiB MB/s:s" errors
echo
report "small.srv_pct=small server %" "small.load_pct=small wrk %" "big.srv_pct=big server %" "big.load_pct=big wrk %"
echo
log "done; raw: $RAW, wrk output: $WRKLOG"
