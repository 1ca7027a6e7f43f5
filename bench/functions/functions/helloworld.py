# SPDX-License-Identifier: GPL-2.0
"""helloworld: the smallest function: the interpreter's own start-up cost."""


def init():
    return None


def handler(state, n):
    return "hello, world %d" % n
