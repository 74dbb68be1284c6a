"""Given-data sensitivity: which inputs drive a run's totals, from the scenarios already drawn.

The default config correlates inputs through a Gaussian copula, so designs that need
independent inputs (pick-freeze Sobol', Morris) do not apply to its runs.  The estimators
here work on the sample itself ("given data", X [n, k] and Y [n] or [n, m]) and keep a
meaning with correlated inputs:

===========  =====================================================  ======================================
measure      what it estimates                                      with correlated inputs
===========  =====================================================  ======================================
first_order  closed first-order index Var(E[Y|X_i]) / Var(Y)        counts what X_i carries of its partners:
                                                                    the sum over inputs may exceed 1
delta        Borgonovo's moment-independent δ_i (0 ≤ δ ≤ 1)          the same (a property of the joint law)
spearman     rank correlation of X_i and Y                          marginal association, partners included
prcc         partial rank correlation of X_i and Y given all        X_i with the others held (linear in
             other inputs                                           ranks); NaN for collinear inputs
===========  =====================================================  ======================================

Weights.  Every measure takes importance ``weights`` (the cube's ``weight`` variable, dim
scenario) and frequency ``counts`` (row i stands for counts[i] identical scenarios; the
bootstrap uses them).  Ranks are *weighted mid-ranks*: u_i = (W(x < x_i) + W(x = x_i)/2) / W,
with W the sum of weights; correlations are weighted Pearson correlations of u; bins hold
equal weight and their means are weighted.  Effective sizes are Kish's (Σw)²/Σw² per unit
of count, so integer counts give exactly the estimates of the replicated sample (tested).

Confidence intervals: percentile intervals over ``bootstrap`` replicates (scenarios resampled
with replacement, ``numpy.random.default_rng(seed)``), re-centred on the estimate
(:func:`_interval`); each replicate is the weighted estimator with multinomial counts, so the
sort orders are computed once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np
import scipy.fft

from engine.errors import AnalysisError

__all__ = ["MEASURES", "Measure", "Estimate", "indices", "weighted_ranks", "first_order_bins", "delta_classes"]

DELTA_GRID = 256  # cells of the output's rank scale [0, 1] on which δ's densities are estimated
DELTA_CHUNK = 2**22  # density cells per batch of inputs (32 MiB of float64)
COLLINEAR_VIF = 1e8  # a variance inflation factor above this makes PRCC undefined (NaN)


class _Ranker:
    """Weighted mid-ranks in (0, 1) of each column of ``a`` [n, c], for any weights: sorts once."""

    def __init__(self, a: np.ndarray):
        self.order = np.argsort(a, axis=0, kind="stable")
        srt = np.take_along_axis(a, self.order, axis=0)
        n = a.shape[0]
        self.groups = {}
        for j in np.flatnonzero((srt[1:] == srt[:-1]).any(axis=0)):
            starts = np.flatnonzero(np.r_[True, srt[1:, j] != srt[:-1, j]])
            sizes = np.diff(np.r_[starts, n])
            self.groups[j] = (np.repeat(starts, sizes), np.repeat(np.r_[starts[1:], n], sizes))
        self.plain = (slice(0, n), slice(1, n + 1))

    def __call__(self, v: np.ndarray) -> np.ndarray:
        out = np.empty(self.order.shape)
        total = 2.0 * v.sum()
        for j in range(self.order.shape[1]):
            o = self.order[:, j]
            cum = np.concatenate(([0.0], np.cumsum(v[o])))
            lo, hi = self.groups.get(j, self.plain)
            out[o, j] = (cum[lo] + cum[hi]) / total
        return out


def weighted_ranks(a, weights=None) -> np.ndarray:
    """Weighted mid-ranks u = (W(x < x_i) + W(x = x_i) / 2) / W in (0, 1) of each column of ``a``.

    Unweighted, u = (rank − 1/2) / n with ties given their average rank; integer weights give
    the mid-ranks of the replicated sample.
    """
    a = np.asarray(a, dtype=np.float64)
    flat = a.reshape(a.shape[0], -1)
    v = np.ones(a.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    return _Ranker(flat)(v).reshape(a.shape)


@dataclass
class _Sample:
    """One (re)sample: ranks, outputs and weights (importance × frequency)."""

    ux: np.ndarray  # [n, k] weighted mid-ranks of the inputs
    uy: np.ndarray  # [n, m] of the outputs
    y: np.ndarray  # [n, m] the outputs
    v: np.ndarray  # [n] weight × count
    v2: np.ndarray  # [n] weight² × count, for effective sizes
    n_eff: float = field(init=False)

    def __post_init__(self):
        self.n_eff = float(self.v.sum() ** 2 / self.v2.sum())

    @cached_property
    def rank_cov(self) -> np.ndarray:
        """Weighted covariance matrix [k + m, k + m] of the ranks (inputs first)."""
        z = np.hstack([self.ux, self.uy])
        p = self.v / self.v.sum()
        z -= p @ z
        return (z.T * p) @ z


def first_order_bins(n_eff: float) -> int:
    """Bins of X_i for ``first_order``: ⌊√n_eff⌋, clipped to [2, 100]."""
    return int(np.clip(np.sqrt(n_eff), 2, 100))


def delta_classes(n_eff: float) -> int:
    """Classes of X_i for ``delta``: SALib's (Plischke et al. 2013) rule, ⌈n^(2/(7 + tanh((1500 − n)/500)))⌉ ≤ 48."""
    exp = 2.0 / (7.0 + np.tanh((1500.0 - n_eff) / 500.0))
    return int(np.clip(np.ceil(n_eff**exp), 2, 48))


