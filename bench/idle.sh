#!/usr/bin/env bash
# bench/idle.sh: user-space memory per idle TCP connection of `weft echo` (10,000 connections),
# in the same run as libuv, libevent and Twisted. Extra arguments go to the shared script.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${WEFT_SHARED_BENCH:-$ROOT/../shared/bench}
"$ROOT/scripts/deps" libuv1-dev libevent-dev python3-twisted >/dev/null
make -C "$ROOT" -s build >/dev/null
exec "$SHARED/idle.sh" --only uv-echo,ev-echo,twisted-echo "$@" weft --proto echo -- \
  "$ROOT/build/weft" echo --listen 'tcp:{PORT}:interface=127.0.0.1' --log-level warn
