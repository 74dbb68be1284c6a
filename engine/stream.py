"""Chunk tasks and the executors that run them: in this process, or as dask tasks.

A chunk task is a pure function of a :class:`ChunkJob` and a scenario range: it returns the
chunk's slice of the full cube (a dict of arrays) or its :class:`~engine.summaries.ChunkSummary`.
The same function runs in this process (:func:`run_serial`) and on dask workers
(:func:`run_dask`), so a run's result does not depend on where its chunks ran.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numba
import numpy as np

from engine import cube
from engine.backends import get_backend
from engine.layout import Layout
from engine.summaries import BLOCK, ChunkSummary, SummarySpec

__all__ = ["ChunkJob", "NonFiniteError", "compute_chunk", "run_serial", "run_dask", "in_order"]


class NonFiniteError(ValueError):
    """A chunk produced NaN or infinite values."""


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs to compute any chunk of a run (small; pickled into each task)."""

    layout: Layout
    seed: int
    backend: str
    dtype: str  # storage type of full-cube chunks
    spec: SummarySpec | None = None  # a summary run if set


def compute_chunk(job: ChunkJob, start: int, count: int):
    """Compute scenarios ``start .. start+count-1``: cube arrays, or a summary partial."""
    _limit_threads_in_dask_worker()
    if job.spec is None:
        return compute_full(job, start, count)
    return compute_summary(job, start, count)


def compute_full(job: ChunkJob, start: int, count: int) -> dict[str, np.ndarray]:
    """The chunk's slice of the cube (``inputs`` and every output variable)."""
    be = get_backend(job.backend)
    out = cube.empty_arrays(job.layout, count, np.dtype(job.dtype))
    out["inputs"][...] = be.sample(job.layout, job.seed, start, count)
    be.project(job.layout, out["inputs"], out)
    check_finite(job.layout, start, out)
    return out


def compute_summary(job: ChunkJob, start: int, count: int) -> ChunkSummary:
    """Project the chunk block by block (float64) and accumulate its summary statistics."""
    from kernels.cpu_summary import accumulate_block, clear_ragged, new_scratch, ragged_bins, summarise_block
    from kernels.summary import HIST_BINS

    if start % BLOCK:
        raise ValueError(f"summary chunks must start on a multiple of {BLOCK}, got {start}")
    if count >= 2**31:
        raise ValueError(f"summary chunks hold fewer than 2**31 scenarios, got {count}")
    spec, layout = job.spec, job.layout
    be = get_backend(job.backend)
    if hasattr(be, "summarise_chunk"):  # a backend that summarises where it computes (the GPU): only statistics come back
        return be.summarise_chunk(layout, spec, job.seed, start, count)
    n_blocks = math.ceil(count / BLOCK)
    k = spec.n_cells
    hist = _borrow_hist(k, HIST_BINS)
    thr_count = np.zeros(spec.thr_value.shape[0], dtype=np.int64)
    bmean = np.empty((n_blocks, k))
    bm2 = np.empty((n_blocks, k))
    vmin = np.full(k, np.inf)
    vmax = np.full(k, -np.inf)
    no_bad = np.iinfo(np.int64).max
    bad = np.full(k, no_bad, dtype=np.int64)
    block_n = np.empty(n_blocks)
    scratch = new_scratch(k, spec.thr_value.shape[0], min(BLOCK, count)).arrays()
    tables = (spec.cell_var, spec.cell_ptr, spec.term_idx, spec.thr_ptr, spec.thr_value)
    elem_off = spec.element_offsets()
    fused = job.backend == "numba"  # sample, project and summarise in one pass, in cache
    buf = None if fused else cube.empty_arrays(layout, min(BLOCK, count), np.float64)
    for b in range(n_blocks):
        s0 = start + b * BLOCK
        n = min(BLOCK, start + count - s0)
        stats = (hist, thr_count, bmean[b], bm2[b], vmin, vmax, bad, numba.get_num_threads())
        if fused:
            summarise_block(
                np.uint64(job.seed), np.int64(s0), n, layout.kinds, layout.params, layout.corr_index,
                layout.corr_factor, layout.n_regions, layout.n_years, *tables, elem_off, *scratch, *stats,
            )  # fmt: skip
        else:
            x = be.sample(layout, job.seed, s0, n)
            out = {name: a[:n] for name, a in buf.items() if name != "inputs"}
            be.project(layout, x, out)
            e, c, w, a = (out[v].reshape(n, -1) for v in ("electricity", "carbon", "water", "installed_accelerators"))
            accumulate_block(e, c, w, a, s0, *tables, *scratch, *stats)
        if (bad != no_bad).any():
            cell = int(np.argmin(bad))
            first = int(bad[cell])
            x = be.sample(layout, job.seed, first, 1)[0]
            raise NonFiniteError(_nonfinite_message(layout, s0, n, first - s0, spec.describe_cell(cell), x))
        block_n[b] = n
    lo, ln, counts = ragged_bins(hist, vmin, vmax)
    clear_ragged(hist, lo, ln)
    _return_hist(hist)
    return ChunkSummary(start, count, lo, ln, counts, block_n, bmean, bm2, vmin, vmax, thr_count)


_HIST_POOL: list[np.ndarray] = []
_HIST_LOCK = threading.Lock()


