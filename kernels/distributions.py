"""Inverse CDFs of the input distributions, selected by an integer kind code.

Each input is described by a kind code and a float64 parameter row of length 8, built on
the host by ``engine.distributions`` (``kernel_params()``), which precomputes everything
derived so the kernel does minimal work:

==== =================== ==========================================================
code kind                parameter row ``params[0..7]`` (unused slots are 0)
==== =================== ==========================================================
0    ``DIST_FIXED``      p0 = value
1    ``DIST_UNIFORM``    p0 = low, p1 = high
2    ``DIST_TRIANGULAR`` p0 = low, p1 = mode, p2 = high
3    ``DIST_BETA``       p0 = low, p1 = high, p2 = alpha, p3 = beta, p4 = ln B(alpha, beta)
4    ``DIST_NORMAL``     p0 = mean, p1 = sd, p2 = Phi(A), p3 = Phi(B), p4 = Phi(-A),
                         p5 = Phi(-B), with A = (lower - mean)/sd, B = (upper - mean)/sd
                         (untruncated: p2 = 0, p3 = 1, p4 = 1, p5 = 0)
5    ``DIST_LOGNORMAL``  p0 = mu, p1 = sigma of ln X, p2..p5 as for the normal with
                         A = (ln lower - mu)/sigma, B = (ln upper - mu)/sigma
==== =================== ==========================================================

Tail precision of the (truncated) normal and lognormal
------------------------------------------------------
``u`` is mapped into the truncation interval both as a CDF value,
``c = Phi(A) (1 - u) + Phi(B) u``, and as a survival value,
``s = Phi(-A) (1 - u) + Phi(-B) u`` (each a sum of two non-negative terms, so each is
accurate to a few ulps).  The standard-normal deviate is ``ndtri(c)`` when ``c <= 0.5``
and ``-ndtri(s)`` otherwise: the quantile is always taken from the smaller of the two
probabilities, so an interval far in the upper tail (where ``Phi`` values round to 1)
keeps full precision by symmetry.  ``p4``/``p5`` (the survival values, computed on the
host with ``ndtr(-A)``) extend the minimal layout ``p0..p3``; a row with ``p4 = p5 = 0``
(not produced by the host, since ``Phi(-A) > 0``) falls back to ``s = 1 - c``.

``u`` is expected in (0, 1); ``u = 0`` and ``u = 1`` give the ends of the support (which
are infinite for an untruncated normal or lognormal).  An unknown code gives NaN.

These are :func:`kernels._target.kernel` functions; build them together with
:mod:`kernels.special` (``build(jit, [special, distributions])``).
"""

from __future__ import annotations

import math

from kernels._target import kernel
from kernels.special import betaincinv, ndtri

__all__ = [
    "DIST_FIXED",
    "DIST_UNIFORM",
    "DIST_TRIANGULAR",
    "DIST_BETA",
    "DIST_NORMAL",
    "DIST_LOGNORMAL",
    "N_PARAMS",
    "ppf",
    "ppf_fixed",
    "ppf_uniform",
    "ppf_triangular",
    "ppf_beta",
    "ppf_normal",
    "ppf_lognormal",
]

DIST_FIXED = 0
DIST_UNIFORM = 1
DIST_TRIANGULAR = 2
DIST_BETA = 3
DIST_NORMAL = 4
DIST_LOGNORMAL = 5
#: Length of a parameter row.
N_PARAMS = 8

_DIST_EXP_MAX = 709.78  # exp overflows above this


@kernel
def ppf_fixed(params, u):
    """Degenerate distribution: always ``params[0]``."""
    return params[0]


@kernel
def ppf_uniform(params, u):
    """Uniform on [low, high] = [``params[0]``, ``params[1]``]."""
    return params[0] + (params[1] - params[0]) * u


@kernel
def ppf_triangular(params, u):
    """Triangular with low, mode, high = ``params[0]``, ``params[1]``, ``params[2]``.

    The upper branch is written from ``high`` so values near ``high`` keep precision.
    """
    low = params[0]
    mode = params[1]
    high = params[2]
    width = high - low
    if u * width < mode - low:
        return low + math.sqrt(u * width * (mode - low))
    return high - math.sqrt((1.0 - u) * width * (high - mode))


