#!/usr/bin/env bash
# bench/tls.sh: weft's TLS against nginx's, same certificate, same TLS version, same client.
usage() {
  cat <<'EOF'
usage: bench/tls.sh [-r RUNS] [-d SECS] [-n IDLE_CONNS] [--bytes N] [--window N] [--only PARTS]

Servers on CPU 0, the load generator (build/bench/tls_load, plain blocking OpenSSL) on CPU 1,
127.0.0.1 only; one EC P-256 certificate (../shared/bench/lib.sh prepare_files) for every server;
each TLS version forced by the client (min = max), so both servers run the same version; runs
interleaved, medians of RUNS (default 3). PARTS (comma-separated, default all):
  handshakes  new and resumed (session ticket) handshakes per second for SECS (default 5) each,
              4 client processes: connect, handshake, close_notify both ways, close.
              weft: `weft echo --listen ssl:...`; nginx: ../shared/bench/peers/nginx.sh (TLS_PORT).
  bulk        MB/s through TLS, one connection, checked byte by byte (--bytes, default 1 GiB;
              --window bytes in flight, default 1 MiB):
                weft-echo       `weft echo` over ssl: echoes (TLS terminated and echoed in one process)
                weft-proxy      `weft portforward --listen ssl:... --to tcp:ECHO` (TLS terminated, then
                                a TCP hop to a plain echo server)
                nginx-proxy     nginx `stream` (libnginx-mod-stream): ssl termination + proxy_pass to
                                the same plain echo server: the apples-to-apples pair is weft-proxy vs
                                nginx-proxy (nginx has no echo of its own)
                nginx-get       nginx serving a 256 MiB static file over HTTPS/1.1 (one GET): the data
                                crosses TLS once, one way; echo moves every byte both ways (decrypted,
                                then encrypted again), so this row is not comparable with the others'
              The plain echo server (`weft echo` on tcp:) runs on CPU 1 with the client.
  idle        user-space memory per idle TLS connection: fresh server, N (default 5000) connections
              from `tls_load idle`, one exchange each (weft: 64 bytes echoed; nginx: one keep-alive
              HTTPS GET /plaintext), held idle; bytes/conn = RSS growth / N.
Also reported: server CPU time per handshake and per GB (utime + stime of the server's processes,
from /proc, which stays meaningful when the machine is shared and the wall-clock rate is not).
EOF
}
# No `set -e`: lib.sh's helpers (stop_server, ...) are written for scripts without it.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${WEFT_SHARED_BENCH:-$ROOT/../shared/bench}
"$ROOT/scripts/deps" nginx-light libnginx-mod-stream >/dev/null || exit 1
make -C "$ROOT" -s build >/dev/null || exit 1
. "$SHARED/lib.sh"
DUR=5
parse_common "$@"
IDLE_N=5000 TOTAL=1073741824 WINDOW=1048576
set -- "${REST[@]}"
while [ $# -gt 0 ]; do
  case $1 in
    -n) IDLE_N=$2 ;;
    --bytes) TOTAL=$2 ;;
    --window) WINDOW=$2 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift 2
done
need taskset setsid ss timeout nginx openssl
prepare_files
nofile=$(raise_nofile)
[ "$IDLE_N" -lt $((nofile - 100)) ] || die "-n $IDLE_N needs more file descriptors than the limit ($nofile)"
WEFT=$ROOT/build/weft LOAD=$ROOT/build/bench/tls_load
[ -x "$LOAD" ] || die "no $LOAD: build it with make build"
BIG=$DOCROOT/big-256m.bin
[ -s "$BIG" ] || head -c 268435456 /dev/urandom > "$BIG"
new_raw tls

# Server CPU time (utime + stime of the process tree), in clock ticks.
tree_ticks() {
  local p sum=0 v
  for p in $(tree_pids "$1"); do
    v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
HZ=$(getconf CLK_TCK)

# kv KEY LINE: the value of KEY=... in a tls_load output line.
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# nginx_stream_conf PORT BACKEND_PORT: writes the config of an nginx with only a stream server
# (TLS termination, proxy_pass) and prints its path.
nginx_stream_conf() {
  local dir=$BENCH_WORK/nginx-stream
  mkdir -p "$dir"
  cat > "$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
worker_rlimit_nofile $nofile;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; use epoll; }
stream {
  server {
    listen 127.0.0.1:$1 ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    proxy_pass 127.0.0.1:$2;
  }
}
CONF
  echo "$dir/nginx.conf"
}

