"""Special-function kernels against scipy.special, interpreted and compiled."""

from __future__ import annotations

import math
from fractions import Fraction

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special as sp
from scipy import stats

from kernels import special
from kernels._target import build


@pytest.fixture(scope="module")
def jit():
    return build(numba.njit, [special])


@pytest.fixture(scope="module", params=["interpreted", "njit"])
def impl(request, jit):
    """Both targets; the interpreted one is slow, so tests subsample for it."""
    return special if request.param == "interpreted" else jit


def _thin(impl, values, n=60):
    """All ``values`` for the compiled functions, ``n`` spread-out ones interpreted."""
    values = np.asarray(values)
    if impl is special and values.size > n:
        return values[np.linspace(0, values.size - 1, n).astype(int)]
    return values


NDTRI_P = np.concatenate([
    [5e-324, 1e-310, 1e-300],
    10.0 ** -np.linspace(1, 300, 300),
    np.linspace(0.001, 0.999, 999),
    [0.075, 0.0749999, 0.925, 0.9250001, 0.5],  # branch boundaries of AS241
    1.0 - 10.0 ** -np.linspace(1, 16, 100),
])


def test_ndtri_matches_scipy(impl):
    p = _thin(impl, NDTRI_P)
    got = np.array([impl.ndtri(v) for v in p])
    np.testing.assert_allclose(got, sp.ndtri(p), rtol=4e-15, atol=1e-300)


def test_ndtri_special_values(impl):
    assert impl.ndtri(0.0) == -math.inf
    assert impl.ndtri(1.0) == math.inf
    assert impl.ndtri(0.5) == 0.0
    for bad in (-0.1, 1.1, math.nan):
        assert math.isnan(impl.ndtri(bad))


def test_ndtr_matches_scipy(impl):
    x = _thin(impl, np.concatenate([np.linspace(-37.0, 8.5, 1500), [-1e-300, 0.0, 1e-300]]))
    got = np.array([impl.ndtr(v) for v in x])
    ref = sp.ndtr(x)
    # erfc(-x/sqrt(2)) amplifies the rounding of the argument by ~x**2 in the far tail
    rtol = 2e-16 * x**2 + 2e-15
    assert np.all(np.abs(got - ref) <= rtol * ref)
    assert impl.ndtr(-math.inf) == 0.0 and impl.ndtr(math.inf) == 1.0


def test_ndtr_ndtri_round_trip(jit):
    z = np.linspace(-30, 8, 777)
    back = np.array([jit.ndtri(jit.ndtr(v)) for v in z])
    lower = z < 0  # upper-tail Phi values lose digits to rounding near 1
    np.testing.assert_allclose(back[lower], z[lower], rtol=1e-13)


SHAPES = [0.5, 1.0, 1.7, 3.0, 9.5, 30.0, 50.0]


def test_betainc_matches_scipy(impl):
    rng = np.random.default_rng(3)
    xs = np.concatenate([10.0 ** -np.linspace(1, 12, 12), rng.uniform(0, 1, 30),
                         1 - 10.0 ** -np.linspace(1, 12, 12)])
    for a in SHAPES:
        for b in SHAPES:
            lb = sp.betaln(a, b)
            x = _thin(impl, xs, 8)
            got = np.array([impl.betainc(a, b, v, lb) for v in x])
            lower = x * (a + b + 2) < a + 1
            # below the switch point: relative accuracy of I (scipy's betainc is itself
            # unreliable below ~1e-200); above it: relative accuracy of 1 - I, checked
            # against scipy's betaincc (scipy's betainc loses digits there, e.g. a=b=0.5)
            ref = sp.betainc(a, b, x)
            ok = lower & (ref > 1e-200)
            assert np.all(np.abs(got - ref)[ok] <= 1e-13 * ref[ok]), (a, b)
            ref_c = sp.betaincc(a, b, x)
            err_c = np.abs((1.0 - got) - ref_c)[~lower]
            assert np.all(err_c <= 1e-13 * ref_c[~lower] + 2.3e-16), (a, b)


def test_betainc_exact_for_integer_shapes(jit):
    """Against exact rational arithmetic (integer a, b), also deep in the lower tail where
    scipy 1.17's betainc is off by 3e-3 (first case)."""
    for a, b, x in [(50, 30, 4.893900918477489e-07), (2, 3, 1e-100), (7, 12, 0.2), (3, 4, 0.9)]:
        xf = Fraction(x)
        # I_x(a, b) = sum_{j=a}^{a+b-1} C(a+b-1, j) x^j (1-x)^(a+b-1-j)
        n = a + b - 1
        exact = sum(math.comb(n, j) * xf**j * (1 - xf) ** (n - j) for j in range(a, n + 1))
        got = jit.betainc(float(a), float(b), x, sp.betaln(a, b))
        assert abs(got - float(exact)) <= 1e-13 * float(exact)


