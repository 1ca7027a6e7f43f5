# SPDX-License-Identifier: GPL-2.0
"""hello.py: a Python "serverless function" for the cold-start benchmark.

Init: imports a handful of the standard library (json, re, hashlib, base64,
collections, datetime, decimal, zlib, ...) and builds a table of 100,000
user records keyed by name, each with a SHA-256 derived token, plus an
index of the records by score. That is the work a cold start repeats.

Ready point: if SPICE_CAPTURE is set in the environment, the function stops
itself with SIGSTOP once initialised; whoever captures it (the coldstart
driver, `spice run`) does so then. A process restored from that image
continues right after os.kill().

Requests: one JSON object per line on stdin, {"id": N, "user": "user012345"};
one JSON line per request on stdout, flushed. Exits 0 on end of input. The
answer depends only on the request and the table (no hash() order, no
clock), so a restored process answers exactly what a cold-started one does.

It talks only through stdin and stdout, starts no thread and holds no other
descriptor, so it can be captured.
"""
import base64
import collections
import datetime
import decimal
import hashlib
import json
import os
import re
import signal
import sys
import zlib

NR_USERS = 100_000
EPOCH = datetime.date(2020, 1, 1)
USER_RE = re.compile(r"^user(\d{6})$")


def build():
    users = {}
    by_score = collections.defaultdict(list)
    for i in range(NR_USERS):
        name = "user%06d" % i
        h = hashlib.sha256(name.encode()).digest()
        score = int.from_bytes(h[:4], "little") % 1000
        users[name] = {
            "id": i,
            "score": score,
            "token": base64.b32encode(h[4:14]).decode(),
            "since": (EPOCH + datetime.timedelta(days=h[14] * 7)).isoformat(),
            "balance": str(decimal.Decimal(int.from_bytes(h[15:19], "little")) / 100),
        }
        by_score[score].append(i)
    return users, by_score


def serve(users, by_score, line):
    try:
        req = json.loads(line)
        m = USER_RE.match(req["user"])
        rec = users[req["user"]] if m else None
    except (ValueError, KeyError, TypeError) as e:
        return {"error": "bad request: %s" % type(e).__name__}
    if rec is None:
        return {"id": req.get("id"), "error": "no such user"}
    blob = json.dumps(rec, sort_keys=True).encode()
    peers = by_score[rec["score"]]
    return {
        "id": req.get("id"),
        "user": req["user"],
        "record": rec,
        "digest": hashlib.sha256(blob).hexdigest()[:16],
        "crc": zlib.crc32(blob),
        "peers": len(peers),
        "rank": peers.index(rec["id"]),
    }


def main():
    users, by_score = build()
    if os.environ.get("SPICE_CAPTURE"):
        os.kill(os.getpid(), signal.SIGSTOP)  # the ready point
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0
        resp = serve(users, by_score, line)
        stdout.write(json.dumps(resp, sort_keys=True).encode() + b"\n")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
