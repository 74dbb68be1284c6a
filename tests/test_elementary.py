"""kernels.elementary's exp, log and pow against mpmath at 200 bits, interpreted and compiled.

The error is measured in ulps of the exact value (the spacing of doubles at the correctly
rounded result; 2^-1074 for subnormal results), so the bounds are those of the module
docstring: 1 ulp for exp and log, 1 + 3·|y·ln x| ulp for pow.
"""

from __future__ import annotations

import math
import platform

import mpmath
import numba
import numpy as np
import pytest

from kernels import elementary
from kernels._target import build

mpmath.mp.prec = 200
TINY = 5e-324

COMPILED = build(numba.njit(error_model="numpy"), [elementary])
INTERPRETED = build(lambda f: f, [elementary])


def _ulp_error(got: float, exact) -> float:
    """|got − exact| in units of the spacing of doubles at ``exact`` (inf where only one is infinite)."""
    rounded = float(exact)
    if math.isinf(rounded) or math.isinf(got):
        return 0.0 if got == rounded else math.inf
    spacing = max(np.spacing(abs(rounded)), TINY)
    return float(abs(mpmath.mpf(got) - exact) / spacing)


def _exp_points() -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.concatenate([
        rng.uniform(-745.5, 709.9, 3000),
        rng.uniform(-1.0, 1.0, 1000),
        rng.normal(0.0, 1e-8, 200),
        # overflow, underflow, the subnormal range and the edges of the range reduction
        [709.782712893384, 709.7827128933839, 709.78271289338397, -708.3964185322641, -708.4, -720.0, -744.4,
         -745.1332191019411, -745.1332191019412, math.log(2) / 2, -math.log(2) / 2, 0.0, -0.0, 1.0, -1.0, TINY, -TINY],
    ])


def _log_points() -> np.ndarray:
    rng = np.random.default_rng(12)
    bits = rng.integers(1, 0x7FF0000000000000, 3000, dtype=np.int64)  # every positive finite double, uniform in bits
    return np.concatenate([
        bits.view(np.float64),
        rng.uniform(0.5, 2.0, 1000),
        1.0 + rng.normal(0.0, 1e-9, 200),
        [TINY, 1e-320, 2.2250738585072014e-308, 2.225073858507201e-308, 0.5, 2.0, math.sqrt(2.0), math.sqrt(0.5),
         np.nextafter(1.0, 0.0), np.nextafter(1.0, 2.0), 1.7976931348623157e308],
    ])


@pytest.mark.parametrize("impl", [COMPILED, INTERPRETED], ids=["njit", "interpreted"])
def test_exp_within_one_ulp(impl):
    worst = max(_ulp_error(impl.vec_exp(float(x)), mpmath.exp(mpmath.mpf(float(x)))) for x in _exp_points())
    assert worst <= 1.0, worst


@pytest.mark.parametrize("impl", [COMPILED, INTERPRETED], ids=["njit", "interpreted"])
def test_log_within_one_ulp(impl):
    worst = max(_ulp_error(impl.vec_log(float(x)), mpmath.log(mpmath.mpf(float(x)))) for x in _log_points())
    assert worst <= 1.0, worst


def test_pow_within_its_bound():
    rng = np.random.default_rng(13)
    xs = np.concatenate([rng.uniform(0.01, 20.0, 2000), np.exp(rng.uniform(-30, 30, 1000))])
    ys = np.concatenate([rng.uniform(0.2, 8.0, 2000), rng.uniform(-10, 10, 1000)])
    excess = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        exact = mpmath.power(mpmath.mpf(x), mpmath.mpf(y))
        bound = 1.0 + 3.0 * abs(y * math.log(x))
        excess.append(_ulp_error(COMPILED.vec_pow(x, y), exact) / bound)
    assert max(excess) <= 1.0, max(excess)


@pytest.mark.parametrize("impl", [COMPILED, INTERPRETED], ids=["njit", "interpreted"])
def test_special_values(impl):
    assert impl.vec_exp(math.inf) == math.inf and impl.vec_exp(-math.inf) == 0.0
    assert impl.vec_exp(710.0) == math.inf and impl.vec_exp(-746.0) == 0.0
    assert math.isnan(impl.vec_exp(math.nan))
    assert impl.vec_log(0.0) == -math.inf and impl.vec_log(-0.0) == -math.inf
    assert math.isnan(impl.vec_log(-1.0)) and math.isnan(impl.vec_log(-math.inf)) and math.isnan(impl.vec_log(math.nan))
    assert impl.vec_log(math.inf) == math.inf and impl.vec_log(1.0) == 0.0
    assert impl.vec_pow(0.0, 2.5) == 0.0 and impl.vec_pow(0.0, -1.0) == math.inf
    assert impl.vec_pow(0.0, 0.0) == 1.0 and impl.vec_pow(7.0, 0.0) == 1.0 and impl.vec_pow(1.0, 3.3) == 1.0
    assert math.isnan(impl.vec_pow(-2.0, 2.0))  # non-negative bases only (the module's contract)
    assert math.isnan(impl.vec_pow(math.nan, 2.0)) and math.isnan(impl.vec_pow(2.0, math.nan))


@numba.njit(error_model="numpy")
def _exp_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = COMPILED_EXP(x[i])


COMPILED_EXP = build(numba.njit(error_model="numpy", inline="always"), [elementary]).vec_exp


def test_vector_lanes_scalar_remainder_and_python_give_the_same_bits():
    """A loop the compiler vectorises (its body and its scalar remainder), the scalar compiled
    function and the interpreted one agree bit for bit, at every offset of the vector lanes."""
    x = np.random.default_rng(14).uniform(-50.0, 50.0, 1027)
    out = np.empty_like(x)
    _exp_loop(x, out)
    scalar = np.array([COMPILED.vec_exp(v) for v in x])
    interpreted = np.array([INTERPRETED.vec_exp(v) for v in x[::41]])
    assert np.array_equal(out.view(np.uint64), scalar.view(np.uint64))
    assert np.array_equal(out[::41].view(np.uint64), interpreted.view(np.uint64))
    for start in range(1, 8):  # misaligned starts move every value between body and remainder
        part = np.empty(x.size - start)
        _exp_loop(x[start:], part)
        assert np.array_equal(part.view(np.uint64), scalar[start:].view(np.uint64))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="checks x86 packed instructions")
def test_the_loop_is_vectorised():
    """The point of the module: the loop's machine code multiplies packed doubles (``mulpd``,
    SSE2 or AVX), where a loop calling libm's ``exp`` has only scalar calls."""
    x = np.ones(8)
    _exp_loop(x, np.empty(8))
    asm = _exp_loop.inspect_asm(_exp_loop.signatures[0])
    assert "mulpd" in asm
    assert "call" not in "\n".join(line for line in asm.splitlines() if "exp" in line.lower() and "call" in line)