def test_betainc_special_values(impl):
    lb = sp.betaln(2.0, 3.0)
    assert impl.betainc(2.0, 3.0, 0.0, lb) == 0.0
    assert impl.betainc(2.0, 3.0, -1.0, lb) == 0.0
    assert impl.betainc(2.0, 3.0, 1.0, lb) == 1.0
    assert math.isnan(impl.betainc(2.0, 3.0, math.nan, lb))


INV_SHAPES = [1.0, 1.3, 2.0, 4.4, 11.0, 30.0]
INV_P = np.array([1e-12, 1e-9, 1e-6, 1e-3, 0.02, 0.2, 0.5, 0.8, 0.98, 1 - 1e-3, 1 - 1e-6,
                  1 - 1e-9, 1 - 1e-12])


@pytest.mark.parametrize("shapes", [INV_SHAPES, [0.5, 0.8, 3.0, 50.0]], ids=["pert", "beta"])
def test_betaincinv_matches_scipy(impl, shapes):
    rng = np.random.default_rng(11)
    p_all = np.concatenate([INV_P, rng.uniform(0, 1, 20)])
    for a in shapes:
        for b in shapes:
            lb = sp.betaln(a, b)
            p = _thin(impl, p_all, 6)
            got = np.array([impl.betaincinv(a, b, v, lb) for v in p])
            np.testing.assert_allclose(got, sp.betaincinv(a, b, p), rtol=1e-11, err_msg=f"{a},{b}")


def test_betaincinv_closed_forms_and_edges(impl):
    for p in (1e-12, 0.3, 0.5, 0.9, 1 - 1e-12):
        assert impl.betaincinv(1.0, 1.0, p, 0.0) == pytest.approx(p, rel=1e-15)
        assert impl.betaincinv(3.0, 1.0, p, sp.betaln(3, 1)) == pytest.approx(p ** (1 / 3), 1e-15)
        expected = 1 - (1 - p) ** (1 / 5)
        assert impl.betaincinv(1.0, 5.0, p, sp.betaln(1, 5)) == pytest.approx(expected, 1e-13)
    lb = sp.betaln(2.0, 3.0)
    assert impl.betaincinv(2.0, 3.0, 0.0, lb) == 0.0
    assert impl.betaincinv(2.0, 3.0, 1.0, lb) == 1.0
    assert math.isnan(impl.betaincinv(2.0, 3.0, math.nan, lb))
    assert math.isnan(impl.betaincinv(2.0, 3.0, 1.5, lb))


@pytest.mark.parametrize("a,b,p", [(2.0, 3.0, 1e-300), (2.0, 3.0, 5e-324), (74.6, 25.8, 3.9e-89),
                                   (2.24, 71.5, 3.06e-131), (0.1, 0.1, 0.5), (0.1, 50.0, 0.3)])
def test_betaincinv_extreme_tails_self_consistent(impl, a, b, p):
    """Far outside the engine's range it still converges (checked via scipy's betainc)."""
    x = impl.betaincinv(a, b, p, sp.betaln(a, b))
    assert 0.0 < x < 1.0
    assert sp.betainc(a, b, x) == pytest.approx(p, rel=1e-10)


@settings(max_examples=300, deadline=None)
@given(
    a=st.floats(0.5, 50.0),
    b=st.floats(0.5, 50.0),
    p=st.floats(1e-12, 1 - 1e-12),
)
def test_betainc_inverts_betaincinv(jit, a, b, p):
    lb = sp.betaln(a, b)
    x = jit.betaincinv(a, b, p, lb)
    assert 0.0 <= x <= 1.0
    back = jit.betainc(a, b, x, lb)
    # the rounding of x itself (half an ulp) moves I by pdf(x) * ulp(x) / 2
    slack = stats.beta.pdf(x, a, b) * np.spacing(x)
    if p <= 0.5:  # x carries p to full relative precision
        assert abs(back - p) <= 1e-12 * p + slack
    else:  # 1 - I from x = 1 - y, y solved to full precision
        assert abs(back - p) <= 1e-12 * (1 - p) + slack + 2.3e-16
