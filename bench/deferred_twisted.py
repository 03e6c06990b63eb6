#!/usr/bin/python3
"""deferred_twisted.py: Twisted's side of bench/deferred.c: create a Deferred, add N callbacks,
fire it, drop it; for N = 1 and N = 10, in ns per Deferred (median of REPEATS runs).
Usage: deferred_twisted.py [ITERATIONS] [REPEATS]   (defaults 1000000, 5)
Prints one line in the C program's format: "cb1_ns=... cb10_ns=... iterations=... repeats=..."."""
import statistics
import sys
import time

from twisted.internet.defer import Deferred


def add_one(v):
    return v + 1


def run(iterations, callbacks):
    total = 0
    t0 = time.perf_counter_ns()
    for i in range(iterations):
        d = Deferred()
        for _ in range(callbacks):
            d.addCallback(add_one)
        d.callback(i)
        total += d.result
        del d
    return (time.perf_counter_ns() - t0) / iterations, total


def median_run(iterations, repeats, callbacks):
    return statistics.median(run(iterations, callbacks)[0] for _ in range(repeats))


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    run(iterations // 10 + 1, 10)  # warm up
    cb1 = median_run(iterations, repeats, 1)
    cb10 = median_run(iterations, repeats, 10)
    print("cb1_ns=%.1f cb10_ns=%.1f iterations=%d repeats=%d" % (cb1, cb10, iterations, repeats))


if __name__ == "__main__":
    main()
