"""CPU target: the kernel arithmetic compiled with ``numba.njit``, driven by parallel loops.

Scenarios are processed in blocks of :data:`THREAD_BLOCK` (``prange`` over blocks): each block
allocates its scratch space once and writes a contiguous slab of the outputs, so threads
never share cache lines and the result does not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels import distributions, model, philox, sampling, special
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
        for s in range(b * THREAD_BLOCK, min(count, (b + 1) * THREAD_BLOCK)):
            _project_scenario(x[s], n_regions, n_years, ship, power, survive, out_e[s], out_c[s], out_w[s], out_n[s])
