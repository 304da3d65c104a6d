"""Deterministic randomness: every random stream is derived from (seed, chunk, stream name).

Nothing here touches the global ``random`` state or Python's salted ``hash()``, so the same
arguments always give the same bytes, whatever the process or the interpreter's hash seed.
"""

from __future__ import annotations

import hashlib
import math
import random
from math import gcd


def derive_seed(seed: int, *parts: object) -> int:
    """A 64-bit seed from the run seed and any labels (blake2b, so stable across processes)."""
    text = "|".join([str(seed), *(str(p) for p in parts)])
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def stream(seed: int, *parts: object) -> random.Random:
    """An independent RNG for one purpose; separate streams keep sources from perturbing each other."""
    return random.Random(derive_seed(seed, *parts))


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid4(rng: random.Random) -> str:
    """A version-4-shaped UUID string drawn from ``rng`` (uuid.uuid4 would use the OS entropy pool)."""
    h = "%032x" % rng.getrandbits(128)  # noqa: UP031 - measurably faster than an f-string here
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def poisson(rng: random.Random, lam: float) -> int:
    """Small-lambda Poisson draw (Knuth); the lambdas used here are below ~15."""
    if lam <= 0:
        return 0
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class Permutation:
    """A seeded bijection on range(m): gives unique, non-sequential numbers without a global registry.

    Used for phone numbers and loyalty cards so two persons in different chunks never collide.
    """

    def __init__(self, m: int, seed: int, *label: object) -> None:
        r = stream(seed, "perm", m, *label)
        a = r.randrange(m // 3 + 1, m) | 1 if m > 2 else 1
        while gcd(a, m) != 1:
            a += 2
        self.m, self.a, self.b = m, a, r.randrange(m)

    def __call__(self, i: int) -> int:
        return (i * self.a + self.b) % self.m
