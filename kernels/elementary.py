"""``exp``, ``log`` and ``pow`` as plain arithmetic, so that loops calling them vectorise.

Why by hand
-----------
numba lowers ``math.exp``, ``math.log`` and ``**`` to calls into the C library, one value at
a time: LLVM cannot vectorise a loop that calls them (numba's only vector math library,
Intel's SVML, is x86-only, optional, and gives bits that depend on whether a value falls in
the vector body or the scalar remainder of a loop).  On the 2-core benchmark hosts a libm
``exp`` costs 10-24 ns and ``pow`` 20-48 ns, and one scenario of the model calls them 107
times.  The functions here are the textbook algorithms (Cody-Waite range reduction and a
polynomial; the fdlibm logarithm) written with IEEE-754 operations only and a bit-cast, so:

* LLVM vectorises a loop over them (4 doubles per AVX2 instruction), with no branch (the
  special cases are selects);
* the same code gives the same bits in a vector lane, in the scalar remainder, interpreted
  and compiled (no fast-math: no reassociation, no FMA contraction), whatever the chunking.

The GPU build keeps CUDA's libdevice ``exp``/``log``/``pow`` (:mod:`kernels._cuda_builtins`):
its agreement with the CPU is to rtol 1e-6 anyway (NVVM contracts multiply-adds).

Accuracy (``tests/test_elementary.py``, against mpmath at 200 bits): :func:`vec_exp` and
:func:`vec_log` within 1 ulp of the exact value over their whole ranges (subnormals, the
overflow and underflow thresholds, infinities and NaN included); :func:`vec_pow` within
``(1 + 3·|y·ln x|)`` ulp: ``w = y·ln x`` carries 1.5 ulp of ``w`` (the logarithm's ulp and the
product's rounding), which the exponential turns into a relative error of up to
1.5·|w|·2^-52, at most 3·|w| ulps of the result (a few ulp for the model's Weibull terms).
The bit-casts are :func:`float_bits` and :func:`bits_float`: ``struct`` in Python, an LLVM
``bitcast`` (no instruction at all) when compiled (numba's ``@overload``).
"""

from __future__ import annotations

import math
import struct

from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic, overload

from kernels._target import kernel

# Cody-Waite split of ln 2: ELEM_LN2_HI has 32 significant bits, so k·ELEM_LN2_HI is exact for |k| < 2^21.
ELEM_LN2_HI = 6.93147180369123816490e-01
ELEM_LN2_LO = 1.90821492927058770002e-10
ELEM_LOG2E = 1.4426950408889634
ELEM_SHIFTER = 6755399441055744.0  # 1.5·2^52: x + SHIFTER − SHIFTER rounds x to an integer; its low bits hold it
ELEM_EXP_HI = 710.0  # exp(x) overflows above 709.78; clamping here keeps the exponent arithmetic in range
ELEM_EXP_LO = -746.0  # exp(x) underflows to 0 below −745.13
ELEM_TINY = 2.2250738585072014e-308  # smallest normal double: below it log scales by 2^54 first
ELEM_TWO54 = 18014398509481984.0
# fdlibm e_log.c: the minimax polynomial of (log(1+f) − 2s)/s... in s² on [0, 0.1716]
ELEM_LG1 = 6.666666666666735130e-01
ELEM_LG2 = 3.999999999940941908e-01
ELEM_LG3 = 2.857142874366239149e-01
ELEM_LG4 = 2.222219843214978396e-01
ELEM_LG5 = 1.818357216161805012e-01
ELEM_LG6 = 1.531383769920937332e-01
ELEM_LG7 = 1.479819860511658591e-01


# --------------------------------------------------------------------------- bit casts
def float_bits(x):
    """The IEEE-754 bits of the float64 ``x`` as a signed 64-bit integer."""
    return struct.unpack("<q", struct.pack("<d", x))[0]


def bits_float(i):
    """The float64 whose IEEE-754 bits are the 64-bit integer ``i`` (taken modulo 2^64)."""
    return struct.unpack("<d", struct.pack("<Q", i & 0xFFFFFFFFFFFFFFFF))[0]


