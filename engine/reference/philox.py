"""Philox4x32-10 and the input-uniform policy, vectorised in plain NumPy (no numba).

An independent re-implementation of :mod:`kernels.philox` for the NumPy reference
backend and for tests: it works on whole ``uint64`` arrays at once and must reproduce
the kernel bit for bit.  See :mod:`kernels.philox` for the RNG policy; in short

* key     = (seed & 0xFFFFFFFF, seed >> 32)
* counter = (scenario & 0xFFFFFFFF, scenario >> 32, stream, 0), ``stream`` the input's
  32-bit id (derived from its name)
* output words (r0, r1) make the uniform
* ``u = ((hi >> 5) * 2**26 + (lo >> 6) + 0.5) / 2**53`` (the one value that would round
  to 1.0 is mapped to the largest float64 below 1).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["philox4x32_np", "uniform_from_words_np", "input_uniforms_np"]

MASK32 = np.uint64(0xFFFFFFFF)
M0 = np.uint64(0xD2511F53)
M1 = np.uint64(0xCD9E8D57)
W0 = np.uint64(0x9E3779B9)
W1 = np.uint64(0xBB67AE85)
ROUNDS = 10


def _u64(x: ArrayLike) -> NDArray[np.uint64]:
    """``x`` as a uint64 array (negative int64 values wrap modulo 2**64)."""
    a = np.asarray(x)
    if a.dtype == np.uint64:
        return a
    if a.dtype.kind not in "iu":
        raise TypeError(f"expected integer input, got dtype {a.dtype}")
    return a.astype(np.uint64)


def philox4x32_np(
    c0: ArrayLike, c1: ArrayLike, c2: ArrayLike, c3: ArrayLike, k0: ArrayLike, k1: ArrayLike
) -> tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.uint64], NDArray[np.uint64]]:
    """Philox4x32-10 on broadcastable arrays of 32-bit words.

    Parameters
    ----------
    c0, c1, c2, c3
        Counter words, integer arrays (or scalars) with values in [0, 2**32); higher bits
        are masked off.
    k0, k1
        Key words, same conventions.

    Returns
    -------
    tuple of 4 ndarray of uint64
        Output words ``(r0, r1, r2, r3)`` in [0, 2**32), broadcast to a common shape.
    """
    words = (_u64(v) & MASK32 for v in (c0, c1, c2, c3, k0, k1))
    c0, c1, c2, c3, k0, k1 = np.broadcast_arrays(*words)
    x = [c0.copy(), c1.copy(), c2.copy(), c3.copy()]
    k0 = k0.copy()
    k1 = k1.copy()
    for rnd in range(ROUNDS):
        if rnd > 0:  # key schedule: bump by the Weyl constants between rounds
            k0 = (k0 + W0) & MASK32
            k1 = (k1 + W1) & MASK32
        prod0 = x[0] * M0  # < 2**64: no overflow
        prod1 = x[2] * M1
        hi0, lo0 = prod0 >> np.uint64(32), prod0 & MASK32
        hi1, lo1 = prod1 >> np.uint64(32), prod1 & MASK32
        x = [hi1 ^ x[1] ^ k0, lo1, hi0 ^ x[3] ^ k1, lo0]
    return x[0], x[1], x[2], x[3]


def uniform_from_words_np(hi: ArrayLike, lo: ArrayLike) -> NDArray[np.float64]:
    """53-bit uniforms strictly inside (0, 1) from two arrays of 32-bit words."""
    m = (_u64(hi) >> np.uint64(5)) * np.uint64(2**26) + (_u64(lo) >> np.uint64(6))
    u = (m.astype(np.float64) + 0.5) / 2.0**53
    return np.minimum(u, np.nextafter(1.0, 0.0))


def _counter_and_key(seed: int, scenarios: ArrayLike):
    s = np.uint64(int(seed) % 2**64)
    sc = _u64(scenarios)
    return sc & MASK32, (sc >> np.uint64(32)) & MASK32, s & MASK32, (s >> np.uint64(32)) & MASK32


def input_uniforms_np(seed: int, scenarios: ArrayLike, stream: int) -> NDArray[np.float64]:
    """Uniform variate of the input with stream id ``stream`` for many scenarios (as ``input_uniform``).

    Parameters
    ----------
    seed
        Run seed, integer in [0, 2**64).
    scenarios
        Scenario numbers, int64 or uint64 array (values in [0, 2**64)).
    stream
        The input's 32-bit stream id (``Layout.keys``, :func:`engine.inputs.registry.stable_key`).

    Returns
    -------
    ndarray of float64
        Shaped like ``scenarios``, values strictly inside (0, 1).
    """
    stream = int(stream)
    if not 0 <= stream < 2**32:
        raise ValueError(f"stream must be in [0, 2**32), got {stream}")
    s_lo, s_hi, k0, k1 = _counter_and_key(seed, scenarios)
    r0, r1, _, _ = philox4x32_np(s_lo, s_hi, np.uint64(stream), np.uint64(0), k0, k1)
    return uniform_from_words_np(r0, r1)
