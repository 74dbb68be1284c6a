"""Compute backends, dispatched by registry: ``numba`` (CPU kernels) and ``numpy`` (reference).

A backend turns a slab of scenario indices into sampled inputs and model outputs::

    x = backend.sample(layout, seed, start, count)            # float64[count, n_inputs]
    backend.project(layout, x, out)                           # fills the arrays of out

Every backend draws the same Philox uniforms, so all of them give the same cube.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from engine.layout import Layout

__all__ = ["Backend", "BACKENDS", "get_backend", "register"]


class Backend(Protocol):
    name: str

    def sample(self, layout: Layout, seed: int, start: int, count: int) -> np.ndarray: ...

    def project(self, layout: Layout, x: np.ndarray, out: dict[str, np.ndarray]) -> None: ...


BACKENDS: dict[str, type] = {}


def register(name: str):
    def deco(cls):
        cls.name = name
        BACKENDS[name] = cls
        return cls

    return deco


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine (e.g. no CUDA device)."""


def get_backend(name: str) -> Backend:
    """Instantiate backend ``name``; unknown names list the known ones."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {sorted(BACKENDS)}")
    return BACKENDS[name]()


@register("numba")
class NumbaBackend:
    """numba-compiled CPU kernels, parallel over scenario blocks (``NUMBA_NUM_THREADS`` threads)."""

    def __init__(self):
        from kernels import cpu

        self._cpu = cpu

    def sample(self, layout, seed, start, count):
        x = np.empty((count, layout.n_inputs), dtype=np.float64)
        self._cpu.sample_inputs(
            np.uint64(seed), np.int64(start), layout.kinds, layout.params, layout.corr_index, layout.corr_factor, x
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


@register("numpy")
class NumpyBackend:
    """Plain NumPy/SciPy reference: vectorised Philox, scipy.special transforms, array model."""

    def sample(self, layout, seed, start, count):
        from scipy import special

        from engine.distributions import ppf_numpy_by_code
        from engine.reference.philox import input_uniforms_np

        scenarios = np.arange(start, start + count, dtype=np.uint64)
        u = np.empty((count, layout.n_inputs))
        for i in range(layout.n_inputs):
            u[:, i] = input_uniforms_np(seed, scenarios, i)
        if layout.corr_index.size:
            z = special.ndtri(u[:, layout.corr_index])
            u[:, layout.corr_index] = np.clip(special.ndtr(z @ layout.corr_factor.T), 2.0**-54, 1.0 - 2.0**-53)
        for i in range(layout.n_inputs):
            u[:, i] = ppf_numpy_by_code(int(layout.kinds[i]), layout.params[i, :8], u[:, i])
        return u

    def project(self, layout, x, out):
        from engine.reference.model import project

        res = project(x, layout.n_regions, layout.n_years, dtype=out["electricity"].dtype)
        for name, values in res.items():
            out[name][...] = values
