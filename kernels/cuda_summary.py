"""CUDA target, summaries: the statistics of a ``--summary`` run computed on the device.

The accumulation of :mod:`kernels.summary` (the same :func:`kernels._target.kernel` functions as
:mod:`kernels.cpu_summary`), compiled as device functions.  A chunk is summarised on the
device in batches of whole summary blocks: :func:`kernels.cuda.sample_project_kernel` projects
the batch (float64), :func:`summary_gather_kernel` writes every cell's value (one thread per
scenario, cell-major tile), :func:`summary_accumulate_kernel` folds each cell (one thread per
cell, owning its histogram row, exceedance counts, min, max and running moments, as a prange
iteration does on the CPU) block by block in scenario order.  Only the statistics leave the
device.

Weighted summaries (a config with observations) take the same steps with the weights of
:mod:`kernels.likelihood`: :func:`sample_project_ll_kernel` adds each scenario's vintage terms
(from the deployments its projection leaves in the ship/power scratch),
:func:`summary_gather_weigh_kernel` adds the cell terms from the scenario's tile column and
quantises the weight (units of 2^-32), :func:`summary_weights_kernel` forms each block's
weight sums and :func:`summary_accumulate_weighted_kernel` the weighted statistics, in the
CPU's order (:mod:`kernels.cpu_summary`: sub-blocks of SUB scenarios, folded in order).

One restatement: the weighted sub-block reduction (:func:`_weighted_subblock_moments` and its
neighbours) repeats, in the same operations and order, what :mod:`kernels.cpu_summary` writes
as CPU-only numba code (not as :func:`kernels._target.kernel` functions the device could share).

Importing this module compiles nothing and needs no GPU (as :mod:`kernels.cuda`).
"""

from __future__ import annotations

import functools
import math

import numba
from numba import cuda

from kernels import _cuda_builtins, likelihood, summary
from kernels._target import build
from kernels.cuda import MAX_CORR, MAX_YEARS, _project_scenario, _sample_scenario

__all__ = [
    "summary_gather_kernel",
    "summary_accumulate_kernel",
    "sample_project_ll_kernel",
    "summary_gather_weigh_kernel",
    "summary_weights_kernel",
    "summary_accumulate_weighted_kernel",
]

_f64 = numba.float64
S = build(functools.partial(cuda.jit, device=True), [_cuda_builtins, summary, likelihood])
_gather_cells = S.gather_cells
_accumulate_cell = S.accumulate_cell
_accumulate_cell_weighted = S.accumulate_cell_weighted
_block_moments = S.block_moments
_moments_merge = S.moments_merge
_vintage_ll = S.vintage_log_likelihood
_tile_ll = S.tile_log_likelihood
_quantised_weight = S.quantised_weight
_SUB = summary.SUB
#: One unit of a quantised weight (2^-32, exact in float64: a quantised weight times it is exact).
_W_UNIT = 1.0 / likelihood.WEIGHT_SCALE


@cuda.jit
def summary_gather_kernel(e, c, w, a, cell_var, cell_ptr, term_idx, tile):
    """``tile[k, j]`` = value of cell ``k`` in scenario row ``j`` of ``e, c, w, a`` (2-D, float64)."""
    j = cuda.grid(1)
    stride = cuda.gridsize(1)
    while j < tile.shape[1]:
        _gather_cells(j, 1, j, e, c, w, a, cell_var, cell_ptr, term_idx, tile)
        j += stride


@cuda.jit
def summary_accumulate_kernel(tile, bits, block_len, first, thr_ptr, thr_value, hist, thr_count,
                              vmin, vmax, bad, bmean, bm2, block0):
    """Fold the tile's scenarios (run scenarios ``first ..``) into every cell, one thread per cell.

    The tile holds consecutive summary blocks of ``block_len`` scenarios (the last may be
    shorter); block ``b`` of the tile closes into ``bmean[block0 + b]``/``bm2[block0 + b]``.
    """
    k = cuda.grid(1)
    stride = cuda.gridsize(1)
    width = tile.shape[1]
    n_blocks = (width + block_len - 1) // block_len
    while k < tile.shape[0]:
        for b in range(n_blocks):
            lo = b * block_len
            hi = lo + block_len
            if hi > width:
                hi = width
            _accumulate_cell(k, tile[k, lo:hi], bits[k, lo:hi], first + lo, thr_ptr, thr_value, hist, thr_count,
                             vmin, vmax, bad)
            mean, m2 = _block_moments(tile[k, lo:hi], hi - lo)
            bmean[block0 + b, k] = mean
            bm2[block0 + b, k] = m2
        k += stride


