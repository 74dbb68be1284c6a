"""Quantiles read from the ragged log-spaced histograms of a summary, every cell in one call.

The estimators are those of :mod:`engine.stats.quantiles` (which documents them and their error);
this is their only implementation.  They are compiled because a summary holds thousands of cells
(2,086 for the default config) and each finished summary reads three sets of levels (the
quantiles and the two ends of their Monte Carlo intervals): as NumPy calls per cell that was
~6,000 small calls, 1.2 s of every ``dcproj run --summary`` and of each storyline's summary.

The arithmetic is NumPy's, written out per value in the same order: the cumulative counts are
exact integers, the cumulative weights a sequential float64 sum as ``np.cumsum`` adds them, bin
edges by ``ldexp`` (exact), so the results are those of the per-cell NumPy code they replace
(``tests/test_quantile_kernels.py`` checks them bit for bit against it).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from kernels.summary import HIST_BINS, HIST_EXP_HI, HIST_EXP_LO, HIST_PER_OCTAVE

__all__ = ["ragged_quantiles", "ragged_weighted_quantiles", "bin_edges"]


@numba.njit(cache=True, inline="always")
def _clip(x, lo, hi):
    """``np.clip(x, lo, hi)`` for scalars (``min(max(x, lo), hi)``)."""
    return min(max(x, lo), hi)


@numba.njit(cache=True)
def bin_edges(b, vmin, vmax):
    """Lower and upper edge of histogram bin ``b``, clipped to [``vmin``, ``vmax``] [the cell's unit].

    Bin 0 holds values below ``2^HIST_EXP_LO`` (its lower edge is the cell's minimum), bin
    ``HIST_BINS - 1`` values from ``2^HIST_EXP_HI`` (its upper edge the maximum); the bins between
    are ``2^-HIST_SUB_BITS`` of an octave wide.
    """
    if b == 0:
        lower, upper = vmin, 2.0**HIST_EXP_LO
    elif b == HIST_BINS - 1:
        lower, upper = 2.0**HIST_EXP_HI, vmax
    else:
        j = b - 1
        lower = math.ldexp(1.0 + (j % HIST_PER_OCTAVE) / HIST_PER_OCTAVE, HIST_EXP_LO + j // HIST_PER_OCTAVE)
        upper = math.ldexp(1.0 + (b % HIST_PER_OCTAVE) / HIST_PER_OCTAVE, HIST_EXP_LO + b // HIST_PER_OCTAVE)
    return _clip(lower, vmin, vmax), _clip(upper, vmin, vmax)


@numba.njit(cache=True, inline="always")
def _bin_above(cum, start, size, rank):
    """The first bin ``i`` in ``[0, size)`` with ``cum[start + i] > rank`` (``np.searchsorted(side='right')``)."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[start + mid] <= rank:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, inline="always")
def _bin_reaching(cum, start, size, target):
    """The first bin ``i`` in ``[0, size)`` with ``cum[start + i] >= target`` (``np.searchsorted(side='left')``)."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[start + mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def _cell_starts(length):
    """Where each cell's bins start in the concatenated ragged counts: the running sum of ``length``."""
    starts = np.zeros(length.shape[0], dtype=np.int64)
    for k in range(1, length.shape[0]):
        starts[k] = starts[k - 1] + length[k - 1]
    return starts


@numba.njit(cache=True)
def _order_statistic(counts, cum, start, size, first_bin, n, rank, vmin, vmax):
    """Order statistic ``rank`` (0-based) of the ``n`` values binned in one cell, placed by rank inside its bin."""
    b = _bin_above(cum, start, size, rank)
    c = counts[start + b]
    before = cum[start + b] - c
    lower, upper = bin_edges(first_bin + b, vmin, vmax)
    if rank == 0:
        return vmin
    if rank == n - 1:
        return vmax
    return lower + (rank - before + 0.5) / c * (upper - lower)


@numba.njit(cache=True, parallel=True)
def ragged_quantiles(lo, length, counts, vmin, vmax, q, out):
    """Quantiles ``q`` of every cell of a ragged histogram of counts (NumPy's linear rule).

    Parameters
    ----------
    lo, length : int64 [cells]
        First bin and number of bins of each cell (:func:`kernels.cpu_merge.ragged_bins`).
    counts : int64 [sum(length)]
        The cells' bin counts, concatenated.
    vmin, vmax : float64 [cells]
        Each cell's exact minimum and maximum [the cell's unit].
    q : float64 [levels]
        Levels in [0, 1].
    out : float64 [cells, levels]
        Receives the quantiles [the cell's unit]; NaN for a cell that saw no value.

    Order statistic ``i`` lies at ``lower + (i - before + ½)/c·(upper - lower)`` of its bin (``c``
    values in it, ``before`` in earlier bins), the first and last at the exact min and max; the
    quantile at ``q`` interpolates linearly between statistics ``⌊q(n−1)⌋`` and the next.
    """
    n_cells = lo.shape[0]
    starts = _cell_starts(length)
    cum = np.empty(counts.shape[0], dtype=np.int64)
    for k in numba.prange(n_cells):
        s, size = starts[k], length[k]
        total = 0
        for i in range(size):
            total += counts[s + i]
            cum[s + i] = total
        for t in range(q.shape[0]):
            if total == 0:
                out[k, t] = np.nan
                continue
            h = q[t] * (total - 1)
            j = np.int64(math.floor(h))
            frac = h - j
            x0 = _order_statistic(counts, cum, s, size, lo[k], total, j, vmin[k], vmax[k])
            x1 = _order_statistic(counts, cum, s, size, lo[k], total, min(j + 1, total - 1), vmin[k], vmax[k])
            out[k, t] = _clip(x0 + frac * (x1 - x0), vmin[k], vmax[k])


@numba.njit(cache=True, parallel=True)
def ragged_weighted_quantiles(lo, length, weights, vmin, vmax, q, out):
    """Weighted quantiles ``q`` of every cell of a ragged histogram of weight sums.

    As :func:`ragged_quantiles`, with ``weights`` float64 [sum(length)] the weight in each bin
    (any unit: only ratios matter).  The level-``p`` quantile is the smallest value whose
    cumulative weight reaches ``p W``; it lies in the first bin where the cumulative weight
    reaches ``p W`` (level 0: the first bin with weight), and the estimate interpolates linearly
    in weight across that bin, clipped to the exact min and max.  NaN for a cell with no weight.
    """
    n_cells = lo.shape[0]
    starts = _cell_starts(length)
    cum = np.empty(weights.shape[0], dtype=np.float64)
    for k in numba.prange(n_cells):
        s, size = starts[k], length[k]
        total = 0.0
        first_weighted = -1
        for i in range(size):
            total += weights[s + i]
            cum[s + i] = total
            if first_weighted < 0 and weights[s + i] > 0:
                first_weighted = i
        for t in range(q.shape[0]):
            if size == 0 or not total > 0.0:
                out[k, t] = np.nan
                continue
            target = q[t] * total
            if q[t] <= 0.0:
                b = max(first_weighted, 0)
            else:
                b = min(_bin_reaching(cum, s, size, target), size - 1)
            c = weights[s + b]
            before = cum[s + b] - c
            lower, upper = bin_edges(lo[k] + b, vmin[k], vmax[k])
            frac = _clip((target - before) / c, 0.0, 1.0) if c > 0 else 0.0
            out[k, t] = _clip(lower + frac * (upper - lower), vmin[k], vmax[k])