def _borrow_hist(n_cells: int, n_bins: int) -> np.ndarray:
    """A zeroed int32 [cells, bins] histogram, reused from an earlier chunk of this process if one is free.

    A fresh one costs more than the chunk's arithmetic: its pages (188 MB for the default
    config) are mapped and zeroed by the kernel as the first values land in them.  A reused
    one was cleared over exactly the bins the last chunk used (:func:`clear_ragged`).
    """
    with _HIST_LOCK:
        for i, h in enumerate(_HIST_POOL):
            if h.shape == (n_cells, n_bins):
                return _HIST_POOL.pop(i)
    return np.zeros((n_cells, n_bins), dtype=np.int32)


def _return_hist(hist: np.ndarray) -> None:
    with _HIST_LOCK:
        if len(_HIST_POOL) < 4:
            _HIST_POOL.append(hist)


def check_finite(layout: Layout, start: int, arrays: dict[str, np.ndarray]) -> None:
    """Raise :class:`NonFiniteError` naming the first scenario of ``arrays`` with a NaN or inf."""
    count = arrays["inputs"].shape[0]
    for name, values in arrays.items():
        flat = values.reshape(count, -1)
        ok = np.isfinite(flat).all(axis=1)
        if not ok.all():
            s = int(np.argmin(ok))
            j = int(np.argmin(np.isfinite(flat[s])))
            where = name if name == "inputs" else _element_name(name, values.shape[1:], j, layout)
            raise NonFiniteError(_nonfinite_message(layout, start, count, s, where, arrays["inputs"][s]))


def _element_name(name: str, shape: tuple, j: int, layout: Layout) -> str:
    dims = cube.VARIABLES[name].dims[1:]
    idx = np.unravel_index(j, shape)
    return f"{name} ({', '.join(f'{d} index {i}' for d, i in zip(dims, idx, strict=True))})"


def _nonfinite_message(layout: Layout, start: int, count: int, local: int, where: str, inputs: np.ndarray) -> str:
    shown = ", ".join(f"{n}={v:.6g}" for n, v in zip(layout.names, inputs, strict=True) if not n.startswith("shipments_shock."))
    return (
        f"non-finite value (NaN or inf) in {where} for scenario {start + local} "
        f"(chunk of scenarios {start}..{start + count - 1}); check the config's distributions for this draw. "
        f"Its inputs: {shown}"
    )


def _limit_threads_in_dask_worker() -> None:
    """Inside a dask worker running several tasks at once, use one numba thread per task."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    nthreads = getattr(getattr(worker, "state", worker), "nthreads", 1)
    if nthreads > 1:
        import numba

        numba.set_num_threads(1)


# -- executors ------------------------------------------------------------------------------


def run_serial(job: ChunkJob, chunks: Iterable[tuple[int, int, int]]) -> Iterator[tuple[int, object]]:
    """Compute ``(index, start, count)`` chunks one after the other in this process."""
    for i, start, count in chunks:
        yield i, compute_chunk(job, start, count)


def run_dask(
    client, job: ChunkJob, chunks: Iterable[tuple[int, int, int]], *, in_flight, window=None
) -> Iterator[tuple[int, object]]:
    """Compute chunks as dask tasks; yield ``(index, result)`` as they complete.

    At most ``in_flight`` tasks are submitted at once (results are fetched and released as
    they arrive, so no result waits on a worker).  With ``window``, a chunk is submitted
    only while its index is less than the oldest unfinished index + ``window``, which bounds
    what a caller merging in order has to buffer.  Both may be callables, asked again before
    each submission (a cluster that grows).  Tasks lost with a worker are recomputed by the
    scheduler; on any error or interrupt the remaining tasks are cancelled.
    """
    from distributed import as_completed

    todo = list(chunks)
    token = uuid.uuid4().hex[:8]
    pending: dict[str, int] = {}
    futures: dict[str, object] = {}
    ac = as_completed(loop=client.loop)
    nxt = 0

    def submit_more():
        nonlocal nxt
        limit = in_flight() if callable(in_flight) else in_flight
        span = window() if callable(window) else window
        while nxt < len(todo) and len(pending) < limit:
            i, start, count = todo[nxt]
            if span is not None and pending and i >= min(pending.values()) + span:
                return
            fut = client.submit(compute_chunk, job, start, count, key=f"dcproj-chunk-{token}-{i:09d}", pure=False, priority=-i)
            pending[fut.key] = i
            futures[fut.key] = fut
            ac.add(fut)
            nxt += 1

    try:
        submit_more()
        for fut in ac:
            i = pending.pop(fut.key)
            futures.pop(fut.key)
            result = fut.result()
            fut.release()
            submit_more()
            yield i, result
    finally:
        if futures:
            try:
                client.cancel(list(futures.values()), force=True)
            except Exception:  # noqa: BLE001 - the client may already be closing
                pass


def in_order(results: Iterable[tuple[int, object]], first: int) -> Iterator[tuple[int, object]]:
    """Re-order ``(index, result)`` pairs into index order starting at ``first`` (buffers early ones)."""
    buffer: dict[int, object] = {}
    nxt = first
    for i, r in results:
        buffer[i] = r
        while nxt in buffer:
            yield nxt, buffer.pop(nxt)
            nxt += 1
