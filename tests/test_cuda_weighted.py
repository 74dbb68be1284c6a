"""Weighted summaries (a config with observations) on the CUDA backend against the CPU's.

The device computes each scenario's log-likelihood from the same terms in the same order as
the CPU (:mod:`kernels.likelihood`), quantises the weights to integers (units of 2^-32) and
reduces with the CPU's weighted sub-block fold, so the weighted histograms, exceedance sums
and block weights equal the CPU's exactly, and moments, min and max agree to rounding (the
model's values differ by an ulp or so between the targets; given the same values and weights
the simulator's fold is the CPU's bit for bit).

The kernel tests need numba.cuda to run kernels: a GPU, or numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1`` before numba is imported).  Collected in a process with neither,
it skips; ``tests/test_cuda.py`` runs it under the simulator in a subprocess (with
``tests/test_cuda_sim.py``) and compiles its kernels for sm_90 with the others.  The simulator runs every thread as a Python thread: the chunks here hold a few hundred scenarios in summary blocks of 64 (instead of 4096).
"""

from __future__ import annotations


import numba
import numpy as np
import pytest

from engine.backends.cuda_gpu import cuda_unavailable_reason
from tests.conftest import DEFAULT_CONFIG

_REASON = cuda_unavailable_reason()
if _REASON is not None:
    pytest.skip(f"numba.cuda cannot run kernels here ({_REASON}); tests/test_cuda.py runs this file under the simulator", allow_module_level=True)
SIMULATOR = bool(numba.config.ENABLE_CUDASIM)

BLOCK = 64  # summary block of these tests: two sub-blocks of kernels.summary.SUB = 32
SEED = 11
START, COUNT = 2 * BLOCK, 2 * BLOCK + 40  # blocks of 64, 64, 40 scenarios (sub-blocks 32+32, 32+32, 32+8)
THRESHOLDS = ("2030>1000", "carbon/dc_only:2026>100")


def _spec(config, layout, prior=False):
    from engine.stats.spec import build_summary_spec, parse_threshold

    return build_summary_spec(config, layout, thresholds=[parse_threshold(t) for t in THRESHOLDS], prior=prior)


@pytest.fixture(scope="module")
def layout(default_config):
    from engine.inputs.layout import build_layout

    return build_layout(default_config)


@pytest.fixture(scope="module")
def spec(default_config, layout):
    return _spec(default_config, layout)


@pytest.fixture(scope="module")
def chunks(default_config, layout, spec):
    """Summaries of scenarios [START, START+COUNT) in blocks of :data:`BLOCK`: on the device (two
    batches: blocks 0-1, then block 2), on the CPU, on the CPU unweighted (the prior), and the
    CPU chunk [0, START) before them."""
    import engine.backends.host_summary
    import engine.stats.spec
    from engine.backends import get_backend

    gpu, cpu = get_backend("cuda"), get_backend("numba")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine.stats.spec, "MOMENT_BLOCK", BLOCK)
        mp.setattr(engine.backends.host_summary, "MOMENT_BLOCK", BLOCK)
        return {
            "gpu": gpu.summarise_chunk(layout, spec, SEED, START, COUNT, batch_blocks=2),
            "cpu": cpu.summarise_chunk(layout, spec, SEED, START, COUNT),
            "prior": cpu.summarise_chunk(layout, _spec(default_config, layout, prior=True), SEED, START, COUNT),
            "first": cpu.summarise_chunk(layout, spec, SEED, 0, START),
        }


def test_weighted_device_summary_equals_the_cpus(spec, chunks):
    """Histograms, exceedance sums and block weights exactly; moments, min and max to rounding."""
    gpu, cpu = chunks["gpu"], chunks["cpu"]
    assert spec.observations.weighted
    assert (gpu.start, gpu.count) == (cpu.start, cpu.count)
    assert gpu.bmean.shape == cpu.bmean.shape == (3, spec.n_cells)
    for name in ("hist_lo", "hist_len", "hist_counts", "thr_count", "block_w1"):
        a, b = getattr(gpu, name), getattr(cpu, name)
        assert a.dtype == b.dtype == np.int64, name
        assert np.array_equal(a, b), name
    for name in ("block_n", "block_w2", "vmin", "vmax", "bmean"):
        np.testing.assert_allclose(getattr(gpu, name), getattr(cpu, name), rtol=1e-12, atol=0, err_msg=name)
    np.testing.assert_allclose(gpu.bm2, cpu.bm2, rtol=1e-9, atol=0, err_msg="bm2")
    # the weights differ between scenarios, so weighting wrongly (or not at all) would show above:
    assert gpu.thr_count.sum() > 0
    assert np.all(gpu.block_w1 < 2**32 * np.array([BLOCK, BLOCK, COUNT - 2 * BLOCK]))  # weights below 1
    one_cell = gpu.hist_counts[: gpu.hist_len[0]]
    assert np.unique(one_cell[one_cell > 0]).size > 3  # bins hold different weight sums, not multiples of one count
    prior = chunks["prior"]
    assert np.abs(prior.bmean - cpu.bmean).max() > 1e-3 * np.abs(cpu.bmean).max()  # weighted != unweighted means
    assert not np.array_equal(prior.hist_counts, cpu.hist_counts)


