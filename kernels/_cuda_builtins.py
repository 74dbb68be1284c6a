"""Builtins that numba's CUDA target cannot type, as kernel functions for the CUDA build only.

numba's built-in CUDA target resolves ``max(a, b)`` and ``min(a, b)`` on two floats through the generic
one-argument ``max(iterable)`` overload and fails ("Signature mismatch: 2 argument types
given, but function takes 1 arguments").  :mod:`kernels.cuda` passes this module to
:func:`kernels._target.build` *first*, so in the CUDA namespace the name ``max`` is this
two-argument scalar version; the CPU build never sees it.  Same result as Python's and
numba's ``max(a, b)`` for numbers (the first argument unless the second is larger).

The same shadowing gives the CUDA build libdevice's ``exp``, ``log`` and ``pow`` for
:mod:`kernels.elementary`'s ``vec_exp``, ``vec_log`` and ``vec_pow``: the GPU's own are fast and
accurate (about 1 ulp), and its bits differ from the CPU's anyway (NVVM contracts
multiply-adds), so the device results agree with the CPU's to rtol 1e-6, not bit for bit.
"""

from __future__ import annotations

import math

from kernels._target import kernel


@kernel
def max(a, b):  # noqa: A001 - shadows the builtin in the CUDA namespace on purpose
    """Larger of two scalars; ``a`` when they are equal or unordered (as Python's ``max``)."""
    if b > a:
        return b
    return a


@kernel
def min(a, b):  # noqa: A001 - shadows the builtin in the CUDA namespace on purpose
    """Smaller of two scalars; ``a`` when they are equal or unordered (as Python's ``min``)."""
    if b < a:
        return b
    return a


@kernel
def vec_exp(x):
    """e^x, libdevice's ``exp`` (:func:`kernels.elementary.vec_exp` on the CPU)."""
    return math.exp(x)


@kernel
def vec_log(x):
    """ln x, libdevice's ``log`` (:func:`kernels.elementary.vec_log` on the CPU)."""
    return math.log(x)


@kernel
def vec_pow(x, y):
    """x^y for x ≥ 0 (NaN below), libdevice's ``pow`` (:func:`kernels.elementary.vec_pow` on the CPU)."""
    if x < 0.0:
        return math.nan
    return x**y
