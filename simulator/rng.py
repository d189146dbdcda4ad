"""Counter-based random numbers: Philox4x32-10, as a Numba kernel helper and a NumPy reference.

Philox4x32-10 is the counter-based generator of J. K. Salmon, M. A. Moraes, R. O. Dror and
D. E. Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011 (doi:10.1145/2063384.2063405),
as implemented in D. E. Shaw Research's Random123 library (``include/Random123/philox.h``). It maps
a 128-bit counter ``(c0, c1, c2, c3)`` and a 64-bit key ``(k0, k1)`` to four 32-bit words through
ten rounds of a multiply-hi/lo Feistel-like network, with the key bumped by Weyl constants between
rounds.

Why counter-based: a draw is a pure function of ``(key, counter)``, with no hidden stream state.
Each simulated path, period and obligor can address its own counters, so the engine's results are
reproducible bit for bit whatever the thread count, the chunking of the work, or the order in
which chunks run.

Two implementations give bit-identical outputs: ``philox4x32_10`` (scalar, jitted, callable from
other Numba kernels) and ``philox4x32_10_numpy`` (vectorised, readable reference). The ``uniform*``
helpers map words to float64 strictly inside (0, 1), so that ``log(u)`` and inverse-CDF
transforms never see 0 or 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulator.accelerate import jit

# Random123 constants (philox.h: PHILOX_M4x32_0/1, PHILOX_W32_0/1). They are uint64 so that
# Numba never mixes signed and unsigned 64-bit integers (which it would promote to float64).
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_ROUNDS = 10

_TWO_POW_M32 = 2.0**-32
_TWO_POW_M52 = 2.0**-52
_TWO_POW_26 = 67108864.0


@jit
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter ``(c0, c1, c2, c3)`` under key ``(k0, k1)``: four uint32 words.

    Arguments may be any integer type; they are taken modulo 2**32. All arithmetic is in uint64,
    so the 32x32 -> 64-bit products are exact and nothing is promoted to int64 or float64.
    """
    x0 = np.uint64(c0) & _MASK32
    x1 = np.uint64(c1) & _MASK32
    x2 = np.uint64(c2) & _MASK32
    x3 = np.uint64(c3) & _MASK32
    y0 = np.uint64(k0) & _MASK32
    y1 = np.uint64(k1) & _MASK32
    for r in range(_ROUNDS):
        if r > 0:  # the first round uses the key as given; it is bumped before rounds 2..10
            y0 = (y0 + _W0) & _MASK32
            y1 = (y1 + _W1) & _MASK32
        p0 = _M0 * x0  # exact: both factors < 2**32, so the product < 2**64
        p1 = _M1 * x2
        hi0, lo0 = p0 >> _SHIFT32, p0 & _MASK32
        hi1, lo1 = p1 >> _SHIFT32, p1 & _MASK32
        x0, x1, x2, x3 = hi1 ^ x1 ^ y0, lo1, hi0 ^ x3 ^ y1, lo0
    return np.uint32(x0), np.uint32(x1), np.uint32(x2), np.uint32(x3)


@jit
def uniform(x):
    """Map a uint32 word to ``(x + 0.5) * 2**-32``: a float64 in [2**-33, 1 - 2**-33]."""
    return (np.float64(x) + 0.5) * _TWO_POW_M32


@jit
def uniform53(x, y):
    """Map two uint32 words to a float64 on the grid of odd multiples of 2**-53, in (0, 1).

    Uses the top 26 bits of each word (52 random bits plus the half-step offset, which keeps the
    result off 0 and 1): ``((x >> 6) * 2**26 + (y >> 6) + 0.5) * 2**-52``. Every
    step is exact in float64, the result is symmetric about 0.5 and spans [2**-53, 1 - 2**-53].
    (The MT19937-style ``((x >> 5) * 2**26 + (y >> 6) + 0.5) * 2**-53`` needs 54 bits for the
    half offset and rounds to exactly 1.0 at x = y = 0xFFFFFFFF.)
    """
    hi = np.float64(x >> np.uint32(6))
    lo = np.float64(y >> np.uint32(6))
    return (hi * _TWO_POW_26 + lo + 0.5) * _TWO_POW_M52


def philox4x32_10_numpy(counter: npt.ArrayLike, key: npt.ArrayLike) -> npt.NDArray[np.uint32]:
    """Vectorised Philox4x32-10: ``counter`` (..., 4) and ``key`` broadcastable to (..., 2)."""
    ctr = np.asarray(counter, dtype=np.uint32)
    k = np.asarray(key, dtype=np.uint32)
    if ctr.shape[-1:] != (4,) or k.shape[-1:] != (2,):
        raise ValueError(f"need counter (..., 4) and key (..., 2), got {ctr.shape} and {k.shape}")
    lead = np.broadcast_shapes(ctr.shape[:-1], k.shape[:-1])
    c0, c1, c2, c3 = np.moveaxis(np.broadcast_to(ctr, (*lead, 4)).astype(np.uint64), -1, 0)
    k0, k1 = np.moveaxis(np.broadcast_to(k, (*lead, 2)).astype(np.uint64), -1, 0)
    for r in range(_ROUNDS):
        if r > 0:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = _M0 * c0  # mulhilo: 64-bit products of 32-bit words, split into hi and lo halves
        p1 = _M1 * c2
        hi0, lo0 = p0 >> _SHIFT32, p0 & _MASK32
        hi1, lo1 = p1 >> _SHIFT32, p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def uniform_numpy(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Vectorised :func:`uniform`: ``(x + 0.5) * 2**-32`` for uint32 words ``x``."""
    return (np.asarray(x, dtype=np.uint32).astype(np.float64) + 0.5) * _TWO_POW_M32


def uniform53_numpy(x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Vectorised :func:`uniform53`: ``((x >> 6) * 2**26 + (y >> 6) + 0.5) * 2**-52``."""
    hi = (np.asarray(x, dtype=np.uint32) >> np.uint32(6)).astype(np.float64)
    lo = (np.asarray(y, dtype=np.uint32) >> np.uint32(6)).astype(np.float64)
    return (hi * _TWO_POW_26 + lo + 0.5) * _TWO_POW_M52
