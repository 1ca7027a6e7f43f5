#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Cold-start benchmark on FunctionBench-style functions, in the guest.

For each function (functions/): cold exec, CRIU (criu dump after warm-up,
criu restore from a cold cache), Spice (snapshot_restore from a cold cache,
copy and share-cache modes, and from a warm cache), a warm process, and the
limit (working-set bytes / the scratch disk's O_DIRECT sequential read
speed, measured in the same boot). Systems are interleaved within each
repetition, in a rotating order. Then density: 16 instances restored from
one image in share-cache mode against 16 cold-started ones.

See README.md in this directory. Run by `make bench` (scripts/vm-run with
the bench disk); writes JSON (--json) and a markdown table on stdout.
"""
import argparse
import ctypes
import errno
import fcntl
import json
import math
import mmap
import os
import select
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FNDIR = os.path.join(HERE, "functions")
PYTHON = "/usr/bin/python3"
NODE = "/usr/bin/node"
CRIU = "/usr/sbin/criu"
PERF = "/usr/bin/perf"
WORK = "/tmp/bench"
SPICE_CAPTURE_WORKING_SET = 1 << 1
SPICE_RESTORE_SHARE_CACHE = 1 << 0
SPICE_RESTORE_LAZY = 1 << 1

# name, runtime, file or module
WORKLOADS = [
    ("helloworld", "python", "helloworld"),
    ("json", "python", "json_ser"),
    ("pyaes", "python", "pyaes_fn"),
    ("chameleon", "python", "chameleon_fn"),
    ("image_rotate", "python", "image_rotate"),
    ("lr_serving", "python", "lr_serving"),
    ("node_json", "node", "node_json.js"),
]
QUICK = ["helloworld", "json"]

# The systems, in the table's order. "cold" systems drop the page cache.
SYSTEMS = ["cold_exec", "criu", "spice", "spice_share", "spice_lazy", "spice_warm_cache", "warm"]
SPICE_SYSTEMS = ["spice", "spice_share", "spice_lazy", "spice_warm_cache"]
LABELS = {
    "cold_exec": "cold exec",
    "criu": "CRIU restore",
    "spice": "Spice (copy)",
    "spice_share": "Spice (share-cache)",
    "spice_lazy": "Spice (lazy)",
    "spice_warm_cache": "Spice (warm cache)",
    "warm": "warm process",
    "limit": "limit (WS / disk)",
}

opt = None
lib = None
libc = ctypes.CDLL(None, use_errno=True)


def log(*a):
    print(*a, flush=True)


def now():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class FdMap(ctypes.Structure):
    _fields_ = [("image_fd", ctypes.c_int), ("caller_fd", ctypes.c_int)]


class Reason(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint32), ("fd", ctypes.c_int32), ("addr", ctypes.c_uint64)]


def load_libspice(path):
    global lib
    lib = ctypes.CDLL(path, use_errno=True)
    lib.spice_supported.restype = ctypes.c_int
    lib.spice_capture_pid.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_uint64,
                                      ctypes.POINTER(Reason)]
    lib.spice_restore.argtypes = [ctypes.c_int, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint]
    lib.spice_spawn.argtypes = [ctypes.c_int, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint]
    lib.spice_image_reason_name.restype = ctypes.c_char_p
    lib.spice_image_reason_name.argtypes = [ctypes.c_uint32]
    lib.spice_image_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                     ctypes.c_void_p]
    lib.spice_image_header.restype = ctypes.c_void_p
    lib.spice_image_header.argtypes = [ctypes.c_void_p]
    lib.spice_image_close.argtypes = [ctypes.c_void_p]


def image_ws_size(path):
    """ws_size and image_size from the image header, by libspice's reader."""
    img = ctypes.c_void_p()
    rc = lib.spice_image_open(path.encode(), ctypes.byref(img), None)
    if rc:
        raise OSError(-rc, "spice_image_open " + path)
    hdr = lib.spice_image_header(img)
    # struct snapshot_image_header: ws_size at 64, image_size at 72
    ws = ctypes.c_uint64.from_address(hdr + 64).value
    size = ctypes.c_uint64.from_address(hdr + 72).value
    lib.spice_image_close(img)
    return ws, size


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_stat(pid):
    """(state, minflt, majflt) of pid, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); minflt is field 10, majflt 12
    return rest[0], int(rest[7]), int(rest[9])


def smaps_rollup(pid):
    r = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                p = line.split()
                if len(p) >= 2 and p[0] in ("Rss:", "Pss:"):
                    r[p[0][:-1].lower() + "_kb"] = int(p[1])
    except OSError:
        pass
    return r


def wait_child(pid, flags=0, timeout=None):
    """waitpid with a timeout, sleeping on SIGCHLD (blocked in main())."""
    deadline = time.monotonic() + (timeout or opt.timeout)
    while True:
        r, st = os.waitpid(pid, flags | os.WNOHANG)
        if r == pid:
            return st
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        signal.sigtimedwait([signal.SIGCHLD], min(left, 0.05))


def kill_reap(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def reap_strays():
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


class Fail(Exception):
    pass


class Child:
    """A function process with pipes on its stdin and stdout."""

    def __init__(self):
        self.pid = None
        self.req = self.resp = None
        self.buf = b""

    def send(self, n):
        os.write(self.req, b"%d\n" % n)

    def read_line(self):
        deadline = time.monotonic() + opt.timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("no response within %.0f s" % opt.timeout)
            r, _, _ = select.select([self.resp], [], [], left)
            if not r:
                continue
            d = os.read(self.resp, 65536)
            if not d:
                raise Fail("it closed its stdout without answering")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def finish(self, what):
        """Close stdin: the function must exit 0."""
        os.close(self.req)
        st = wait_child(self.pid)
        os.close(self.resp)
        if st is None:
            kill_reap(self.pid)
            raise Fail("%s: did not exit at end of input" % what)
        if not os.WIFEXITED(st) or os.WEXITSTATUS(st):
            raise Fail("%s: exit status %#x at end of input" % (what, st))

    def abort(self):
        for fd in (self.req, self.resp):
            try:
                os.close(fd)
            except (OSError, TypeError):
                pass
        if self.pid:
            kill_reap(self.pid)


def fn_env(capture, warmup):
    env = {
        "PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
        # single-threaded numeric libraries: capture needs one thread
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
        "UV_THREADPOOL_SIZE": "1",
        "BENCH_WARMUP": str(warmup),
    }
    if capture:
        env["SPICE_CAPTURE"] = "1"
    return env


def fn_argv(wl):
    name, rt, f = wl
    if rt == "node":
        return [NODE, "--v8-pool-size=1", os.path.join(FNDIR, f)]
    return [PYTHON, os.path.join(FNDIR, "runner.py"), f]


def start(wl, how, image=None, flags=0, warmup=0, stderr=None):
    """how: exec, capture, restore. stderr: a path (default /dev/null).

    No Python runs in the child: the runtime is started with posix_spawn()
    and a restore with libspice's spice_spawn(), both of which start the
    child in the driver's memory (CLONE_VM | CLONE_VFORK), as a platform's
    launcher would; a fork() of this interpreter would add a copy of its
    page tables and, from a cold cache, the faults of its own code."""
    c = Child()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    efd = os.open(stderr or "/dev/null", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                  0o644)
    try:
        if how == "restore":
            fd = os.open(image, os.O_RDONLY | os.O_CLOEXEC)
            fdmap = (FdMap * 3)(FdMap(0, in_r), FdMap(1, out_w), FdMap(2, efd))
            pid = lib.spice_spawn(fd, flags, fdmap, 3)
            os.close(fd)
            if pid < 0:
                raise Fail("spice_spawn: %s" % os.strerror(-pid))
        else:
            argv = fn_argv(wl)
            env = fn_env(how == "capture", warmup)
            pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, efd, 2)], setsigmask=[])
    finally:
        for fd in (in_r, out_w, efd):
            os.close(fd)
    c.pid, c.req, c.resp = pid, in_w, out_r
    c.pipe_ino = (os.fstat(in_w).st_ino, os.fstat(out_r).st_ino)
    return c


def parse_response(line, what):
    if "\t" not in line:
        raise Fail("%s: malformed response %r" % (what, line))
    res, meta = line.rsplit("\t", 1)
    if res.startswith("error"):
        raise Fail("%s: the function answered an error: %s" % (what, res))
    ready, t_req, minflt, majflt = (int(x) for x in meta.split())
    return res, ready, t_req, minflt, majflt


def measure_after(c, pid, sample):
    """Faults so far and RSS/PSS of pid, after its first response."""
    st = proc_stat(pid)
    if st:
        sample["minflt_total"], sample["majflt_total"] = st[1], st[2]
    sample.update(smaps_rollup(pid))


def first_request(wl, c, pid, t0, n, expected, what, sample):
    c.send(n)
    line = c.read_line()
    t1 = now()
    res, ready, t_req, minflt, majflt = parse_response(line, what)
    if expected.get(n) is None:
        expected[n] = res
    elif expected[n] != res:
        raise Fail("%s: wrong response to request %d: %r, expected %r (cold exec)"
                   % (what, n, res, expected[n]))
    sample.update({
        "restore_ms": (ready - t0) / 1e6,         # until the function runs
        "first_request_ms": (t1 - ready) / 1e6,   # from then to the response
        "end_to_end_ms": (t1 - t0) / 1e6,
        "minflt": minflt, "majflt": majflt,       # during the first request
    })
    measure_after(c, pid, sample)
    return sample


# ---------------------------------------------------------------------------
# The systems, one sample each


def served(wl, c, t0, n, expected, what):
    """The first request to the child c, started at t0; then its end."""
    try:
        s = first_request(wl, c, c.pid, t0, n, expected, what, {})
        c.finish(what)
    except BaseException:
        c.abort()
        raise
    return s


def run_cold_exec(wl, n, expected):
    drop_caches()
    t0 = now()
    c = start(wl, "exec", stderr="%s/%s.stderr" % (WORK, wl[0]))
    return served(wl, c, t0, n, expected, "cold exec")


def run_spice(wl, st, n, expected, flags, cold):
    if cold:
        drop_caches()
    t0 = now()
    c = start(wl, "restore", image=st["image"], flags=flags)
    return served(wl, c, t0, n, expected, "Spice restore")


def run_criu(wl, st, n, expected):
    """posix_spawn of criu restore --restore-detached; the restored function
    (same pid as at the dump) gets new pipes through --inherit-fd, is
    stopped as it was dumped, and is resumed with SIGCONT once criu exits."""
    pid = st["criu_pid"]
    if proc_stat(pid):
        raise Fail("CRIU: pid %d, which criu restores with, is taken" % pid)
    pipes = os.pipe() + os.pipe()
    in_r, in_w, out_r, out_w = pipes
    logf = "%s/criu-restore-%s.log" % (WORK, wl[0])
    outf = "%s/criu-restore-%s.out" % (WORK, wl[0])
    argv = [CRIU, "restore", "-D", st["criu_dir"], "--shell-job", "--restore-detached",
            "--inherit-fd", "fd[3]:pipe:[%d]" % st["pipe_ino"][0],
            "--inherit-fd", "fd[4]:pipe:[%d]" % st["pipe_ino"][1], "-o", logf]
    # above 4, so that no dup2() below overwrites a descriptor still to be moved
    in_r, out_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (in_r, out_w))
    outfd = os.open(outf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    drop_caches()
    t0 = now()
    criu = os.posix_spawn(CRIU, argv, dict(os.environ), file_actions=[
        (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, outfd, 1),
        (os.POSIX_SPAWN_DUP2, outfd, 2), (os.POSIX_SPAWN_DUP2, in_r, 3),
        (os.POSIX_SPAWN_DUP2, out_w, 4)], setsigmask=[])
    for fd in (outfd, null, in_r, out_w, pipes[0], pipes[3]):
        os.close(fd)
    c = Child()
    c.pid, c.req, c.resp = pid, in_w, out_r
    s = {}
    try:
        rc = wait_child(criu)
        s["criu_exit_ms"] = (now() - t0) / 1e6
        if rc != 0:
            if rc is None:
                kill_reap(criu)
            raise Fail("criu restore failed (status %s); %s: %s; %s: %s"
                       % (rc, logf, tail(logf, 20), outf, tail(outf, 10)))
        # wait for the restored process's stop, then resume it
        deadline = time.monotonic() + opt.timeout
        while True:
            r, wst = os.waitpid(pid, os.WUNTRACED | os.WNOHANG)
            if r == pid and not os.WIFSTOPPED(wst):
                raise Fail("CRIU: the restored function exited (%#x) before running" % wst)
            ps = proc_stat(pid)
            if r == pid or (ps and ps[0] == "T"):
                break
            if time.monotonic() > deadline:
                raise Fail("CRIU: the restored function neither stopped nor ran")
            signal.sigtimedwait([signal.SIGCHLD], 0.002)
        s["criu_sigcont_ms"] = (now() - t0) / 1e6
        os.kill(pid, signal.SIGCONT)
        first_request(wl, c, pid, t0, n, expected, "CRIU restore", s)
        c.finish("CRIU restore")
    except BaseException:
        c.abort()
        raise
    reap_strays()
    return s


def tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return "(no log)"
    err = [l for l in lines if "Error" in l or "error" in l]
    return " | ".join(l.strip() for l in (err or lines)[-n:])


def run_warm(wl, expected, reps):
    """One process, initialised and warmed up; reps timed round trips."""
    c = start(wl, "exec", warmup=opt.warmup, stderr="%s/%s.stderr" % (WORK, wl[0]))
    out = []
    try:
        c.send(999_999)
        parse_response(c.read_line(), "warm process (start)")
        for i in range(reps):
            n = i + 1
            s = {}
            t0 = now()
            c.send(n)
            line = c.read_line()
            t1 = now()
            res, _, t_req, minflt, majflt = parse_response(line, "warm process")
            if expected.get(n) is not None and expected[n] != res:
                raise Fail("warm process: wrong response to %d: %r, expected %r" % (n, res, expected[n]))
            s.update({"restore_ms": 0.0, "first_request_ms": (t1 - t0) / 1e6,
                      "end_to_end_ms": (t1 - t0) / 1e6, "minflt": minflt, "majflt": majflt})
            measure_after(c, c.pid, s)
            out.append(s)
        c.finish("warm process")
    except BaseException:
        c.abort()
        raise
    return out


# ---------------------------------------------------------------------------
# Capture (Spice) and dump (CRIU) of one warmed-up process


def capture(wl, st):
    """Start with SPICE_CAPTURE, wait for the stop, spice_capture_pid() with
    the working-set flag, then criu dump of the same stopped process."""
    name = wl[0]
    t0 = now()
    c = start(wl, "capture", warmup=opt.warmup)
    stt = wait_child(c.pid, os.WUNTRACED)
    if stt is None or not os.WIFSTOPPED(stt):
        c.abort()
        raise Fail("capture run: did not reach its ready point (%s)" % stt)
    st["init_ms"] = (now() - t0) / 1e6
    st["pipe_ino"] = c.pipe_ino
    st["criu_pid"] = c.pid
    st["nr_threads"] = len(os.listdir("/proc/%d/task" % c.pid))
    if opt.spice:
        img = "%s/%s.img" % (opt.dir, name)
        fd = os.open(img, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        reason = Reason()
        t = now()
        rc = lib.spice_capture_pid(c.pid, fd, SPICE_CAPTURE_WORKING_SET, ctypes.byref(reason))
        if rc == 0:
            os.fsync(fd)
        st["capture_ms"] = (now() - t) / 1e6
        os.close(fd)
        if rc == 0:
            st["image"] = img
            st["ws_bytes"], st["image_bytes"] = image_ws_size(img)
            log("  %s: Spice capture %.0f ms, image %.1f MiB, working set %.1f MiB"
                % (name, st["capture_ms"], st["image_bytes"] / 2**20, st["ws_bytes"] / 2**20))
        else:
            why = "snapshot_capture: %s" % os.strerror(-rc)
            if rc == -errno.EOPNOTSUPP and reason.code:
                rn = lib.spice_image_reason_name(reason.code)
                why += ": reason %s (code %d, fd %d, addr %#x)" % (
                    rn.decode() if rn else "?", reason.code, reason.fd, reason.addr)
            why += "; the process has %d threads" % st["nr_threads"]
            st["spice_unsupported"] = why
            os.unlink(img)
            log("  %s: Spice unsupported: %s" % (name, why))
    if opt.criu:
        d = "%s/criu-%s" % (opt.dir, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        logf = "%s/criu-dump-%s.log" % (WORK, name)
        t = now()
        rc = run_cmd([CRIU, "dump", "-t", str(c.pid), "-D", d, "--shell-job", "-o", logf],
                     "%s/criu-dump-%s.out" % (WORK, name))
        os.sync()
        st["dump_ms"] = (now() - t) / 1e6
        if rc == 0:
            st["criu_dir"] = d
            st["criu_image_bytes"] = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
            log("  %s: criu dump %.0f ms, images %.1f MiB" % (name, st["dump_ms"],
                                                              st["criu_image_bytes"] / 2**20))
            os.waitpid(c.pid, 0)    # criu dump killed it
        else:
            st["criu_unsupported"] = "criu dump failed (status %s): %s" % (rc, tail(logf))
            log("  %s: CRIU unsupported: %s" % (name, st["criu_unsupported"]))
    for fd in (c.req, c.resp):
        os.close(fd)
    if proc_stat(c.pid):
        kill_reap(c.pid)
    c.pid = None


def run_cmd(argv, out):
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
            os.closerange(3, 65536)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execv(argv[0], argv)
        except BaseException:
            pass
        os._exit(127)
    st = wait_child(pid)
    if st is None:
        kill_reap(pid)
        return None
    return os.waitstatus_to_exitcode(st)


# ---------------------------------------------------------------------------
# Disk speed and density


def disk_read_speed(mib=256):
    """Sequential read speed (bytes/s) of a file on --dir, with O_DIRECT."""
    path = "%s/seqread.dat" % opt.dir
    chunk = 1 << 20
    buf = mmap.mmap(-1, chunk)
    buf.write(bytes((i * 131) & 0xFF for i in range(256)) * (chunk // 256))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for _ in range(mib):
        os.write(fd, buf)
    os.fsync(fd)
    os.close(fd)
    drop_caches()
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    t = now()
    total = 0
    while True:
        n = os.readv(fd, [buf])
        if n <= 0:
            break
        total += n
    el = (now() - t) / 1e9
    os.close(fd)
    os.unlink(path)
    return total / el


def density(wl, st, n_inst):
    """n_inst instances restored from one image (share-cache) vs n_inst
    cold-started ones: PSS sum / n and the MemAvailable drop / n."""
    out = {}
    modes = [("cold_exec", None)]
    if st.get("image"):
        modes.insert(0, ("spice_share", SPICE_RESTORE_SHARE_CACHE))
    for mode, flags in modes:
        drop_caches()
        before = meminfo("MemAvailable")
        kids = []
        try:
            for i in range(n_inst):
                if flags is None:
                    c = start(wl, "exec", stderr="%s/%s.stderr" % (WORK, wl[0]))
                else:
                    c = start(wl, "restore", image=st["image"], flags=flags)
                kids.append(c)
                c.send(i + 1)
                parse_response(c.read_line(), "density %s" % mode)
            drop_caches()
            after = meminfo("MemAvailable")
            pss = sum(smaps_rollup(c.pid).get("pss_kb", 0) for c in kids)
            rss = sum(smaps_rollup(c.pid).get("rss_kb", 0) for c in kids)
            for c in kids:
                c.finish("density")
        except BaseException:
            for c in kids:
                c.abort()
            raise
        out[mode] = {"instances": n_inst, "pss_per_instance_kb": pss / n_inst,
                     "rss_per_instance_kb": rss / n_inst,
                     "memavailable_drop_per_instance_kb": (before - after) / n_inst}
        log("  %s density, %s: PSS %.1f MiB/instance, MemAvailable drop %.1f MiB/instance"
            % (wl[0], mode, pss / n_inst / 1024, (before - after) / n_inst / 1024))
    return out


# ---------------------------------------------------------------------------
# Statistics and output


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def p90(v):
    s = sorted(v)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def summarise(samples):
    keys = [k for k in samples[0] if isinstance(samples[0][k], (int, float))]
    out = {}
    for k in keys:
        vals = [s[k] for s in samples if k in s]
        out[k] = {"median": median(vals), "p90": p90(vals)}
    return out


def geomean(v):
    v = [x for x in v if x and x > 0]
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else None


def fmt_ms(x):
    if x is None:
        return "n/a"
    return "%.2f" % x if x < 10 else "%.0f" % x


def print_table(res):
    log("\n## Time to first response (end to end), median / p90 in ms")
    log("\n| function | " + " | ".join(LABELS[s] for s in SYSTEMS) + " | limit (WS / disk) |")
    log("|---|" + "---:|" * (len(SYSTEMS) + 1))
    for name, w in res["workloads"].items():
        row = []
        for s in SYSTEMS:
            sy = w["systems"].get(s, {})
            if sy.get("measured"):
                e = sy["summary"]["end_to_end_ms"]
                row.append("%s / %s" % (fmt_ms(e["median"]), fmt_ms(e["p90"])))
            else:
                row.append("unsupported" if sy.get("why_not") else "n/a")
        lim = w.get("limit", {}).get("ms")
        row.append(fmt_ms(lim) if lim is not None else "n/a")
        log("| %s | %s |" % (name, " | ".join(row)))
    log("\n## Per system, medians: restore (until the function runs), first request, "
        "page faults in the first request (minor/major), RSS / PSS after it, image")
    log("\n| function | system | restore ms | first request ms | end to end ms | "
        "faults min/maj | RSS MiB | PSS MiB | image MiB |")
    log("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, w in res["workloads"].items():
        for s in SYSTEMS:
            sy = w["systems"].get(s, {})
            if not sy.get("measured"):
                continue
            m = {k: v["median"] for k, v in sy["summary"].items()}
            img = sy.get("image_bytes")
            log("| %s | %s | %s | %s | %s | %d/%d | %.1f | %.1f | %s |" % (
                name, LABELS[s], fmt_ms(m.get("restore_ms")), fmt_ms(m.get("first_request_ms")),
                fmt_ms(m.get("end_to_end_ms")), m.get("minflt", 0), m.get("majflt", 0),
                m.get("rss_kb", 0) / 1024, m.get("pss_kb", 0) / 1024,
                "%.1f" % (img / 2**20) if img else ""))
    if any(w.get("density") for w in res["workloads"].values()):
        log("\n## Density: %d instances, memory per instance (MiB)" % opt.density)
        log("\n| function | Spice share-cache PSS | Spice share-cache MemAvailable drop "
            "| cold exec PSS | cold exec MemAvailable drop |")
        log("|---|---:|---:|---:|---:|")
        for name, w in res["workloads"].items():
            d = w.get("density")
            if not d:
                continue
            cells = []
            for m in ("spice_share", "cold_exec"):
                x = d.get(m)
                cells += (["%.1f" % (x["pss_per_instance_kb"] / 1024),
                           "%.1f" % (x["memavailable_drop_per_instance_kb"] / 1024)]
                          if x else ["unsupported", "unsupported"])
            log("| %s | %s |" % (name, " | ".join(cells)))
    unsup = [(n, s, w["systems"][s]["why_not"]) for n, w in res["workloads"].items()
             for s in SYSTEMS if w["systems"].get(s, {}).get("why_not")]
    if unsup:
        log("\nUnsupported:")
        for n, s, why in unsup:
            log("- %s, %s: %s" % (n, LABELS[s], why))
    sm = res["summary"]
    log("\nSummary (geometric means across workloads, end to end): CRIU / Spice cold = %s, "
        "Spice cold / warm = %s, cold exec / Spice cold = %s, Spice cold / limit = %s"
        % tuple(("%.2fx" % sm[k]) if sm.get(k) else "n/a" for k in
                ("criu_over_spice_geomean", "spice_over_warm_geomean",
                 "cold_over_spice_geomean", "spice_over_limit_geomean")))
    log("CRIU / best Spice mode (copy, share-cache or lazy) = %s; Spice cold / (warm + limit) = %s "
        "(target <= 1.5x); first-request faults, Spice / CRIU = %s (%s / %s; target <= 5%%)"
        % (("%.2fx" % sm["criu_over_spice_best_geomean"]) if sm.get("criu_over_spice_best_geomean") else "n/a",
           ("%.2fx" % sm["spice_over_warm_plus_limit_geomean"]) if sm.get("spice_over_warm_plus_limit_geomean") else "n/a",
           ("%.1f%%" % (100 * sm["spice_faults_over_criu"]["ratio"]))
           if sm.get("spice_faults_over_criu", {}).get("ratio") is not None else "n/a",
           sm.get("spice_faults_over_criu", {}).get("spice_first_request_faults"),
           sm.get("spice_faults_over_criu", {}).get("criu_first_request_faults")))
    log("Disk: %.0f MiB/s sequential O_DIRECT read. Reps: %d. Under TCG only ratios mean anything."
        % (res["disk_read_bytes_per_s"] / 2**20, res["reps"]))


# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Profile: where a cold restore's time goes


def perf_start(data):
    """perf record of every CPU (cpu-clock: TCG has no PMU) with call
    graphs, until perf_stop()."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(data + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.closerange(3, 65536)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execv(PERF, [PERF, "record", "-a", "-g", "-e", "cpu-clock", "-F", "2000",
                            "--no-buildid-cache", "-o", data])
        except BaseException:
            pass
        os._exit(127)
    time.sleep(1)       # perf is set up
    return pid


