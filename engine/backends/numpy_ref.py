"""The ``numpy`` backend: the plain NumPy/SciPy reference (vectorised Philox, scipy.special
transforms, the array model of :mod:`engine.reference.model`); no code shared with the kernels."""

from __future__ import annotations

import numpy as np

from engine.backends.base import Capabilities, register
from engine.backends.host_summary import array_block, summarise_on_host
from kernels.sampling import COPULA_U_MAX, COPULA_U_MIN

__all__ = ["NumpyBackend"]


@register("numpy")
class NumpyBackend:
    """Plain NumPy/SciPy reference: vectorised Philox, scipy.special transforms, array model."""

    capabilities = Capabilities(device="cpu", summary="arrays", reference=True, help="the plain NumPy reference implementation (slow)")

    def sample(self, layout, seed, start, count):
        from scipy import special

        from engine.reference.philox import input_uniforms_np
        from engine.reference.ppf import ppf_numpy_by_code

        scenarios = np.arange(start, start + count, dtype=np.uint64)
        u = np.empty((count, layout.n_inputs))
        for i, key in enumerate(layout.keys.tolist()):
            u[:, i] = input_uniforms_np(seed, scenarios, key)
        if layout.corr_index.size:
            z = special.ndtri(u[:, layout.corr_index])
            u[:, layout.corr_index] = np.clip(special.ndtr(z @ layout.corr_factor.T), COPULA_U_MIN, COPULA_U_MAX)
        for i in range(layout.n_inputs):
            u[:, i] = ppf_numpy_by_code(int(layout.kinds[i]), layout.params[i, :8], u[:, i])
        return u

    def project(self, layout, x, out):
        from engine.reference.model import project

        res = project(x, layout.n_regions, layout.n_years, dtype=out["electricity"].dtype)
        for name, values in res.items():
            out[name][...] = values

    def summarise_chunk(self, layout, spec, seed, start, count):
        """The chunk's statistics, from the arrays this backend projects block by block."""
        return summarise_on_host(self, layout, spec, seed, start, count, array_block, needs_buffer=True)
