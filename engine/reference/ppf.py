"""NumPy reference inverse CDFs, one per kernel distribution code, with ``scipy.special``.

They read the same parameter rows as :func:`kernels.distributions.ppf` but share no code
with the kernels: the reference backend's transform and the tests' independent check.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from kernels.distributions import (
    DIST_BETA,
    DIST_FIXED,
    DIST_LOGNORMAL,
    DIST_NORMAL,
    DIST_TRIANGULAR,
    DIST_UNIFORM,
    N_PARAMS,
)

__all__ = ["ppf_numpy_by_code"]

FloatArray = NDArray[np.float64]


def _np_fixed(p: FloatArray, u: FloatArray) -> FloatArray:
    return np.full(np.shape(u), p[0])


def _np_uniform(p: FloatArray, u: FloatArray) -> FloatArray:
    return p[0] + (p[1] - p[0]) * u


def _np_triangular(p: FloatArray, u: FloatArray) -> FloatArray:
    low, mode, high = p[0], p[1], p[2]
    width = high - low
    c = (mode - low) / width
    up = np.clip(1.0 - u, 0.0, 1.0)
    return np.where(
        u < c,
        low + width * np.sqrt(c * np.clip(u, 0.0, 1.0)),
        high - width * np.sqrt((1.0 - c) * up),
    )


def _np_beta(p: FloatArray, u: FloatArray) -> FloatArray:
    return p[0] + (p[1] - p[0]) * special.betaincinv(p[2], p[3], u)


def _np_std_normal_in_interval(p: FloatArray, u: FloatArray) -> FloatArray:
    """Deviate of ``u`` mapped into the interval with CDF values p2, p3 and survival
    values p4, p5: quantile from the smaller of CDF and survival probability."""
    cdf = p[2] * (1.0 - u) + p[3] * u
    if p[4] == 0.0 and p[5] == 0.0:
        sf = 1.0 - cdf
    else:
        sf = p[4] * (1.0 - u) + p[5] * u
    return np.where(cdf <= 0.5, special.ndtri(cdf), -special.ndtri(sf))


def _np_normal(p: FloatArray, u: FloatArray) -> FloatArray:
    return p[0] + p[1] * _np_std_normal_in_interval(p, u)


def _np_lognormal(p: FloatArray, u: FloatArray) -> FloatArray:
    with np.errstate(over="ignore"):
        return np.exp(p[0] + p[1] * _np_std_normal_in_interval(p, u))


_NUMPY_PPF: dict[int, Callable[[FloatArray, FloatArray], FloatArray]] = {
    DIST_FIXED: _np_fixed,
    DIST_UNIFORM: _np_uniform,
    DIST_TRIANGULAR: _np_triangular,
    DIST_BETA: _np_beta,
    DIST_NORMAL: _np_normal,
    DIST_LOGNORMAL: _np_lognormal,
}


def ppf_numpy_by_code(code: int, params: ArrayLike, u: ArrayLike) -> FloatArray:
    """NumPy reference inverse CDF for a kernel row (the reference backend's transform).

    Parameters
    ----------
    code
        Kind code of :mod:`kernels.distributions` (0 ... 5).
    params
        Parameter row, float64 of length 8, as returned by ``kernel_params()``.
    u
        Probabilities in (0, 1), any shape.

    Returns
    -------
    ndarray of float64
        Quantiles, shaped like ``u``.
    """
    try:
        fn = _NUMPY_PPF[int(code)]
    except KeyError:
        known = sorted(_NUMPY_PPF)
        raise ValueError(f"unknown distribution code {code!r}; known codes: {known}") from None
    p = np.asarray(params, dtype=np.float64)
    if p.shape != (N_PARAMS,):
        raise ValueError(f"params must be a float64 row of length {N_PARAMS}, got shape {p.shape}")
    return np.asarray(fn(p, np.asarray(u, dtype=np.float64)), dtype=np.float64)