@intrinsic
def _bitcast_to_int64(typingctx, x):
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bitcast_to_float64(typingctx, i):
    if not isinstance(i, types.Integer) or i.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(i), codegen


@overload(float_bits, inline="always")
def _float_bits_jit(x):
    return lambda x: _bitcast_to_int64(x)


@overload(bits_float, inline="always")
def _bits_float_jit(i):
    return lambda i: _bitcast_to_float64(i)


# --------------------------------------------------------------------------- exp, log, pow
@kernel
def vec_exp(x):
    """e^x [-] for a float64 ``x``, within 1 ulp; inf above 709.78, 0 below −745.13, NaN for NaN.

    x = k·ln 2 + r with |r| ≤ ln2/2 (Cody-Waite, exact); e^r by its Taylor polynomial to r^13
    (truncation < 5e-18), summed as 1 + (r + r²·q(r)); times 2^k as two exact powers of two, so that k = 1024 (results
    just below the overflow) and subnormal results (k < −1022) need no branch.
    """
    if x > ELEM_EXP_HI:
        x = ELEM_EXP_HI
    if x < ELEM_EXP_LO:
        x = ELEM_EXP_LO
    t = x * ELEM_LOG2E + ELEM_SHIFTER
    kf = t - ELEM_SHIFTER
    k = float_bits(t) - float_bits(ELEM_SHIFTER)
    r = (x - kf * ELEM_LN2_HI) - kf * ELEM_LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = 1.0 + (r + (r * r) * p)  # 1 + (r + r²·(½ + r/6 + ...)): only the last addition rounds at the scale of 1
    k1 = k >> 1
    k2 = k - k1
    s1 = bits_float(((k1 + 1023) & 0x7FF) << 52)
    s2 = bits_float(((k2 + 1023) & 0x7FF) << 52)
    return p * s1 * s2


@kernel
def vec_log(x):
    """ln x [-] for a float64 ``x``, within 1 ulp: −inf at ±0, NaN below 0 or for NaN, inf at inf.

    fdlibm's ``__ieee754_log``: x = 2^k·(1 + f) with 1 + f in [√2/2, √2), s = f/(2 + f), and
    ln(1 + f) = f − f²/2 + s·(f²/2 + R(s²)) with fdlibm's minimax R; subnormals are scaled by
    2^54 first.  Every branch of the original is a select here.
    """
    sub = x < ELEM_TINY
    xs = x * ELEM_TWO54 if sub else x
    bits = float_bits(xs)
    k = (bits >> 52) - (1023 + 54 if sub else 1023)
    hx = (bits >> 32) & 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    m = bits_float(((hx | (i ^ 0x3FF00000)) << 32) | (bits & 0xFFFFFFFF))
    k = k + (i >> 20)
    f = m - 1.0
    s = f / (2.0 + f)
    dk = float(k)
    z = s * s
    w = z * z
    t1 = w * (ELEM_LG2 + w * (ELEM_LG4 + w * ELEM_LG6))
    t2 = z * (ELEM_LG1 + w * (ELEM_LG3 + w * (ELEM_LG5 + w * ELEM_LG7)))
    big_r = t2 + t1
    hfsq = 0.5 * f * f
    out = dk * ELEM_LN2_HI - ((hfsq - (s * (hfsq + big_r) + dk * ELEM_LN2_LO)) - f)
    if x == 0.0:
        out = -math.inf
    if x < 0.0:
        out = math.nan
    if not (x < math.inf):  # +inf, or NaN
        out = x + x
    return out


@kernel
def vec_pow(x, y):
    """x^y [-] for x ≥ 0 (NaN for x < 0): e^(y·ln x), within (1 + 3·|y·ln x|) ulp; 1 for y = 0.

    Only non-negative bases: the model raises ratios of ages and growth factors to real
    powers.  0^y is 0 for y > 0 and inf for y < 0, as C's ``pow``.
    """
    out = vec_exp(y * vec_log(x))
    if y == 0.0:
        out = 1.0
    return out
