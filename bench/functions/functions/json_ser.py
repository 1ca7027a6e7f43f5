# SPDX-License-Identifier: GPL-2.0
"""json: serialise and deserialise a generated document (FunctionBench
json_dumps_loads). Init builds a ~300 KB document of 1500 records; a request
changes one record, dumps the document, loads it back and returns a digest."""
import hashlib
import json
import random


def init():
    rnd = random.Random(42)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
             "hotel", "india", "juliet", "kilo", "lima", "mike", "november"]
    doc = {"version": 1, "items": []}
    for i in range(1500):
        doc["items"].append({
            "id": i,
            "name": " ".join(rnd.choice(words) for _ in range(3)),
            "price": round(rnd.uniform(1, 1000), 2),
            "tags": rnd.sample(words, 4),
            "stock": {"warehouse": rnd.randrange(100), "store": rnd.randrange(50)},
            "active": rnd.random() < 0.8,
        })
    return doc


def handler(doc, n):
    s = json.dumps({"request": n, "doc": doc}, sort_keys=True)
    back = json.loads(s)
    total = back["request"] + sum(it["stock"]["store"] for it in back["doc"]["items"])
    return "%s %d %d" % (hashlib.sha256(s.encode()).hexdigest()[:16], len(s), total)
