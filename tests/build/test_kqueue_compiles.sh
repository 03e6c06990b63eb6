#!/usr/bin/env bash
# The kqueue backend (src/reactor/poll_kqueue.c) is only built on the BSDs and macOS. On Linux this
# compiles it with all warnings as errors against a stand-in <sys/event.h> (kqueue_shim/), so a
# change to the backend interface that forgets kqueue breaks the build here, not there.
set -euo pipefail
SRC=$1 BUILD=$2 CC=${3:-cc}
"$CC" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
  -fsyntax-only -DWEFT_HAVE_KQUEUE=1 -I"$SRC/tests/build/kqueue_shim" -I"$SRC/include" -I"$SRC/src" -I"$BUILD" \
  "$SRC/src/reactor/poll_kqueue.c"
echo "poll_kqueue.c compiles against the kqueue interface"
