"""CPU target of the streaming summaries: :mod:`kernels.summary` compiled with ``numba.njit``.

A block of :data:`kernels.summary.SUB`-scenario sub-blocks is summarised in two parallel phases:

1. **per sub-block** (threads take sub-blocks round-robin; the pieces are in
   :mod:`kernels.cpu_subblock`): the sub-block's scenarios are
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

import numba
import numpy as np

from kernels import columns, distributions, model, philox, sampling, special
from kernels.cpu_sampling import build_inlined, new_block_scratch, sample_block
from kernels.cpu_subblock import (  # noqa: F401  (Scratch, new_scratch, DERIVE_LANES, GROUP: the summary kernels' API)
    DERIVE_LANES,
    GROUP,
    K,
    Scratch,
    _derive_subblock,
    _reduce_subblock,
    _rows_into_tile,
    _subblock_weights,
    new_scratch,
)
from kernels.summary import BIN_SKIP, SUB

_gather_elements = K.gather_elements
_derive_cells = K.derive_cells
_moments_merge = K.moments_merge
hist_bin = K.hist_bin
hist_lower_edge = K.hist_lower_edge
_tile_ll = K.tile_log_likelihood
_vintage_ll = K.vintage_log_likelihood
_quantised_weight = K.quantised_weight

M = build_inlined([philox, special, distributions, model, sampling])
_project_scenario = M.project_scenario


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
