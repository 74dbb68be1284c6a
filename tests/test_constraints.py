"""The caps that bound a boom: the kernel's deployments against the NumPy reference, and who binds."""

from __future__ import annotations

import numpy as np
import pytest

from engine import load_config, run
from engine.analysis.constraints import REGIMES, binding
from engine.backends import get_backend
from engine.inputs.layout import build_layout
from engine.reference.model import deployments
from kernels.cpu_likelihood import _fill_vintages
from tests.conftest import DEFAULT_CONFIG


@pytest.fixture(scope="module")
def sample(default_config):
    layout = build_layout(default_config)
    return layout, get_backend("numba").sample(layout, 21, 0, 4000)


def test_kernel_deployments_equal_the_reference_and_respect_the_caps(sample):
    layout, x = sample
    ref = deployments(x, layout.n_regions, layout.n_years)
    ship, power = np.empty(layout.n_years), np.empty(layout.n_years)
    got = np.empty_like(ref["ship"])
    for s in range(x.shape[0]):
        _fill_vintages(x[s], layout.n_regions, layout.n_years, ship, power, np.empty(layout.n_years))
        got[s] = ship
    np.testing.assert_allclose(got, ref["ship"], rtol=1e-12)
    capped = ref["ship"] < ref["demand"]
    assert 0.01 < capped[:, 4:].mean() < 0.9  # the default's caps bind in some scenarios and years from 2026, not all
    assert (ref["ship"] <= ref["demand"] * (1 + 1e-15)).all()
    later = slice(4, None)  # 2026 on
    assert (ref["ship"][:, later] <= np.minimum(ref["supply_cap"], ref["buildout_cap"])[:, later] * (1 + 1e-15)).all()
    # the supply cap in GW: deployed rated power never exceeds it
    years = np.arange(layout.n_years)[later] + 2022
    names = list(layout.names)
    supply_gw = x[:, names.index("supply_power_2025")][:, None] * (1 + x[:, names.index("supply_growth")][:, None]) ** (years - 2025)
    assert (ref["ship"][:, later] * ref["power"][:, later] / 1000 <= supply_gw * (1 + 1e-12)).all()


def test_binding_shares(tmp_path):
    cfg = load_config(DEFAULT_CONFIG)
    ds = run(cfg, scenarios=3000, seed=4, prior=True, dtype="float64")
    table = binding(ds, years=[2026, 2030])
    for part in ("all", "tail"):
        np.testing.assert_allclose(table[[f"{part}_{r}" for r in REGIMES]].sum(axis=1), 1.0, rtol=1e-12)
    assert table["all_buildout"].iloc[0] > 0  # the build-out binds in 2026 for part of the prior
    loose = load_config(DEFAULT_CONFIG, overrides={"inputs.supply_power_2025": {"kind": "fixed", "value": 1e4, "source": "test"},
                                                   "inputs.buildout_power_2025": {"kind": "fixed", "value": 1e4, "source": "test"}})  # fmt: skip
    free = binding(run(loose, scenarios=1000, seed=4, prior=True), years=[2026, 2030])
    assert (free["all_demand"] == 1.0).all()  # caps far above demand never bind
