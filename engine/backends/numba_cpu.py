"""The ``numba`` backend: compiled CPU kernels, parallel over scenario blocks (``NUMBA_NUM_THREADS``).

Summaries are fused: each thread samples, projects and reduces 32-scenario sub-blocks whose
outputs never leave its L2 cache (:func:`kernels.cpu_summary.summarise_block`).
"""

from __future__ import annotations

import numpy as np

from engine.backends.base import Capabilities, register
from engine.backends.host_summary import summarise_on_host
from engine.conditioning.tables import no_observations

__all__ = ["NumbaBackend"]

_EMPTY_INT = np.zeros(0, dtype=np.int64)
_EMPTY_FLOAT = np.zeros(0)


def _fused_block(backend, layout, spec, seed, s0, n, tables, scratch, stats, buf) -> None:
    from kernels.cpu_summary import summarise_block

    summarise_block(
        np.uint64(seed), np.int64(s0), n, layout.kinds, layout.params, layout.keys, layout.corr_index,
        layout.corr_factor, layout.n_regions, layout.n_years, *tables, spec.element_offsets(), *spec.observations.arrays(),
        *scratch, *stats,
    )  # fmt: skip


@register("numba")
class NumbaBackend:
    """numba-compiled CPU kernels, parallel over scenario blocks (``NUMBA_NUM_THREADS`` threads)."""

    capabilities = Capabilities(device="cpu", summary="fused", reference=False, help="compiled CPU kernels (numba, all cores)")

    def __init__(self):
        from kernels import cpu

        self._cpu = cpu

    def sample(self, layout, seed, start, count):
        return self.sample_into(layout, seed, start, np.empty((count, layout.n_inputs), dtype=np.float64))

    def sample_into(self, layout, seed, start, x):
        """:meth:`sample` of ``x.shape[0]`` scenarios written into ``x`` (C-contiguous float64); returns ``x``."""
        self._cpu.sample_inputs(
            np.uint64(seed), np.int64(start), layout.kinds, layout.params, layout.keys, layout.corr_index, layout.corr_factor, x
        )
        return x

    def project(self, layout, x, out):
        self._cpu.project(
            x,
            layout.n_regions,
            layout.n_years,
            out["electricity"],
            out["carbon"],
            out["water"],
            out["installed_accelerators"],
        )

    def project_checked(self, layout, x, out, weights=None) -> int:
        """:meth:`project`, with each scenario checked for non-finite values while in cache and, given
        ``weights`` (the run's :class:`~engine.stats.spec.SummarySpec`), ``out["log_likelihood"]``
        and the quantised weights computed in the same pass (:func:`kernels.cpu.project_checked`).

        Returns the quantised weights (int64 [count], units of 2^-32; ``None`` unweighted) and
        whether some scenario has a NaN or infinity among its inputs or outputs.
        """
        count = x.shape[0]
        if weights is None:
            cells, obs = (_EMPTY_INT, _EMPTY_INT, _EMPTY_INT), no_observations().arrays()
            ll, wq = _EMPTY_FLOAT, _EMPTY_INT
        else:
            cells, obs = (weights.cell_var, weights.cell_ptr, weights.term_idx), weights.observations.arrays()
            ll, wq = out["log_likelihood"], np.empty(count, dtype=np.int64)
        first_bad = np.empty(-(-count // self._cpu.THREAD_BLOCK), dtype=np.int64)  # one per block
        arrays = [out[v] for v in ("electricity", "carbon", "water", "installed_accelerators")]
        self._cpu.project_checked(x, layout.n_regions, layout.n_years, *arrays, *cells, *obs, ll, wq, first_bad)
        return (wq if weights is not None else None), bool((first_bad >= 0).any())

    def summarise_chunk(self, layout, spec, seed, start, count):
        """The chunk's statistics, sampled, projected and reduced in one fused pass per block."""
        return summarise_on_host(self, layout, spec, seed, start, count, _fused_block, needs_buffer=False)