def test_a_device_chunk_merges_with_cpu_chunks(spec, chunks):
    """CPU chunk [0, START), then the device's chunk: the merged state is the all-CPU one."""
    from engine.stats.state import SummaryState

    mixed, ref = SummaryState(spec), SummaryState(spec)
    for state, second in ((mixed, chunks["gpu"]), (ref, chunks["cpu"])):
        state.add(chunks["first"])
        state.add(second)
    assert mixed.done == ref.done == START + COUNT
    assert np.array_equal(mixed.hist, ref.hist) and np.array_equal(mixed.thr_count, ref.thr_count)
    assert mixed.weight_units == ref.weight_units > 0
    np.testing.assert_allclose(mixed.weight_sq, ref.weight_sq, rtol=1e-12)
    np.testing.assert_allclose(mixed.n, ref.n, rtol=1e-12)
    np.testing.assert_allclose(mixed.mean, ref.mean, rtol=1e-12)
    np.testing.assert_allclose(mixed.m2, ref.m2, rtol=1e-9)
    np.testing.assert_allclose(mixed.quantiles(), ref.quantiles(), rtol=1e-12)


def _cpu_outputs(layout, seed, start, count):
    """Inputs and float64 outputs of scenarios ``start ..`` from the numba backend (2-D output views)."""
    from engine.backends import get_backend
    from engine.output.variables import empty_arrays

    be = get_backend("numba")
    out = empty_arrays(layout, count, np.float64)
    x = be.sample(layout, seed, start, count)
    be.project(layout, x, out)
    return x, tuple(
        np.ascontiguousarray(out[v].reshape(count, -1)) for v in ("electricity", "carbon", "water", "installed_accelerators")
    )


def _cpu_weights(layout, spec, x, outs):
    """Quantised weights [2^-32] of given scenarios, by the CPU (kernels.cpu_likelihood)."""
    from kernels.cpu_likelihood import scenario_weights

    n = x.shape[0]
    wq = np.empty(n, dtype=np.int64)
    cells = (spec.cell_var, spec.cell_ptr, spec.term_idx)
    scenario_weights(x, *outs, layout.n_regions, layout.n_years, *cells, *spec.observations.arrays(), np.empty(n), wq)
    return wq


def test_device_weights_are_the_cpus(layout, spec):
    """Each scenario's quantised weight: the device's fused kernels against the CPU's
    ``scenario_weights`` of the CPU's outputs (the same terms in the same order)."""
    from numba import cuda

    from engine.backends import get_backend
    from kernels import cuda as kc
    from kernels import cuda_summary as ks

    n, s0 = 32, 5000
    x, outs = _cpu_outputs(layout, SEED, s0, n)
    wq_cpu = _cpu_weights(layout, spec, x, outs)
    be = get_backend("cuda")
    tables = be._summary_tables(spec)
    dev_outs, ll = be._project_batch(layout, SEED, s0, n, tables["obs"])
    cell_obs = [tables["obs"][name] for name in ("src", "cell", "prev", "form", "par")]
    tile, wq = cuda.device_array((spec.n_cells, n)), cuda.device_array(n, dtype=np.int64)
    ks.summary_gather_weigh_kernel[kc.launch_config(n)](*dev_outs, *tables["cells"], *cell_obs, ll, tile, wq)
    assert np.array_equal(wq.copy_to_host(), wq_cpu)
    assert np.unique(wq_cpu).size > n // 2 and wq_cpu.max() > 0


def _cpu_summary_of(layout, spec, outs, wq, start):
    """The CPU's weighted ChunkSummary of given outputs and weights (engine.backends.host_summary)."""
    from engine.backends.host_summary import summarise_on_host
    from kernels.cpu_summary import accumulate_block

    def given_block(backend, layout, spec, seed, s0, n, tables, scratch, stats, buf):
        i = s0 - start
        scratch[7][:n] = wq[i : i + n]
        accumulate_block(*(o[i : i + n] for o in outs), s0, True, *tables, *scratch, *stats)

    return summarise_on_host(None, layout, spec, 0, start, outs[0].shape[0], given_block, needs_buffer=False)


