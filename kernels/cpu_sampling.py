"""CPU sampling in blocks of scenarios, laid out for the compiler to vectorise.

:func:`kernels.sampling.sample_scenario` is the definition: one scenario's Philox uniforms,
the Gaussian copula, the inverse CDFs.  The GPU runs it one thread per scenario.  On the CPU,
running it one scenario at a time leaves the vector units idle and pays a call per input
(the kernel functions are separate machine-code functions unless inlined).  Here the same
arithmetic runs **input-major over a block of scenarios**:

1. for each input, the Philox uniforms of every scenario of the block (a branch-free
   integer loop over contiguous counters: packed 32x32->64-bit multiplies, ``vpmuludq``);
2. the copula on the block: ``z = ndtri(u)`` per correlated input, then ``y = F z`` as one
   small matrix product per block (each scenario's sum in the same column order as the
   scalar definition), ``u = clamp(ndtr(y))``;
3. for each input, its inverse CDF over the block (the kind is fixed along the loop, so the
   branch on it is taken the same way every time);
4. the block, transposed into the caller's scenario-major rows.

Every value is computed by the same @kernel function with the same operands in the same
order as in :func:`~kernels.sampling.sample_scenario` (no fast-math, so no reassociation or
FMA contraction), so the results are bit-identical to it; ``tests/test_sampling_blocks.py``
checks this, and the known-answer tests of the scalar definition stay as they are.  The kernel
functions are compiled with ``inline="always"`` so each loop body is one piece of code the
compiler can unroll, vectorise (the Philox rounds, the uniform conversion, the matrix product
and the simple inverse CDFs) or at least pipeline (the ones calling ``log``/``exp``, which
have no vector form without SVML).
"""

from __future__ import annotations

import numba
import numpy as np

from kernels import distributions, philox, sampling, special
from kernels._target import build

__all__ = ["BLOCK", "build_inlined", "sample_block", "new_block_scratch"]

#: Scenarios per block of the full-cube sampler (the fused summaries use their sub-blocks).
BLOCK = 256

#: Kept out of line: the iterative inverse of the incomplete beta (a beta input outside its
#: quantile table, rare) is large, and inlining it, or ``ndtri`` (three call sites, little
#: gain), at every call site costs minutes of compilation (measured: 100 s for the sampler).
OUT_OF_LINE = ("ndtri", "betaincinv", "_betaincinv_lower", "_betaincinv_guess", "betainc", "_betacf")


def build_inlined(modules):
    """:func:`kernels._target.build` for the CPU with every kernel function inlined into its
    callers (numba IR inlining), except :data:`OUT_OF_LINE`.

    Without it each call between kernel functions is a real call with the arrays' structs
    passed by value (~20 ns for ``ppf`` of a fixed input), and no loop over them vectorises.
    Inlining changes no operation and no order, so the bits stay the same.
    """
    out_of_line = numba.njit(cache=False, error_model="numpy")
    return build(
        numba.njit(cache=False, error_model="numpy", inline="always"),
        modules,
        jit_for={name: out_of_line for name in OUT_OF_LINE},
    )


S = build_inlined([philox, special, distributions, sampling])
_input_uniform = S.input_uniform
_ndtri = S.ndtri
_ndtr = S.ndtr
_clamp_unit = S.clamp_unit
_ppf = S.ppf


@numba.njit(cache=True, inline="always")
def new_block_scratch(n_inputs, n_corr, block):
    """Input-major scratch ``(t [n_inputs, block], z [n_corr, block])`` for :func:`sample_block`."""
    return np.empty((n_inputs, block)), np.empty((max(n_corr, 1), block))


@numba.njit(cache=True, error_model="numpy", inline="always")
def sample_block(seed, first, m, kinds, params, keys, corr_index, factor, t, z, out):
    """Write the inputs of scenarios ``first .. first+m-1`` into rows ``out[0:m]`` [m, n_inputs].

    ``t`` [n_inputs, >= m] and ``z`` [n_corr, >= m] are scratch (:func:`new_block_scratch`).
    Bit-identical to :func:`kernels.sampling.sample_scenario` row by row (module notes).
    """
    n_in = kinds.shape[0]
    k = corr_index.shape[0]
    for i in range(n_in):  # 1. uniforms, input-major
        key = keys[i]
        row = t[i]
        for j in range(m):
            row[j] = _input_uniform(seed, first + j, key)
    for a in range(k):  # 2. copula: normal deviates ...
        src = t[corr_index[a]]
        za = z[a]
        for j in range(m):
            za[j] = _ndtri(src[j])
    for a in range(k):  # ... correlated (F z, columns in order) and back to uniforms
        dst = t[corr_index[a]]
        for j in range(m):
            acc = 0.0
            for col in range(k):
                acc += factor[a, col] * z[col, j]
            dst[j] = acc
        for j in range(m):
            dst[j] = _clamp_unit(_ndtr(dst[j]))
    for i in range(n_in):  # 3. inverse CDFs, one kind per loop
        kind = kinds[i]
        p = params[i]
        row = t[i]
        for j in range(m):
            row[j] = _ppf(kind, p, row[j])
    for j in range(m):  # 4. transpose into the caller's rows
        for i in range(n_in):
            out[j, i] = t[i, j]
