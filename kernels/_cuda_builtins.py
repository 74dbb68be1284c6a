"""Builtins that numba's CUDA target cannot type, as kernel functions for the CUDA build only.

numba's built-in CUDA target resolves ``max(a, b)`` and ``min(a, b)`` on two floats through the generic
one-argument ``max(iterable)`` overload and fails ("Signature mismatch: 2 argument types
given, but function takes 1 arguments").  :mod:`kernels.cuda` passes this module to
:func:`kernels._target.build` *first*, so in the CUDA namespace the name ``max`` is this
two-argument scalar version; the CPU build never sees it.  Same result as Python's and
numba's ``max(a, b)`` for numbers (the first argument unless the second is larger).
"""

from __future__ import annotations

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
