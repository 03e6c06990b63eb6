#!/usr/bin/python3
"""coro_twisted.py: Twisted's side of bench/coro.c: ns per await of a pending Deferred (an
`async def` run by ensureDeferred awaits a new Deferred that the main loop then fires: a suspend
and a resume per await) and resident memory per suspended coroutine (COROS coroutines each
awaiting its own Deferred). Prints "await_ns=... bytes_per_coro=..." like the C program.
Usage: coro_twisted.py [AWAITS] [COROS]   (defaults 200000, 100000)"""
import sys
import time

from twisted.internet.defer import Deferred, ensureDeferred


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def bench_await(n):
    pending = [None]

    async def body():
        for _ in range(n):
            d = Deferred()
            pending[0] = d
            await d
        pending[0] = None

    t0 = time.perf_counter_ns()
    done = ensureDeferred(body())
    while pending[0] is not None:
        d = pending[0]
        d.callback(1)  # resumes the coroutine until its next await
    t1 = time.perf_counter_ns()
    assert done.called
    return (t1 - t0) / n


def bench_memory(n):
    async def body(d):
        return await d

    sources = [None] * n
    dones = [None] * n
    before = rss_bytes()
    for i in range(n):
        sources[i] = Deferred()
        dones[i] = ensureDeferred(body(sources[i]))
    after = rss_bytes()
    for d in sources:
        d.callback(None)
    return (after - before) / n


def main():
    awaits = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    coros = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    bench_await(awaits // 10 + 1)  # warm up
    await_ns = bench_await(awaits)
    per_coro = bench_memory(coros)
    print("await_ns=%.1f bytes_per_coro=%.0f" % (await_ns, per_coro))


if __name__ == "__main__":
    main()