@kernel
def _beta_table_lookup(params, u):
    """Standard-beta quantile from the row's table, or -1.0 when ``u`` lies outside it.

    The table (see :func:`engine.distributions.beta_quantile_table`) holds ``n = params[5]``
    nodes equally spaced in t = logit(u) from ``params[6]`` with inverse spacing
    ``params[7]``, interleaved from ``params[8]`` on: x_k at ``8 + 2k``, h·dx/dt at
    ``9 + 2k`` (one cache line per lookup).  Between nodes x is the cubic Hermite interpolant in t, whose
    relative error is below ~1e-10 for alpha, beta >= 1 (tests/test_distributions.py).
    """
    n = int(params[5])
    s = (math.log(u / (1.0 - u)) - params[6]) * params[7]
    if not (s >= 0.0 and s < n - 1):
        return -1.0
    k = int(s)
    f = s - k
    f2 = f * f
    f3 = f2 * f
    i = 8 + 2 * k
    return (
        (2.0 * f3 - 3.0 * f2 + 1.0) * params[i]
        + (f3 - 2.0 * f2 + f) * params[i + 1]
        + (3.0 * f2 - 2.0 * f3) * params[i + 2]
        + (f3 - f2) * params[i + 3]
    )


@kernel
def ppf_beta(params, u):
    """Scaled beta (also PERT): ``low + (high - low) * I^-1_u(alpha, beta)``.

    Rows with a quantile table (``params[5] > 0``) interpolate it (~20 ns instead of
    ~400 ns for the iterative inverse); outside the table, and for rows without one, the
    incomplete beta is inverted iteratively.
    """
    x = -1.0
    if params[5] > 0.0:
        x = _beta_table_lookup(params, u)
    if x < 0.0:
        x = betaincinv(params[2], params[3], u, params[4])
    return params[0] + (params[1] - params[0]) * x


@kernel
def _dist_truncated_z(params, u):
    """Standard-normal deviate of ``u`` mapped into [A, B] (see the module notes)."""
    c = params[2] * (1.0 - u) + params[3] * u
    if c <= 0.5:
        return ndtri(c)
    if params[4] == 0.0 and params[5] == 0.0:
        return -ndtri(1.0 - c)  # row without survival values: reduced upper-tail precision
    return -ndtri(params[4] * (1.0 - u) + params[5] * u)


@kernel
def ppf_normal(params, u):
    """Normal(mean = ``params[0]``, sd = ``params[1]``), optionally truncated."""
    return params[0] + params[1] * _dist_truncated_z(params, u)


@kernel
def ppf_lognormal(params, u):
    """Lognormal with ln X ~ Normal(mu = ``params[0]``, sigma = ``params[1]``), optionally
    truncated (bounds on the value scale, stored as Phi values of ln bound)."""
    y = params[0] + params[1] * _dist_truncated_z(params, u)
    if y > _DIST_EXP_MAX:
        return math.inf
    return math.exp(y)


@kernel
def ppf(kind, params, u):
    """Inverse CDF of distribution ``kind`` at ``u``.

    Parameters
    ----------
    kind : int
        Kind code, one of ``DIST_FIXED`` ... ``DIST_LOGNORMAL`` (0 ... 5).
    params : 1-D float64 array
        Parameter row of length :data:`N_PARAMS` (layout in the module docstring).
    u : float
        Probability in (0, 1).

    Returns
    -------
    float
        The quantile, in the units of the input; NaN for an unknown ``kind``.
    """
    if kind == DIST_BETA:
        return ppf_beta(params, u)
    if kind == DIST_NORMAL:
        return ppf_normal(params, u)
    if kind == DIST_LOGNORMAL:
        return ppf_lognormal(params, u)
    if kind == DIST_TRIANGULAR:
        return ppf_triangular(params, u)
    if kind == DIST_UNIFORM:
        return ppf_uniform(params, u)
    if kind == DIST_FIXED:
        return ppf_fixed(params, u)
    return math.nan