# ---- start the long-lived servers (handshakes, bulk) ----
declare -A SPID SPORT
start_tls_servers() {
  local conf
  pick_port; ECHO_PORT=$PICKED
  SERVER_CPU=$LOAD_CPU start_server tls-backend-echo "$WEFT" echo --listen "tcp:$ECHO_PORT:interface=127.0.0.1" --log-level warn
  SPID[backend]=$SERVER_PID
  pick_port; SPORT[weft]=$PICKED
  start_server tls-weft "$WEFT" echo --listen "ssl:${SPORT[weft]}:privateKey={KEY}:certKey={CERT}:interface=127.0.0.1" --log-level warn
  SPID[weft]=$SERVER_PID
  pick_port; PORT=$PICKED; pick_port; TLS_PORT=$PICKED; SPORT[nginx]=$TLS_PORT
  start_server tls-nginx "$SHARED/peers/nginx.sh"
  SPID[nginx]=$SERVER_PID
  pick_port; SPORT[weft-proxy]=$PICKED
  start_server tls-weft-proxy "$WEFT" portforward --listen "ssl:${SPORT[weft-proxy]}:privateKey={KEY}:certKey={CERT}:interface=127.0.0.1" \
    --to "tcp:127.0.0.1:$ECHO_PORT" --log-level warn
  SPID[weft-proxy]=$SERVER_PID
  pick_port; SPORT[nginx-proxy]=$PICKED
  conf=$(nginx_stream_conf "${SPORT[nginx-proxy]}" "$ECHO_PORT")
  start_server tls-nginx-proxy nginx -c "$conf" -p "$BENCH_WORK/nginx-stream" -e "$BENCH_WORK/nginx-stream/error.log"
  SPID[nginx-proxy]=$SERVER_PID
  SPID[weft-echo]=${SPID[weft]} SPORT[weft-echo]=${SPORT[weft]} SPID[nginx-get]=${SPID[nginx]} SPORT[nginx-get]=${SPORT[nginx]}
  local n
  wait_port "$ECHO_PORT" "${SPID[backend]}" || die "the backend echo server did not start"
  for n in weft nginx weft-proxy nginx-proxy; do
    wait_port "${SPORT[$n]}" "${SPID[$n]}" 15 || die "$n did not start (see $BENCH_WORK/logs/tls-$n.log)"
  done
}

# hs TARGET TEST RUN VERSIONFLAG [--resume]: one handshake measurement.
hs() {
  local name=$1 test=$2 run=$3 c0 c1 out
  shift 3
  c0=$(tree_ticks "${SPID[$name]}")
  out=$(run_bounded $((DUR + 30)) "$LOAD" handshakes "${SPORT[$name]}" "$DUR" "$@" 2>&1) || true
  c1=$(tree_ticks "${SPID[$name]}")
  log "$name $test run $run: $out"
  local rate n errors
  rate=$(kv rate "$out") n=$(kv handshakes "$out") errors=$(kv errors "$out")
  record "$name" "$test" "$run" rate "$rate"
  [ -n "$n" ] && [ "$n" -gt 0 ] && record "$name" "$test" "$run" cpu_us "$(awk -v t=$((c1 - c0)) -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
  record "$name" "$test" "$run" errors "${errors:-1}"
  [ "$test" != "${test%r}" ] && record "$name" "$test" "$run" resumed_pct "$(awk -v r="$(kv resumed "$out")" -v n="${n:-0}" 'BEGIN { printf "%.0f", n ? 100 * r / n : 0 }')"
  return 0
}

