"""The ``cuda`` backend: numba.cuda kernels on an NVIDIA GPU, compiled from the same @kernel
arithmetic as the CPU; summaries are accumulated on the device, only statistics come back."""

from __future__ import annotations

import numpy as np

from engine.backends.base import Capabilities, register
from engine.errors import BackendUnavailable, NonFiniteError, RunError

__all__ = ["CudaBackend", "cuda_unavailable_reason"]


def cuda_unavailable_reason() -> str | None:
    """Why numba.cuda cannot run kernels here, or ``None`` if it can (a GPU, or the simulator).

    Never raises; initialises the CUDA driver (not a context) on the first call.
    """
    import numba

    if numba.config.ENABLE_CUDASIM:
        return None
    try:
        from numba import cuda
    except Exception as exc:  # noqa: BLE001 - a broken numba.cuda install is a reason too
        return f"numba.cuda cannot be imported: {exc}"
    try:
        if cuda.is_available():
            if len(cuda.gpus) == 0:
                return "the CUDA driver reports no GPU"
            return None
    except Exception as exc:  # noqa: BLE001
        return f"CUDA initialisation failed: {str(exc).strip().splitlines()[0]}"
    try:
        from numba.cuda.cudadrv import driver as _drv

        err = getattr(_drv.driver, "initialization_error", None)
    except Exception:  # noqa: BLE001
        err = None
    if err:
        first = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), str(err))
        return f"numba found no usable CUDA driver: {first.rstrip('.:')}"
    return "the CUDA driver works but NVVM (libnvvm, CUDA's compiler library) was not found; install the CUDA toolkit"


