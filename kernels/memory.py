"""First touch of freshly allocated output memory, in parallel, before the kernels write it.

A large ``np.empty`` array is mapped but not yet backed: the first write to each page faults,
and the operating system (and, on a virtual machine, the hypervisor) backs and zeroes the page
there and then.  Taken up front for a whole run's arrays, in one parallel pass of their own,
those faults cost less than inside the projection kernels (measured:
:func:`engine.execution.tasks.prefault_outputs`).  A compiled parallel loop because NumPy's strided
assignment runs on one thread (4.86 s against 4.38 s for that run, medians of 4).
"""

from __future__ import annotations

import mmap

import numba
import numpy as np

#: Bytes between two touched addresses: the smallest page the operating system maps.
PAGE = mmap.PAGESIZE


@numba.njit(parallel=True, cache=True, nogil=True)
def touch_pages(flat, step):
    """Write 0 to every ``step``-th byte of the ``uint8`` array ``flat`` (one per page), in parallel.

    The array's contents are then undefined apart from those zeros, as after ``np.empty``: the
    caller overwrites every element."""
    n = (flat.shape[0] + step - 1) // step
    for i in numba.prange(n):
        flat[i * step] = 0


def prefault(array: np.ndarray, min_bytes: int = 1 << 20) -> np.ndarray:
    """Touch every page of the C-contiguous ``array`` (see :func:`touch_pages`) when it holds at least
    ``min_bytes`` (smaller arrays come from already mapped heap memory); returns ``array``."""
    if array.nbytes >= min_bytes and array.flags.c_contiguous:
        touch_pages(array.reshape(-1).view(np.uint8), PAGE)
    return array
