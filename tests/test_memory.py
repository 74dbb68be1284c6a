"""First touch of the output memory (kernels.memory): what it writes, and that no result depends on it."""

from __future__ import annotations

import numpy as np

import kernels.memory
from engine import run


def test_touch_pages_writes_a_zero_every_step_bytes_and_nothing_else():
    a = np.full(10_001, 0xAB, dtype=np.uint8)
    kernels.memory.touch_pages(a, 7)
    expected = np.full(10_001, 0xAB, dtype=np.uint8)
    expected[::7] = 0
    assert np.array_equal(a, expected)


def test_prefault_touches_large_contiguous_arrays_only():
    big = np.full(5000, 0xAB, dtype=np.uint8)
    kernels.memory.prefault(big, min_bytes=4096)
    assert big[0] == 0 and big[kernels.memory.PAGE] == 0 and big[1] == 0xAB
    small = np.full(100, 0xAB, dtype=np.uint8)
    kernels.memory.prefault(small, min_bytes=4096)
    assert (small == 0xAB).all()
    strided = np.full(20_000, 0xAB, dtype=np.uint8)[::2]
    kernels.memory.prefault(strided, min_bytes=4096)
    assert (strided == 0xAB).all()


POISONED = []


def _poison(array, min_bytes=0):
    """Fill a fresh output array with NaN (floats) or its maximum (integers) instead of touching it."""
    array[...] = np.nan if array.dtype.kind == "f" else np.iinfo(array.dtype).max
    POISONED.append(array.shape)
    return array


def test_every_output_value_is_written_by_the_kernels(default_config, monkeypatch):
    """A run whose fresh arrays start as NaN gives the same bits as a normal run (weighted config:
    the weights too), so the kernels write every value and none depends on the memory's contents."""
    normal = run(default_config, scenarios=700, seed=5, chunk_size=256)
    monkeypatch.setattr(kernels.memory, "prefault", _poison)
    poisoned = run(default_config, scenarios=700, seed=5, chunk_size=256)
    assert "weight" in normal and "log_likelihood" in normal
    assert len(POISONED) == 8 and all(shape[0] == 700 for shape in POISONED)  # the cube's 6 arrays and the 2 of weights
    for name in normal.data_vars:
        assert np.array_equal(normal[name].values, poisoned[name].values), name
