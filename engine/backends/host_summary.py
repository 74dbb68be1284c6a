"""Summaries computed on the host, block by block: shared by the CPU backends.

A chunk is cut into :data:`~engine.stats.spec.MOMENT_BLOCK` blocks; each block is summarised
either by a fused kernel (sample, project and reduce in one pass, outputs never leave the
cache: the numba backend) or from the arrays a backend projects (the NumPy reference), with
the same reduction kernels (:mod:`kernels.cpu_summary`), so both give the same bits.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numba
import numpy as np

from engine.backends.finite import nonfinite_message
from engine.errors import NonFiniteError, RunError
from engine.output.variables import empty_arrays
from engine.stats.spec import MOMENT_BLOCK
from engine.stats.state import ChunkSummary

__all__ = ["summarise_on_host", "array_block", "check_chunk"]

#: ``block(backend, layout, spec, seed, s0, n, tables, scratch, stats, buf)`` summarises one block.
BlockFn = Callable[..., None]


def check_chunk(start: int, count: int) -> None:
    """Summary chunks start on a moment block and hold fewer than 2**31 scenarios."""
    if start % MOMENT_BLOCK:
        raise RunError(f"summary chunks must start on a multiple of {MOMENT_BLOCK}, got {start}")
    if count >= 2**31:
        raise RunError(f"summary chunks hold fewer than 2**31 scenarios, got {count}")


def array_block(backend, layout, spec, seed, s0, n, tables, scratch, stats, buf) -> None:
    """Summarise one block from the arrays ``backend`` samples and projects (any backend)."""
    from kernels.cpu_likelihood import scenario_weights
    from kernels.cpu_summary import accumulate_block

    x = backend.sample(layout, seed, s0, n)
    out = {name: a[:n] for name, a in buf.items() if name not in ("inputs", "effective_inputs")}
    backend.project(layout, x, out)
    e, c, w, a = (out[v].reshape(n, -1) for v in ("electricity", "carbon", "water", "installed_accelerators"))
    obs = spec.observations
    if obs.weighted:
        scenario_weights(x, e, c, w, a, layout.n_regions, layout.n_years, spec.cell_var, spec.cell_ptr, spec.term_idx,
                         *obs.arrays(), np.empty(n), scratch[7])  # fmt: skip
    accumulate_block(e, c, w, a, s0, obs.weighted, *tables, *scratch, *stats)


def summarise_on_host(backend, layout, spec, seed: int, start: int, count: int, block: BlockFn, needs_buffer: bool) -> ChunkSummary:
    """The :class:`ChunkSummary` of scenarios ``start .. start+count-1``, block by block with ``block``."""
    from kernels.cpu_likelihood import weight_sums
    from kernels.cpu_merge import clear_ragged, ordered_sum, ragged_bins
    from kernels.cpu_summary import SUB, new_scratch
    from kernels.summary import HIST_BINS

    check_chunk(start, count)
    n_blocks = math.ceil(count / MOMENT_BLOCK)
    k = spec.n_cells
    weighted = spec.observations.weighted
    hist = _borrow_hist(k, HIST_BINS, np.int64 if weighted else np.int32)  # weights: units of 2^-32
    thr_count = np.zeros(spec.thr_value.shape[0], dtype=np.int64)
    bmean, bm2 = np.empty((n_blocks, k)), np.empty((n_blocks, k))
    vmin, vmax = np.full(k, np.inf), np.full(k, -np.inf)
    no_bad = np.iinfo(np.int64).max
    bad = np.full(k, no_bad, dtype=np.int64)
    block_n = np.empty(n_blocks)
    block_w1 = np.empty(n_blocks, dtype=np.int64)  # Σ quantised weights (counts when unweighted)
    block_w2 = np.empty(n_blocks)  # Σ w² (w in [0, 1]; counts when unweighted)
    scratch = new_scratch(k, spec.thr_value.shape[0], min(MOMENT_BLOCK, count)).arrays()
    wq, sub_w = scratch[7], scratch[8]
    tables = (spec.cell_var, spec.cell_ptr, spec.term_idx, spec.thr_ptr, spec.thr_value)
    buf = empty_arrays(layout, min(MOMENT_BLOCK, count), np.float64) if needs_buffer else None
    for b in range(n_blocks):
        s0 = start + b * MOMENT_BLOCK
        n = min(MOMENT_BLOCK, start + count - s0)
        stats = (hist, thr_count, bmean[b], bm2[b], vmin, vmax, bad, numba.get_num_threads())
        block(backend, layout, spec, seed, s0, n, tables, scratch, stats, buf)
        if (bad != no_bad).any():  # the histogram is dropped, not returned to the pool
            cell = int(np.argmin(bad))
            first = int(bad[cell])
            x = backend.sample(layout, seed, first, 1)[0]
            raise NonFiniteError(nonfinite_message(layout, s0, n, first - s0, spec.describe_cell(cell), x))
        if weighted:
            block_n[b] = ordered_sum(sub_w, (n + SUB - 1) // SUB)  # the block's weight as the moment fold adds it
            block_w1[b], block_w2[b] = weight_sums(wq, n)
        else:
            block_n[b] = block_w1[b] = block_w2[b] = n
    lo, ln, counts = ragged_bins(hist, vmin, vmax)
    clear_ragged(hist, lo, ln)
    _return_hist(hist)
    return ChunkSummary(start, count, lo, ln, counts, block_n, bmean, bm2, vmin, vmax, thr_count, block_w1=block_w1, block_w2=block_w2)


_HIST_POOL: list[np.ndarray] = []
_HIST_LOCK = threading.Lock()


def _borrow_hist(n_cells: int, n_bins: int, dtype=np.int32) -> np.ndarray:
    """A zeroed [cells, bins] histogram (int32 counts, int64 for weights), reused from an earlier chunk of this process if one is free.

    A fresh one costs more than the chunk's arithmetic: its pages (188 MB for the default
    config) are mapped and zeroed by the kernel as the first values land in them.  A reused
    one was cleared over exactly the bins the last chunk used (``clear_ragged``).
    """
    with _HIST_LOCK:
        for i, h in enumerate(_HIST_POOL):
            if h.shape == (n_cells, n_bins) and h.dtype == dtype:
                return _HIST_POOL.pop(i)
    return np.zeros((n_cells, n_bins), dtype=dtype)


def _return_hist(hist: np.ndarray) -> None:
    with _HIST_LOCK:
        if len(_HIST_POOL) < 4:
            _HIST_POOL.append(hist)
