#!/usr/bin/env bash
# bench/echo.sh: `weft echo` in the shared echo benchmark, in the same run as libuv, libevent and
# Twisted: ping-pong on 1 and 64 connections and 1 GiB bulk. Extra arguments go to the shared
# script (e.g. -r 5). Results print as markdown; copy them into bench/RESULTS.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${WEFT_SHARED_BENCH:-$ROOT/../shared/bench}
"$ROOT/scripts/deps" libuv1-dev libevent-dev python3-twisted >/dev/null
make -C "$ROOT" -s build >/dev/null
exec "$SHARED/echo.sh" "$@" weft -- "$ROOT/build/weft" echo --listen 'tcp:{PORT}:interface=127.0.0.1' --log-level warn