def _device_summary_of(spec, outs, wq, start):
    """The device kernels' weighted statistics of given outputs and weights (one batch)."""
    from numba import cuda

    from engine.backends import get_backend
    from engine.backends.cuda_gpu import _DeviceStats
    from kernels import cuda as kc
    from kernels import cuda_summary as ks

    n = outs[0].shape[0]
    be = get_backend("cuda")
    tables = be._summary_tables(spec)
    stats = _DeviceStats(be, spec, -(-n // BLOCK), weighted=True)
    tile, wq_d = cuda.device_array((spec.n_cells, n)), cuda.to_device(wq)
    ks.summary_gather_kernel[kc.launch_config(n)](*(cuda.to_device(o) for o in outs), *tables["cells"], tile)
    ks.summary_weights_kernel[kc.launch_config(stats.block_n.shape[0])](
        wq_d, BLOCK, stats.block_n, stats.block_w1, stats.block_w2, 0
    )
    ks.summary_accumulate_weighted_kernel[kc.launch_config(spec.n_cells)](
        tile, tile.view(np.int64), wq_d, BLOCK, np.int64(start), *tables["thresholds"], stats.hist, stats.thr_count, stats.vmin,
        stats.vmax, stats.bad, stats.bmean, stats.bm2, 0,
    )  # fmt: skip
    stats.check_finite(0)
    return stats.chunk_summary(start, n, BLOCK)


def test_device_fold_is_the_cpus_given_the_same_values_and_weights(layout, spec, monkeypatch):
    """The same values and weights (one of 1, zeros, a whole sub-block of weight 0): the device's
    weighted statistics are the CPU's bit for bit in the simulator (the same float64 operations in
    the same order: sub-blocks of 32, folded in order); to rounding on a GPU (FMA contraction)."""
    import engine.backends.host_summary

    monkeypatch.setattr(engine.backends.host_summary, "MOMENT_BLOCK", BLOCK)
    n, start = BLOCK + 8, 3 * BLOCK  # blocks of 64 (sub-blocks 32, 32) and 8
    x, outs = _cpu_outputs(layout, SEED, start, n)
    wq = _cpu_weights(layout, spec, x, outs)
    wq[0] = 2**32  # weight 1
    wq[3] = wq[70] = 0
    wq[32:64] = 0  # the block's second sub-block weighs nothing
    cpu = _cpu_summary_of(layout, spec, outs, wq, start)
    gpu = _device_summary_of(spec, outs, wq, start)
    for name in ("hist_lo", "hist_len", "hist_counts", "thr_count", "block_w1", "vmin", "vmax"):
        assert np.array_equal(getattr(gpu, name), getattr(cpu, name)), name
    assert cpu.block_w1[0] == wq[:BLOCK].sum() and cpu.thr_count.sum() > 0
    for name in ("block_n", "block_w2", "bmean", "bm2"):
        a, b = getattr(gpu, name), getattr(cpu, name)
        if SIMULATOR:
            assert np.array_equal(a.view(np.uint64), b.view(np.uint64)), name
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=name)


def test_cli_weighted_summary_run_with_backend_cuda_matches_the_cpu(tmp_path):
    """``dcproj run configs/default.yaml --summary --backend cuda`` (the default config has
    observations): no refusal, and the file's statistics are the CPU's."""
    import xarray as xr
    from click.testing import CliRunner

    from engine.backends import backend_class
    from engine.cli import main

    assert backend_class("cuda").capabilities.weighted_summary
    files = {}
    for backend in ("cuda", "numba"):
        files[backend] = tmp_path / f"{backend}.nc"
        args = ["run", str(DEFAULT_CONFIG), "-n", "24", "--seed", "3", "--summary", "--backend", backend]
        args += ["-o", str(files[backend]), "--no-progress"]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
    with xr.open_dataset(files["cuda"]) as gpu, xr.open_dataset(files["numba"]) as cpu:
        assert gpu.attrs["backend"] == "cuda"
        assert gpu.attrs["conditioning"].startswith("weighted by the likelihood of")
        names = [n for n in cpu.data_vars if np.issubdtype(cpu[n].dtype, np.number)]
        assert "electricity_total_mean" in names and "sample_weight" in names
        for name in names:
            np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-9, err_msg=name)
