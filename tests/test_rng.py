"""Tests for the Philox4x32-10 generator and its uniform mappings (simulator.rng)."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from simulator.rng import (
    philox4x32_10,
    philox4x32_10_numpy,
    uniform,
    uniform53,
    uniform53_numpy,
    uniform_numpy,
)

# Known-answer vectors, counter (4 words), key (2 words) -> output (4 words), all hex.
# The first three are the "philox4x32 10" lines of Random123's known-answer file tests/kat_vectors
# (https://github.com/DEShawResearch/random123), as quoted verbatim by several independent ports.
# The other five are "philox4x32 10" lines of examples/kat_vectors in a copy of the Random123
# source tree (https://github.com/girving/random123-manual, commit 61e8479252c4).
KAT_VECTORS = [
    (
        "00000000 00000000 00000000 00000000",
        "00000000 00000000",
        "6627e8d5 e169c58d bc57ac4c 9b00dbd8",
    ),
    (
        "ffffffff ffffffff ffffffff ffffffff",
        "ffffffff ffffffff",
        "408f276d 41c83b0e a20bc7c6 6d5451fd",
    ),
    (
        "243f6a88 85a308d3 13198a2e 03707344",
        "a4093822 299f31d0",
        "d16cfe09 94fdcceb 5001e420 24126ea1",
    ),
    (
        "00000001 00000000 00000000 00000000",
        "00000001 00000000",
        "ac08141b dfc5ccbe 79c07a47 a7f66093",
    ),
    (
        "243f6a88 85a308d3 13198a2e 03707344",
        "00000001 00000000",
        "38527b8f fad9a48c 20e675c0 f2fea26a",
    ),
    (
        "00000000 00000000 00000000 80000000",
        "00000000 00000001",
        "0436a39b 31be9efa 6abd0c76 e7a68f83",
    ),
    (
        "a4093822 299f31d0 082efa98 ec4e6c89",
        "00000000 ffffffff",
        "9fcce05d 837d3f3c 5cdf3e61 db2544c0",
    ),
    (
        "452821e6 38d01377 be5466cf 34e90c6c",
        "00000000 80000000",
        "94ca5566 14924b2f 28214292 59faeaee",
    ),
]
U32_MAX = 0xFFFFFFFF


def _words(text: str) -> list[int]:
    return [int(word, 16) for word in text.split()]


@numba.njit
def _philox_batch(counters, keys):
    """Calls the scalar generator from inside another Numba kernel, as the engine does."""
    out = np.empty_like(counters)
    for i in range(counters.shape[0]):
        c = counters[i]
        k = keys[i]
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = philox4x32_10(
            c[0], c[1], c[2], c[3], k[0], k[1]
        )
    return out


@numba.njit
def _uniform_batch(words):
    out = np.empty(words.shape[0])
    for i in range(words.shape[0]):
        out[i] = uniform(words[i])
    return out


@numba.njit
def _uniform53_batch(xs, ys):
    out = np.empty(xs.shape[0])
    for i in range(xs.shape[0]):
        out[i] = uniform53(xs[i], ys[i])
    return out


@pytest.fixture(scope="module")
def random_inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240611)
    counters = rng.integers(0, 2**32, size=(4096, 4), dtype=np.uint32)
    keys = rng.integers(0, 2**32, size=(4096, 2), dtype=np.uint32)
    counters[:4] = [[0, 0, 0, 0], [U32_MAX] * 4, [U32_MAX, 0, U32_MAX, 0], [0, U32_MAX, 0, U32_MAX]]
    keys[:4] = [[0, 0], [U32_MAX, U32_MAX], [U32_MAX, 0], [0, U32_MAX]]
    return counters, keys


@pytest.mark.parametrize(("counter", "key", "expected"), KAT_VECTORS)
@pytest.mark.parametrize("as_uint32", [False, True], ids=["int", "uint32"])
def test_numba_known_answers(counter: str, key: str, expected: str, as_uint32: bool) -> None:
    args = _words(counter) + _words(key)
    if as_uint32:
        args = [np.uint32(a) for a in args]
    assert [int(v) for v in philox4x32_10(*args)] == _words(expected)


@pytest.mark.parametrize(("counter", "key", "expected"), KAT_VECTORS)
def test_numpy_known_answers(counter: str, key: str, expected: str) -> None:
    out = philox4x32_10_numpy(
        np.array(_words(counter), np.uint32), np.array(_words(key), np.uint32)
    )
    assert out.dtype == np.uint32
    assert out.shape == (4,)
    assert out.tolist() == _words(expected)


def test_numpy_known_answers_batched() -> None:
    counters = np.array([_words(c) for c, _, _ in KAT_VECTORS], dtype=np.uint32)
    keys = np.array([_words(k) for _, k, _ in KAT_VECTORS], dtype=np.uint32)
    expected = np.array([_words(e) for _, _, e in KAT_VECTORS], dtype=np.uint32)
    np.testing.assert_array_equal(philox4x32_10_numpy(counters, keys), expected)
    # Leading dimensions are preserved.
    shaped = philox4x32_10_numpy(counters.reshape(2, 4, 4), keys.reshape(2, 4, 2))
    np.testing.assert_array_equal(shaped, expected.reshape(2, 4, 4))


def test_numba_matches_numpy(random_inputs: tuple[np.ndarray, np.ndarray]) -> None:
    counters, keys = random_inputs
    np.testing.assert_array_equal(
        _philox_batch(counters, keys), philox4x32_10_numpy(counters, keys)
    )


def test_numpy_key_broadcasts(random_inputs: tuple[np.ndarray, np.ndarray]) -> None:
    counters, keys = random_inputs
    key = keys[7]
    expected = philox4x32_10_numpy(counters, np.broadcast_to(key, (counters.shape[0], 2)))
    np.testing.assert_array_equal(philox4x32_10_numpy(counters, key), expected)
    np.testing.assert_array_equal(
        _philox_batch(counters, np.tile(key, (counters.shape[0], 1))), expected
    )


def test_numpy_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="counter"):
        philox4x32_10_numpy(np.zeros((3, 3), np.uint32), np.zeros(2, np.uint32))
    with pytest.raises(ValueError, match="key"):
        philox4x32_10_numpy(np.zeros((3, 4), np.uint32), np.zeros(3, np.uint32))


def test_nearby_counters_decorrelate() -> None:
    """Counters differing in one bit give unrelated outputs (about half the bits flip)."""
    base = philox4x32_10_numpy(np.zeros(4, np.uint32), np.zeros(2, np.uint32))
    flips = []
    for word in range(4):
        for bit in range(32):
            counter = np.zeros(4, np.uint32)
            counter[word] = np.uint32(1 << bit)
            out = philox4x32_10_numpy(counter, np.zeros(2, np.uint32))
            flips.append(sum(int(v).bit_count() for v in out ^ base))
    assert 0.45 * 128 < np.mean(flips) < 0.55 * 128


@pytest.mark.parametrize(
    ("word", "expected"),
    [(0, 2.0**-33), (U32_MAX, 1.0 - 2.0**-33), (2**31, 0.5 + 2.0**-33)],
)
def test_uniform_extremes(word: int, expected: float) -> None:
    for value in (uniform(word), uniform(np.uint32(word)), uniform_numpy(np.uint32(word))):
        assert 0.0 < value < 1.0
        assert value == expected


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        (0, 0, 2.0**-53),
        # The MT19937-style ((x >> 5) * 2**26 + (y >> 6) + 0.5) * 2**-53 would round to 1.0 here.
        (U32_MAX, U32_MAX, 1.0 - 2.0**-53),
        (U32_MAX, 0, 1.0 - 2.0**-26 + 2.0**-53),
        (0, U32_MAX, 2.0**-26 - 2.0**-53),
    ],
)
def test_uniform53_extremes(x: int, y: int, expected: float) -> None:
    values = (uniform53(x, y), uniform53(np.uint32(x), np.uint32(y)), uniform53_numpy(x, y))
    for value in values:
        assert 0.0 < value < 1.0
        assert value == expected


def test_uniform_mappings_match_numpy(random_inputs: tuple[np.ndarray, np.ndarray]) -> None:
    counters, _ = random_inputs
    xs, ys = counters[:, 0].copy(), counters[:, 1].copy()
    np.testing.assert_array_equal(_uniform_batch(xs), uniform_numpy(xs))
    np.testing.assert_array_equal(_uniform53_batch(xs, ys), uniform53_numpy(xs, ys))


def test_uniform53_is_symmetric() -> None:
    """u(x, y) + u(~x, ~y) == 1 exactly, so inverse-CDF draws are symmetric about the median."""
    rng = np.random.default_rng(7)
    xs = rng.integers(0, 2**32, size=1000, dtype=np.uint32)
    ys = rng.integers(0, 2**32, size=1000, dtype=np.uint32)
    np.testing.assert_array_equal(uniform53_numpy(xs, ys) + uniform53_numpy(~xs, ~ys), 1.0)


@pytest.mark.parametrize("mapping", ["uniform", "uniform53"])
def test_uniform_mean(mapping: str) -> None:
    """Mean of 1e5 uniforms from consecutive counters lies within 5 standard errors of 1/2."""
    n = 100_000
    counters = np.zeros((n // 2, 4), dtype=np.uint32)
    counters[:, 0] = np.arange(n // 2, dtype=np.uint32)
    words = philox4x32_10_numpy(counters, np.array([0x12345678, 0x9ABCDEF0], dtype=np.uint32))
    if mapping == "uniform":
        u = uniform_numpy(words[:, :2].ravel())
    else:
        u = np.concatenate(
            [uniform53_numpy(words[:, 0], words[:, 1]), uniform53_numpy(words[:, 2], words[:, 3])]
        )
    assert u.shape == (n,)
    assert u.min() > 0.0
    assert u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5.0 * math.sqrt(1.0 / 12.0 / n)
