"""Philox4x32-10 counter-based generator and the engine's input-uniform policy.

Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11;
the Random123 library) maps a 128-bit counter and a 64-bit key to 128 random bits with
10 rounds of 32x32->64-bit multiplications.  Being counter based, any draw can be
computed directly from its coordinates, so every backend (CPU, GPU, the NumPy
reference in :mod:`engine.reference.philox`) reproduces the same numbers in any order.

All 32-bit words are held in ``uint64`` and masked with ``0xFFFFFFFF``; the 64-bit
product of two 32-bit words gives ``mulhi``/``mullo`` at once.  Every integer constant
is a typed ``np.uint64`` so numba never mixes ``int64`` with ``uint64`` (which it would
promote to ``float64``).

RNG policy (the one place it is defined)
----------------------------------------
* key     = (seed & 0xFFFFFFFF, seed >> 32)
* counter = (scenario & 0xFFFFFFFF, scenario >> 32, stream, 0), where ``stream`` is the
  input column's 32-bit id (:func:`engine.inputs.registry.stable_key`, derived from the
  input's *name*, so a column's draws do not depend on which other inputs exist);
* output words (r0, r1) -> float64 with :func:`uniform_from_words`: 53 bits, offset by
  half a step, strictly inside (0, 1); (r2, r3) are not used.

These functions are :func:`kernels._target.kernel` functions: plain Python that also
runs interpreted, compiled per target by :func:`kernels._target.build`.
"""

from __future__ import annotations

import numpy as np

from kernels._target import kernel

__all__ = [
    "philox4x32",
    "uniform_from_words",
    "input_uniform",
]

_PHILOX_M0 = np.uint64(0xD2511F53)
_PHILOX_M1 = np.uint64(0xCD9E8D57)
_PHILOX_W0 = np.uint64(0x9E3779B9)
_PHILOX_W1 = np.uint64(0xBB67AE85)
_PHILOX_MASK32 = np.uint64(0xFFFFFFFF)
_PHILOX_ZERO = np.uint64(0)
_PHILOX_ONE = np.uint64(1)
_PHILOX_SH5 = np.uint64(5)
_PHILOX_SH6 = np.uint64(6)
_PHILOX_SH32 = np.uint64(32)
_PHILOX_2P26 = np.uint64(1 << 26)
_PHILOX_2M53 = 2.0**-53  # 1.1102230246251565e-16
_PHILOX_BELOW_ONE = 1.0 - 2.0**-53  # largest float64 below 1


@kernel
def _philox_round(c0, c1, c2, c3, k0, k1):
    """One Philox4x32 round on uint64-held 32-bit words (Random123 ``philox4x32round``)."""
    p0 = _PHILOX_M0 * c0  # full 64-bit product: hi = p >> 32, lo = p & mask
    p1 = _PHILOX_M1 * c2
    return (
        (p1 >> _PHILOX_SH32) ^ c1 ^ k0,
        p1 & _PHILOX_MASK32,
        (p0 >> _PHILOX_SH32) ^ c3 ^ k1,
        p0 & _PHILOX_MASK32,
    )


@kernel
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 block function.

    Parameters
    ----------
    c0, c1, c2, c3
        Counter words, integers in [0, 2**32) (higher bits are masked off).
    k0, k1
        Key words, integers in [0, 2**32) (higher bits are masked off).

    Returns
    -------
    tuple of 4 np.uint64
        The four 32-bit output words ``(r0, r1, r2, r3)``, each in [0, 2**32).
    """
    c0 = np.uint64(c0) & _PHILOX_MASK32
    c1 = np.uint64(c1) & _PHILOX_MASK32
    c2 = np.uint64(c2) & _PHILOX_MASK32
    c3 = np.uint64(c3) & _PHILOX_MASK32
    k0 = np.uint64(k0) & _PHILOX_MASK32
    k1 = np.uint64(k1) & _PHILOX_MASK32
    c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, k0, k1)
    for _ in range(9):
        k0 = (k0 + _PHILOX_W0) & _PHILOX_MASK32
        k1 = (k1 + _PHILOX_W1) & _PHILOX_MASK32
        c0, c1, c2, c3 = _philox_round(c0, c1, c2, c3, k0, k1)
    return c0, c1, c2, c3


@kernel
def uniform_from_words(hi, lo):
    """Map two 32-bit words to a float64 strictly inside (0, 1).

    ``u = ((hi >> 5) * 2**26 + (lo >> 6) + 0.5) / 2**53``: the top 27 bits of ``hi``
    and top 26 bits of ``lo`` form a 53-bit integer ``m``; the half-step offset keeps
    ``u`` away from 0 (smallest value 2**-54).  Above 0.5 the ``+ 0.5`` rounds to even,
    and the single word pair with ``m = 2**53 - 1`` would round to exactly 1.0; it is
    mapped to ``1 - 2**-53`` instead, so the result is always < 1.

    Parameters
    ----------
    hi, lo
        32-bit words (uint64-held), e.g. two outputs of :func:`philox4x32`.

    Returns
    -------
    float
        Uniform variate in (0, 1), resolution 2**-53.
    """
    m = (np.uint64(hi) >> _PHILOX_SH5) * _PHILOX_2P26 + (np.uint64(lo) >> _PHILOX_SH6)
    u = (np.float64(m) + 0.5) * _PHILOX_2M53
    if u >= 1.0:
        u = _PHILOX_BELOW_ONE
    return u


@kernel
def input_uniform(seed, scenario, stream):
    """Uniform variate of one model input in one scenario (the engine's RNG policy).

    A pure function of its arguments: the same ``(seed, scenario, stream)`` always gives
    the same value on every backend and in any evaluation order.

    Parameters
    ----------
    seed
        Run seed, integer in [0, 2**64).
    scenario
        Scenario (Monte Carlo draw) number, integer in [0, 2**64).
    stream
        The input's stream id, integer in [0, 2**32) (``Layout.keys``).

    Returns
    -------
    float
        Uniform variate strictly inside (0, 1).
    """
    s = np.uint64(seed)
    sc = np.uint64(scenario)
    r0, r1, r2, r3 = philox4x32(
        sc & _PHILOX_MASK32,
        (sc >> _PHILOX_SH32) & _PHILOX_MASK32,
        np.uint64(stream) & _PHILOX_MASK32,
        _PHILOX_ZERO,
        s & _PHILOX_MASK32,
        (s >> _PHILOX_SH32) & _PHILOX_MASK32,
    )
    return uniform_from_words(r0, r1)