def perf_stop(pid):
    os.kill(pid, signal.SIGINT)
    if wait_child(pid) is None:
        kill_reap(pid)


def perf_report(data, out, sort, extra=()):
    rc = run_cmd([PERF, "report", "-i", data, "--stdio", "--no-children", "--sort", sort,
                  "--percent-limit", "0.5"] + list(extra), out)
    if rc != 0:
        raise Fail("perf report failed (%s): %s" % (rc, tail(out)))


def profile(wl, st, reps):
    """perf record around reps cold restores of each system; reports in
    --profile DIR: NAME-SYSTEM-dso.txt (by program and library) and
    NAME-SYSTEM-sym.txt (by function, with call graphs)."""
    name = wl[0]
    runs = []
    if st.get("image"):
        runs += [("spice", lambda n, e: run_spice(wl, st, n, e, 0, True)),
                 ("spice_share", lambda n, e: run_spice(wl, st, n, e, SPICE_RESTORE_SHARE_CACHE, True))]
    if st.get("criu_dir"):
        runs.append(("criu", lambda n, e: run_criu(wl, st, n, e)))
    runs.append(("cold_exec", lambda n, e: run_cold_exec(wl, n, e)))
    os.makedirs(opt.profile, exist_ok=True)
    for sname, fn in runs:
        data = "%s/perf-%s-%s.data" % (opt.dir, name, sname)
        expected = {}
        pid = perf_start(data)
        try:
            e2e = [fn(i + 1, expected)["end_to_end_ms"] for i in range(reps)]
        finally:
            perf_stop(pid)
        base = "%s/%s-%s" % (opt.profile, name, sname)
        # the idle loop (swapper) is left out: the percentages are of busy time
        comms = "bench.py,python3,criu,node"
        perf_report(data, base + "-dso.txt", "comm,dso",
                    ["-g", "none", "--comms", comms, "--percentage", "relative"])
        perf_report(data, base + "-sym.txt", "dso,sym",
                    ["-g", "caller,0.5,callee,function,percent", "--max-stack", "32",
                     "--comms", comms, "--percentage", "relative"])
        shutil.copy(data, base + ".data")
        os.unlink(data)
        log("  profile %s: %d runs, median %s ms: %s-{dso,sym}.txt"
            % (sname, reps, fmt_ms(median(e2e)), base))


