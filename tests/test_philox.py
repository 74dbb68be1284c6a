"""Philox4x32-10 and the input-uniform policy: known answers, three implementations agree.

The kernel functions are checked interpreted (plain Python on ``np.uint64``), compiled
with ``numba.njit`` through :func:`kernels._target.build`, and against the vectorised
NumPy reference, all against Random123's known-answer vectors and an independent
pure-Python-``int`` implementation written here.
"""

from __future__ import annotations

from fractions import Fraction

import numba
import numpy as np
import pytest
from scipy import stats

from engine.reference import philox as ref_np
from kernels import philox
from kernels._target import build

MASK = 0xFFFFFFFF

# Random123 kat_vectors: philox4x32 10 rounds, (counter, key) -> output
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((MASK, MASK, MASK, MASK), (MASK, MASK), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


# ----------------------------------------------------------- independent reference
def philox_int(ctr: tuple[int, ...], key: tuple[int, int]) -> tuple[int, ...]:
    """Philox4x32-10 on Python ints, written from the Random123 paper."""
    x0, x1, x2, x3 = ctr
    k0, k1 = key
    for rnd in range(10):
        if rnd:
            k0 = (k0 + 0x9E3779B9) % 2**32
            k1 = (k1 + 0xBB67AE85) % 2**32
        hi0, lo0 = divmod(0xD2511F53 * x0, 2**32)
        hi1, lo1 = divmod(0xCD9E8D57 * x2, 2**32)
        x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
    return x0, x1, x2, x3


def uniform_int(hi: int, lo: int) -> float:
    """``((hi >> 5) * 2**26 + (lo >> 6) + 0.5) / 2**53``, correctly rounded, below 1."""
    m = (hi >> 5) * 2**26 + (lo >> 6)
    return min(float(Fraction(2 * m + 1, 2**54)), 1.0 - 2.0**-53)


def input_uniform_int(seed: int, scenario: int, stream: int) -> float:
    """The RNG policy written out with Python integers: counter (scenario lo, hi, stream, 0), words r0, r1."""
    r = philox_int((scenario % 2**32, scenario >> 32, stream, 0), (seed % 2**32, seed >> 32))
    return uniform_int(r[0], r[1])


# ------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def jit():
    return build(numba.njit, [philox])


@pytest.fixture(scope="module")
def random_words():
    rng = np.random.default_rng(20240917)
    words = rng.integers(0, 2**32, size=(10_000, 6), dtype=np.uint64)
    words[:50] = MASK  # edge values too
    words[50:100] = 0
    return words


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_known_answers_all_implementations(jit, ctr, key, expected):
    assert philox_int(ctr, key) == expected
    assert tuple(int(v) for v in philox.philox4x32(*ctr, *key)) == expected
    assert tuple(int(v) for v in jit.philox4x32(*ctr, *key)) == expected
    out = ref_np.philox4x32_np(*(np.array([v], dtype=np.uint64) for v in (*ctr, *key)))
    assert tuple(int(v[0]) for v in out) == expected


def test_random_counters_and_keys_agree(jit, random_words):
    expected = np.array([philox_int(tuple(int(v) for v in w[:4]), (int(w[4]), int(w[5])))
                         for w in random_words], dtype=np.uint64)
    got_np = np.stack(ref_np.philox4x32_np(*random_words.T), axis=1)
    np.testing.assert_array_equal(got_np, expected)
    got_jit = np.array([jit.philox4x32(*w) for w in random_words], dtype=np.uint64)
    np.testing.assert_array_equal(got_jit, expected)
    # interpreted kernel is slow (numpy scalars): a subset
    got_py = np.array([philox.philox4x32(*w) for w in random_words[:1500]], dtype=np.uint64)
    np.testing.assert_array_equal(got_py, expected[:1500])


def test_input_uniforms_agree(jit):
    rng = np.random.default_rng(7)
    seeds = [0, 1, 12345, 2**32 - 1, 2**32, 2**63 + 12345, 2**64 - 1]
    scenarios = np.concatenate([
        np.arange(20, dtype=np.uint64),
        rng.integers(0, 2**64, size=200, dtype=np.uint64, endpoint=False),
        np.array([2**32 - 1, 2**32, 2**64 - 1], dtype=np.uint64),
    ])
    for seed in seeds:
        for index in (0, 1, 2, 7, 100, 2**31, 2**32 - 1):
            got_np = ref_np.input_uniforms_np(seed, scenarios, index)
            expected = [input_uniform_int(seed, int(s), index) for s in scenarios]
            np.testing.assert_array_equal(got_np, expected)
            got_jit = [jit.input_uniform(np.uint64(seed), s, np.int64(index)) for s in scenarios]
            np.testing.assert_array_equal(got_jit, expected)
            got_py = [philox.input_uniform(seed, int(s), index) for s in scenarios[:5]]
            np.testing.assert_array_equal(got_py, expected[:5])


def test_int64_scenarios_accepted_by_numpy_version():
    sc = np.arange(100, dtype=np.int64)
    np.testing.assert_array_equal(
        ref_np.input_uniforms_np(3, sc, 4), ref_np.input_uniforms_np(3, sc.astype(np.uint64), 4)
    )


def test_streams_of_different_keys_are_different_and_stable(jit):
    """A stream id selects its own counter: keys that differ give unrelated draws, the same key the same."""
    sc = np.arange(1000, dtype=np.uint64)
    a, b = ref_np.input_uniforms_np(4, sc, 10), ref_np.input_uniforms_np(4, sc, 11)
    assert not np.any(a == b)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.1
    np.testing.assert_array_equal(a, ref_np.input_uniforms_np(4, sc, 10))


@pytest.mark.parametrize("hi,lo", [(0, 0), (MASK, MASK), (MASK, 0), (0, MASK), (31, 63)])
def test_uniform_from_words_strictly_inside(jit, hi, lo):
    expected = uniform_int(hi, lo)
    for fn in (philox.uniform_from_words, jit.uniform_from_words):
        u = fn(np.uint64(hi), np.uint64(lo))
        assert 0.0 < u < 1.0
        assert u == expected
    u_np = ref_np.uniform_from_words_np(np.array([hi], np.uint64), np.array([lo], np.uint64))
    assert u_np[0] == expected
    assert philox.uniform_from_words(np.uint64(0), np.uint64(0)) == 2.0**-54


def test_uniforms_in_open_interval_and_uniform():
    u = ref_np.input_uniforms_np(2024, np.arange(200_000), 3)
    assert u.min() > 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_different_coordinates_give_different_streams():
    n = 100_000
    sc = np.arange(n)
    streams = {
        (seed, index): ref_np.input_uniforms_np(seed, sc, index)
        for seed in (0, 1, 2**32)
        for index in (0, 1, 2, 3)
    }
    values = np.concatenate(list(streams.values()))
    assert np.unique(values).size == values.size  # no repeats anywhere
    keys = list(streams)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            r = np.corrcoef(streams[a], streams[b])[0, 1]
            assert abs(r) < 5.0 / np.sqrt(n), (a, b, r)
    # scenario s and s + 1 of one input are not correlated either
    u = streams[(0, 0)]
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5.0 / np.sqrt(n)


def test_input_uniform_is_a_pure_function(jit):
    rng = np.random.default_rng(1)
    sc = rng.permutation(5000).astype(np.uint64)
    forward = ref_np.input_uniforms_np(5, sc, 9)
    np.testing.assert_array_equal(ref_np.input_uniforms_np(5, sc[::-1], 9), forward[::-1])
    first = [jit.input_uniform(np.uint64(5), s, 9) for s in sc[:300]]
    for s in sc[300:600]:  # interleave other calls
        jit.input_uniform(np.uint64(6), s, 2)
    again = [jit.input_uniform(np.uint64(5), s, 9) for s in sc[:300]]
    assert first == again == list(forward[:300])
    assert philox.input_uniform(5, int(sc[0]), 9) == philox.input_uniform(5, int(sc[0]), 9)
