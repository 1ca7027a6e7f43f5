# SPDX-License-Identifier: GPL-2.0
"""image_rotate: rotate, flip and filter an image with Pillow (FunctionBench
image_processing). Init generates a 512 x 512 RGB image in memory (no input
file); a request rotates it by 90 * n degrees, flips it, blurs it and
returns a digest of the pixels."""
import hashlib

from PIL import Image, ImageFilter


def init():
    w = h = 512
    data = bytes(((x * 3 + y) & 0xFF) if c == 0 else ((x ^ y) & 0xFF) if c == 1 else ((x * y) >> 6) & 0xFF
                 for y in range(h) for x in range(w) for c in range(3))
    img = Image.frombytes("RGB", (w, h), data)
    img.rotate(90).filter(ImageFilter.BLUR)   # load the code paths
    return img


def handler(img, n):
    out = img.rotate(90 * (n % 4)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = out.filter(ImageFilter.BLUR)
    return hashlib.sha256(out.tobytes()).hexdigest()[:16]