def run_one(wl, res, reps, speed):
    name = wl[0]
    log("%s:" % name)
    st = {}
    capture(wl, st)
    if opt.profile:
        profile(wl, st, reps)
        for f in (st.get("image"),):
            if f:
                os.unlink(f)
        return
    w = {"runtime": wl[1], "init_ms": st.get("init_ms"), "threads_at_capture": st.get("nr_threads"),
         "systems": {}}
    res["workloads"][name] = w
    todo = ["cold_exec"]
    sysinfo = {s: {"measured": False, "samples": []} for s in SYSTEMS}
    if st.get("criu_dir"):
        todo.append("criu")
        sysinfo["criu"].update(image_bytes=st["criu_image_bytes"], dump_ms=st["dump_ms"])
    elif opt.criu:
        sysinfo["criu"]["why_not"] = st.get("criu_unsupported")
    if st.get("image"):
        todo += ["spice", "spice_share", "spice_lazy"]
        for s in SPICE_SYSTEMS:
            sysinfo[s].update(image_bytes=st["image_bytes"], capture_ms=st["capture_ms"],
                              ws_bytes=st["ws_bytes"])
    elif opt.spice:
        for s in SPICE_SYSTEMS:
            sysinfo[s]["why_not"] = st.get("spice_unsupported")
    expected = {}
    for i in range(reps):
        n = i + 1
        k = i % len(todo)
        order = todo[k:] + todo[:k]
        if "cold_exec" in order and order[0] != "cold_exec" and i == 0:
            pass
        line = []
        # the first request of the first rep is answered by cold exec
        # first, so that every other system is checked against it
        if i == 0:
            order.remove("cold_exec")
            order.insert(0, "cold_exec")
        for s in order:
            if s == "cold_exec":
                x = run_cold_exec(wl, n, expected)
            elif s == "criu":
                x = run_criu(wl, st, n, expected)
            elif s == "spice":
                x = run_spice(wl, st, n, expected, 0, True)
                sysinfo[s]["samples"].append(x)
                line.append("%s %s" % (s, fmt_ms(x["end_to_end_ms"])))
                s, x = "spice_warm_cache", run_spice(wl, st, n, expected, 0, False)
            elif s == "spice_share":
                x = run_spice(wl, st, n, expected, SPICE_RESTORE_SHARE_CACHE, True)
            elif s == "spice_lazy":
                x = run_spice(wl, st, n, expected, SPICE_RESTORE_LAZY, True)
            sysinfo[s]["samples"].append(x)
            line.append("%s %s" % (s, fmt_ms(x["end_to_end_ms"])))
        log("  run %d/%d: %s" % (i + 1, reps, ", ".join(line)))
    sysinfo["warm"]["samples"] = run_warm(wl, expected, reps)
    log("  warm: %s ms (median)" % fmt_ms(median([x["end_to_end_ms"] for x in sysinfo["warm"]["samples"]])))
    for s, sy in sysinfo.items():
        if sy["samples"]:
            sy["measured"] = True
            sy["summary"] = summarise(sy["samples"])
    w["systems"] = sysinfo
    w["first_response"] = expected.get(1)
    if st.get("image"):
        w["limit"] = {"ws_bytes": st["ws_bytes"], "image_bytes": st["image_bytes"],
                      "ms": st["ws_bytes"] / speed * 1e3,
                      "image_ms": st["image_bytes"] / speed * 1e3}
    if opt.density:
        w["density"] = density(wl, st, opt.density)
    for f in (st.get("image"),):
        if f:
            os.unlink(f)


