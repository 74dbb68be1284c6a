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

__all__ = ["QUANTILE_REL_ERROR", "Z95", "estimate_quantiles", "estimate_weighted_quantiles", "ragged_estimates"]

QUANTILE_REL_ERROR = 2.0**-ks.HIST_SUB_BITS
Z95 = 1.959963984540054  # the standard normal's 97.5 % point (order-statistics intervals of quantiles)


def estimate_quantiles(counts: np.ndarray, first_bin: int, vmin: float, vmax: float, q: np.ndarray) -> np.ndarray:
    """Quantiles ``q`` of the values binned in ``counts`` (bins ``first_bin`` ...), NumPy's linear rule.

    Order statistic ``i`` is placed at ``lower + (i - before + ½)/c·(upper - lower)`` in its bin
    (``c`` values, ``before`` values in earlier bins), the first and last at the exact min and
    max; quantile ``q`` interpolates linearly between order statistics ``⌊q(n−1)⌋`` and the next.
    One cell of :func:`kernels.cpu_quantiles.ragged_quantiles`.
    """
    from kernels.cpu_quantiles import ragged_quantiles

    q, counts = np.atleast_1d(np.asarray(q, dtype=np.float64)), np.asarray(counts, dtype=np.int64)
    out = np.empty((1, q.size))
    lo, ln, lo_v, hi_v = _one_cell(first_bin, counts.size, vmin, vmax)
    ragged_quantiles(lo, ln, counts, lo_v, hi_v, q, out)
    return out[0]


def estimate_weighted_quantiles(weights: np.ndarray, first_bin: int, vmin: float, vmax: float, q: np.ndarray) -> np.ndarray:
    """Weighted quantiles ``q`` from histogram bins holding weight sums (bins ``first_bin`` ...).

    The exact weighted quantile at level ``p`` is the smallest value whose cumulative weight
    reaches ``p W`` (:func:`engine.analysis.weighted.weighted_quantile`); it lies in the first
    bin where the cumulative weight reaches ``p W``, and the estimate interpolates linearly in
    weight across that bin (clipped to the exact min and max), so its error is at most the bin's
    width, as for the unweighted estimate.  One cell of
    :func:`kernels.cpu_quantiles.ragged_weighted_quantiles`.
    """
    from kernels.cpu_quantiles import ragged_weighted_quantiles

    q, w = np.atleast_1d(np.asarray(q, dtype=np.float64)), np.asarray(weights, dtype=np.float64)
    out = np.empty((1, q.size))
    lo, ln, lo_v, hi_v = _one_cell(first_bin, w.size, vmin, vmax)
    ragged_weighted_quantiles(lo, ln, w, lo_v, hi_v, q, out)
    return out[0]


def ragged_estimates(
    lo: np.ndarray, length: np.ndarray, counts: np.ndarray, vmin: np.ndarray, vmax: np.ndarray, q: np.ndarray, weighted: bool
) -> np.ndarray:
    """float64 [cells, levels]: the quantiles ``q`` of every cell of a ragged histogram
    (:func:`kernels.cpu_merge.ragged_bins`): :func:`estimate_weighted_quantiles` of each cell if
    ``weighted`` (bins of quantised weights), else :func:`estimate_quantiles`, in one compiled call."""
    from kernels.cpu_quantiles import ragged_quantiles, ragged_weighted_quantiles

    q = np.atleast_1d(np.asarray(q, dtype=np.float64))
    out = np.empty((lo.shape[0], q.size))
    if weighted:
        ragged_weighted_quantiles(lo, length, np.asarray(counts, dtype=np.float64), vmin, vmax, q, out)
    else:
        ragged_quantiles(lo, length, np.asarray(counts, dtype=np.int64), vmin, vmax, q, out)
    return out


def _one_cell(first_bin, size, vmin, vmax):
    as_int = lambda v: np.array([v], dtype=np.int64)  # noqa: E731
    return as_int(first_bin), as_int(size), np.array([vmin], dtype=np.float64), np.array([vmax], dtype=np.float64)