def _bin_sums(b: np.ndarray, vals: np.ndarray, nbins: int) -> np.ndarray:
    """Sums of ``vals`` [n, m] per bin ``b`` [n] → [nbins, m]."""
    m = vals.shape[1]
    idx = (b[:, None] * m + np.arange(m)).ravel()
    return np.bincount(idx, vals.ravel(), nbins * m).reshape(nbins, m)


def _bins(u: np.ndarray, nbins: int) -> np.ndarray:
    """Bin of each rank u in (0, 1) among ``nbins`` equal ones; a rank on an edge goes up, whatever its rounding."""
    return np.minimum((u * nbins + 1e-9).astype(np.intp), nbins - 1)


def _first_order(s: _Sample) -> np.ndarray:
    """Closed first-order index of each input [k, m] by equal-weight bins of its ranks.

    S_i = (V_between − B) / V, with V_between = Σ_j W_j (ȳ_j − ȳ)² over M bins (weight
    fractions W_j, weighted bin means ȳ_j), V the weighted variance of Y (× n_eff/(n_eff − 1)),
    and the bias correction B = Σ_j W_j (1 − W_j) σ̂_j² / n_j, the expected contribution of the
    noise of the bin means (σ̂_j² the within-bin variance, n_j its effective size).  For equal
    counts B = (M − 1) MS_within / n: the ANOVA estimator ε² of Kelley (1935), unbiased for the
    bin means.  Left: the discretisation bias, −E[Var(E[Y|X_i] within a bin)] / V, O(1/M²) for
    a smooth E[Y|X_i].  Assumes E[Y|X_i] is not dominated by a spike narrower than a bin.
    """
    nbins = first_order_bins(s.n_eff)
    wsum = s.v.sum()
    yc = s.y - (s.v @ s.y) / wsum
    vy, vy2 = s.v[:, None] * yc, s.v[:, None] * yc**2
    var = vy2.sum(0) / wsum * s.n_eff / (s.n_eff - 1.0)
    out = np.empty((s.ux.shape[1], s.y.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(s.ux.shape[1]):
            b = _bins(s.ux[:, i], nbins)
            wj = np.bincount(b, s.v, nbins)
            nj = wj**2 / np.bincount(b, s.v2, nbins)
            mean = _bin_sums(b, vy, nbins) / wj[:, None]
            within = (_bin_sums(b, vy2, nbins) / wj[:, None] - mean**2) * (nj / (nj - 1.0))[:, None]
            pj = wj / wsum
            between = np.nansum(pj[:, None] * mean**2, axis=0)
            bias = np.nansum((pj * (1.0 - pj) / nj)[:, None] * np.where(nj[:, None] > 1, within, 0.0), axis=0)
            out[i] = (between - bias) / var
    return out


def _densities(h: np.ndarray, n_eff: np.ndarray) -> np.ndarray:
    """Reflection-boundary Gaussian KDE on [0, 1] from cell weights ``h`` [..., G] (density per cell).

    Bandwidth: Silverman's rule as scipy's ``gaussian_kde(bw_method="silverman")``,
    σ (3 n_eff / 4)^(−1/5), σ the weighted sd of the cell centres; smoothing in the cosine
    basis (DCT-II), where a Gaussian of sd h multiplies mode k by exp(−(π k h)² / 2).
    """
    g = h.shape[-1]
    centre = (np.arange(g) + 0.5) / g
    with np.errstate(invalid="ignore", divide="ignore"):
        tot = h.sum(-1, keepdims=True)
        p = h / tot
        sd = np.sqrt(np.maximum((p * centre**2).sum(-1) - (p * centre).sum(-1) ** 2, 0.0))
        bw = sd * (0.75 * n_eff) ** -0.2
    coef = scipy.fft.dct(np.nan_to_num(p) * g, type=2, axis=-1)
    coef *= np.exp(-0.5 * (np.pi * np.arange(g) * np.nan_to_num(bw)[..., None]) ** 2)
    return scipy.fft.idct(coef, type=2, axis=-1)


def _delta(s: _Sample) -> np.ndarray:
    """Borgonovo's δ_i = ½ E_Xi ∫ |f_Y(y) − f_Y|Xi(y)| dy of each input [k, m] (Plischke et al. 2013).

    Computed on the output's weighted ranks (δ is invariant under a monotone transform of Y,
    and the rank scale tames heavy upper tails): X_i is cut into M equal-weight classes
    (:func:`delta_classes`), the density of the ranks of Y in each class and overall is a
    kernel estimate (:func:`_densities`, on ``DELTA_GRID`` cells), and δ_i the class-weighted
    L1 distance.  The estimate is biased upwards by the noise of the class densities;
    :func:`indices` corrects it with the bootstrap, δ = 2 δ̂ − mean(δ*) (Plischke et al., eq. 30).
    """
    ncls, g = delta_classes(s.n_eff), DELTA_GRID
    k, m = s.ux.shape[1], s.y.shape[1]
    wsum = s.v.sum()
    cells = _bins(s.uy, g) + np.arange(m) * g
    vv = np.broadcast_to(s.v[:, None], cells.shape).ravel()
    f0 = _densities(np.bincount(cells.ravel(), vv, m * g).reshape(m, g), np.array(s.n_eff))
    out = np.empty((k, m))
    step = max(1, DELTA_CHUNK // (ncls * m * g))  # inputs per batch of densities
    for first in range(0, k, step):
        cols = range(first, min(k, first + step))
        bins = [_bins(s.ux[:, i], ncls) for i in cols]
        hist = np.stack([np.bincount((b[:, None] * (m * g) + cells).ravel(), vv, ncls * m * g) for b in bins])
        wj = np.stack([np.bincount(b, s.v, ncls) for b in bins])
        with np.errstate(invalid="ignore", divide="ignore"):
            nj = wj**2 / np.stack([np.bincount(b, s.v2, ncls) for b in bins])
        f = _densities(hist.reshape(len(cols), ncls, m, g), nj[..., None])
        out[first : first + len(cols)] = 0.5 * np.einsum("cj,cjm->cm", wj / wsum, np.abs(f - f0).sum(-1) / g)
    return out


def _spearman(s: _Sample) -> np.ndarray:
    """Weighted Spearman rank correlation of each input with each output [k, m]."""
    c, k = s.rank_cov, s.ux.shape[1]
    d = np.sqrt(np.diag(c))
    with np.errstate(invalid="ignore", divide="ignore"):
        return c[:k, k:] / np.outer(d[:k], d[k:])


def _prcc(s: _Sample) -> np.ndarray:
    """Weighted partial rank correlation of each input with each output given all other inputs [k, m].

    From the rank correlation matrix R = [[R_xx, r], [rᵀ, 1]] with A = R_xx⁻¹:
    PRCC_i = (A r)_i / sqrt(s A_ii + (A r)_i²), s = 1 − rᵀ A r (the block inverse of R).
    NaN for an input whose variance inflation factor A_ii exceeds ``COLLINEAR_VIF`` (its ranks
    are a linear function of the others', e.g. two complementary shares).
    """
    c, k = s.rank_cov, s.ux.shape[1]
    d = np.sqrt(np.diag(c))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = c / np.outer(d, d)
        a = np.linalg.inv(r[:k, :k] + 1e-12 * np.eye(k))
        ar = a @ r[:k, k:]
        resid = 1.0 - np.einsum("km,km->m", r[:k, k:], ar)
        out = ar / np.sqrt(np.maximum(resid, 0.0) * np.diag(a)[:, None] + ar**2)
    out[np.diag(a) > COLLINEAR_VIF] = np.nan
    return out


class Measure(NamedTuple):
    func: Callable[[_Sample], np.ndarray]
    long_name: str
    method: str
    bootstrap_bias: bool  # whether the point estimate is bias-corrected with the bootstrap mean


MEASURES: dict[str, Measure] = {
    "first_order": Measure(
        _first_order,
        "closed first-order sensitivity index Var(E[Y|X_i])/Var(Y)",
        "weighted means in equal-weight bins of the weighted ranks of X_i; ANOVA (epsilon^2) noise correction",
        False,
    ),
    "delta": Measure(
        _delta,
        "Borgonovo moment-independent importance measure delta",
        "class-conditional KDE of the weighted ranks of Y (Plischke et al. 2013); bootstrap bias correction",
        True,
    ),
    "spearman": Measure(_spearman, "Spearman rank correlation", "weighted Pearson correlation of weighted mid-ranks", False),
    "prcc": Measure(
        _prcc,
        "partial rank correlation coefficient (given all other inputs)",
        "from the inverse of the weighted rank correlation matrix",
        False,
    ),
}


class Estimate(NamedTuple):
    """An index with its bootstrap interval; arrays [k] (Y [n]) or [k, m] (Y [n, m])."""

    value: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _checked(X, Y, weights, counts):
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim not in (1, 2) or X.shape[0] != Y.shape[0]:
        raise AnalysisError(f"expected X [n, k] and Y [n] or [n, m] with the same n; got {X.shape} and {Y.shape}")
    if X.shape[0] < 10 or not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise AnalysisError(f"expected at least 10 finite rows of X and Y; got {X.shape[0]} (or non-finite values)")
    ones = np.ones(X.shape[0])
    w = ones if weights is None else np.asarray(weights, dtype=np.float64)
    c = ones if counts is None else np.asarray(counts, dtype=np.float64)
    for name, a in (("weights", w), ("counts", c)):
        if a.shape != ones.shape or not np.isfinite(a).all() or (a < 0).any() or a.sum() <= 0:
            raise AnalysisError(f"{name}: expected {X.shape[0]} finite non-negative values with a positive sum")
    if counts is not None and not np.array_equal(c, np.round(c)):
        raise AnalysisError("counts: expected whole numbers (frequency weights)")
    return X, Y.reshape(Y.shape[0], -1), w, c


def _interval(est, reps, bias_corrected, ci):
    """Point estimate and percentile interval of the replicates, re-centred on the estimate.

    The replicates of an estimator that is corrected for its bias sit around the *uncorrected*
    estimate of the sample (the resampled population is the sample), so the interval is
    est + (q(reps) − mean(reps)): the percentiles' shape, on the estimate.  ``delta`` is
    corrected with the bootstrap itself: est = 2 δ̂ − mean(δ*) (Plischke et al. 2013, eq. 30).
    """
    if reps.shape[0] < 2:
        nan = np.full_like(est, np.nan)
        return Estimate(est, nan, nan)
    centre = np.nanmean(reps, axis=0)
    if bias_corrected:
        est = 2.0 * est - centre
    quantile = np.nanquantile if np.isnan(reps).any() else np.quantile
    low, high = quantile(reps, [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0], axis=0)
    return Estimate(est, est + low - centre, est + high - centre)


def indices(
    X, Y, *, weights=None, counts=None, measures=None, bootstrap: int = 100, seed: int = 0, ci: float = 0.95
) -> dict[str, Estimate]:
    """Sensitivity measures of outputs ``Y`` [n] or [n, m] to inputs ``X`` [n, k], with bootstrap intervals.

    Parameters
    ----------
    X, Y : array_like
        Inputs (one column per input, any units) and outputs (any units; one column per
        output, e.g. year × boundary), one row per scenario.
    weights : array_like [n], optional
        Importance weights (every measure is weighted; see the module docstring).
    counts : array_like [n], optional
        Frequency weights: row i stands for counts[i] identical scenarios.
    measures : sequence of str, optional
        Names from :data:`MEASURES`; default all.
    bootstrap : int
        Replicates for the intervals (0: no intervals, and no bias correction of ``delta``).
    seed : int
        Seed of the bootstrap's ``numpy.random.default_rng``.
    ci : float
        Level of the percentile intervals (0.95: the 2.5 % and 97.5 % quantiles of the replicates).

    Returns
    -------
    dict
        measure name → :class:`Estimate` (value, low, high), each [k] or [k, m] (dimensionless).
    """
    names = list(MEASURES) if measures is None else list(measures)
    unknown = [m for m in names if m not in MEASURES]
    if unknown or not names:
        raise AnalysisError(f"unknown measure(s) {unknown}; expected some of {list(MEASURES)}")
    if not 0.0 < ci < 1.0 or bootstrap < 0:
        raise AnalysisError(f"expected 0 < ci < 1 and bootstrap >= 0; got ci={ci}, bootstrap={bootstrap}")
    squeeze = np.ndim(Y) == 1
    X, Y, w, c = _checked(X, Y, weights, counts)
    rank_x, rank_y = _Ranker(X), _Ranker(Y)

    def estimate(f):
        s = _Sample(rank_x(w * f), rank_y(w * f), Y, w * f, w * w * f)
        return {m: MEASURES[m].func(s) for m in names}

    est = estimate(c)
    reps = {m: np.empty((bootstrap, *est[m].shape)) for m in names}
    rng, total = np.random.default_rng(seed), int(c.sum())
    for b in range(bootstrap):
        for m, value in estimate(rng.multinomial(total, c / c.sum()).astype(np.float64)).items():
            reps[m][b] = value
    out = {m: _interval(est[m], reps[m], MEASURES[m].bootstrap_bias, ci) for m in names}
    return {m: Estimate(*(a[:, 0] for a in e)) for m, e in out.items()} if squeeze else out
