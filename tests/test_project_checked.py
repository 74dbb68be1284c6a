"""The fused projection pass of full cubes (:func:`kernels.cpu.project_checked`): the same outputs as
:func:`kernels.cpu.project`, the same weights as :func:`kernels.cpu_likelihood.scenario_weights`
computes from the stored arrays, and every non-finite scenario found (the reference here is the
separate pass :func:`engine.backends.finite.check_finite`)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import run_to_file
from engine.backends import get_backend
from engine.backends.base import BACKENDS, backend_class, register
from engine.conditioning.cube import add_weights
from engine.errors import NonFiniteError
from engine.inputs.layout import build_layout
from engine.output.variables import empty_arrays
from engine.stats.spec import build_summary_spec
from kernels import columns, cpu

N = 3 * cpu.THREAD_BLOCK + 17  # four blocks, the last one short


@pytest.fixture(scope="module")
def setup(default_config):
    layout = build_layout(default_config)
    be = get_backend("numba")
    return layout, be, be.sample(layout, 7, 100, N), build_summary_spec(default_config, layout, [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_and_weights_equal_the_separate_passes(setup, dtype):
    layout, be, x, spec = setup
    assert spec.observations.weighted
    ref = empty_arrays(layout, N, dtype)
    be.project(layout, x, ref)
    ref["inputs"] = x
    add_weights(spec, layout, ref)
    out = empty_arrays(layout, N, dtype)
    out["log_likelihood"] = np.full(N, np.nan)
    wq, suspect = be.project_checked(layout, x, out, spec)
    assert not suspect
    for v in ("electricity", "carbon", "water", "installed_accelerators"):
        assert np.array_equal(out[v], ref[v]), v
    assert np.array_equal(out["log_likelihood"], ref["log_likelihood"])
    assert np.array_equal(wq / 2.0**32, ref["weight"])
    assert 0 < wq.sum() < N * 2**32  # weights strictly between "all zero" and "all one"


def test_unweighted_pass_returns_no_weights(setup):
    layout, be, x, _ = setup
    out = empty_arrays(layout, N, np.float32)
    wq, suspect = be.project_checked(layout, x, out, None)
    assert wq is None and not suspect


@pytest.mark.parametrize("where", ["input", "output_only"])
def test_every_block_reports_its_first_non_finite_scenario(setup, where):
    layout, be, x, _ = setup
    x = x.copy()
    planted = [5, 2 * cpu.THREAD_BLOCK + 3, 2 * cpu.THREAD_BLOCK + 9, N - 1]
    for s in planted:
        if where == "input":
            x[s, columns.I_UTRAIN] = np.nan
        else:  # finite inputs whose output is not: every region's accelerator share 0 (0/0)
            base = columns.N_GLOBAL + columns.R_ACC_SHARE * layout.n_regions
            x[s, base : base + layout.n_regions] = 0.0
    out = empty_arrays(layout, N, np.float32)
    first_bad = np.empty(4, dtype=np.int64)
    arrays = [out[v] for v in ("electricity", "carbon", "water", "installed_accelerators")]
    z = np.zeros(0, dtype=np.int64)
    cpu.project_checked(x, layout.n_regions, layout.n_years, *arrays, z, z, z, z, z, z, z, z, np.zeros((0, 3)), np.zeros(0), z, first_bad)
    assert first_bad.tolist() == [5, -1, 2 * cpu.THREAD_BLOCK + 3, N - 1]
    # the reference: which rows hold a non-finite value, in a separate pass
    rows = np.zeros(N, dtype=bool)
    for a in [x, *arrays]:
        rows |= ~np.isfinite(a.reshape(N, -1)).all(axis=1)
    assert np.flatnonzero(rows).tolist() == planted


@pytest.fixture
def nan_input_backend(default_config):
    """The numba backend (fused checking pass) with a NaN planted in one input of scenario 5000."""
    base = backend_class("numba")

    @register("nan_input_test")
    class NanInputBackend(base):
        def sample_into(self, layout, seed, start, x):
            super().sample_into(layout, seed, start, x)
            if start <= 5000 < start + x.shape[0]:
                x[5000 - start, columns.I_KSRV] = np.nan
            return x

    yield "nan_input_test"
    BACKENDS.pop("nan_input_test")


def test_a_non_finite_scenario_found_by_the_fused_pass_fails_the_run(default_config, nan_input_backend, tmp_path):
    with pytest.raises(NonFiniteError) as info:
        run_to_file(default_config, tmp_path / "x.nc", scenarios=3 * 4096, seed=2, backend=nan_input_backend, chunk_size=4096)
    msg = str(info.value)
    assert "scenario 5000" in msg and "chunk of scenarios 4096..8191" in msg
    assert "server_overhead=nan" in msg
    assert not list(tmp_path.iterdir())


def test_normalised_groups_equal_numpys_whole_array_code():
    rng = np.random.default_rng(3)
    x = rng.lognormal(size=(1000, 30))
    cols = np.array([[3, 4, 5, 6], [20, 9, 11, 2], [29, 0, 1, 17]], dtype=np.int64)
    out = np.empty((1000, 12))
    cpu.normalise_groups(x, cols, out)
    ref = np.concatenate([x[:, c] / x[:, c].sum(axis=1, keepdims=True) for c in cols], axis=1)
    assert np.array_equal(out, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_maxima_counted_as_numpy_counts_them(dtype):
    rng = np.random.default_rng(4)
    e = rng.uniform(0.1, 1.0, size=(500, 3, 4, 6)).astype(dtype)
    e[::7, 0, :, 1:4] = 0.0  # clipped rows: all twelve values 0
    e[::11, 0, 2, 1:4] = -1.0  # some of them with negative values beside the zeros: the maximum is still 0
    e[5::13, 0, 1, 2] = np.nan  # NaN: NumPy's maximum is NaN, not 0
    e[3::17, 0, :, 1:4] = 0.0
    e[3::17, 0, 3, 3] = 1e-30  # one tiny positive value: not clipped
    e[::7, 0, :, 0] = 5.0  # other components and years do not count
    e[::7, 1] = 0.0
    ref = int((e[:, 0, :, 1:4].reshape(500, -1).max(axis=1) == 0.0).sum())
    assert 40 < ref < 80
    assert cpu.count_zero_maxima(e, 0, 1, 4) == ref
