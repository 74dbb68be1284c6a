"""CPU target of the streaming summaries: :mod:`kernels.summary` compiled with ``numba.njit``.

A block of :data:`kernels.summary.SUB`-scenario sub-blocks is summarised in two parallel phases:

1. **per sub-block** (threads take sub-blocks round-robin): the sub-block's scenarios are
   sampled and projected into thread-local buffers (:func:`summarise_block`; or read from
   given arrays, :func:`accumulate_block`), gathered cell-major into a small tile
   (:func:`kernels.summary.gather_cells`; the tile stays in L2), and reduced per cell to the
   sub-block's count, mean, M2 (:func:`kernels.summary.subblock_moments`), min, max and
   exceedance counts; each value's histogram bin is written as a ``uint16`` into a block-wide,
   cell-major bin table (2 bytes per value instead of the 8 of a float64 tile);
2. **per cell** (threads take groups of cells): the cells' bins are counted into their histogram rows in
   scenario order (one long visit keeps the row's cache lines busy), and its sub-block
   moments are folded with :func:`kernels.summary.moments_merge` in sub-block order.

Nothing depends on the thread count: every sub-block is reduced whole by one thread, every
cell folded by one thread in a fixed order, and the counts are integers.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from kernels import columns, distributions, likelihood, model, philox, sampling, special, summary
from kernels._target import build
from kernels.cpu_sampling import build_inlined, new_block_scratch, sample_block
from kernels.summary import BIN_SKIP, SUB

K = build(numba.njit(cache=False, error_model="numpy", inline="always"), [summary, likelihood])
_gather_elements = K.gather_elements
_derive_cells = K.derive_cells
_subblock_moments = K.subblock_moments
_moments_merge = K.moments_merge
_hist_bin_bits = K.hist_bin_bits
hist_bin = K.hist_bin
hist_lower_edge = K.hist_lower_edge
_tile_ll = K.tile_log_likelihood
_vintage_ll = K.vintage_log_likelihood
_quantised_weight = K.quantised_weight
M = build_inlined([philox, special, distributions, model, sampling])
_project_scenario = M.project_scenario
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


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _fold_cells(count, first, thr_ptr, bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr,
                hist, thr_count, bmean, bm2, vmin, vmax, bad, weighted, wq, sub_w):  # fmt: skip
    """Phase 2: count each cell's bins into its histogram row (adding the quantised weights
    ``wq`` when ``weighted``); fold its sub-block statistics.

    Threads take groups of :data:`GROUP` cells; a group's bins are read page by page in the
    bin table's order (sub-block outer, its cells inner), so the reads stream through memory
    while the group's histogram rows stay in cache.  The counts are integers, so the order of
    the increments does not change them; each cell's moments are folded in sub-block order.
    """
    n_sub = (count + SUB - 1) // SUB
    n_cells = hist.shape[0]
    for g in numba.prange(bins.shape[0]):
        k_lo = g * GROUP
        k_hi = min(n_cells, k_lo + GROUP)
        for q in range(n_sub):
            m = min(SUB, count - q * SUB)
            for k in range(k_lo, k_hi):
                c0 = (k - k_lo) * SUB
                if weighted:
                    for j in range(m):
                        b = bins[g, q, c0 + j]
                        if b == BIN_SKIP:
                            bad[k] = min(bad[k], first + q * SUB + j)
                        else:
                            hist[k, b] += wq[q * SUB + j]
                elif sub_n[q, k] == SUB:
                    for j in range(SUB):
                        hist[k, bins[g, q, c0 + j]] += 1
                else:  # a short sub-block, or non-finite values: skip those, note the first
                    for j in range(m):
                        b = bins[g, q, c0 + j]
                        if b == BIN_SKIP:
                            bad[k] = min(bad[k], first + q * SUB + j)
                        else:
                            hist[k, b] += 1
        for k in range(k_lo, k_hi):
            n = 0.0
            mean = 0.0
            m2 = 0.0
            lo = vmin[k]
            hi = vmax[k]
            for q in range(n_sub):
                nq = sub_w[q] if weighted else float(sub_n[q, k])
                n, mean, m2 = _moments_merge(n, mean, m2, nq, sub_mean[q, k], sub_m2[q, k])
                lo = min(lo, sub_lo[q, k])
                hi = max(hi, sub_hi[q, k])
            bmean[k] = mean
            bm2[k] = m2
            vmin[k] = lo
            vmax[k] = hi
            for t in range(thr_ptr[k], thr_ptr[k + 1]):
                c = 0
                for q in range(n_sub):
                    c += sub_thr[q, t]
                thr_count[t] += c


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


@numba.njit(parallel=True, cache=True, error_model="numpy")
def summarise_block(
    seed, first, count, kinds, params, keys, corr_index, factor, n_regions, n_years,
    cell_var, cell_ptr, term_idx, thr_ptr, thr_value, elem_off,
    obs_src, obs_cell, obs_prev, obs_year, obs_form, obs_par,
    bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr, wq, sub_w,
    hist, thr_count, bmean, bm2, vmin, vmax, bad, n_thr,
):  # fmt: skip
    """Sample, project and summarise scenarios ``first .. first+count-1`` (one moment block).

    The fused CPU path of a summary run: no array of the block's outputs exists, only one
    sub-block's outputs per thread (scenario-major, as the model writes them) and its tile,
    into which they are transposed (``elem_off``: the first cell of electricity, carbon,
    water and installed accelerators, whose element cells are laid out in the cube's C
    order); the derived cells are then summed from them.  Histogram rows ``hist``
    [cells, HIST_BINS], exceedance counts, ``vmin``/``vmax`` and ``bad`` (first non-finite
    scenario per cell) are updated; the block's moments are written into ``bmean``/``bm2``
    [cells].  Scratch from
    :func:`new_scratch`; ``n_thr`` threads take sub-blocks round-robin.

    With observations (``obs_*``, :mod:`kernels.likelihood`; none: unweighted) each scenario's
    log-likelihood is computed from its deployments and its tile column, its quantised weight
    written to ``wq[scenario - first]``, and every statistic is weighted.
    """
    weighted = obs_src.shape[0] > 0
    n_in = kinds.shape[0]
    n_cells = cell_var.shape[0]
    nc = columns.N_COMPONENTS
    n_elem = n_years * n_regions * nc
    n_sub = (count + SUB - 1) // SUB
    for t in numba.prange(n_thr):
        x = np.empty((SUB, n_in))
        ts, zs = new_block_scratch(n_in, corr_index.shape[0], SUB)
        ship = np.empty(n_years)
        power = np.empty(n_years)
        survive = np.empty(n_years)
        stock = np.empty(n_years)
        tile = np.empty((n_cells, SUB))
        # the model's outputs, scenario-major (one scenario's elements contiguous), then transposed into the tile
        se = np.empty((SUB, n_years, n_regions, nc))
        sc = np.empty((SUB, n_years, n_regions, nc))
        sw = np.empty((SUB, n_years, n_regions, nc, 2))
        sa = np.empty((SUB, n_years, n_regions))
        llv = np.zeros(SUB)
        wf = np.empty(SUB)
        for q in range(t, n_sub, n_thr):
            s0 = q * SUB
            m = min(SUB, count - s0)
            sample_block(seed, first + s0, m, kinds, params, keys, corr_index, factor, ts, zs, x)
            for j in range(m):
                _project_scenario(x[j], n_regions, n_years, ship, power, survive, stock, se[j], sc[j], sw[j], sa[j])
                if weighted:
                    llv[j] = _vintage_ll(ship, power, obs_src, obs_year, obs_form, obs_par)
            _rows_into_tile(se.reshape((SUB, n_elem)), tile, elem_off[0], m)
            _rows_into_tile(sc.reshape((SUB, n_elem)), tile, elem_off[1], m)
            _rows_into_tile(sw.reshape((SUB, 2 * n_elem)), tile, elem_off[2], m)
            _rows_into_tile(sa.reshape((SUB, n_years * n_regions)), tile, elem_off[3], m)
            _derive_subblock(m, cell_var, cell_ptr, term_idx, tile)
            if weighted:
                for j in range(m):
                    wq[s0 + j] = _quantised_weight(_tile_ll(llv[j], tile, j, obs_src, obs_cell, obs_prev, obs_form, obs_par))
                _subblock_weights(q, m, wq, s0, wf, sub_w)
            _reduce_subblock(q, m, tile, thr_ptr, thr_value, bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr,
                             weighted, wf, sub_w, wq, s0)  # fmt: skip
    _fold_cells(count, first, thr_ptr, bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr,
                hist, thr_count, bmean, bm2, vmin, vmax, bad, weighted, wq, sub_w)  # fmt: skip


@numba.njit(parallel=True, cache=True, error_model="numpy")
def accumulate_block(
    e, c, w, a, first, weighted, cell_var, cell_ptr, term_idx, thr_ptr, thr_value,
    bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr, wq, sub_w,
    hist, thr_count, bmean, bm2, vmin, vmax, bad, n_thr,
):  # fmt: skip
    """Summarise one block whose outputs are given (the rows of ``e, c, w, a``, 2-D [scenario,
    element]; scenario ``i`` is scenario ``first + i`` of the run): the same statistics, bit
    for bit, as :func:`summarise_block` given the same values.  Used by backends that project
    whole arrays (the NumPy reference) and by the tests.  ``weighted``: ``wq[:count]`` holds
    the scenarios' quantised weights (:func:`scenario_weights`).
    """
    count = e.shape[0]
    n_cells = cell_var.shape[0]
    n_sub = (count + SUB - 1) // SUB
    for t in numba.prange(n_thr):
        tile = np.empty((n_cells, SUB))
        wf = np.empty(SUB)
        for q in range(t, n_sub, n_thr):
            s0 = q * SUB
            m = min(SUB, count - s0)
            _gather_elements(s0, m, 0, e, c, w, a, cell_var, cell_ptr, term_idx, tile)
            _derive_subblock(m, cell_var, cell_ptr, term_idx, tile)
            if weighted:
                _subblock_weights(q, m, wq, s0, wf, sub_w)
            _reduce_subblock(q, m, tile, thr_ptr, thr_value, bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr,
                             weighted, wf, sub_w, wq, s0)  # fmt: skip
    _fold_cells(count, first, thr_ptr, bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr,
                hist, thr_count, bmean, bm2, vmin, vmax, bad, weighted, wq, sub_w)  # fmt: skip
