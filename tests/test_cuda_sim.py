"""The CUDA backend against the CPU: bit-identical uniforms, outputs to rtol 1e-6.

These tests need numba.cuda to run kernels: a GPU, or numba's CUDA simulator, which must be
switched on (``NUMBA_ENABLE_CUDASIM=1``) before numba is first imported.  The default test
run therefore executes this file in a subprocess with the simulator on
(``tests/test_cuda.py::test_cuda_kernels_under_the_simulator``); collected in a process
without either, it skips.  On a machine with a GPU, ``python -m pytest tests/test_cuda_sim.py``
runs the same checks on the hardware.

The simulator runs every thread as a Python thread: keep scenario counts in the tens.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.backends.cuda_gpu import cuda_unavailable_reason

_REASON = cuda_unavailable_reason()
if _REASON is not None:
    pytest.skip(f"numba.cuda cannot run kernels here ({_REASON}); tests/test_cuda.py runs this file under the simulator", allow_module_level=True)

from numba import cuda  # noqa: E402

from engine import run  # noqa: E402
from engine.backends import get_backend  # noqa: E402
from engine.inputs.layout import build_layout  # noqa: E402
from kernels import cuda as kc  # noqa: E402

OUTPUTS = ["electricity", "carbon", "water", "installed_accelerators", "inputs"]
N = 40


@pytest.fixture(scope="module")
def layout(default_config):
    return build_layout(default_config)


KEYS = np.array([0, 1, 2**31, 2**32 - 1, 0x9E3779B9, 12345, 77], dtype=np.uint64)  # stream ids, incl. the extremes


def _cpu_uniforms(seed, start, count, keys):
    from kernels.cpu import K

    u = np.empty((count, keys.size))
    for s in range(count):
        K.draw_uniforms(np.uint64(seed), np.int64(start + s), keys, u[s])
    return u


@pytest.mark.parametrize(
    ("seed", "start"),
    [(42, 0), (2**64 - 1, 2**32 - 7), (0x1234_5678_9ABC_DEF0, 2**40 + 3)],
    ids=["small", "counter-carry", "high-words"],
)
def test_uniforms_are_bit_identical_to_the_cpu(seed, start):
    """Same Philox counters on both targets: the same 64-bit patterns, not merely close."""
    count, n = 24, KEYS.size
    u = cuda.device_array((count, n))
    blocks, threads = kc.launch_config(count)
    kc.uniforms_kernel[blocks, threads](np.uint64(seed), np.int64(start), cuda.to_device(KEYS), u)
    gpu = u.copy_to_host()
    cpu = _cpu_uniforms(seed, start, count, KEYS)
    assert np.array_equal(gpu.view(np.uint64), cpu.view(np.uint64))
    from engine.reference.philox import input_uniforms_np

    ref = np.stack([input_uniforms_np(seed, np.arange(start, start + count, dtype=np.uint64), int(k)) for k in KEYS], axis=1)
    assert np.array_equal(gpu.view(np.uint64), ref.view(np.uint64))


def test_grid_stride_covers_more_scenarios_than_threads(layout):
    """One block of 8 threads for 40 scenarios: every row is written, as by a full grid."""
    be = get_backend("cuda")
    kinds, params, keys, corr_index, factor = be.device_layout(layout)
    small = cuda.device_array((N, layout.n_inputs))
    kc.sample_kernel[1, 8](np.uint64(9), np.int64(5), kinds, params, keys, corr_index, factor, small)
    full = be.sample(layout, 9, 5, N)
    assert np.array_equal(small.copy_to_host(), full)


def test_sampled_inputs_match_the_cpu(layout):
    gpu = get_backend("cuda").sample(layout, 7, 1000, N)
    cpu = get_backend("numba").sample(layout, 7, 1000, N)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-6, atol=0)
    assert np.isfinite(gpu).all()


@pytest.fixture(scope="module")
def runs(default_config):
    kw = dict(scenarios=N, seed=3, dtype="float64")
    return run(default_config, backend="cuda", chunk_size=25, **kw), run(default_config, backend="numba", **kw)


@pytest.mark.parametrize("name", OUTPUTS)
def test_cuda_run_agrees_with_the_cpu_run(runs, name):
    """Whole runs (two chunks of 25 and 15 on the GPU, one on the CPU), float64 storage."""
    gpu, cpu = runs
    np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-6, atol=0, err_msg=name)
    assert gpu.attrs["backend"] == "cuda"


def test_float32_storage_agrees(default_config):
    gpu = run(default_config, scenarios=20, seed=4, backend="cuda")
    cpu = run(default_config, scenarios=20, seed=4, backend="numba")
    assert gpu.electricity.dtype == np.float32
    for name in OUTPUTS:
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-6, atol=0, err_msg=name)


def test_fused_kernel_equals_the_two_phases(layout):
    be = get_backend("cuda")
    kinds, params, keys, corr_index, factor = be.device_layout(layout)
    count = 20
    x = cuda.device_array((count, layout.n_inputs))
    y, r = layout.n_years, layout.n_regions
    outs = [cuda.device_array(s) for s in [(count, y, r, 6), (count, y, r, 6), (count, y, r, 6, 2), (count, y, r)]]
    blocks, threads = kc.launch_config(count)
    kc.sample_project_kernel[blocks, threads](np.uint64(8), np.int64(50), kinds, params, keys, corr_index, factor, r, y, x, *outs)
    xs = be.sample(layout, 8, 50, count)
    ref = be.project_device(layout, cuda.to_device(xs), np.float64)
    assert np.array_equal(x.copy_to_host(), xs)
    for d, name in zip(outs, ["electricity", "carbon", "water", "installed_accelerators"], strict=True):
        assert np.array_equal(d.copy_to_host(), ref[name].copy_to_host()), name


def test_a_config_without_correlations_runs(default_config):
    """Empty copula arrays (zero-size device arrays) are fine."""
    cfg = default_config.model_copy(update={"correlations": []})
    gpu = run(cfg, scenarios=10, seed=2, backend="cuda", dtype="float64")
    cpu = run(cfg, scenarios=10, seed=2, backend="numba", dtype="float64")
    for name in OUTPUTS:
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-6, atol=0, err_msg=name)


def test_scratch_limits_are_checked_on_the_host(layout):
    be = get_backend("cuda")
    too_long = dataclasses.replace(layout, n_years=kc.MAX_YEARS + 1)
    with pytest.raises(ValueError, match=r"at most 80 projection years \(kernels.cuda.MAX_YEARS\)"):
        be.sample(too_long, 1, 0, 2)
    k = kc.MAX_CORR + 1
    many = dataclasses.replace(layout, corr_index=np.arange(k), corr_factor=np.eye(k))
    with pytest.raises(ValueError, match="at most 64 correlated inputs"):
        be.sample(many, 1, 0, 2)


def test_device_info_names_the_device():
    info = kc.device_info()
    assert info["name"]
    assert info["numba"]


def test_gpu_benchmark_runs_and_reports(default_config, layout, tmp_path):
    """The GPU part of ``python -m benchmarks`` on a few scenarios (here: in the simulator)."""
    from benchmarks import gpu, report

    be = get_backend("cuda")
    comp = gpu.compile_times(be, layout)
    check = gpu.check_against_cpu(be, layout, n=16)
    assert check["uniforms_bit_identical"] and check["agree_rtol_1e-6"], check
    r = gpu.bench_size(be, layout, 40, 32, transfer_max=40)
    sr = gpu.summary_run(be, default_config, layout, 12, 4096)
    assert sr["scenarios"] == 12 and sr["device_s"] > 0
    for key in ("sample_s", "model_s", "fused_s", "bandwidth_floor_s", "transfer_s"):
        assert r[key] > 0, key
    assert r["cube_bytes"] == 40 * (6144 + 32 + 12 * 8)  # the cube (72 inputs) and 12 normalised regional weights
    result = {"created": "now", "command": "test", "config": "default", "years": layout.n_years, "regions": layout.n_regions,
              "inputs": layout.n_inputs, "machine": {"cpu": "x", "cores": 1, "numba_threads": 1, "python": "3", "numba": "0", "numpy": "2"},
              "sizes": [{"scenarios": 40, "scenario_years_per_s": 1.0, "sample_s": 1.0, "model_s": 1.0, "reduction_s": 0.1,
                         "memory_floor_s": 0.1, "compute_vs_memory_floor": 20.0, "peak_rss_mib": 1.0}],
              "summary_runs": [{"scenarios": 12, "cells": 1, "scenario_years_per_s": 1.0, "summary_s": 1.0, "finalize_s": 0.1}],
              "gpu": {"device": gpu.device_info(), "compile": comp, "check": check, "sizes": [r], "summary_runs": [sr]}}
    report.ratios(result)
    assert r["speedup_vs_cpu_all_cores"] > 0
    md = report.markdown(result)
    assert "## GPU" in md and "uniforms bit-identical: True" in md and "device-side summaries" in md
    assert sr["speedup_vs_cpu_summary"] > 0


@pytest.fixture(scope="module")
def spec(default_config, layout):
    from engine.stats.spec import build_summary_spec, parse_threshold

    return build_summary_spec(default_config, layout, thresholds=[parse_threshold("2030>1000"), parse_threshold("carbon/dc_only:2026>100")],
                              prior=True)  # unweighted here: tests/test_cuda_weighted.py covers the observations


def _assert_chunk_summaries_agree(gpu, cpu):
    assert (gpu.start, gpu.count) == (cpu.start, cpu.count)
    for name in ("hist_lo", "hist_len", "hist_counts", "thr_count", "block_n"):
        assert np.array_equal(getattr(gpu, name), getattr(cpu, name)), name
    for name in ("vmin", "vmax", "bmean"):
        np.testing.assert_allclose(getattr(gpu, name), getattr(cpu, name), rtol=1e-12, atol=0, err_msg=name)
    np.testing.assert_allclose(gpu.bm2, cpu.bm2, rtol=1e-6, atol=1e-9 * np.abs(cpu.bmean).max(), err_msg="bm2")


def test_device_summary_of_a_chunk_agrees_with_the_cpu(layout, spec, monkeypatch):
    """Summary blocks of 8 scenarios (instead of 4096, for the simulator): 3 blocks, 2 device batches."""
    import engine.backends.host_summary
    import engine.stats.spec
    from engine.execution.tasks import ChunkJob, compute_summary

    monkeypatch.setattr(engine.stats.spec, "MOMENT_BLOCK", 8)
    monkeypatch.setattr(engine.backends.host_summary, "MOMENT_BLOCK", 8)
    gpu = get_backend("cuda").summarise_chunk(layout, spec, 7, 16, 20, batch_blocks=2)
    cpu = compute_summary(ChunkJob(layout, 7, "numba", "float64", spec), 16, 20)
    assert gpu.bmean.shape == (3, spec.n_cells)
    assert gpu.thr_count.sum() > 0 and gpu.hist_counts.sum() == 20 * spec.n_cells
    _assert_chunk_summaries_agree(gpu, cpu)


def test_mixed_cpu_gpu_run_gives_the_cpu_summary(default_config, layout, spec):
    """Chunk [0, 4096) on the CPU, chunk [4096, 4112) on the device: the merged summary is the
    all-CPU summary (histograms and counts exactly, moments to rounding)."""
    from engine.execution.tasks import ChunkJob, compute_summary
    from engine.stats.spec import MOMENT_BLOCK as BLOCK
    from engine.stats.state import SummaryState

    job = ChunkJob(layout, 5, "numba", "float64", spec)
    first = compute_summary(job, 0, BLOCK)
    gpu = get_backend("cuda").summarise_chunk(layout, spec, 5, BLOCK, 16)
    cpu = compute_summary(job, BLOCK, 16)
    _assert_chunk_summaries_agree(gpu, cpu)
    mixed, ref = SummaryState(spec), SummaryState(spec)
    for state, second in ((mixed, gpu), (ref, cpu)):
        state.add(first)
        state.add(second)
    assert mixed.done == ref.done == BLOCK + 16
    assert np.array_equal(mixed.hist, ref.hist) and np.array_equal(mixed.thr_count, ref.thr_count)
    np.testing.assert_allclose(mixed.mean, ref.mean, rtol=1e-12)
    np.testing.assert_allclose(mixed.m2, ref.m2, rtol=1e-9)
    np.testing.assert_allclose(mixed.quantiles(), ref.quantiles(), rtol=1e-12)
