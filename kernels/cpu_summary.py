"""CPU target of the streaming summaries: :mod:`kernels.summary` compiled with ``numba.njit``.

:func:`accumulate_block` runs one block of scenarios into the per-cell statistics, in
parallel over cells (a cell is owned by one thread, so the result does not depend on the
thread count); :func:`fold_moments` folds block moments in block order on the host.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels import summary
from kernels._target import build

K = build(numba.njit(cache=False, error_model="numpy", inline="always"), [summary])
_gather_elements = K.gather_elements
_derive_cells = K.derive_cells
_accumulate_cell = K.accumulate_cell
_block_moments = K.block_moments
_moments_merge = K.moments_merge
hist_bin = K.hist_bin
hist_lower_edge = K.hist_lower_edge

SUB = 64  # scenarios per sub-tile: a cell's row is 512 B, one sub-tile of ~2000 cells ~1 MB


def new_tile(n_cells: int, count: int) -> np.ndarray:
    """Scratch space for :func:`accumulate_block` of up to ``count`` scenarios: [sub-tiles, cells, SUB]."""
    return np.empty(((count + SUB - 1) // SUB, n_cells, SUB))


@numba.njit(parallel=True, cache=True, error_model="numpy")
def accumulate_block(
    e, c, w, a, first, cell_var, cell_ptr, term_idx, thr_ptr, thr_value, tile, hist, thr_count, bmean, bm2, vmin, vmax, bad
):
    """Accumulate one block (the rows of ``e, c, w, a``, 2-D [scenario, element]) into every cell.

    Scenario ``i`` of the block is scenario ``first + i`` of the run.  ``tile`` is scratch
    space from :func:`new_tile`.  Writes the block's moments into ``bmean``/``bm2`` [cells];
    see :mod:`kernels.summary` for the rest.

    Two phases: every sub-tile of :data:`SUB` scenarios is transposed cell-major (parallel over
    sub-tiles; short rows keep the pages one pass touches few), then every cell folds all
    the block's values in scenario order (parallel over cells; one long visit per cell keeps
    its histogram's cache lines busy).  Each cell is folded by one thread in scenario order,
    so nothing depends on the thread count.
    """
    count = e.shape[0]
    n_cells = cell_var.shape[0]
    ts = tile.shape[2]
    n_sub = (count + ts - 1) // ts
    bits = tile.view(np.int64)
    for q in numba.prange(n_sub):
        m = min(ts, count - q * ts)
        _gather_elements(q * ts, m, 0, e, c, w, a, cell_var, cell_ptr, term_idx, tile[q])
        _derive_cells(0, m, cell_var, cell_ptr, term_idx, tile[q])
    shift = np.zeros(n_cells)
    s1 = np.zeros(n_cells)
    s2 = np.zeros(n_cells)
    nvalid = np.zeros(n_cells, dtype=np.int64)
    for k in numba.prange(n_cells):
        for q in range(n_sub):
            m = min(ts, count - q * ts)
            _accumulate_cell(
                k, tile[q, k, :m], bits[q, k, :m], first + q * ts, thr_ptr, thr_value, hist, thr_count,
                shift, s1, s2, nvalid, vmin, vmax, bad,
            )  # fmt: skip
        _block_moments(k, shift, s1, s2, nvalid, bmean, bm2)


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
def ragged_bins(hist, vmin, vmax):
    """The occupied bins of each cell (from the bins of its min and max), concatenated.

    Returns ``(lo, length, counts)``: cell ``k`` holds ``counts[sum(length[:k]):][:length[k]]``
    for bins ``lo[k] ...``; a cell that saw no value has length 0.
    """
    n_cells = hist.shape[0]
    lo = np.zeros(n_cells, dtype=np.int64)
    length = np.zeros(n_cells, dtype=np.int64)
    for k in range(n_cells):
        if vmin[k] <= vmax[k]:
            lo[k] = hist_bin(vmin[k])
            length[k] = hist_bin(vmax[k]) - lo[k] + 1
    counts = np.empty(length.sum(), dtype=hist.dtype)
    pos = 0
    for k in range(n_cells):
        for j in range(length[k]):
            counts[pos + j] = hist[k, lo[k] + j]
        pos += length[k]
    return lo, length, counts


@numba.njit(cache=True)
def add_ragged(hist, lo, length, counts):
    """Add ragged per-cell bins (as returned by :func:`ragged_bins`) into the dense ``hist``."""
    pos = 0
    for k in range(hist.shape[0]):
        for j in range(length[k]):
            hist[k, lo[k] + j] += counts[pos + j]
        pos += length[k]
