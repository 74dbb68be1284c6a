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
                                weighted_summary=False)  # fmt: skip

    def __init__(self):
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(
                f"no CUDA device is available ({reason}); use --backend numba for the CPU kernels, "
                "or set NUMBA_ENABLE_CUDASIM=1 to run the CUDA kernels in numba's (slow) simulator"
            )
        from numba import cuda

        from kernels import cuda as kc

        self._cuda = cuda
        self._kc = kc
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
        from kernels.model import N_COMPONENTS

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
        last bits of the model's float64 values).  ``batch_blocks`` summary blocks are
        projected per device batch (default: a quarter of the free device memory, at most 8 GiB).
        """
        from engine.stats.spec import MOMENT_BLOCK as BLOCK
        from engine.stats.state import ChunkSummary
        from kernels.cpu_summary import ragged_bins
        from kernels.summary import HIST_BINS

        cuda, kc = self._cuda, self._kc
        from engine.backends.host_summary import check_chunk

        check_chunk(start, count)
        if spec.observations.weighted:  # run() refuses earlier; this guards direct calls
            raise BackendUnavailable("the cuda backend does not compute weighted summaries yet (a spec with observations)")
        kinds, params, keys, corr_index, factor = self.device_layout(layout)
        k = spec.n_cells
        to = cuda.to_device
        cell_var, cell_ptr, term_idx = to(spec.cell_var), to(spec.cell_ptr), to(spec.term_idx)
        thr_ptr, thr_value = to(spec.thr_ptr), to(np.ascontiguousarray(spec.thr_value, dtype=np.float64))
        if kc.SIMULATOR:  # 47 M elements: one Python store each in the simulator
            hist = to(np.zeros((k, HIST_BINS), dtype=np.int32))
        else:
            hist = self.buffer("summary_hist", (k, HIST_BINS), np.int32)
            flat = hist.ravel()
            kc.fill_kernel[kc.launch_config(flat.shape[0], 256)](flat, np.int32(0))
        no_bad = np.iinfo(np.int64).max
        thr_count = to(np.zeros(spec.thr_value.shape[0], dtype=np.int64))
        vmin, vmax = to(np.full(k, np.inf)), to(np.full(k, -np.inf))
        bad = to(np.full(k, no_bad, dtype=np.int64))
        n_blocks = -(-count // BLOCK)
        bmean = cuda.device_array((n_blocks, k))
        bm2 = cuda.device_array((n_blocks, k))
        from kernels.model import N_COMPONENTS

        y, r, c = layout.n_years, layout.n_regions, N_COMPONENTS
        per_block = 8 * BLOCK * (layout.n_inputs + 4 * y * r * c + y * r + k)  # float64 inputs, outputs, tile
        step = batch_blocks or max(1, min(n_blocks, self._batch_budget() // per_block))
        for b0 in range(0, n_blocks, step):
            s0 = start + b0 * BLOCK
            n = min(step * BLOCK, start + count - s0)
            x = self.buffer("summary_x", (n, layout.n_inputs), np.float64)
            e = self.buffer("summary_e", (n, y, r, c), np.float64)
            cb = self.buffer("summary_c", (n, y, r, c), np.float64)
            w = self.buffer("summary_w", (n, y, r, c, 2), np.float64)
            a = self.buffer("summary_a", (n, y, r), np.float64)
            blocks, threads = kc.launch_config(n)
            kc.sample_project_kernel[blocks, threads](np.uint64(seed), np.int64(s0), kinds, params, keys, corr_index, factor, r, y, x, e, cb, w, a)
            tile = self.buffer("summary_tile", (k, n), np.float64)
            m = y * r * c
            kc.summary_gather_kernel[blocks, threads](e.reshape(n, m), cb.reshape(n, m), w.reshape(n, 2 * m), a.reshape(n, y * r),
                                                     cell_var, cell_ptr, term_idx, tile)
            kc.summary_accumulate_kernel[kc.launch_config(k)](tile, tile.view(np.int64), BLOCK, np.int64(s0), thr_ptr, thr_value, hist,
                                                              thr_count, vmin, vmax, bad, bmean, bm2, b0)
            bad_h = bad.copy_to_host()
            if (bad_h != no_bad).any():
                cell = int(np.argmin(bad_h))
                raise NonFiniteError(f"scenario {int(bad_h[cell])} (seed {seed}) gives a non-finite value of {spec.describe_cell(cell)}")
        vmin_h, vmax_h = vmin.copy_to_host(), vmax.copy_to_host()
        lo, ln, counts = ragged_bins(hist.copy_to_host(), vmin_h, vmax_h)
        block_n = np.full(n_blocks, float(BLOCK))
        block_n[-1] = count - (n_blocks - 1) * BLOCK
        return ChunkSummary(start, count, lo, ln, counts, block_n, bmean.copy_to_host(), bm2.copy_to_host(),
                            vmin_h, vmax_h, thr_count.copy_to_host())
