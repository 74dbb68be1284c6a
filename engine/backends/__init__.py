"""Compute backends behind one protocol (:mod:`.base`), found through a registry:
``numba`` (:mod:`.numba_cpu`), ``numpy`` (:mod:`.numpy_ref`, the reference) and ``cuda``
(:mod:`.cuda_gpu`).  :mod:`.host_summary` holds the block loop the CPU backends share.

Imports :mod:`engine.inputs`, :mod:`engine.stats`, :mod:`engine.output.variables` and the
kernels; never the execution layer.
"""

from engine.backends.base import BACKENDS, Backend, Capabilities, backend_class, get_backend, register

__all__ = ["BACKENDS", "Backend", "Capabilities", "backend_class", "get_backend", "register", "available_backends"]


def available_backends() -> dict[str, Capabilities]:
    """Name -> capabilities of every registered backend (for the CLI)."""
    from engine.backends.base import _load_builtin

    _load_builtin()
    return {name: cls.capabilities for name, cls in BACKENDS.items()}