def finish_results(res, partial):
    """Summary, and the JSON file (after every workload: a run cut short
    still leaves what it measured, with "partial": true)."""
    def ratio(a, b):
        r = []
        for w in res["workloads"].values():
            sa, sb = w["systems"].get(a, {}), w["systems"].get(b, {})
            if sa.get("measured") and sb.get("measured"):
                r.append(sa["summary"]["end_to_end_ms"]["median"] / sb["summary"]["end_to_end_ms"]["median"])
        return geomean(r)

    def med(w, sys_, key):
        return w["systems"][sys_]["summary"][key]["median"]

    lim, wpl, best = [], [], []
    flt = {"spice": 0.0, "criu": 0.0}
    for w in res["workloads"].values():
        sy = w.get("systems", {})
        if not sy.get("spice", {}).get("measured"):
            continue
        e2e = med(w, "spice", "end_to_end_ms")
        if w.get("limit"):
            lim.append(e2e / w["limit"]["ms"])
            if sy.get("warm", {}).get("measured"):
                # target: Spice cold within 1.5x of (warm + the disk limit)
                wpl.append(e2e / (med(w, "warm", "end_to_end_ms") + w["limit"]["ms"]))
        if sy.get("criu", {}).get("measured"):
            modes = [med(w, m, "end_to_end_ms") for m in ("spice", "spice_share", "spice_lazy")
                     if sy.get(m, {}).get("measured")]
            best.append(med(w, "criu", "end_to_end_ms") / min(modes))
            for k in ("minflt", "majflt"):
                flt["spice"] += med(w, "spice", k)
                flt["criu"] += med(w, "criu", k)
    faults = {"spice_first_request_faults": flt["spice"],
              "criu_first_request_faults": flt["criu"],
              "ratio": flt["spice"] / flt["criu"] if flt["criu"] else None,
              "metric": "sum over functions of the median minor + major faults "
                        "in the first request, Spice (copy) / CRIU"}
    res["partial"] = partial
    res["summary"] = {
        "criu_over_spice_geomean": ratio("criu", "spice"),
        "criu_over_spice_share_geomean": ratio("criu", "spice_share"),
        "criu_over_spice_lazy_geomean": ratio("criu", "spice_lazy"),
        "criu_over_spice_best_geomean": geomean(best),
        "spice_faults_over_criu": faults,
        "spice_over_warm_geomean": ratio("spice", "warm"),
        "cold_over_spice_geomean": ratio("cold_exec", "spice"),
        "spice_over_limit_geomean": geomean(lim),
        "spice_over_warm_plus_limit_geomean": geomean(wpl),
        "metric": "medians of end-to-end time (spawn to first response)",
    }
    if opt.json:
        with open(opt.json + ".tmp", "w") as f:
            json.dump(res, f, indent=1)
        os.rename(opt.json + ".tmp", opt.json)


