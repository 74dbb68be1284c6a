"""The CPU's block sampler (input-major, :mod:`kernels.cpu_sampling`) against the scalar
definition (:func:`kernels.sampling.sample_scenario`, one scenario at a time): the same 64-bit
patterns, for every kind of input, with and without a copula, at odd block lengths."""

from __future__ import annotations

import numba
import numpy as np
import pydantic
import pytest

from engine.config.copula import copula_factor
from engine.distributions import Distribution
from engine.inputs.layout import build_layout
from kernels import cpu, cpu_sampling, distributions, philox, sampling, special
from kernels._target import build

_scalar = build(numba.njit(cache=False, error_model="numpy"), [philox, special, distributions, sampling]).sample_scenario


@numba.njit(cache=False, error_model="numpy")
def _scalar_rows(seed, start, kinds, params, keys, corr_index, factor, out):
    z = np.empty(max(corr_index.shape[0], 1))
    for s in range(out.shape[0]):
        _scalar(seed, start + s, kinds, params, keys, corr_index, factor, z, out[s])


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint64)


def _every_kind():
    """Kind codes and parameter rows of inputs of every kind, tables and tails included."""
    adapter = pydantic.TypeAdapter(Distribution)
    specs = [
        {"kind": "fixed", "value": 3.5},
        {"kind": "uniform", "low": -5.0, "high": 1e3},
        {"kind": "triangular", "low": 2.0, "mode": 2.0, "high": 3.0},
        {"kind": "pert", "low": 0.9, "mode": 1.1, "high": 1.6},
        {"kind": "beta", "alpha": 0.5, "beta": 0.5},  # no table: the iterative inverse
        {"kind": "beta", "alpha": 0.7, "beta": 45.0, "low": 0.0, "high": 100.0},
        {"kind": "normal", "mean": 1.0, "sd": 2.0},
        {"kind": "normal", "mean": 10.0, "sd": 1.0, "lower": 15.0},
        {"kind": "lognormal", "median": 100.0, "sigma": 0.8, "lower": 50.0, "upper": 400.0},
        {"kind": "lognormal", "mu": 0.0, "sigma": 1.0, "lower": 55.0},
        {"kind": "percentile", "low": 200.0, "high": 900.0, "p_low": 0.1, "p_high": 0.9},
    ]
    rows, kinds = [], []
    for spec in specs:
        dist = adapter.validate_python({**spec, "source": "test"})
        code, p = dist.kernel_params()
        table = dist.kernel_table() if hasattr(dist, "kernel_table") else None
        if table is not None:
            p = np.concatenate([p[:5], table])
        kinds.append(code)
        rows.append(p)
    params = np.zeros((len(rows), max(len(r) for r in rows)))
    for i, r in enumerate(rows):
        params[i, : len(r)] = r
    assert set(kinds) == set(range(6)), "every kind code is exercised"
    return np.array(kinds, dtype=np.int64), params


def _compare(seed, start, count, kinds, params, keys, corr_index, factor):
    blocks = np.empty((count, kinds.shape[0]))
    cpu.sample_inputs(np.uint64(seed), np.int64(start), kinds, params, keys, corr_index, factor, blocks)
    scalar = np.empty_like(blocks)
    _scalar_rows(np.uint64(seed), np.int64(start), kinds, params, keys, corr_index, factor, scalar)
    assert np.array_equal(_bits(blocks), _bits(scalar))
    return blocks


@pytest.mark.parametrize(
    ("seed", "start", "count"),
    [(42, 0, 1), (42, 0, 777), (2**64 - 1, 2**32 - 300, 600), (0x1234_5678_9ABC_DEF0, 2**40 + 3, 513)],
    ids=["one", "odd-count", "counter-carry", "high-words"],
)
def test_default_layout_is_bit_identical_to_the_scalar_definition(default_config, seed, start, count):
    """The default's 72 inputs (47 betas on tables, truncated normals, a 12-input copula);
    counts that leave a short last block."""
    lay = build_layout(default_config)
    assert lay.corr_index.shape[0] > 0
    _compare(seed, start, count, lay.kinds, lay.params, lay.keys, lay.corr_index, lay.corr_factor)