# bulk TARGET TEST RUN VERSIONFLAG: one bulk (or GET) measurement.
bulk() {
  local name=$1 test=$2 run=$3 flag=$4 c0 c1 out bytes
  c0=$(tree_ticks "${SPID[$name]}")
  if [ "$name" = nginx-get ]; then
    out=$(run_bounded 90 "$LOAD" get "${SPORT[$name]}" "/$(basename "$BIG")" 60 "$flag" 2>&1) || true
    bytes=$(kv body "$out")
  else
    out=$(run_bounded 90 "$LOAD" bulk "${SPORT[$name]}" "$TOTAL" "$WINDOW" 60 "$flag" 2>&1) || true
    bytes=$(kv echoed "$out")
  fi
  c1=$(tree_ticks "${SPID[$name]}")
  log "$name $test run $run: $out"
  record "$name" "$test" "$run" mbps "$(kv mbps "$out")"
  [ "$(kv complete "$out")" = 1 ] || record "$name" "$test" "$run" errors 1
  [ -n "$bytes" ] && [ "$bytes" -gt 0 ] && record "$name" "$test" "$run" cpu_s_per_gb \
    "$(awk -v t=$((c1 - c0)) -v b="$bytes" -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz / (b / 1e9) }')"
  return 0
}

# idle TARGET RUN: a fresh server, IDLE_N idle TLS connections, RSS growth.
idle() {
  local name=$1 run=$2 pid rss0 rss1 ready alive args
  pick_port; local port=$PICKED
  if [ "$name" = weft ]; then
    start_server "idle-$name" "$WEFT" echo --listen "ssl:$port:privateKey={KEY}:certKey={CERT}:interface=127.0.0.1" --log-level warn
    args=(echo -)
  else
    pick_port; PORT=$PICKED TLS_PORT=$port
    start_server "idle-$name" "$SHARED/peers/nginx.sh"
    args=(http /plaintext)
  fi
  pid=$SERVER_PID
  if ! wait_port "$port" "$pid" 15; then log "$name did not start"; stop_server "$pid"; return; fi
  run_bounded 60 "$LOAD" idle "$port" 200 "${args[@]}" 0 </dev/null >/dev/null || log "$name: warm-up failed"
  sleep 0.5
  rss0=$(tree_rss_kb "$pid")
  coproc IDLE { exec timeout -k 5 300 taskset -c "$LOAD_CPU" "$LOAD" idle "$port" "$IDLE_N" "${args[@]}" 120 2>&1; }
  local cpid=$IDLE_PID out_fd=${IDLE[0]} in_fd=${IDLE[1]}
  read -r -t 240 ready <&"$out_fd" || ready="no answer"
  sleep 1
  rss1=$(tree_rss_kb "$pid")
  trap '' PIPE
  { echo 1>&"$in_fd"; } 2>/dev/null || true # the client may have exited already
  trap - PIPE
  read -r -t 60 alive <&"$out_fd" || alive="no answer"
  wait "$cpid" 2>/dev/null || true
  stop_server "$pid"
  local opened up
  opened=$(kv opened "$ready") up=$(kv alive "$alive")
  log "$name idle run $run: RSS $rss0 -> $rss1 KiB; $ready; $alive"
  if ! [[ ${opened:-} =~ ^[0-9]+$ ]] || [ "$opened" -eq 0 ]; then record "$name" idle "$run" errors 1; return; fi
  record "$name" idle "$run" rss0_kb "$rss0"
  record "$name" idle "$run" rss1_kb "$rss1"
  record "$name" idle "$run" bytes_per_conn "$(( (rss1 - rss0) * 1024 / opened ))"
  [ "${up:-0}" = "$IDLE_N" ] || record "$name" idle "$run" errors 1
}

if in_list handshakes "$ONLY" || in_list bulk "$ONLY"; then
  start_tls_servers
  # warm-up: every server handshakes and echoes once before anything is counted
  for n in weft nginx; do run_bounded 30 "$LOAD" handshakes "${SPORT[$n]}" 1 >/dev/null 2>&1 || true; done
  for n in weft-echo weft-proxy nginx-proxy; do run_bounded 30 "$LOAD" bulk "${SPORT[$n]}" 16777216 "$WINDOW" 20 >/dev/null 2>&1 || log "$n: warm-up failed"; done
  for run in $(seq "$RUNS"); do
    for v in 13 12; do
      if [ "$v" = 12 ]; then flag=--tls1_2; else flag=--tls1_3; fi
      if in_list handshakes "$ONLY"; then
        for n in weft nginx; do hs "$n" "hs$v" "$run" "$flag"; hs "$n" "hs${v}r" "$run" "$flag" --resume; done
      fi
      if in_list bulk "$ONLY"; then
        for n in weft-echo weft-proxy nginx-proxy nginx-get; do bulk "$n" "bulk$v" "$run" "$flag"; done
      fi
    done
  done
  stop_all
