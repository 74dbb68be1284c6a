"""Merging block summaries on the host: the moment fold across blocks and the ragged histograms.

The CPU and GPU summary kernels (:mod:`kernels.cpu_summary`, :mod:`kernels.cuda_summary`) each
deliver a block's statistics; :mod:`engine.stats.state` and :mod:`engine.backends.host_summary`
fold them with these functions, block by block in block order (so the result does not depend on
the chunking), and ship a histogram as the occupied bins of each cell only (:func:`ragged_bins`).
"""

from __future__ import annotations

import numba
import numpy as np

from kernels import summary
from kernels._target import build

K = build(numba.njit(cache=False, error_model="numpy", inline="always"), [summary])
_moments_merge = K.moments_merge
hist_bin = K.hist_bin


@numba.njit(cache=True, error_model="numpy")
def ordered_sum(values, count):
    """``values[0] + values[1] + ... + values[count-1]`` in that order (a block's weight, as the moment fold adds it)."""
    total = 0.0
    for j in range(count):
        total += values[j]
    return total


@numba.njit(cache=True, error_model="numpy")
def fold_moments(n, mean, m2, block_n, bmean, bm2):
    """Fold block moments into the running (``n``, ``mean``, ``m2``) per cell, block by block.

    ``n`` [cells] float64 counts, ``mean``/``m2`` [cells] updated in place;
    ``block_n`` [blocks] scenarios per block; ``bmean``/``bm2`` [blocks, cells].
    The fold runs in block order, so it is the same whatever chunks delivered the blocks.
    """
    for b in range(block_n.shape[0]):
        nb = block_n[b]
        for k in range(n.shape[0]):
            n_k, mean_k, m2_k = _moments_merge(n[k], mean[k], m2[k], nb, bmean[b, k], bm2[b, k])
            n[k] = n_k
            mean[k] = mean_k
            m2[k] = m2_k


@numba.njit(cache=True)
def _offsets(length):
    """Start of each cell's run in the concatenated counts: the exclusive prefix sum of ``length``."""
    pos = np.empty(length.shape[0] + 1, dtype=np.int64)
    pos[0] = 0
    for k in range(length.shape[0]):
        pos[k + 1] = pos[k] + length[k]
    return pos


@numba.njit(parallel=True, cache=True)
def ragged_bins(hist, vmin, vmax):
    """The occupied bins of each cell (from the bins of its min and max), concatenated.

    Returns ``(lo, length, counts)``: cell ``k`` holds ``counts[sum(length[:k]):][:length[k]]``
    for bins ``lo[k] ...``; a cell that saw no value has length 0.  The copy runs over the cells
    in parallel (each writes its own run; integer counts, so no result depends on the threads):
    a chunk's histogram is tens of MB, merged once per chunk while the summary kernels wait.
    """
    n_cells = hist.shape[0]
    lo = np.zeros(n_cells, dtype=np.int64)
    length = np.zeros(n_cells, dtype=np.int64)
    for k in range(n_cells):
        if vmin[k] <= vmax[k]:
            lo[k] = hist_bin(vmin[k])
            length[k] = hist_bin(vmax[k]) - lo[k] + 1
    pos = _offsets(length)
    counts = np.empty(pos[n_cells], dtype=hist.dtype)
    for k in numba.prange(n_cells):
        for j in range(length[k]):
            counts[pos[k] + j] = hist[k, lo[k] + j]
    return lo, length, counts


@numba.njit(parallel=True, cache=True)
def add_ragged(hist, lo, length, counts):
    """Add ragged per-cell bins (as returned by :func:`ragged_bins`) into the dense ``hist``, cells in parallel."""
    pos = _offsets(length)
    for k in numba.prange(hist.shape[0]):
        for j in range(length[k]):
            hist[k, lo[k] + j] += counts[pos[k] + j]


@numba.njit(parallel=True, cache=True)
def clear_ragged(hist, lo, length):
    """Zero the bins of ``hist`` that :func:`ragged_bins` returned (so the array can be reused), cells in parallel."""
    for k in numba.prange(hist.shape[0]):
        for j in range(length[k]):
            hist[k, lo[k] + j] = 0