def test_every_kind_with_a_copula_is_bit_identical():
    kinds, params = _every_kind()
    n = kinds.shape[0]
    keys = np.arange(1000, 1000 + n, dtype=np.uint64) * np.uint64(2654435761) % np.uint64(2**32)
    corr_index = np.array([1, 3, 6, 8, 10], dtype=np.int64)
    r = np.full((5, 5), 0.5) + 0.5 * np.eye(5)
    r[0, 4] = r[4, 0] = -0.3
    factor = np.ascontiguousarray(copula_factor(r))
    x = _compare(7, 5, 300, kinds, params, keys, corr_index, factor)
    assert np.all(x[:, 0] == 3.5)  # the check can fail: a fixed input keeps its value
    assert np.corrcoef(x[:, 1], x[:, 3])[0, 1] > 0.3  # the copula did act


def test_without_a_copula_is_bit_identical():
    kinds, params = _every_kind()
    keys = np.arange(kinds.shape[0], dtype=np.uint64)
    _compare(11, 2**33, 257, kinds, params, keys, np.zeros(0, dtype=np.int64), np.zeros((0, 0)))


def test_block_scratch_shorter_blocks_reuse_it():
    """One scratch of BLOCK columns serves a block of any length up to BLOCK (the fused summaries'
    sub-blocks): rows beyond ``m`` are not touched."""
    kinds, params = _every_kind()
    keys = np.arange(kinds.shape[0], dtype=np.uint64) + np.uint64(5)
    t, z = cpu_sampling.new_block_scratch(kinds.shape[0], 0, cpu_sampling.BLOCK)
    out = np.full((40, kinds.shape[0]), -1.0)
    cpu_sampling.sample_block(np.uint64(3), np.int64(100), 32, kinds, params, keys, np.zeros(0, dtype=np.int64), np.zeros((0, 0)), t, z, out)
    ref = np.empty((32, kinds.shape[0]))
    _scalar_rows(np.uint64(3), np.int64(100), kinds, params, keys, np.zeros(0, dtype=np.int64), np.zeros((0, 0)), ref)
    assert np.array_equal(_bits(out[:32]), _bits(ref))
    assert np.all(out[32:] == -1.0)


@pytest.mark.skipif(__import__("platform").machine() not in ("x86_64", "AMD64"), reason="checks x86 instructions")
def test_the_philox_loop_is_vectorised(default_config):
    """The block sampler's machine code multiplies Philox words with packed instructions
    ((v)pmuludq on xmm/ymm/zmm: several scenarios' 32x32->64-bit products at once).  It fails
    if a change to the loop (a branch, a call left out of line) stops the compiler vectorising it."""
    import re

    lay = build_layout(default_config)

    def asm_of(py_func, *args):
        f = numba.njit(cache=False, error_model="numpy")(py_func)
        f(*args)
        return "\n".join(f.inspect_asm().values())

    t, z = cpu_sampling.new_block_scratch(lay.n_inputs, lay.corr_index.shape[0], cpu_sampling.BLOCK)
    x = np.empty((cpu_sampling.BLOCK, lay.n_inputs))
    common = (np.uint64(1), np.int64(0))
    layout = (lay.kinds, lay.params, lay.keys, lay.corr_index, lay.corr_factor)
    packed = re.compile(r"\bv?pmuludq\s+[^\n]*%[xyz]mm")
    blocks = asm_of(cpu_sampling.sample_block.py_func, *common, cpu_sampling.BLOCK, *layout, t, z, x)
    assert len(packed.findall(blocks)) >= 4, "no packed 32x32->64-bit multiplies in the block sampler"
