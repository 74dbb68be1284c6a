"""Quantiles from the log-spaced histograms of a summary.

Quantiles follow NumPy's default (linear interpolation between order statistics).  Each
order statistic is placed inside its histogram bin (by rank, the bin clipped to the exact
min and max), so its error is at most the bin's width: 2^-9 (0.196 %) of the bin's lower
edge for values in [2^-20, 2^24) of the variable's unit, an absolute 2^-20 (~1e-6) for
non-negative values below that range; values from 2^24 on (none in the default config)
fall in one open bin and the run warns if a reported quantile lands there.
"""

from __future__ import annotations

import numpy as np

from kernels import summary as ks

__all__ = ["QUANTILE_REL_ERROR", "Z95", "estimate_quantiles", "estimate_weighted_quantiles"]

QUANTILE_REL_ERROR = 2.0**-ks.HIST_SUB_BITS
Z95 = 1.959963984540054  # the standard normal's 97.5 % point (order-statistics intervals of quantiles)


def _bin_edges(bins: np.ndarray, vmin: float, vmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges of histogram ``bins``, clipped to [vmin, vmax]."""
    j = bins - 1
    lower = np.ldexp(1.0 + (j % ks.HIST_PER_OCTAVE) / ks.HIST_PER_OCTAVE, ks.HIST_EXP_LO + j // ks.HIST_PER_OCTAVE)
    j1 = bins
    upper = np.ldexp(1.0 + (j1 % ks.HIST_PER_OCTAVE) / ks.HIST_PER_OCTAVE, ks.HIST_EXP_LO + j1 // ks.HIST_PER_OCTAVE)
    lower = np.where(bins == 0, vmin, lower)
    upper = np.where(bins == 0, 2.0**ks.HIST_EXP_LO, upper)
    lower = np.where(bins == ks.HIST_BINS - 1, 2.0**ks.HIST_EXP_HI, lower)
    upper = np.where(bins == ks.HIST_BINS - 1, vmax, upper)
    return np.clip(lower, vmin, vmax), np.clip(upper, vmin, vmax)


def estimate_quantiles(counts: np.ndarray, first_bin: int, vmin: float, vmax: float, q: np.ndarray) -> np.ndarray:
    """Quantiles ``q`` of the values binned in ``counts`` (bins ``first_bin`` ...), NumPy's linear rule.

    Order statistic ``i`` is placed at ``lower + (i - before + ½)/c·(upper - lower)`` in its bin
    (``c`` values, ``before`` values in earlier bins), the first and last at the exact min and
    max; quantile ``q`` interpolates linearly between order statistics ``⌊q(n−1)⌋`` and the next.
    """
    q = np.asarray(q, dtype=np.float64)
    cum = np.cumsum(counts)
    n = int(cum[-1]) if cum.size else 0
    if n == 0:
        return np.full(q.shape, np.nan)
    h = q * (n - 1)
    j = np.floor(h).astype(np.int64)
    frac = h - j
    ranks = np.stack([j, np.minimum(j + 1, n - 1)])
    b = np.searchsorted(cum, ranks, side="right")
    c = counts[b]
    before = cum[b] - c
    lower, upper = _bin_edges(first_bin + b, vmin, vmax)
    x = lower + (ranks - before + 0.5) / c * (upper - lower)
    x = np.where(ranks == 0, vmin, np.where(ranks == n - 1, vmax, x))
    return np.clip(x[0] + frac * (x[1] - x[0]), vmin, vmax)


def estimate_weighted_quantiles(weights: np.ndarray, first_bin: int, vmin: float, vmax: float, q: np.ndarray) -> np.ndarray:
    """Weighted quantiles ``q`` from histogram bins holding weight sums (bins ``first_bin`` ...).

    The exact weighted quantile at level ``p`` is the smallest value whose cumulative weight
    reaches ``p W`` (:func:`engine.analysis.weighted.weighted_quantile`); it lies in the first
    bin where the cumulative weight reaches ``p W``, and the estimate interpolates linearly in
    weight across that bin (clipped to the exact min and max), so its error is at most the bin's
    width, as for the unweighted estimate.
    """
    q = np.asarray(q, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(w)
    total = float(cum[-1]) if cum.size else 0.0
    if total <= 0.0:
        return np.full(q.shape, np.nan)
    target = q * total
    b = np.minimum(np.searchsorted(cum, target, side="left"), cum.size - 1)
    b = np.where(q <= 0.0, np.argmax(w > 0), b)  # level 0: the first bin with weight
    c = w[b]
    before = cum[b] - c
    lower, upper = _bin_edges(first_bin + b, vmin, vmax)
    frac = np.clip(np.where(c > 0, (target - before) / np.where(c > 0, c, 1.0), 0.0), 0.0, 1.0)
    return np.clip(lower + frac * (upper - lower), vmin, vmax)