@cuda.jit
def sample_project_ll_kernel(seed, start, kinds, params, keys, corr_index, factor, n_regions, n_years,
                             obs_src, obs_year, obs_form, obs_par, x, out_e, out_c, out_w, out_n, ll):  # fmt: skip
    """:func:`sample_project_kernel`, and ``ll[s]`` [1] = the scenario's vintage log-likelihood.

    The terms of the shipment and accelerator-power observations (``obs_*``,
    :mod:`engine.conditioning.tables`), from the deployments [M] and vintage power [W] that
    the projection leaves in its ``ship``/``power`` scratch, as
    :func:`kernels.cpu_summary.summarise_block` reads them; the cell terms follow in
    :func:`summary_gather_weigh_kernel`.
    """
    z = cuda.local.array(MAX_CORR, _f64)
    ship = cuda.local.array(MAX_YEARS, _f64)
    power = cuda.local.array(MAX_YEARS, _f64)
    survive = cuda.local.array(MAX_YEARS, _f64)
    stock = cuda.local.array(MAX_YEARS, _f64)
    s = cuda.grid(1)
    stride = cuda.gridsize(1)
    while s < x.shape[0]:
        row = x[s]
        _sample_scenario(seed, start + s, kinds, params, keys, corr_index, factor, z, row)
        _project_scenario(row, n_regions, n_years, ship, power, survive, stock, out_e[s], out_c[s], out_w[s], out_n[s])
        ll[s] = _vintage_ll(ship, power, obs_src, obs_year, obs_form, obs_par)
        s += stride


@cuda.jit
def summary_gather_weigh_kernel(e, c, w, a, cell_var, cell_ptr, term_idx, obs_src, obs_cell, obs_prev, obs_form, obs_par,
                                ll, tile, wq):  # fmt: skip
    """:func:`summary_gather_kernel`, and each scenario's quantised weight ``wq[j]`` [2^-32].

    Thread ``j`` gathers tile column ``j``, then adds the terms of the cell observations
    read from that column to the vintage terms ``ll[j]`` (:func:`sample_project_ll_kernel`)
    and quantises ``exp(ll)``: the terms and their order of the CPU's fused summary.
    """
    j = cuda.grid(1)
    stride = cuda.gridsize(1)
    while j < tile.shape[1]:
        _gather_cells(j, 1, j, e, c, w, a, cell_var, cell_ptr, term_idx, tile)
        wq[j] = _quantised_weight(_tile_ll(ll[j], tile, j, obs_src, obs_cell, obs_prev, obs_form, obs_par))
        j += stride


@cuda.jit(device=True)
def _subblock_weight(wq, lo, hi):
    """Σ w of scenarios ``lo .. hi-1`` [1], w = ``wq`` x 2^-32, added in scenario order
    (:func:`kernels.cpu_subblock._subblock_weights`)."""
    total = 0.0
    for j in range(lo, hi):
        total += wq[j] * _W_UNIT
    return total


@cuda.jit(device=True)
def _block_weight(wq, lo, hi):
    """The weight [1] of the block of scenarios ``lo .. hi-1`` as the moment fold adds it: the
    weights of its sub-blocks of :data:`kernels.summary.SUB` scenarios, summed in sub-block
    order (``kernels.cpu_merge.ordered_sum`` of the CPU's sub-block weights)."""
    total = 0.0
    for q0 in range(lo, hi, _SUB):
        q1 = q0 + _SUB
        if q1 > hi:
            q1 = hi
        total += _subblock_weight(wq, q0, q1)
    return total


@cuda.jit(device=True)
def _weight_sums(wq, lo, hi):
    """``(Σ wq, Σ w²)`` of scenarios ``lo .. hi-1``: the integer sum [2^-32] and the float sum
    of squares [1] in scenario order (:func:`kernels.cpu_likelihood.weight_sums`)."""
    w1 = 0
    w2 = 0.0
    for j in range(lo, hi):
        w1 += wq[j]
        f = wq[j] * _W_UNIT
        w2 += f * f
    return w1, w2


