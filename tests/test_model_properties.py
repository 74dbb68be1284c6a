"""Property tests of the whole model (hypothesis): invariants that any correct model keeps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backends import get_backend
from engine.inputs.layout import build_layout
from engine.output.variables import empty_arrays
from kernels import columns as m


@pytest.fixture(scope="module")
def layout(default_config):
    return build_layout(default_config)


def _project(layout, x):
    out = empty_arrays(layout, x.shape[0], np.float64)
    get_backend("numba").project(layout, x, out)
    return out


def _col(layout, name):
    return layout.names.index(name)


def _uncapped(layout, x):
    """``x`` with the deployment caps out of reach: the invariants below are of the demand path (a
    binding cap turns more demand into equal deployments; the caps have tests of their own in
    test_constraints.py and test_hand_scenario.py)."""
    for name in ("supply_power_2025", "buildout_power_2025"):
        x[:, _col(layout, name)] = 1.0e6
    return x


@settings(max_examples=25, deadline=None)
@given(scenario=st.integers(0, 2**40), factor=st.floats(1.05, 3.0))
def test_accelerated_energy_scales_with_server_overhead(layout, scenario, factor):
    """Accelerated-server electricity is proportional to k_srv (every year and region), caps aside."""
    x = _uncapped(layout, get_backend("numba").sample(layout, 9, scenario, 1))
    y = x.copy()
    y[0, _col(layout, "server_overhead")] *= factor
    a, b = _project(layout, x), _project(layout, y)
    acc = m.COMPONENTS.index("accelerated_servers")
    np.testing.assert_allclose(b["electricity"][..., acc], factor * a["electricity"][..., acc], rtol=1e-12)


@settings(max_examples=10, deadline=None)
@given(scenario=st.integers(0, 2**40), factor=st.floats(1.05, 3.0))
def test_2022_total_ignores_server_overhead_by_construction(layout, scenario, factor):
    """Holds by construction: conventional IT is the residual of the sampled 2022 anchor, so a
    larger k_srv leaves the 2022 total (scenario 0, year 0) unchanged while the residual is positive."""
    x = get_backend("numba").sample(layout, 9, scenario, 1)
    y = x.copy()
    y[0, _col(layout, "server_overhead")] *= factor
    a, b = _project(layout, x), _project(layout, y)
    np.testing.assert_allclose(b["electricity"][0, 0].sum(), a["electricity"][0, 0].sum(), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(scenario=st.integers(0, 2**40), region_scale=st.floats(0.1, 10.0))
def test_regional_weights_are_scale_free(default_config, layout, scenario, region_scale):
    """Multiplying every regional weight of a kind by the same number changes nothing."""
    x = get_backend("numba").sample(layout, 3, scenario, 1)
    y = x.copy()
    for r in default_config.regions:
        y[0, _col(layout, f"accelerator_share.{r}")] *= region_scale
        y[0, _col(layout, f"crypto_share.{r}")] *= region_scale
    a, b = _project(layout, x), _project(layout, y)
    for name in ("electricity", "carbon", "water", "installed_accelerators"):
        np.testing.assert_allclose(b[name], a[name], rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(scenario=st.integers(0, 2**40), years_longer=st.floats(0.5, 3.0))
def test_longer_lives_never_shrink_the_fleet(layout, scenario, years_longer):
    """Caps aside (a binding build-out cap credits retired halls, so fewer retirements mean fewer new ones)."""
    x = _uncapped(layout, get_backend("numba").sample(layout, 5, scenario, 1))
    y = x.copy()
    y[0, _col(layout, "lifetime_mean")] += years_longer
    a, b = _project(layout, x), _project(layout, y)
    assert (b["installed_accelerators"] >= a["installed_accelerators"] * (1 - 1e-12)).all()
    assert b["installed_accelerators"][0, -1].sum() > a["installed_accelerators"][0, -1].sum()
