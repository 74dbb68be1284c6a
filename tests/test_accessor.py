"""``ds.dcproj``: totals, quantiles and exceedance of full cubes (weighted or not) and summary
files, each checked against values computed independently (numpy on the raw arrays, replication
of integer weights, the binomial formula, the summary file read through xarray)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from engine.analysis.weighted import kish_ess, weighted_quantile
from engine.errors import AnalysisError
from tests import _analysis_runs as runs

LEVELS = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0]


# --- the weighted quantile ------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_quantile_equals_the_replicated_sample(seed):
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=(3, 301))
    w = rng.integers(0, 6, 301).astype(float)
    got = weighted_quantile(x, w, LEVELS)
    for i in range(3):
        rep = np.repeat(x[i], w.astype(int))
        np.testing.assert_array_equal(got[:, i], np.quantile(rep, LEVELS, method="inverted_cdf"))


def test_weighted_quantile_with_equal_weights_is_the_inverted_cdf():
    x = np.random.default_rng(5).normal(size=1000)
    for scale in (1.0, 0.37, 1e6):
        np.testing.assert_array_equal(
            weighted_quantile(x, np.full(x.size, scale), LEVELS), np.quantile(x, LEVELS, method="inverted_cdf")
        )


def test_weighted_quantile_on_ties_and_a_hand_example():
    # sorted values 1, 2, 3 with weights 1, 2, 1: cumulative 1/4, 3/4, 1
    assert weighted_quantile([3.0, 1.0, 2.0], [1, 1, 2], [0.25, 0.26, 0.75, 0.76]).tolist() == [1.0, 2.0, 2.0, 3.0]


@pytest.mark.parametrize("w, message", [([1, -1, 1], "negative"), ([1, np.nan, 1], "NaN"), ([0, 0, 0], "all weights are zero")])
def test_weighted_quantile_refuses_bad_weights(w, message):
    with pytest.raises(AnalysisError, match=message):
        weighted_quantile([1.0, 2.0, 3.0], w, [0.5])


def test_kish_effective_sample_size():
    assert kish_ess(np.ones(10)) == pytest.approx(10)
    assert kish_ess([1, 1, 0, 0]) == pytest.approx(2)
    w = np.random.default_rng(0).random(50)
    assert kish_ess(w) == pytest.approx(w.sum() ** 2 / (w**2).sum())


# --- full cubes -----------------------------------------------------------------------------


def test_total_and_unweighted_quantiles_match_numpy():
    ds = runs.cube()
    tot = runs.dc_total_numpy(ds)
    np.testing.assert_allclose(ds.dcproj.total(boundary="dc_only").values, tot, rtol=1e-12)
    q = ds.dcproj.quantiles([0.05, 0.5, 0.95], boundary="dc_only")
    assert q.dims == ("quantile", "year") and q.attrs["units_label"] == "TWh"
    np.testing.assert_allclose(q.values, np.quantile(tot, [0.05, 0.5, 0.95], axis=0), rtol=1e-12)


def test_region_quantiles_match_numpy():
    ds = runs.cube()
    tot = runs.dc_total_numpy(ds, runs.DC_ONLY + ["crypto"], region="china")
    got = ds.dcproj.quantiles([0.1, 0.9], boundary="incl_crypto", region="china")
    np.testing.assert_allclose(got.values, np.quantile(tot, [0.1, 0.9], axis=0), rtol=1e-12)


def test_weighted_quantiles_equal_the_replicated_cube():
    ds = runs.cube()
    w = runs.integer_weights()
    got = runs.with_weights(ds, w).dcproj.quantiles(LEVELS, boundary="dc_only")
    rep = np.repeat(runs.dc_total_numpy(ds), w.astype(int), axis=0)
    np.testing.assert_allclose(got.values, np.quantile(rep, LEVELS, axis=0, method="inverted_cdf"), rtol=1e-12)
    # the replicated cube itself, through xarray (inverted CDF with equal weights)
    cube_rep = ds.isel(scenario=np.repeat(np.arange(ds.sizes["scenario"]), w.astype(int)))
    same = runs.with_weights(cube_rep, np.ones(cube_rep.sizes["scenario"])).dcproj.quantiles(LEVELS)
    np.testing.assert_allclose(got.values, same.values, rtol=1e-12)


def test_weighted_summary_table_uses_the_weights():
    ds = runs.with_weights(runs.cube(), runs.integer_weights())
    frame = ds.dcproj.summary(boundary="dc_only")
    q = ds.dcproj.quantiles([0.05, 0.5, 0.95])
    np.testing.assert_allclose(frame["p50"].values, q.sel(quantile=0.5).values)
    w, tot = runs.integer_weights(), runs.dc_total_numpy(runs.cube())
    np.testing.assert_allclose(frame["mean"].values, (w[:, None] * tot).sum(0) / w.sum(), rtol=1e-12)
    assert ds.dcproj.weighted and not runs.cube().dcproj.weighted


def test_exceedance_of_a_cube_and_its_binomial_error():
    ds = runs.cube()
    tot = runs.dc_total_numpy(ds)[:, list(ds.year.values).index(2030)]
    ex = ds.dcproj.exceedance(1000, year=2030, boundary="dc_only")
    p = np.mean(tot > 1000)
    assert ex.probability == pytest.approx(p, abs=1e-15)
    assert ex.standard_error == pytest.approx(np.sqrt(p * (1 - p) / tot.size), rel=1e-12)
    assert ex.n_effective == tot.size and not ex.stored and "2030 > 1000 TWh" in ex.event
    assert float(ex) == ex.probability


def test_weighted_exceedance_uses_kish_ess():
    ds = runs.cube()
    tot = runs.dc_total_numpy(ds)[:, list(ds.year.values).index(2030)]
    w = runs.smooth_weights(ds)
    ex = runs.with_weights(ds, w).dcproj.exceedance(1000, year=2030)
    p = np.sum(w * (tot > 1000)) / np.sum(w)
    n_eff = np.sum(w) ** 2 / np.sum(w**2)
    assert ex.probability == pytest.approx(p, rel=1e-12)
    assert ex.n_effective == pytest.approx(n_eff, rel=1e-12) and n_eff < ds.sizes["scenario"]
    assert ex.standard_error == pytest.approx(np.sqrt(p * (1 - p) / n_eff), rel=1e-12)
    wi = runs.integer_weights()  # integer weights: the probability of the replicated sample
    rep = np.repeat(tot, wi.astype(int))
    assert runs.with_weights(ds, wi).dcproj.exceedance(1000, 2030).probability == pytest.approx(np.mean(rep > 1000), abs=1e-15)


def test_quantile_error_on_a_normal_sample():
    """SE of the median ≈ sqrt(pi/2) sigma / sqrt(n) for a normal sample (asymptotic theory)."""
    n, sigma = 20_000, 100.0
    ds = runs.synthetic_cube(np.random.default_rng(0).normal(1000, sigma, n))
    se = float(ds.dcproj.quantile_error([0.5]).sel(year=2030, quantile=0.5))
    assert se == pytest.approx(np.sqrt(np.pi / 2) * sigma / np.sqrt(n), rel=0.25)
    w = np.random.default_rng(1).uniform(0, 2, n)  # weights lower n_eff, so the error grows by about sqrt(n / n_eff)
    se_w = float(runs.synthetic_cube(ds.electricity.values[:, 0, 0, 0], w).dcproj.quantile_error([0.5]).squeeze())
    assert se_w == pytest.approx(se * np.sqrt(n / kish_ess(w)), rel=0.3)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ds: ds.dcproj.exceedance(1000, year=2050), "year 2050 is not in the file"),
        (lambda ds: ds.dcproj.quantiles(boundary="nope"), "unknown boundary 'nope'"),
        (lambda ds: ds.dcproj.quantiles(region="mars"), "region 'mars' is not in the file"),
        (lambda ds: ds.dcproj.quantiles([1.5]), "must lie in"),
        (lambda ds: ds.assign(weight=("year", np.ones(ds.sizes["year"]))).dcproj.quantiles(), "single dimension 'scenario'"),
        (lambda ds: runs.with_weights(ds, -np.ones(ds.sizes["scenario"])).dcproj.quantiles(), "negative"),
    ],
)
def test_bad_questions_are_analysis_errors(call, message):
    with pytest.raises(AnalysisError, match=message):
        call(runs.cube())


def test_not_a_run_file():
    with pytest.raises(AnalysisError, match="not a dcproj run file"):
        xr.Dataset().dcproj.quantiles()


# --- summary files --------------------------------------------------------------------------


def test_summary_quantiles_are_the_stored_ones():
    s = runs.summary()
    got = s.dcproj.quantiles([0.05, 0.5, 0.95], boundary="incl_crypto")
    stored = s.electricity_total_quantile.sel(boundary="incl_crypto", quantile=[0.05, 0.5, 0.95])
    np.testing.assert_array_equal(got.values, stored.values)
    reg = s.dcproj.quantiles([0.5], boundary="dc_only", region="europe")
    np.testing.assert_array_equal(
        reg.values, s.electricity_by_region_quantile.sel(boundary="dc_only", region="europe", quantile=[0.5]).values
    )


def test_summary_levels_not_stored_are_interpolated_or_refused():
    s = runs.summary()
    stored = s.electricity_total_quantile.sel(boundary="dc_only")
    got = s.dcproj.quantiles([0.3], boundary="dc_only").sel(quantile=0.3)
    lo, hi = stored.sel(quantile=0.25).values, stored.sel(quantile=0.5).values
    np.testing.assert_allclose(got.values, lo + (0.3 - 0.25) / (0.5 - 0.25) * (hi - lo), rtol=1e-12)
    assert "interpolated" in s.dcproj.quantiles([0.3]).attrs["quantile_note"]
    with pytest.raises(AnalysisError, match=r"stores quantiles at levels \[0.01, 0.05"):
        s.dcproj.quantiles([0.001])
    with pytest.raises(AnalysisError, match=r"\[0.3\] are not stored"):
        s.dcproj.quantiles([0.3], interpolate=False)


def test_summary_exceedance_is_the_stored_probability():
    s = runs.summary()
    ex = s.dcproj.exceedance(1000, year=2030, boundary="dc_only")
    i = int(np.flatnonzero((s.threshold_boundary.values == "dc_only") & (s.threshold_value.values == 1000))[0])
    p = float(s.exceedance_probability.values[i])
    assert ex.stored and ex.probability == p
    assert ex.standard_error == pytest.approx(np.sqrt(p * (1 - p) / runs.SCENARIOS))
    est = s.dcproj.exceedance(900, year=2030)  # not stored: estimated from the kept scenarios
    kept = s.sample_electricity_total.sel(boundary="dc_only", year=2030).values.astype(np.float64)
    assert not est.stored and "kept scenarios" in est.event
    assert est.probability == pytest.approx(float((kept > 900).mean()), abs=1e-12)
    with pytest.raises(
        AnalysisError, match=r"holds: P\(electricity incl_crypto 2030 > 1000 TWh\), P\(electricity dc_only 2030 > 1000"
    ):
        s.drop_vars([v for v in s.data_vars if v.startswith("sample_")]).dcproj.exceedance(900, year=2030)


def test_summary_has_no_per_scenario_total():
    with pytest.raises(AnalysisError, match="no per-scenario totals"):
        runs.summary().dcproj.total()


def test_summary_and_cube_of_the_same_run_agree():
    """Same seed and scenarios: the histogram quantiles and the exact ones differ by < 2 %."""
    full, s = runs.cube(), runs.summary()
    np.testing.assert_allclose(
        s.dcproj.quantiles([0.25, 0.5, 0.75]).values, full.dcproj.quantiles([0.25, 0.5, 0.75]).values, rtol=0.02
    )
    assert s.dcproj.exceedance(1000, 2030).probability == pytest.approx(
        full.dcproj.exceedance(1000, 2030).probability, abs=1.5 / runs.SCENARIOS
    )


def test_the_file_on_disk_answers_like_the_cube_in_memory():
    with xr.open_dataset(runs.cube_file()) as ds:
        np.testing.assert_allclose(ds.dcproj.quantiles().values, runs.cube().dcproj.quantiles().values, rtol=1e-12)


def test_import_engine_registers_the_accessor():
    code = "import engine, xarray as xr; assert hasattr(xr.Dataset, 'dcproj'), 'ds.dcproj is not registered by import engine'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=runs.ROOT)
    assert out.returncode == 0, out.stderr