@register("cuda")
class CudaBackend:
    """numba.cuda kernels on the GPU: the same @kernel arithmetic as ``numba``, one thread per
    scenario (grid-stride).  Uniforms are bit-identical to the CPU's; outputs agree to rounding
    (tested to rtol 1e-6).

    Raises :class:`BackendUnavailable` when there is neither a GPU nor numba's CUDA simulator
    (``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported).
    """

    capabilities = Capabilities(device="gpu", summary="device", reference=False, help="the same kernels on an NVIDIA GPU (numba.cuda)",
                                weighted_summary=True)  # fmt: skip

    def __init__(self):
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(
                f"no CUDA device is available ({reason}); use --backend numba for the CPU kernels, "
                "or set NUMBA_ENABLE_CUDASIM=1 to run the CUDA kernels in numba's (slow) simulator"
            )
        from numba import cuda

        from kernels import cuda as kc
        from kernels import cuda_summary as ks

        self._cuda = cuda
        self._kc = kc
        self._ks = ks
        self._layout = None
        self._dev_layout = None
        self._buffers: dict = {}

    def _limits(self, layout) -> None:
        try:
            self._kc.check_limits(layout.n_years, int(layout.corr_index.shape[0]))
        except ValueError as exc:
            raise RunError(str(exc)) from None

    def device_layout(self, layout):
        """The layout's kernel arrays on the device (uploaded once per layout)."""
        if self._layout is not layout:
            self._limits(layout)
            to = self._cuda.to_device
            self._dev_layout = (
                to(np.ascontiguousarray(layout.kinds, dtype=np.int64)),
                to(np.ascontiguousarray(layout.params, dtype=np.float64)),
                to(np.ascontiguousarray(layout.keys, dtype=np.uint64)),
                to(np.ascontiguousarray(layout.corr_index, dtype=np.int64)),
                to(np.ascontiguousarray(layout.corr_factor, dtype=np.float64)),
            )
            self._layout = layout
        return self._dev_layout

    def buffer(self, name, shape, dtype):
        """A device array reused across chunks of the same shape (no allocation per chunk)."""
        key = (name, tuple(shape), np.dtype(dtype).str)
        buf = self._buffers.get(key)
        if buf is None:
            for k in [k for k in self._buffers if k[0] == name]:
                del self._buffers[k]
            buf = self._buffers[key] = self._cuda.device_array(shape, dtype=dtype)
        return buf

    def sample_device(self, layout, seed, start, count):
        """Sample into a device array [count, n_inputs] and return it (no copy to the host).

        The array is a buffer reused by the next call: consume it first.
        """
        kinds, params, keys, corr_index, factor = self.device_layout(layout)
        x = self.buffer("inputs", (count, layout.n_inputs), np.float64)
        blocks, threads = self._kc.launch_config(count)
        self._kc.sample_kernel[blocks, threads](np.uint64(seed), np.int64(start), kinds, params, keys, corr_index, factor, x)
        return x

    def project_device(self, layout, x, dtype):
        """Evaluate the model on the device rows ``x``; returns the device output arrays
        (buffers reused by the next call, like :meth:`sample_device`'s)."""
        from kernels.columns import N_COMPONENTS

        count = x.shape[0]
        self._limits(layout)
        y, r, c = layout.n_years, layout.n_regions, N_COMPONENTS
        shapes = {
            "electricity": (count, y, r, c),
            "carbon": (count, y, r, c),
            "water": (count, y, r, c, 2),
            "installed_accelerators": (count, y, r),
        }
        dev = {name: self.buffer(name, shape, dtype) for name, shape in shapes.items()}
        blocks, threads = self._kc.launch_config(count)
        self._kc.project_kernel[blocks, threads](
            x,
            layout.n_regions,
            layout.n_years,
            dev["electricity"],
            dev["carbon"],
            dev["water"],
            dev["installed_accelerators"],
        )
        return dev

    def sample(self, layout, seed, start, count):
        return self.sample_device(layout, seed, start, count).copy_to_host()

    def project(self, layout, x, out):
        x_dev = self.buffer("project_x", x.shape, np.float64)
        x_dev.copy_to_device(np.ascontiguousarray(x, dtype=np.float64))
        dev = self.project_device(layout, x_dev, out["electricity"].dtype)
        for name, d in dev.items():
            target = out[name]
            if target.flags.c_contiguous and target.dtype == d.dtype:
                d.copy_to_host(target)
            else:
                target[...] = d.copy_to_host()

    # ------------------------------------------------------------------ device-side summaries
    def _batch_budget(self) -> int:
        """Bytes for one summary batch's float64 buffers: 1/4 of the free device memory, 256 MiB-8 GiB."""
        try:
            free, _ = self._cuda.current_context().get_memory_info()
        except Exception:  # noqa: BLE001 - the simulator has no memory to report
            return 2**30
        return int(min(8 * 2**30, max(2**28, free // 4)))

    def summarise_chunk(self, layout, spec, seed, start, count, batch_blocks=None):
        """The :class:`engine.stats.state.ChunkSummary` of scenarios ``start .. start+count-1``,
        computed on the device: only the statistics come back, never the cube.

        The same @kernel accumulation as the CPU (:mod:`kernels.summary`), folded in the same
        scenario order per cell, so a chunk summarised here merges with CPU chunks into the
        same summary (histograms and exceedance counts exactly; moments, min and max to the
        last bits of the model's float64 values).  A spec with observations gives the
        weighted summary: each scenario's log-likelihood from the same terms in the same order
        as the CPU (:mod:`kernels.likelihood`), quantised weights (units of 2^-32) in the
        histograms and exceedance sums (exact integer sums), the CPU's weighted sub-block fold
        for the moments and its per-block weight sums (``block_n``, ``block_w1``, ``block_w2``).
        ``batch_blocks`` summary blocks are projected per device batch (default: a quarter of
        the free device memory, at most 8 GiB).
        """
        from engine.backends.host_summary import check_chunk
        from engine.stats.spec import MOMENT_BLOCK as BLOCK
        from kernels.columns import N_COMPONENTS

        check_chunk(start, count)
        weighted = spec.observations.weighted
        n_blocks = -(-count // BLOCK)
        stats = _DeviceStats(self, spec, n_blocks, weighted)
        tables = self._summary_tables(spec)
        y, r = layout.n_years, layout.n_regions
        # float64 per scenario: inputs, outputs, tile; ll and wq when weighted
        per_scenario = layout.n_inputs + 4 * y * r * N_COMPONENTS + y * r + spec.n_cells + (2 if weighted else 0)
        per_block = 8 * BLOCK * per_scenario
        step = batch_blocks or max(1, min(n_blocks, self._batch_budget() // per_block))
        for b0 in range(0, n_blocks, step):
            s0 = start + b0 * BLOCK
            n = min(step * BLOCK, start + count - s0)
            outs, ll = self._project_batch(layout, seed, s0, n, tables["obs"])
            self._accumulate_batch(tables, outs, ll, n, s0, b0, BLOCK, stats)
            stats.check_finite(seed)
        return stats.chunk_summary(start, count, BLOCK)

    def _summary_tables(self, spec) -> dict:
        """The spec's cell, threshold and (when weighted) observation tables on the device."""
        to = self._cuda.to_device
        obs = None
        if spec.observations.weighted:
            names = ("src", "cell", "prev", "year", "form", "par")  # the order of ObservationTables.arrays()
            obs = {name: to(np.ascontiguousarray(a)) for name, a in zip(names, spec.observations.arrays(), strict=True)}
        return {
            "cells": (to(spec.cell_var), to(spec.cell_ptr), to(spec.term_idx)),
            "thresholds": (to(spec.thr_ptr), to(np.ascontiguousarray(spec.thr_value, dtype=np.float64))),
            "obs": obs,
        }

    def _project_batch(self, layout, seed, s0, n, obs):
        """Sample and project scenarios ``s0 .. s0+n-1`` into reused device buffers (float64).

        Returns the outputs as 2-D [scenario, element] views (electricity, carbon, water,
        installed accelerators) and, when ``obs`` (device observation tables) is given, each
        scenario's vintage log-likelihood [1] (``None`` otherwise).
        """
        from kernels.columns import N_COMPONENTS

        kc, ks = self._kc, self._ks
        kinds, params, keys, corr_index, factor = self.device_layout(layout)
        y, r = layout.n_years, layout.n_regions
        m = y * r * N_COMPONENTS
        x = self.buffer("summary_x", (n, layout.n_inputs), np.float64)
        e = self.buffer("summary_e", (n, y, r, N_COMPONENTS), np.float64)
        c = self.buffer("summary_c", (n, y, r, N_COMPONENTS), np.float64)
        w = self.buffer("summary_w", (n, y, r, N_COMPONENTS, 2), np.float64)
        a = self.buffer("summary_a", (n, y, r), np.float64)
        grid = kc.launch_config(n)
        head = (np.uint64(seed), np.int64(s0), kinds, params, keys, corr_index, factor, r, y)
        ll = None
        if obs is None:
            kc.sample_project_kernel[grid](*head, x, e, c, w, a)
        else:
            ll = self.buffer("summary_ll", (n,), np.float64)
            ks.sample_project_ll_kernel[grid](*head, obs["src"], obs["year"], obs["form"], obs["par"], x, e, c, w, a, ll)
        return (e.reshape(n, m), c.reshape(n, m), w.reshape(n, 2 * m), a.reshape(n, y * r)), ll

    def _accumulate_batch(self, tables, outs, ll, n, s0, b0, block, stats) -> None:
        """Fold a projected batch (:meth:`_project_batch`; scenarios ``s0 ..``, summary blocks
        ``b0 ..`` of ``block`` scenarios) into ``stats``: gather its tile of cell values
        (with the scenarios' quantised weights when ``ll`` is given), then fold each cell."""
        kc, ks = self._kc, self._ks
        k = stats.vmin.shape[0]
        tile = self.buffer("summary_tile", (k, n), np.float64)
        thr_ptr, thr_value = tables["thresholds"]
        common = (thr_ptr, thr_value, stats.hist, stats.thr_count, stats.vmin, stats.vmax, stats.bad, stats.bmean, stats.bm2, b0)
        obs = tables["obs"]
        if obs is None:
            ks.summary_gather_kernel[kc.launch_config(n)](*outs, *tables["cells"], tile)
            ks.summary_accumulate_kernel[kc.launch_config(k)](tile, tile.view(np.int64), block, np.int64(s0), *common)
            return
        wq = self.buffer("summary_wq", (n,), np.int64)
        cell_obs = (obs["src"], obs["cell"], obs["prev"], obs["form"], obs["par"])
        ks.summary_gather_weigh_kernel[kc.launch_config(n)](*outs, *tables["cells"], *cell_obs, ll, tile, wq)
        ks.summary_weights_kernel[kc.launch_config(-(-n // block))](wq, block, stats.block_n, stats.block_w1, stats.block_w2, b0)
        ks.summary_accumulate_weighted_kernel[kc.launch_config(k)](tile, tile.view(np.int64), wq, block, np.int64(s0), *common)


class _DeviceStats:
    """The device arrays of one chunk's statistics while :meth:`CudaBackend.summarise_chunk` fills them.

    Per cell: histogram rows (``int32`` counts, or ``int64`` sums of quantised weights when
    ``weighted``), min, max, first non-finite scenario; per threshold the exceedance count
    (or weight sum); per summary block the moments of every cell and, when ``weighted``, the
    block's weight sums.
    """

    NO_BAD = np.iinfo(np.int64).max

    def __init__(self, backend: CudaBackend, spec, n_blocks: int, weighted: bool):
        from kernels.summary import HIST_BINS

        cuda, kc = backend._cuda, backend._kc
        k = spec.n_cells
        to = cuda.to_device
        dtype = np.int64 if weighted else np.int32
        if kc.SIMULATOR:  # 47 M elements: one Python store each in the simulator
            self.hist = to(np.zeros((k, HIST_BINS), dtype=dtype))
        else:
            self.hist = backend.buffer("summary_hist", (k, HIST_BINS), dtype)
            flat = self.hist.ravel()
            kc.fill_kernel[kc.launch_config(flat.shape[0], 256)](flat, dtype(0))
        self.spec = spec
        self.weighted = weighted
        self.thr_count = to(np.zeros(spec.thr_value.shape[0], dtype=np.int64))
        self.vmin, self.vmax = to(np.full(k, np.inf)), to(np.full(k, -np.inf))
        self.bad = to(np.full(k, self.NO_BAD, dtype=np.int64))
        self.bmean = cuda.device_array((n_blocks, k))
        self.bm2 = cuda.device_array((n_blocks, k))
        self.block_n = self.block_w1 = self.block_w2 = None
        if weighted:  # unweighted blocks weigh their scenario counts (chunk_summary)
            self.block_n = cuda.device_array(n_blocks)
            self.block_w1 = cuda.device_array(n_blocks, dtype=np.int64)
            self.block_w2 = cuda.device_array(n_blocks)

    def check_finite(self, seed) -> None:
        """Raise :class:`NonFiniteError` naming the first scenario and cell with a non-finite value, if any."""
        bad = self.bad.copy_to_host()
        if (bad != self.NO_BAD).any():
            cell = int(np.argmin(bad))
            what = self.spec.describe_cell(cell)
            raise NonFiniteError(f"scenario {int(bad[cell])} (seed {seed}) gives a non-finite value of {what}")

    def chunk_summary(self, start: int, count: int, block: int):
        """The :class:`engine.stats.state.ChunkSummary` of the statistics (copied to the host)."""
        from engine.stats.state import ChunkSummary
        from kernels.cpu_merge import ragged_bins

        vmin, vmax = self.vmin.copy_to_host(), self.vmax.copy_to_host()
        lo, ln, counts = ragged_bins(self.hist.copy_to_host(), vmin, vmax)
        bmean, bm2, thr_count = self.bmean.copy_to_host(), self.bm2.copy_to_host(), self.thr_count.copy_to_host()
        if self.weighted:
            block_n, w1, w2 = self.block_n.copy_to_host(), self.block_w1.copy_to_host(), self.block_w2.copy_to_host()
            return ChunkSummary(start, count, lo, ln, counts, block_n, bmean, bm2, vmin, vmax, thr_count,
                                block_w1=w1, block_w2=w2)  # fmt: skip
        block_n = np.full(bmean.shape[0], float(block))
        block_n[-1] = count - (bmean.shape[0] - 1) * block
        return ChunkSummary(start, count, lo, ln, counts, block_n, bmean, bm2, vmin, vmax, thr_count)