def main():
    global opt
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workloads", nargs="*")
    ap.add_argument("--quick", action="store_true", help="helloworld and json, 5 reps")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--density", type=int, default=16)
    ap.add_argument("--dir", default="/scratch")
    ap.add_argument("--json")
    ap.add_argument("--libspice", default="/usr/lib/spice/functions/libspice.so.0")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--no-criu", dest="criu", action="store_false")
    ap.add_argument("--no-spice", dest="spice", action="store_false")
    ap.add_argument("--profile", metavar="DIR",
                    help="instead of measuring, profile reps cold runs of each system "
                    "with perf; reports in DIR")
    opt = ap.parse_args()
    reps = opt.reps or (5 if opt.quick else 10)
    names = opt.workloads or (QUICK if opt.quick else [w[0] for w in WORKLOADS])
    wls = []
    for n in names:
        m = [w for w in WORKLOADS if w[0] == n]
        if not m:
            ap.error("unknown workload %s (%s)" % (n, ", ".join(w[0] for w in WORKLOADS)))
        wls.append(m[0])
    os.makedirs(WORK, exist_ok=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    libc.prctl(36, 1, 0, 0, 0)     # PR_SET_CHILD_SUBREAPER: criu's orphans are ours
    if opt.spice:
        load_libspice(opt.libspice)
        if lib.spice_supported() != 1:
            log("Spice: the kernel lacks the interface")
            opt.spice = False
    if opt.criu:
        os.system("ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up")
        rc = run_cmd([CRIU, "check"], WORK + "/criu-check.out")
        log("criu check: status %s: %s" % (rc, tail(WORK + "/criu-check.out", 2)))
    uname = os.uname()
    res = {"benchmark": "functions", "kernel": uname.release, "reps": reps,
           "warmup_requests": opt.warmup, "quick": opt.quick, "workloads": {}}
    speed = disk_read_speed()
    res["disk_read_bytes_per_s"] = speed
    log("scratch disk: %.0f MiB/s sequential read (O_DIRECT)" % (speed / 2**20))

    for wl in wls:
        try:
            run_one(wl, res, reps, speed)
        except Fail as e:
            log("%s: error: %s" % (wl[0], e))
            res["workloads"].setdefault(wl[0], {"systems": {}})["error"] = str(e)
            res["errors"] = res.get("errors", 0) + 1
            reap_strays()
        finish_results(res, partial=(wl is not wls[-1]))
    if not opt.profile:
        print_table(res)
    return 1 if res.get("errors") else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        sys.stdout.flush()
        print("bench: error: %s" % e, file=sys.stderr)
        sys.exit(1)
