"""Phase 1 of the CPU summaries: one sub-block of :data:`kernels.summary.SUB` scenarios, in a tile.

The per-sub-block pieces :mod:`kernels.cpu_summary` runs on each thread: the model's
scenario-major outputs transposed into a cell-major tile (:func:`_rows_into_tile`), the derived
cells summed from the element cells (:func:`_derive_subblock`, straight-line accumulators for a
full sub-block), and each cell reduced to the sub-block's count, mean, M2, min, max, exceedance
counts and a ``uint16`` histogram bin per value (:func:`_reduce_subblock`; weighted:
:func:`_row_stats_weighted` and :func:`_subblock_weights`), written into the block-wide bin
table laid out by :data:`GROUP` (scratch space: :class:`Scratch`).  Every function keeps the
bits of the one-cell definitions in :mod:`kernels.summary`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from kernels import likelihood, summary
from kernels._target import build
from kernels.summary import BIN_SKIP, SUB

K = build(numba.njit(cache=False, error_model="numpy", inline="always"), [summary, likelihood])
_derive_cells = K.derive_cells
_subblock_moments = K.subblock_moments
_hist_bin_bits = K.hist_bin_bits
_W_UNIT = 1.0 / likelihood.WEIGHT_SCALE

#: The derived cells of a full sub-block are summed 8 columns at a time (:func:`_derive_full_subblock`).
DERIVE_LANES = 8
if SUB % DERIVE_LANES:
    raise ImportError(f"kernels.summary.SUB = {SUB} must be a multiple of {DERIVE_LANES} (the derived cells' lanes)")


class Scratch:
    """Reusable scratch space of one block of up to ``count`` scenarios (see :func:`new_scratch`)."""

    def __init__(self, n_cells: int, n_thresholds: int, count: int):
        n_sub = (count + SUB - 1) // SUB
        n_groups = (n_cells + GROUP - 1) // GROUP
        # cell k, sub-block q: bins[k // GROUP, q, (k % GROUP) * SUB :][:SUB] (see GROUP)
        self.bins = np.empty((n_groups, n_sub, GROUP * SUB), dtype=np.uint16)
        self.sub_n = np.empty((n_sub, n_cells), dtype=np.int64)
        self.sub_mean = np.empty((n_sub, n_cells))
        self.sub_m2 = np.empty((n_sub, n_cells))
        self.sub_lo = np.empty((n_sub, n_cells))
        self.sub_hi = np.empty((n_sub, n_cells))
        self.sub_thr = np.empty((n_sub, max(n_thresholds, 1)), dtype=np.int64)
        self.wq = np.ones(count, dtype=np.int64)  # the block's quantised weights (engine.conditioning)
        self.sub_w = np.empty(n_sub)  # the weight of each sub-block

    def arrays(self) -> tuple:
        return self.bins, self.sub_n, self.sub_mean, self.sub_m2, self.sub_lo, self.sub_hi, self.sub_thr, self.wq, self.sub_w


def new_scratch(n_cells: int, n_thresholds: int, count: int) -> Scratch:
    """Scratch space for :func:`summarise_block`/:func:`accumulate_block` of up to ``count`` scenarios."""
    return Scratch(n_cells, n_thresholds, count)


GROUP = 64  # cells per 4 KiB page of the bin table: 64 cells x SUB scenarios x 2 bytes
"""The bin table is [cell group, sub-block, GROUP*SUB]: phase 1 writes one page per group and
sub-block, phase 2 reads a cell's sub-blocks from pages its group's other cells reuse, so
neither phase touches a new page per value (a plain [cell, scenario] table, or its
transpose, costs a TLB miss for every cell of every sub-block in one of the phases)."""
_BIN_TOP = summary.HIST_BINS - 1
_SHIFT = summary.HIST_BITS_SHIFT
_OFFSET = summary.HIST_BITS_OFFSET


@numba.njit(cache=True, error_model="numpy", inline="always")
def _row_stats(tile, bits, bins, k, g, q, c0, k0, m):
    """Shifted sums, min and max of ``tile[k, :m]``; its bins (:func:`kernels.summary.hist_bin_bits`
    as a clamp) into the bin table.  No finiteness checks: the caller checks the sums."""
    s1 = 0.0
    s2 = 0.0
    lo = k0
    hi = k0
    for j in range(m):
        v = tile[k, j]
        d = v - k0
        s1 += d
        s2 += d * d
        lo = min(lo, v)
        hi = max(hi, v)
        bins[g, q, c0 + j] = min(max((bits[k, j] >> _SHIFT) - _OFFSET, 0), _BIN_TOP)
    return s1, s2, lo, hi


@numba.njit(cache=True, error_model="numpy", inline="always")
def _row_stats_weighted(tile, bits, bins, wf, k, g, q, c0, k0, m):
    """:func:`_row_stats` with weights ``wf`` [m]: the weighted shifted sums Σw(x−K), Σw(x−K)²."""
    s1 = 0.0
    s2 = 0.0
    lo = k0
    hi = k0
    for j in range(m):
        v = tile[k, j]
        d = v - k0
        wd = wf[j] * d
        s1 += wd
        s2 += wd * d
        lo = min(lo, v)
        hi = max(hi, v)
        bins[g, q, c0 + j] = min(max((bits[k, j] >> _SHIFT) - _OFFSET, 0), _BIN_TOP)
    return s1, s2, lo, hi


@numba.njit(cache=True, error_model="numpy")
def _subblock_weights(q, m, wq, s0, wf, sub_w):
    """The float weights ``wf[:m]`` of sub-block ``q`` (``wq[s0:s0+m]`` in units of 2^-32) and their sum in order."""
    total = 0.0
    for j in range(m):
        wf[j] = wq[s0 + j] * _W_UNIT
        total += wf[j]
    sub_w[q] = total


@numba.njit(cache=True, error_model="numpy")
def _reduce_subblock(q, m, tile, thr_ptr, thr_value, bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr,
                     weighted, wf, sub_w, wq, s0):  # fmt: skip
    """Reduce sub-block ``q``, held in ``tile[:, :m]`` (cell-major), to its statistics and bins.

    The common case (every value finite) runs branch-free loops over the cell's row: the
    shifted sums of :func:`kernels.summary.subblock_moments` (the same operations in the same
    order, so the same bits), min, max, and the bins of
    :func:`kernels.summary.hist_bin_bits` as a clamp.  A row with a non-finite value (its
    sums are then not finite) takes the checked path: such values get :data:`BIN_SKIP` and
    are left out of every statistic.

    ``weighted``: the moments are weighted by ``wf`` (total ``sub_w[q]``) and the exceedance
    counts add the quantised weights ``wq[s0 + j]``; the bins are the same (the fold weights them).
    """
    bits = tile.view(np.int64)
    for t in range(sub_thr.shape[1]):
        sub_thr[q, t] = 0
    for k in range(tile.shape[0]):
        g = k // GROUP
        c0 = (k - g * GROUP) * SUB
        k0 = tile[k, 0]
        if weighted:
            s1, s2, lo, hi = _row_stats_weighted(tile, bits, bins, wf, k, g, q, c0, k0, m)
        elif m == SUB:  # a constant trip count once inlined: LLVM unrolls and vectorises the loop
            s1, s2, lo, hi = _row_stats(tile, bits, bins, k, g, q, c0, k0, SUB)
        else:  # the last (short) sub-block of a run
            s1, s2, lo, hi = _row_stats(tile, bits, bins, k, g, q, c0, k0, m)
        if math.isfinite(s2):
            n = m
            wn = sub_w[q] if weighted else float(n)
            if wn > 0.0:
                m2 = s2 - s1 * (s1 / wn)
                sub_mean[q, k] = k0 + s1 / wn
                sub_m2[q, k] = m2 if m2 > 0.0 else 0.0
            else:  # every weight 0: the sub-block adds nothing
                sub_mean[q, k] = 0.0
                sub_m2[q, k] = 0.0
        else:  # a non-finite value (or an overflow): the checked path
            row = tile[k]
            n, mean, m2 = _subblock_moments(row, m)
            sub_mean[q, k] = mean
            sub_m2[q, k] = m2
            lo = np.inf
            hi = -np.inf
            for j in range(m):
                v = row[j]
                if math.isfinite(v):
                    lo = min(lo, v)
                    hi = max(hi, v)
                    bins[g, q, c0 + j] = _hist_bin_bits(bits[k, j])
                else:
                    bins[g, q, c0 + j] = BIN_SKIP
        sub_n[q, k] = n
        sub_lo[q, k] = lo
        sub_hi[q, k] = hi
        for t in range(thr_ptr[k], thr_ptr[k + 1]):
            th = thr_value[t]
            c = 0
            if weighted:
                for j in range(m):
                    if tile[k, j] > th:
                        c += wq[s0 + j]
            else:
                for j in range(m):
                    if tile[k, j] > th:
                        c += 1
            sub_thr[q, t] = c


@numba.njit(cache=True, error_model="numpy", inline="always")
def _derive_full_subblock(cell_var, cell_ptr, term_idx, tile):
    """:func:`kernels.summary.derive_cells` of a full sub-block (``SUB`` columns), the same sums in
    the same order: each derived cell's 32 sums are held in 8 straight-line accumulators per pass
    of 8 columns, which LLVM packs into vector registers, so a term costs one vector load and add
    instead of a load, an add and a store per column (the generic loop's ``tile[k, j] +=``)."""
    for k in range(cell_var.shape[0]):
        if cell_var[k] != summary.VAR_CELLS:
            continue
        p0 = cell_ptr[k]
        p1 = cell_ptr[k + 1]
        for j0 in range(0, SUB, DERIVE_LANES):  # SUB % DERIVE_LANES == 0: checked at import
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            a4 = 0.0
            a5 = 0.0
            a6 = 0.0
            a7 = 0.0
            for t in range(p0, p1):
                src = term_idx[t]
                a0 += tile[src, j0]
                a1 += tile[src, j0 + 1]
                a2 += tile[src, j0 + 2]
                a3 += tile[src, j0 + 3]
                a4 += tile[src, j0 + 4]
                a5 += tile[src, j0 + 5]
                a6 += tile[src, j0 + 6]
                a7 += tile[src, j0 + 7]
            tile[k, j0] = a0
            tile[k, j0 + 1] = a1
            tile[k, j0 + 2] = a2
            tile[k, j0 + 3] = a3
            tile[k, j0 + 4] = a4
            tile[k, j0 + 5] = a5
            tile[k, j0 + 6] = a6
            tile[k, j0 + 7] = a7


@numba.njit(cache=True, error_model="numpy", inline="always")
def _derive_subblock(m, cell_var, cell_ptr, term_idx, tile):
    """The derived cells of sub-block tile columns ``0 .. m-1`` (:func:`kernels.summary.derive_cells`)."""
    if m == SUB:
        _derive_full_subblock(cell_var, cell_ptr, term_idx, tile)
    else:  # the last (short) sub-block of a run
        _derive_cells(0, m, cell_var, cell_ptr, term_idx, tile)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _rows_into_tile(rows, tile, off, m):
    """Copy scenario rows ``rows[:m]`` [scenario, element] into tile columns ``0 .. m-1`` of cells
    ``off ..`` (cell-major): the model writes one scenario's elements contiguously, and this
    transpose reads ``m`` rows in step, each cache line of them once, and writes the tile's
    rows whole.  (The model writing into the cell-major tile directly strode through L2 with
    every value: measured 16 % of a prior summary, ``benchmarks.scaleout --parts cost``.)"""
    for e in range(rows.shape[1]):
        for j in range(m):
            tile[off + e, j] = rows[j, e]