@cuda.jit
def summary_weights_kernel(wq, block_len, block_n, block_w1, block_w2, block0):
    """Weight sums of the batch's summary blocks, one thread per block.

    ``wq`` [batch] holds the quantised weights of consecutive blocks of ``block_len``
    scenarios (the last may be shorter); block ``b`` writes ``block_n[block0 + b]`` (its
    weight as the moment fold adds it, :func:`_block_weight`), ``block_w1[block0 + b]``
    (Σ wq [2^-32]) and ``block_w2[block0 + b]`` (Σ w² [1]).
    """
    b = cuda.grid(1)
    stride = cuda.gridsize(1)
    width = wq.shape[0]
    n_blocks = (width + block_len - 1) // block_len
    while b < n_blocks:
        lo = b * block_len
        hi = lo + block_len
        if hi > width:
            hi = width
        block_n[block0 + b] = _block_weight(wq, lo, hi)
        w1, w2 = _weight_sums(wq, lo, hi)
        block_w1[block0 + b] = w1
        block_w2[block0 + b] = w2
        b += stride


@cuda.jit(device=True)
def _weighted_subblock_moments(values, wq, m):
    """``(w, mean, M2)`` of the finite values among ``values[0:m]`` weighted by ``wq[0:m]`` x 2^-32.

    The shifted sums of the CPU's weighted sub-block (``kernels.cpu_subblock._row_stats_weighted``
    and ``_reduce_subblock``), in the same order: with ``K`` the first finite value and
    ``wd = w·(x−K)``, ``s1 = Σ wd`` and ``s2 = Σ wd·(x−K)`` give ``mean = K + s1/Σw`` and
    ``M2 = s2 − s1·(s1/Σw)`` (clamped at 0); a sub-block of weight 0 gives ``(0, 0, 0)``.
    ``w`` is Σ w of the finite values in order: the CPU's sub-block weight when all are finite.
    """
    k0 = 0.0
    started = False
    s1 = 0.0
    s2 = 0.0
    wn = 0.0
    for j in range(m):
        v = values[j]
        if not math.isfinite(v):
            continue
        if not started:
            k0 = v
            started = True
        wf = wq[j] * _W_UNIT
        d = v - k0
        wd = wf * d
        s1 += wd
        s2 += wd * d
        wn += wf
    if not wn > 0.0:
        return 0.0, 0.0, 0.0
    m2 = s2 - s1 * (s1 / wn)
    return wn, k0 + s1 / wn, m2 if m2 > 0.0 else 0.0


@cuda.jit(device=True)
def _weighted_block_moments(values, wq, count):
    """Weighted ``(mean, M2)`` of ``values[0:count]`` (one summary block): the
    :func:`_weighted_subblock_moments` of each :data:`kernels.summary.SUB` values, folded in
    order with :func:`kernels.summary.moments_merge` by their weights (the CPU's ``_fold_cells``)."""
    n = 0.0
    mean = 0.0
    m2 = 0.0
    for q in range((count + _SUB - 1) // _SUB):
        lo = q * _SUB
        m = count - lo
        if m > _SUB:
            m = _SUB
        wb, mq, m2q = _weighted_subblock_moments(values[lo:], wq[lo:], m)
        n, mean, m2 = _moments_merge(n, mean, m2, wb, mq, m2q)
    return mean, m2


@cuda.jit
def summary_accumulate_weighted_kernel(tile, bits, wq, block_len, first, thr_ptr, thr_value, hist, thr_count,
                                       vmin, vmax, bad, bmean, bm2, block0):  # fmt: skip
    """:func:`summary_accumulate_kernel` weighted by the scenarios' quantised weights ``wq`` [2^-32].

    One thread per cell: its histogram row (``int64``, Σ wq per bin) and exceedance sums
    (:func:`kernels.summary.accumulate_cell_weighted`), min, max, and per block of ``block_len`` scenarios
    the weighted moments (:func:`_weighted_block_moments`) into ``bmean[block0 + b]`` and
    ``bm2[block0 + b]`` (M2 = Σ w·(x − mean)², the weights in [0, 1]).
    """
    k = cuda.grid(1)
    stride = cuda.gridsize(1)
    width = tile.shape[1]
    n_blocks = (width + block_len - 1) // block_len
    while k < tile.shape[0]:
        for b in range(n_blocks):
            lo = b * block_len
            hi = lo + block_len
            if hi > width:
                hi = width
            _accumulate_cell_weighted(k, tile[k, lo:hi], bits[k, lo:hi], wq[lo:hi], first + lo, thr_ptr, thr_value, hist,
                                      thr_count, vmin, vmax, bad)  # fmt: skip
            mean, m2 = _weighted_block_moments(tile[k, lo:hi], wq[lo:hi], hi - lo)
            bmean[block0 + b, k] = mean
            bm2[block0 + b, k] = m2
        k += stride
