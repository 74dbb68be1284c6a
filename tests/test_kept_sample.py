"""A summary run keeps its first scenarios by index with their inputs and key outputs, the same
whatever the chunking, and equal to the same scenarios of a full cube."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from engine import run, run_to_file
from engine.analysis.results import total
from engine.stats.spec import MOMENT_BLOCK as BLOCK

N = 3 * BLOCK + 100
KEEP = BLOCK + 700  # spans two chunks of one block


@pytest.fixture(scope="module")
def summary_and_cube(default_config):
    s = run(default_config, scenarios=N, seed=5, summary=True, keep_sample=KEEP, chunk_size=BLOCK)
    c = run(default_config, scenarios=KEEP, seed=5, dtype="float64")
    return s, c


def test_the_kept_scenarios_are_those_of_the_full_cube(summary_and_cube):
    s, c = summary_and_cube
    assert s.sizes["sample"] == KEEP and list(s.sample.values[:3]) == [0, 1, 2]
    np.testing.assert_array_equal(s.sample_inputs.values, c.inputs.values)
    np.testing.assert_array_equal(s.sample_effective_inputs.values, c.effective_inputs.values)
    for b in ("incl_crypto", "dc_only"):
        np.testing.assert_allclose(s.sample_electricity_total.sel(boundary=b).values, total(c, "electricity", b).values, rtol=1e-6)
        np.testing.assert_allclose(s.sample_carbon_total.sel(boundary=b).values, total(c, "carbon", b).values, rtol=1e-6)
        np.testing.assert_allclose(s.sample_electricity_by_region.sel(boundary=b).values, total(c, "electricity", b, by="region").values, rtol=1e-6)
    np.testing.assert_allclose(s.sample_water_total.sel(boundary="incl_crypto").values, total(c, "water", "incl_crypto").values, rtol=1e-6)
    np.testing.assert_allclose(s.sample_installed_accelerators_total.values, total(c, "installed_accelerators").values, rtol=1e-6)


def test_the_kept_sample_does_not_depend_on_the_chunking(default_config, summary_and_cube):
    s, _ = summary_and_cube
    other = run(default_config, scenarios=N, seed=5, summary=True, keep_sample=KEEP, chunk_size=3 * BLOCK)
    for name in s.data_vars:
        if name.startswith("sample_"):
            np.testing.assert_array_equal(other[name].values, s[name].values)


def test_the_kept_sample_survives_a_file_and_can_be_switched_off(default_config, tmp_path):
    path = run_to_file(default_config, tmp_path / "s.nc", scenarios=BLOCK, seed=2, summary=True, keep_sample=50)
    with xr.open_dataset(path) as ds:
        assert ds.sizes["sample"] == 50 and ds.sample_inputs.sel(input="pue_ai").size == 50
        assert "first 50 scenarios" in ds.attrs["sample_note"]
    none = run(default_config, scenarios=BLOCK, seed=2, summary=True, keep_sample=0)
    assert "sample_inputs" not in none and "sample" not in none.dims


def test_the_kept_sample_survives_a_checkpoint(default_config, tmp_path):
    from engine.stats.state import SummaryState

    s = run(default_config, scenarios=2 * BLOCK, seed=3, summary=True, keep_sample=BLOCK + 10, chunk_size=BLOCK)
    from engine.execution.tasks import ChunkJob, compute_chunk
    from engine.inputs.layout import build_layout
    from engine.stats.spec import build_summary_spec

    layout = build_layout(default_config)
    spec = build_summary_spec(default_config, layout, keep_sample=BLOCK + 10)
    job = ChunkJob(layout, 3, "numba", "float64", spec)
    state = SummaryState(spec)
    state.add(compute_chunk(job, 0, BLOCK))
    state.save(tmp_path / "state.npz")
    back = SummaryState.load(spec, tmp_path / "state.npz")
    back.add(compute_chunk(job, BLOCK, BLOCK))
    from engine.stats.labels import state_dataset

    ds = state_dataset(back, dict(s.attrs))
    np.testing.assert_array_equal(ds.sample_inputs.values, s.sample_inputs.values)
    np.testing.assert_array_equal(ds.sample_electricity_total.values, s.sample_electricity_total.values)


def test_sensitivity_and_discovery_read_the_kept_sample(summary_and_cube):
    """The per-scenario analyses of a summary file use its kept scenarios: the same answer as on
    the full cube of those scenarios."""
    from engine.analysis.discovery import discover
    from engine.analysis.results import kept_sample_view
    from engine.analysis.sensitivity import ranked_table, sensitivity

    s, c = summary_and_cube
    view = kept_sample_view(s)
    assert view.sizes["scenario"] == KEEP and view.attrs["dcproj_kind"] == "kept_sample"
    np.testing.assert_allclose(total(view, "electricity", "dc_only").values, total(c, "electricity", "dc_only").values, rtol=1e-6)
    a = ranked_table(sensitivity(s, year=2030, boundary="dc_only", bootstrap=5, measures=["spearman"]), 2030, "dc_only", measure="spearman")
    b = ranked_table(sensitivity(c, year=2030, boundary="dc_only", bootstrap=5, measures=["spearman"]), 2030, "dc_only", measure="spearman")
    assert list(a.input[:5]) == list(b.input[:5])
    np.testing.assert_allclose(a.value.values, b.value.values, atol=1e-6)
    assert discover(s, "electricity.dc_only.2030 > 1000").boxes is not None


def test_the_accessor_exposes_sensitivity_and_discovery(summary_and_cube):
    from engine.analysis.sensitivity import sensitivity

    s, c = summary_and_cube
    via = c.dcproj.sensitivity(year=2030, boundary="dc_only", bootstrap=3, measures=["spearman"])
    direct = sensitivity(c, year=2030, boundary="dc_only", bootstrap=3, measures=["spearman"])
    np.testing.assert_array_equal(via.spearman.values, direct.spearman.values)
    assert s.dcproj.discover("electricity.dc_only.2030 > 1000").boxes is not None


def test_dcproj_summary_answers_any_threshold_with_its_error(default_config, tmp_path):
    """A threshold the run did not store is estimated from the kept scenarios, with its binomial error."""
    from click.testing import CliRunner

    from engine.cli import main

    path = run_to_file(default_config, tmp_path / "s.nc", scenarios=BLOCK, seed=8, summary=True, keep_sample=2000)
    res = CliRunner().invoke(main, ["summary", str(path), "--boundary", "dc_only", "--threshold", "2030>1000"])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(path) as ds:
        kept = ds.sample_electricity_total.sel(boundary="dc_only", year=2030).values.astype(np.float64)
        w = ds.sample_weight.values.astype(np.float64)  # the default is conditioned: the kept scenarios carry weights
    p = float(np.sum(w * (kept > 1000)) / np.sum(w))
    n_eff = np.sum(w) ** 2 / np.sum(w**2)  # Kish
    line = next(ln for ln in res.output.splitlines() if ln.startswith("P(electricity dc_only 2030 > 1000 TWh)"))
    assert "from the 2,000 kept scenarios" in line and f"= {p:.4f} ± {np.sqrt(p * (1 - p) / n_eff):.4f}" in line


def test_the_kept_inputs_carry_units_descriptions_and_sources(default_config, tmp_path):
    """A summary file describes its kept inputs as a cube does (the same coordinates), so analyses
    of the kept sample (sensitivity tables) label each input with its units."""
    from engine.analysis.sensitivity import sensitivity

    path = run_to_file(default_config, tmp_path / "s.nc", scenarios=2000, seed=8, summary=True, keep_sample=2000)
    cube = run(default_config, scenarios=10, seed=8)
    with xr.open_dataset(path) as ds:
        for name in ("input_units", "input_long_name", "input_source"):
            assert list(ds[name].values) == list(cube[name].values), name
        sens = sensitivity(ds, year=2030, measures=["spearman"], bootstrap=2)
    units = dict(zip(sens["input"].values, sens["input_units"].values, strict=True))
    assert units["total_2022"] == "TW h" and units["lifetime_mean"] == "yr"
