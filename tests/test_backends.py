"""Reference tests: numba kernels vs the NumPy reference; chunking and threads invariance."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import xarray as xr

from engine import run

OUTPUTS = ["electricity", "carbon", "water", "installed_accelerators", "inputs"]


def test_numba_and_numpy_backends_agree_on_every_output(default_config, small_run):
    ref = run(default_config, scenarios=2000, seed=7, dtype="float64", backend="numpy")
    for name in OUTPUTS[:-1]:
        np.testing.assert_allclose(small_run[name].values, ref[name].values, rtol=1e-9, atol=0, err_msg=name)
    # inputs: rtol 1e-9, and 1e-9 of each input's spread for values that cross zero (growth rates)
    spread = ref.inputs.std("scenario").values
    diff = np.abs(small_run.inputs.values - ref.inputs.values)
    assert (diff <= 1e-9 * np.abs(ref.inputs.values) + 1e-9 * spread).all()
    # not a trivial agreement: the inputs vary across scenarios
    assert float(ref.inputs.sel(input="lifetime_mean").std()) > 0.5


def test_outputs_are_finite_and_non_negative(small_run):
    for name in OUTPUTS[:-1]:
        values = small_run[name].values
        assert np.isfinite(values).all(), name
        assert (values >= 0).all(), name


@pytest.mark.parametrize("chunk_size", [1, 7, 1000, None])
def test_cube_is_bit_identical_whatever_the_chunk_size(default_config, chunk_size):
    whole = run(default_config, scenarios=300, seed=11, chunk_size=300)
    chunked = run(default_config, scenarios=300, seed=11, chunk_size=chunk_size)
    for name in OUTPUTS:
        assert np.array_equal(whole[name].values, chunked[name].values), name


def test_cube_is_bit_identical_whatever_the_thread_count(default_config):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run(default_config, scenarios=3000, seed=5)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run(default_config, scenarios=3000, seed=5)
    finally:
        numba.set_num_threads(before)
    xr.testing.assert_identical(one.drop_attrs(), two.drop_attrs())


def test_a_scenario_can_be_regenerated_alone(default_config, small_run):
    """Scenario 1234 of a 2000-scenario run equals the same scenario computed by itself."""
    from engine.backends import get_backend
    from engine.inputs.layout import build_layout
    from engine.output.variables import empty_arrays

    layout = build_layout(default_config)
    be = get_backend("numba")
    out = empty_arrays(layout, 1, np.float64)
    out["inputs"][...] = be.sample(layout, 7, 1234, 1)
    be.project(layout, out["inputs"], out)
    for name in OUTPUTS:
        assert np.array_equal(out[name][0], small_run[name].values[1234]), name


def test_different_seeds_give_different_cubes(default_config):
    a = run(default_config, scenarios=50, seed=1)
    b = run(default_config, scenarios=50, seed=2)
    assert not np.array_equal(a.electricity.values, b.electricity.values)


def test_base_year_total_reproduces_the_sampled_anchor_by_construction(small_run):
    """The 2022 total of every scenario equals its sampled total_2022 input (the residual closes)."""
    total = small_run.electricity.sel(year=2022).sum(["region", "component"])
    np.testing.assert_allclose(total, small_run.inputs.sel(input="total_2022"), rtol=1e-12)


def test_regional_shares_and_boundaries_add_up(small_run):
    acc = small_run.installed_accelerators.sum("region")
    assert (acc.diff("year").sel(year=2023) > 0).all()  # the fleet grows in 2023 in every scenario
    e = small_run.electricity
    it = e.sel(component=["accelerated_servers", "conventional_servers", "storage", "network"]).sum("component")
    onsite = small_run.water.sel(water_source="onsite").sum("component")
    np.testing.assert_allclose(onsite, it * small_run.inputs.sel(input="wue"), rtol=1e-12)
