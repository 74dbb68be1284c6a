"""CPU target: the kernel arithmetic compiled with ``numba.njit``, driven by parallel loops.

Scenarios are processed in blocks of :data:`THREAD_BLOCK` (``prange`` over blocks): each block
allocates its scratch space once and writes a contiguous slab of the outputs, so threads
never share cache lines and the result does not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels import distributions, model, philox, sampling, special
from kernels.cpu_likelihood import _quantised_weight, _vintage_ll, cell_log_likelihood, n_vintages_observed
from kernels.cpu_sampling import build_inlined, new_block_scratch, sample_block

THREAD_BLOCK = 256  # scenarios per parallel task of a full-cube chunk

K = build_inlined([philox, special, distributions, model, sampling])
_sample_scenario = K.sample_scenario
_project_scenario = K.project_scenario


@numba.njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def sample_inputs(seed, start, kinds, params, keys, corr_index, factor, out):
    """Fill ``out`` [count, n_inputs] with the inputs of scenarios ``start .. start+count-1``
    (input-major blocks, :mod:`kernels.cpu_sampling`)."""
    count = out.shape[0]
    n_blocks = (count + THREAD_BLOCK - 1) // THREAD_BLOCK
    for b in numba.prange(n_blocks):
        t, z = new_block_scratch(kinds.shape[0], corr_index.shape[0], THREAD_BLOCK)
        s0 = b * THREAD_BLOCK
        m = min(count, s0 + THREAD_BLOCK) - s0
        sample_block(seed, start + s0, m, kinds, params, keys, corr_index, factor, t, z, out[s0 : s0 + m])


@numba.njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def project(x, n_regions, n_years, out_e, out_c, out_w, out_n):
    """Evaluate the model for every row of ``x`` [count, n_inputs] into the output arrays."""
    count = x.shape[0]
    n_blocks = (count + THREAD_BLOCK - 1) // THREAD_BLOCK
    for b in numba.prange(n_blocks):
        ship = np.empty(n_years)
        power = np.empty(n_years)
        survive = np.empty(n_years)
        stock = np.empty(n_years)
        for s in range(b * THREAD_BLOCK, min(count, (b + 1) * THREAD_BLOCK)):
            _project_scenario(x[s], n_regions, n_years, ship, power, survive, stock, out_e[s], out_c[s], out_w[s], out_n[s])


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _any_nonfinite(row):
    """Whether the 1-D ``row`` holds a NaN or an infinity: Σ (v − v) is 0 for finite values and NaN
    otherwise.  The sum of zeros (or NaNs) is the same in any order, so reassociation is allowed
    here (and only here): it lets LLVM vectorise the pass over a row still in L1."""
    acc = row[0] - row[0]
    for j in range(row.shape[0]):
        acc += row[j] - row[j]
    return acc != 0.0


@numba.njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def project_checked(x, n_regions, n_years, out_e, out_c, out_w, out_n, cell_var, cell_ptr, term_idx,
                    obs_src, obs_cell, obs_prev, obs_year, obs_form, obs_par, ll, wq, first_bad):  # fmt: skip
    """:func:`project`, checking each scenario's inputs and outputs while they are in cache, and
    weighing it when there are observations (``obs_*``; none: ``ll``/``wq`` untouched).

    ``first_bad`` [blocks of THREAD_BLOCK] is set to the first scenario of each block with a NaN
    or infinity among its inputs or outputs, -1 if none.  ``ll`` [count] and ``wq`` [count] get
    what :func:`kernels.cpu_likelihood.scenario_weights` computes from the stored outputs (the
    same terms in the same order, read back from the arrays as stored, float32 or float64), so
    the weights are those of the file's values.  The output arrays must be C-contiguous.
    """
    count = x.shape[0]
    n_blocks = (count + THREAD_BLOCK - 1) // THREAD_BLOCK
    n_fill = n_vintages_observed(obs_src, obs_year)
    weighted = obs_src.shape[0] > 0
    e2 = out_e.reshape((count, out_e.size // max(count, 1)))
    c2 = out_c.reshape((count, out_c.size // max(count, 1)))
    w2 = out_w.reshape((count, out_w.size // max(count, 1)))
    a2 = out_n.reshape((count, out_n.size // max(count, 1)))
    for b in numba.prange(n_blocks):
        ship = np.empty(n_years)
        power = np.empty(n_years)
        survive = np.empty(n_years)
        stock = np.empty(n_years)
        first_bad[b] = -1
        for s in range(b * THREAD_BLOCK, min(count, (b + 1) * THREAD_BLOCK)):
            _project_scenario(x[s], n_regions, n_years, ship, power, survive, stock, out_e[s], out_c[s], out_w[s], out_n[s])
            if first_bad[b] < 0 and (
                _any_nonfinite(x[s]) or _any_nonfinite(e2[s]) or _any_nonfinite(c2[s]) or _any_nonfinite(w2[s]) or _any_nonfinite(a2[s])
            ):
                first_bad[b] = s
            if weighted:
                v = _vintage_ll(ship, power, obs_src, obs_year, obs_form, obs_par) if n_fill > 0 else 0.0
                v = cell_log_likelihood(v, s, e2, c2, w2, a2, cell_var, cell_ptr, term_idx, obs_src, obs_cell, obs_prev, obs_form, obs_par)
                ll[s] = v
                wq[s] = _quantised_weight(v)


@numba.njit(parallel=True, cache=True, nogil=True)
def normalise_groups(x, cols, out):
    """``out[s, g*m + j] = x[s, cols[g, j]] / Σ_j x[s, cols[g, j]]`` for each scenario row ``s`` of ``x``
    and each group ``g`` of ``m`` columns (the regional weights as the model normalises them: the
    sum in region order, as :func:`kernels.model.regional_weight_sum` adds it)."""
    n_groups, m = cols.shape
    for s in numba.prange(x.shape[0]):
        for g in range(n_groups):
            total = 0.0
            for j in range(m):
                total += x[s, cols[g, j]]
            for j in range(m):
                out[s, g * m + j] = x[s, cols[g, j]] / total


@numba.njit(parallel=True, cache=True, nogil=True)
def count_zero_maxima(e, year, first, last):
    """Scenarios ``s`` whose maximum of ``e[s, year, r, c]`` over every region ``r`` and the
    components ``first <= c < last`` is exactly 0 (a NaN maximum, as NumPy's, is not 0)."""
    count = 0
    for s in numba.prange(e.shape[0]):
        m = e[s, year, 0, first]
        for r in range(e.shape[2]):
            for c in range(first, last):
                v = e[s, year, r, c]
                if v > m or v != v:  # once NaN, m stays NaN (v > NaN is false)
                    m = v
        if m == 0.0:
            count += 1
    return count
