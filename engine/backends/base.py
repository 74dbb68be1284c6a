"""The backend protocol, its declared capabilities, and the registry the CLI and tasks read.

A backend turns a slab of scenario indices into sampled inputs and model outputs, and
summarises a chunk where it computes::

    x = backend.sample(layout, seed, start, count)            # float64[count, n_inputs]
    backend.project(layout, x, out)                           # fills the arrays of out
    part = backend.summarise_chunk(layout, spec, seed, start, count)   # a ChunkSummary

Every backend draws the same Philox uniforms, so all of them give the same cube.  Task code
calls these three methods only; what a backend can do is declared in its
:class:`Capabilities`, never found out with ``hasattr`` or by its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.errors import RunError

__all__ = ["Backend", "Capabilities", "BACKENDS", "register", "get_backend", "backend_class"]


@dataclass(frozen=True)
class Capabilities:
    """What a backend is and does, for the CLI's help and for planning."""

    device: str  # "cpu" or "gpu"
    summary: str  # how summaries are made: "fused" (in cache), "arrays" (from projected blocks), "device"
    reference: bool  # an independent reference implementation (slow; for checking the kernels)
    help: str  # one line for ``dcproj run --backend``
    weighted_summary: bool = True  # computes weighted streaming summaries (observations in the config)


class Backend(Protocol):
    name: str
    capabilities: Capabilities

    def sample(self, layout, seed: int, start: int, count: int) -> np.ndarray: ...

    def project(self, layout, x: np.ndarray, out: dict[str, np.ndarray]) -> None: ...

    def summarise_chunk(self, layout, spec, seed: int, start: int, count: int): ...


BACKENDS: dict[str, type] = {}


def register(name: str):
    """Class decorator: make a backend available as ``name`` (``--backend name``)."""

    def deco(cls):
        cls.name = name
        BACKENDS[name] = cls
        return cls

    return deco


def backend_class(name: str) -> type:
    """The registered class of backend ``name``; unknown names list the known ones."""
    _load_builtin()
    if name not in BACKENDS:
        raise RunError(f"--backend {name!r}: unknown backend; expected one of {sorted(BACKENDS)}")
    return BACKENDS[name]


def get_backend(name: str) -> Backend:
    """Instantiate backend ``name``; raises :class:`~engine.errors.BackendUnavailable` if it cannot run here."""
    return backend_class(name)()


def _load_builtin() -> None:
    """Register the built-in backends (their modules import numba lazily)."""
    import engine.backends.cuda_gpu  # noqa: F401
    import engine.backends.numba_cpu  # noqa: F401
    import engine.backends.numpy_ref  # noqa: F401
