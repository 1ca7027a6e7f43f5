# SPDX-License-Identifier: GPL-2.0
"""runner.py: serve one FunctionBench-style Python function over stdin/stdout.

usage: python3 runner.py MODULE

MODULE (a file next to this one) has init() -> state and
handler(state, n) -> str. The runner initialises, serves $BENCH_WARMUP
warm-up requests (0 by default) and is then ready. With SPICE_CAPTURE set
it clears the referenced bits of its pages before the warm-up (so that a
working-set capture records what the requests touch) and stops itself with
SIGSTOP once ready: the capture point. A restored process continues after
os.kill().

Requests: one line, a decimal request number N. Response: one line,
"RESULT<TAB>READY_NS REQ_NS MINFLT MAJFLT", where RESULT depends only on N,
READY_NS is CLOCK_MONOTONIC when the process became ready (after the stop,
for a restored one), REQ_NS when it read this request, and MINFLT/MAJFLT
the page faults it took from READY_NS to the end of the handler. Exits 0
at end of input.
"""
import importlib
import mmap
import os
import resource
import signal
import sys
import time


def now():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def flush_tlb():
    """Writing to clear_refs clears the accessed bits without flushing the
    TLB, and an access through a cached translation does not set the bit
    again -- under QEMU's TCG, whose software TLB keeps entries until a
    flush, the warm-up would then hardly register. Unmapping more than 33
    pages (x86's tlb_single_page_flush_ceiling) flushes the whole TLB of the
    process."""
    m = mmap.mmap(-1, 64 * mmap.PAGESIZE)
    for off in range(0, len(m), mmap.PAGESIZE):
        m[off] = 1
    m.close()


def serve(mod, state, inp, out, ready):
    """Answer the requests on inp until its end: the one request path, for
    the warm-up and for the requests that are measured."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    while True:
        line = inp.readline()
        if not line:
            break
        t = now()
        try:
            res = mod.handler(state, int(line))
        except Exception as e:  # reported, never hidden
            res = "error %s: %s" % (type(e).__name__, e)
        r2 = resource.getrusage(resource.RUSAGE_SELF)
        out.write(("%s\t%d %d %d %d\n" % (res, ready, t, r2.ru_minflt - ru.ru_minflt,
                                          r2.ru_majflt - ru.ru_majflt)).encode())
        out.flush()
        ready = 0
        ru = r2


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    mod = importlib.import_module(sys.argv[1])
    state = mod.init()
    capture = bool(os.environ.get("SPICE_CAPTURE"))
    if capture:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("1")
            flush_tlb()
        except OSError:
            pass
    # The warm-up goes through the request path, from a pipe as the real
    # requests, the answers thrown away, so that what a real request runs
    # (reading, answering, getrusage) is warm too -- and, for a capture, in
    # the working set.
    nwarm = int(os.environ.get("BENCH_WARMUP", "0"))
    r, w = os.pipe()
    os.write(w, b"".join(b"%d\n" % (1_000_000 + i) for i in range(nwarm)))
    os.close(w)
    with open(r, "rb") as src, open(os.devnull, "wb") as sink:
        serve(mod, state, src, sink, 0)
    if capture:
        os.kill(os.getpid(), signal.SIGSTOP)
    serve(mod, state, sys.stdin.buffer, sys.stdout.buffer, now())
    return 0


if __name__ == "__main__":
    sys.exit(main())
