"""What a user sees for a config mistake: the kind's full parameter list, the physical domain, the kinds table."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.config import ConfigError, load_config
from tests.conftest import DEFAULT_CONFIG


@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ("inputs.pue_ai={kind: pert, low: 1.1, high: 1.3, source: x}", "pue_ai.mode: required key is missing; pert takes low, mode, high, lamb (default 4.0), source"),
        ("inputs.pue_ai.lambda=3", "pert takes low, mode, high, lamb"),
        ("inputs.wue={kind: beta, alpha: 2, source: x}", "beta takes alpha, beta, low (default 0.0), high (default 1.0), source"),
    ],
)
def test_a_missing_or_unknown_parameter_names_the_kinds_parameters(override, expect):
    with pytest.raises(ConfigError) as info:
        load_config(DEFAULT_CONFIG, overrides=[override])
    assert expect in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ("inputs.storage_share_2022={kind: uniform, low: 0.1, high: 1.5, source: x}", "[0, 1]"),
        ("inputs.pue_floor={kind: normal, mean: 1.2, sd: 0.1, source: x}", "[1, inf)"),
        ("inputs.shipments_growth_longrun={kind: uniform, low: -1.5, high: 0.1, source: x}", "(-1, inf)"),
        ("inputs.lifetime_mean={kind: uniform, low: 0, high: 6, source: x}", "(0, inf)"),
    ],
)
def test_a_distribution_that_can_leave_the_physical_domain_is_rejected(override, expect):
    with pytest.raises(ConfigError) as info:
        load_config(DEFAULT_CONFIG, overrides=[override])
    msg = str(info.value)
    key = override.split("=")[0]
    assert key in msg and "physical domain" in msg and expect in msg, msg


def test_storage_and_network_shares_must_leave_room_for_servers():
    with pytest.raises(ConfigError, match="storage \\+ network must stay below 1"):
        load_config(DEFAULT_CONFIG, overrides=["inputs.storage_share_2022={kind: uniform, low: 0.5, high: 0.7, source: x}",
                                               "inputs.network_share_2022={kind: uniform, low: 0.2, high: 0.4, source: x}"])  # fmt: skip


def test_a_truncated_normal_inside_the_domain_is_accepted():
    cfg = load_config(DEFAULT_CONFIG, overrides=["inputs.pue_floor={kind: normal, mean: 1.2, sd: 0.1, lower: 1.0, source: x}"])
    assert cfg.inputs.pue_floor.lower == 1.0


def test_a_correlation_on_a_fixed_input_is_rejected():
    with pytest.raises(ConfigError, match="is fixed"):
        load_config(DEFAULT_CONFIG, overrides=["inputs.pue_ai={kind: fixed, value: 1.2, source: x}"])  # pue_ai is correlated


def test_kinds_command_lists_every_kind_with_its_parameters():
    res = CliRunner().invoke(main, ["kinds"])
    assert res.exit_code == 0
    for kind, params in {"pert": ["low", "mode", "high", "lamb"], "beta": ["alpha", "beta"], "percentile": ["p_low", "p_high", "shape"],
                         "lognormal": ["mu", "median", "sigma", "lower", "upper"]}.items():  # fmt: skip
        block = res.output.split(f"{kind}:\n", 1)[1].split(":\n", 1)[0]
        assert all(p in block for p in params), (kind, block)
    assert "dcproj kinds" in CliRunner().invoke(main, ["validate", "--help"]).output


@pytest.mark.parametrize(
    ("threshold", "expect"),
    [
        ("{year: 2040, value: 10}", "thresholds[0].year: 2040 is outside the projection years 2022..2035"),
        ("{year: 2030, value: 10, boundary: dc}", "thresholds[0].boundary: unknown boundary 'dc'"),
        ("{year: 2030, value: 10, variable: power}", "thresholds[0].variable: unknown variable 'power'"),
    ],
)
def test_config_thresholds_are_checked_by_validate(threshold, expect):
    res = CliRunner().invoke(main, ["validate", str(DEFAULT_CONFIG), "--set", f"thresholds=[{threshold}]"])
    assert res.exit_code == 2 and expect in res.output, res.output


def test_a_full_cube_honours_the_config_thresholds(tmp_path):
    """The probabilities stored in the cube equal the fraction computed from its own scenarios."""
    import xarray as xr

    from engine import run_to_file
    from engine.analysis.results import total

    cfg = load_config(DEFAULT_CONFIG, overrides=["thresholds=[{year: 2030, value: 1000}, {year: 2026, value: 560, boundary: dc_only}]"])
    path = run_to_file(cfg, tmp_path / "t.nc", scenarios=3000, seed=4, dtype="float64", chunk_size=700)
    with xr.open_dataset(path) as ds:
        p = ds.exceedance_probability.values
        w = ds.weight.values  # the default is conditioned on its observations: weighted fractions
        exact = [float(np.sum(w * (total(ds, "electricity", "incl_crypto").sel(year=2030).values > 1000)) / w.sum()),
                 float(np.sum(w * (total(ds, "electricity", "dc_only").sel(year=2026).values > 560)) / w.sum())]  # fmt: skip
        np.testing.assert_allclose(p, exact, rtol=0, atol=1e-12)
        assert list(ds.threshold_label.values) == ["P(electricity incl_crypto 2030 > 1000 TWh)", "P(electricity dc_only 2026 > 560 TWh)"]
        assert 0 < p[0] < 1 and 0 < p[1] < 1
        assert ds.attrs["clipped_conventional_it_2022"] >= 0
