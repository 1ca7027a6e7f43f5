# SPDX-License-Identifier: GPL-2.0
"""pyaes: AES-CTR encrypt and decrypt a message in pure Python (FunctionBench
pyaes). A request encrypts and decrypts a 512-byte message twice."""
import hashlib

import pyaes

KEY = bytes(range(32))


def init():
    msg = bytes((i * 7 + 3) & 0xFF for i in range(512))
    return msg


def handler(msg, n):
    m = msg[:-4] + n.to_bytes(4, "little")
    for _ in range(2):
        ct = pyaes.AESModeOfOperationCTR(KEY, pyaes.Counter(n)).encrypt(m)
        pt = pyaes.AESModeOfOperationCTR(KEY, pyaes.Counter(n)).decrypt(ct)
        assert pt == m
    return hashlib.sha256(ct).hexdigest()[:16]