fi
if in_list idle "$ONLY"; then
  for run in $(seq "$RUNS"); do
    for n in weft nginx; do idle "$n" "$run"; done
  done
fi

# report_only TARGETS PART ARGS...: report.py over the rows of TARGETS (comma-separated) only,
# so each table lists the servers of its own part.
report_only() {
  local keep=$1 sub=${RAW%.tsv}-$2.tsv
  shift 2
  awk -F'\t' -v keep=",$keep," 'NR == 1 || index(keep, "," $1 ",")' "$RAW" > "$sub"
  "$PY" "$BENCH_DIR/report.py" "$sub" "$@"
}

NGINX_VERSION=$(nginx -v 2>&1 | sed 's/.*nginx\///')
cat <<EOF
### TLS: weft against nginx $NGINX_VERSION ($(openssl version | cut -d' ' -f1-2) on both sides)

Server on CPU $SERVER_CPU, \`bench/tls_load\` on CPU $LOAD_CPU; one EC P-256 certificate; the client forces the
TLS version (min = max), so both servers run the same one; cipher and group are OpenSSL's defaults
(TLS 1.3: TLS_AES_256_GCM_SHA384 with X25519). Median of $RUNS interleaved runs.
"server CPU" is the server processes' own utime + stime per handshake (per GB), from /proc.
EOF
if in_list handshakes "$ONLY"; then
  cat <<EOF

#### Handshakes per second (\`tls_load handshakes PORT $DUR [--resume]\`, 4 client processes)

"full": a new session each time (ECDHE X25519 + ECDSA P-256 signature); "resumed": the previous
connection's session ticket offered each time (resumed % says how many the server accepted).
EOF
  for v in 13 12; do
    echo
    report_only weft,nginx handshakes --ref nginx --order weft,nginx \
      "hs$v.rate=TLS 1.${v#1} full/s:sr" "hs$v.cpu_us=server CPU per full:r" \
      "hs${v}r.rate=TLS 1.${v#1} resumed/s:sr" "hs${v}r.cpu_us=server CPU per resumed:r" "hs${v}r.resumed_pct=resumed" errors
  done
fi
if in_list bulk "$ONLY"; then
  cat <<EOF

#### Bulk through TLS (one connection; MB/s = 10^6 bytes/s)

weft-echo, weft-proxy, nginx-proxy: \`tls_load bulk PORT $TOTAL $WINDOW\`, every byte echoed and checked, so
the server decrypts and re-encrypts each byte. weft-proxy and nginx-proxy are the like-for-like pair:
both terminate TLS and forward over TCP to the same plain echo server (\`weft echo\`, on CPU $LOAD_CPU).
nginx-get is one HTTPS GET of a 256 MiB static file: each byte is encrypted once and flows one way;
it is a different workload, shown for scale only.
EOF
  echo
  report_only weft-echo,weft-proxy,nginx-proxy,nginx-get bulk --ref nginx-proxy \
    --order weft-echo,weft-proxy,nginx-proxy,nginx-get \
    "bulk13.mbps=TLS 1.3 MB/s:sr" "bulk13.cpu_s_per_gb=server CPU s/GB" \
    "bulk12.mbps=TLS 1.2 MB/s:sr" "bulk12.cpu_s_per_gb=server CPU s/GB" errors
fi
if in_list idle "$ONLY"; then
  cat <<EOF

#### Idle TLS connections: memory (\`tls_load idle PORT $IDLE_N\`, newest TLS version)

Fresh server per run; $IDLE_N TLS connections, each after one exchange (weft echo: 64 bytes; nginx: one
keep-alive GET /plaintext over HTTPS/1.1), held idle. bytes/conn = (RSS with them - RSS before) / $IDLE_N:
user-space memory only. nginx allocates its connection table for worker_connections at start, so its
"RSS before" already holds part of the per-connection cost.
EOF
  echo
  report_only weft,nginx idle --order weft,nginx "idle.rss0_kb=RSS before KiB" "idle.rss1_kb=RSS with conns KiB" \
    "idle.bytes_per_conn=bytes/conn:s" errors
fi
