"""Given-data sensitivity: estimators against analytic indices, SALib, scipy and replication;
the cube layer (effective inputs, fixed inputs, weights, summary files) and the command line."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from scipy import stats

from engine.analysis.estimators import MEASURES, indices, weighted_ranks
from engine.analysis.sensitivity import input_matrix, ranked_table, sensitivity
from engine.errors import AnalysisError
from tests.conftest import DEFAULT_CONFIG


@functools.lru_cache(maxsize=1)
def default_cube() -> xr.Dataset:
    """5 000 scenarios of the default config, seed 1 (shared with tests/test_discovery.py)."""
    from engine import load_config, run

    return run(load_config(DEFAULT_CONFIG), scenarios=5000, seed=1, prior=True)  # unweighted; weights are added where tested


@pytest.fixture(scope="session")
def cube():
    return default_cube()


def _covers(est, truth, stretch=1.5):
    """``truth`` lies within the interval of ``est`` stretched about its centre by ``stretch``."""
    half = stretch * (est.high - est.low) / 2.0
    return np.abs(est.value - truth) <= half


# --- estimators against analytic values -------------------------------------------------------------


def test_linear_model_first_order_matches_analytic():
    a, sd = np.array([1.0, 2.0, 0.5, 0.0]), np.array([1.0, 1.0, 2.0, 1.0])
    exact = (a * sd) ** 2 / ((a * sd) ** 2).sum()  # S_i = a_i² σ_i² / Σ a_j² σ_j²
    x = np.random.default_rng(11).normal(0.0, sd, (20_000, 4))
    est = indices(x, x @ a, measures=["first_order"], bootstrap=20, seed=3)["first_order"]
    assert _covers(est, exact).all(), (est, exact)
    assert est.value.sum() <= 1.0 + (est.high - est.value).sum()  # independent inputs: Σ S_i ≤ 1 within error
    assert est.value.sum() >= 0.97


def test_ishigami_first_order_matches_analytic():
    a, b = 7.0, 0.1
    v1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    v2 = a**2 / 8
    var = v1 + v2 + b**2 * np.pi**8 * 8 / 225  # + V13
    exact = np.array([v1 / var, v2 / var, 0.0])
    assert exact[:2] == pytest.approx([0.3139, 0.4424], abs=1e-4)
    x = np.random.default_rng(5).uniform(-np.pi, np.pi, (20_000, 3))
    y = np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])
    est = indices(x, y, measures=["first_order"], bootstrap=20, seed=0)["first_order"]
    assert _covers(est, exact).all(), (est, exact)


def _delta_linear_gaussian(a, sd):
    """Exact δ_i of Y = Σ a_i X_i, X_i ~ N(0, σ_i) independent: ½ E ∫ |N(0, s²) − N(a_i x, s² − a_i² σ_i²)| dy."""
    s = np.sqrt(((a * sd) ** 2).sum())
    y = np.linspace(-8 * s, 8 * s, 4001)
    z, wz = np.polynomial.hermite_e.hermegauss(80)
    wz = wz / wz.sum()
    f0 = stats.norm.pdf(y, 0, s)
    out = []
    for ai, si in zip(a, sd, strict=True):
        rest = np.sqrt(s**2 - (ai * si) ** 2)
        out.append(
            0.5
            * sum(w * np.trapezoid(np.abs(f0 - stats.norm.pdf(y, ai * si * zz, rest)), y) for zz, w in zip(z, wz, strict=True))
        )
    return np.array(out)


def test_delta_matches_exact_linear_gaussian():
    a, sd = np.array([1.0, 2.0, 0.0, 3.0]), np.ones(4)
    exact = _delta_linear_gaussian(a, sd)
    assert exact[2] == 0.0 and exact[3] > exact[1] > exact[0] > 0.05
    x = np.random.default_rng(2).normal(size=(20_000, 4))
    est = indices(x, x @ a, measures=["delta"], bootstrap=10, seed=1)["delta"]
    assert np.abs(est.value - exact).max() < 0.025, (est.value, exact)  # the estimator's known bias, see attrs notes
    assert list(np.argsort(est.value)) == list(np.argsort(exact))


@pytest.mark.slow
def test_delta_agrees_with_salib():
    salib_delta = pytest.importorskip("SALib.analyze.delta")
    a = np.array([1.0, 2.0])
    x = np.random.default_rng(1).normal(size=(2000, 2)) + 10.0  # positive inputs: SALib's 'step' mode skips itself
    y = x @ a
    problem = {"num_vars": 2, "names": ["x1", "x2"], "bounds": [[0, 1]] * 2}
    with warnings.catch_warnings(record=True):  # SALib's notices (it sets its own warning filter, so record them)
        ref = salib_delta.analyze(problem, x, y, num_resamples=10, seed=1, method="delta")
    est = indices(x, y, measures=["delta"], bootstrap=20, seed=0)["delta"]
    half = (est.high - est.low) / 2.0
    gap = np.abs(est.value - np.asarray(ref["delta_raw"]))
    assert (gap <= np.asarray(ref["delta_raw_conf"]) + half).all(), (est, ref["delta_raw"], ref["delta_raw_conf"])


def test_rank_correlations_against_independent_implementations():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 3))
    x[:, 2] = 0.6 * x[:, 0] + 0.8 * x[:, 2]  # correlated inputs
    y = np.c_[np.exp(x[:, 0]) + x[:, 1] ** 3 + 0.5 * x[:, 2], x[:, 1]]
    est = indices(x, y, measures=["spearman", "prcc"], bootstrap=0)
    for j in range(2):
        for i in range(3):
            assert est["spearman"].value[i, j] == pytest.approx(stats.spearmanr(x[:, i], y[:, j])[0], abs=1e-12)
    rx, ry = stats.rankdata(x, axis=0), stats.rankdata(y[:, 0])
    for i in range(3):  # PRCC: correlation of the residuals of the ranks regressed on the other ranks
        others = np.c_[np.ones(len(rx)), np.delete(rx, i, axis=1)]
        res = [v - others @ np.linalg.lstsq(others, v, rcond=None)[0] for v in (rx[:, i], ry)]
        assert est["prcc"].value[i, 0] == pytest.approx(np.corrcoef(*res)[0, 1], abs=1e-9)


def test_weighted_ranks_are_mid_ranks_of_the_replicated_sample():
    x = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
    assert weighted_ranks(x) == pytest.approx((stats.rankdata(x) - 0.5) / 5)
    w = np.array([2, 1, 3, 0, 1])
    rep = np.repeat(x, w)
    expect = {v: u for v, u in zip(rep, (stats.rankdata(rep) - 0.5) / len(rep), strict=True)}
    got = weighted_ranks(x, w)
    assert [got[i] for i in range(5) if w[i]] == pytest.approx([expect[x[i]] for i in range(5) if w[i]])


# --- weights -------------------------------------------------------------------------------------


def _sample(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    x[:, 3] = 0.5 * x[:, 0] + rng.normal(size=n)
    return x, np.c_[x[:, 0] + x[:, 1] ** 2 + 0.3 * x[:, 2], np.exp(x[:, 1])]


def test_integer_counts_equal_replication():
    x, y = _sample()
    c = np.random.default_rng(1).integers(0, 4, len(x))
    got = indices(x, y, counts=c, bootstrap=0)
    ref = indices(np.repeat(x, c, axis=0), np.repeat(y, c, axis=0), bootstrap=0)
    for m in MEASURES:
        np.testing.assert_allclose(got[m].value, ref[m].value, rtol=0, atol=1e-9, err_msg=m)
    imp = indices(x, y, weights=c, bootstrap=0)  # as importance weights: the same ranks and correlations
    for m in ("spearman", "prcc"):
        np.testing.assert_allclose(imp[m].value, ref[m].value, rtol=0, atol=1e-9, err_msg=m)


def test_zero_one_weights_select_a_subset_and_constant_weights_change_nothing():
    x, y = _sample()
    keep = np.random.default_rng(2).random(len(x)) < 0.6
    got = indices(x, y, weights=keep.astype(float), bootstrap=0)
    ref = indices(x[keep], y[keep], bootstrap=0)
    same = indices(x, y, weights=np.full(len(x), 0.37), bootstrap=0)
    plain = indices(x, y, bootstrap=0)
    for m in MEASURES:
        np.testing.assert_allclose(got[m].value, ref[m].value, rtol=0, atol=1e-9, err_msg=m)
        np.testing.assert_allclose(same[m].value, plain[m].value, rtol=0, atol=1e-9, err_msg=m)


def test_importance_weights_recover_the_target_distribution():
    # proposal X1, X2 ~ U(0, 1); target: X1 with density 2 x1.  Y = X1 + X2.
    # Under the target Var X1 = 1/18, so S1 = (1/18) / (1/18 + 1/12) = 0.4 (0.5 unweighted).
    x = np.random.default_rng(8).random((20_000, 2))
    y = x.sum(axis=1)
    est = indices(x, y, weights=2 * x[:, 0], measures=["first_order"], bootstrap=20, seed=0)["first_order"]
    assert _covers(est, np.array([0.4, 0.6])).all(), est
    plain = indices(x, y, measures=["first_order"], bootstrap=0)["first_order"]
    assert plain.value == pytest.approx([0.5, 0.5], abs=0.02)


def test_bootstrap_is_seeded():
    x, y = _sample(n=1000)
    a = indices(x, y, bootstrap=5, seed=7)
    b = indices(x, y, bootstrap=5, seed=7)
    c = indices(x, y, bootstrap=5, seed=8)
    for m in MEASURES:
        np.testing.assert_array_equal(a[m].low, b[m].low)
    assert not np.array_equal(a["first_order"].low, c["first_order"].low)
    np.testing.assert_array_equal(a["first_order"].value, c["first_order"].value)  # the estimate is the sample's


def test_estimator_arguments_are_checked():
    x, y = _sample(n=100)
    for kwargs in ({"measures": ["sobol"]}, {"weights": -np.ones(100)}, {"counts": np.full(100, 0.5)}, {"ci": 1.5}):
        with pytest.raises(AnalysisError):
            indices(x, y, bootstrap=0, **kwargs)
    with pytest.raises(AnalysisError):
        indices(x, y[:50], bootstrap=0)


# --- the cube ------------------------------------------------------------------------------------


def test_shipment_growth_dominates_2030_accelerated_servers(cube):
    xm = input_matrix(cube)
    y = cube.electricity.sel(year=2030, component="accelerated_servers").astype("float64").sum("region").values
    est = indices(xm.values, y, measures=["first_order", "spearman"], bootstrap=10, seed=0)
    order = np.argsort(-est["first_order"].value)
    top = [xm.names[i] for i in order[:2]]
    assert set(top) <= {"shipments_growth_initial", "shipments_growth_longrun", "shipments_growth_decay"}, top
    growth = [i for i, n in enumerate(xm.names) if n.startswith("shipments_growth")]
    assert est["first_order"].value[growth].sum() > 0.5
    assert est["spearman"].value[xm.names.index("shipments_growth_initial")] > 0.6


def test_cube_result_equals_the_array_estimators(cube):
    sens = sensitivity(cube, year=[2026, 2030], boundary="dc_only", bootstrap=3, seed=2)
    assert sens["first_order"].dims == ("input", "year", "boundary")
    xm = input_matrix(cube)
    y = cube.electricity.sel(year=2030).drop_sel(component="crypto").astype("float64").sum(["region", "component"]).values
    ref = indices(xm.values, y, bootstrap=3, seed=2)
    # both years share one bootstrap (its draws depend only on the scenario count and the seed): the 2030
    # column alone has the same estimates and intervals
    for m in MEASURES:
        for part, arr in zip(("", "_low", "_high"), ref[m], strict=True):
            np.testing.assert_allclose(
                sens[m + part].sel(year=2030, boundary="dc_only").values, arr, rtol=1e-10, err_msg=m + part
            )
    table = ranked_table(sens, 2030, "dc_only", "spearman")
    assert list(table.columns) == ["input", "value", "low", "high"]
    assert (np.diff(table["value"].abs().values) <= 0).all()
    assert table["value"].iloc[0] == sens["spearman"].sel(year=2030, boundary="dc_only", input=table["input"].iloc[0])


def test_regional_weights_are_the_effective_ones(cube):
    sens = sensitivity(cube, year=2030, variable="installed_accelerators", measures=["spearman"], by_region=True, bootstrap=0)
    assert "boundary" not in sens.dims
    china = cube.installed_accelerators.sel(year=2030, region="china").values
    eff = cube.effective_inputs.sel(effective_input="accelerator_share.china").values
    raw = cube.inputs.sel(input="accelerator_share.china").values
    got = float(sens.spearman.sel(input="accelerator_share.china", region="china", year=2030))
    assert got == pytest.approx(stats.spearmanr(eff, china)[0], abs=1e-12)
    assert abs(stats.spearmanr(raw, china)[0] - got) > 1e-3  # the raw draw would have given another answer
    assert sens.input_units.sel(input="accelerator_share.china") == "1"


def test_fixed_inputs_are_left_out_with_a_note(cube):
    spread = (cube.inputs.max("scenario") - cube.inputs.min("scenario")).values
    fixed = [str(n) for n, s in zip(cube.input.values, spread, strict=True) if s == 0]
    assert fixed  # the default config has fixed inputs (the base-year shipments)
    sens = sensitivity(cube, year=2030, boundary="incl_crypto", measures=["spearman"], bootstrap=0)
    assert not set(fixed) & {str(n) for n in sens.input.values}
    assert sens.attrs["skipped_inputs"] == ", ".join(fixed) and "zero variance" in sens.attrs["notes"]


def test_weighted_cube_equals_its_subset(cube):
    keep = np.random.default_rng(3).random(cube.sizes["scenario"]) < 0.5
    weighted = cube.assign(weight=("scenario", keep.astype(float)))
    got = sensitivity(weighted, year=2030, boundary="dc_only", bootstrap=0)
    ref = sensitivity(cube.isel(scenario=np.flatnonzero(keep)), year=2030, boundary="dc_only", bootstrap=0)
    for m in MEASURES:
        np.testing.assert_allclose(got[m].values, ref[m].values, rtol=0, atol=1e-9, err_msg=m)
    assert got.attrs["weighted"].startswith("yes") and ref.attrs["weighted"] == "no"
    assert got.attrs["effective_scenarios"] == pytest.approx(keep.sum())


def test_questions_the_cube_cannot_answer(cube):
    with pytest.raises(AnalysisError, match="keeps no scenarios"):  # a summary without a kept sample
        sensitivity(cube.assign_attrs(dcproj_kind="summary"), year=2030)
    for kwargs in (
        {"year": 2050},
        {"boundary": "everything"},
        {"variable": "heat"},
        {"inputs": ["no_such_input"]},
        {"variable": "installed_accelerators", "boundary": "dc_only"},
    ):
        with pytest.raises(AnalysisError):
            sensitivity(cube, bootstrap=0, **kwargs)
    with pytest.raises(AnalysisError):
        sensitivity(cube.assign(weight=("scenario", -np.ones(cube.sizes["scenario"]))), year=2030, bootstrap=0)


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_file(cube, tmp_path_factory):
    path = tmp_path_factory.mktemp("sens") / "run.nc"
    cube.isel(scenario=slice(0, 2000)).to_netcdf(path)
    return path


def test_cli_csv_is_the_ranked_table(run_file, tmp_path):
    from engine.cli.explore_cmds import sensitivity_cmd

    out = tmp_path / "sens.csv"
    args = [
        str(run_file),
        "--year",
        "2030",
        "--boundary",
        "dc_only",
        "--measure",
        "spearman",
        "--bootstrap",
        "4",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(sensitivity_cmd, args)
    assert res.exit_code == 0, res.output
    import pandas as pd

    with xr.open_dataset(run_file) as ds:
        ref = ranked_table(sensitivity(ds, 2030, "dc_only", measures=["spearman"], bootstrap=4), 2030, "dc_only", "spearman")
    got = pd.read_csv(out, keep_default_na=False)
    pd.testing.assert_frame_equal(got[list(ref.columns)], ref, check_exact=False, rtol=1e-12)
    assert set(got["measure"]) == {"spearman"} and set(got["year"]) == {2030} and set(got["boundary"]) == {"dc_only"}
    with xr.open_dataset(run_file) as ds:  # each input's units, as the run file states them
        units = dict(zip(ds["input"].values, ds["input_units"].values, strict=True))
    assert all(got["input_units"] == got["input"].map(units)) and set(got["variable"]) == {"electricity"}
    assert "shipments_growth_initial" in res.output
    again = CliRunner().invoke(sensitivity_cmd, args)  # an existing --out is refused without --overwrite
    assert again.exit_code == 2 and "exists" in again.output
    assert CliRunner().invoke(sensitivity_cmd, [*args, "--overwrite"]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sens.csv"]  # no temporary file left


def test_cli_netcdf_round_trip_and_summary_refused(run_file, tmp_path):
    from engine.cli.explore_cmds import sensitivity_cmd

    out = tmp_path / "sens.nc"
    res = CliRunner().invoke(sensitivity_cmd, [str(run_file), "--year", "2030", "--bootstrap", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out) as sens:
        assert set(MEASURES) <= set(sens.data_vars) and sens.first_order.attrs["units"] == "1"
        assert list(sens.boundary.values) == ["incl_crypto", "dc_only"]
    summary = tmp_path / "summary.nc"
    with xr.open_dataset(run_file) as ds:
        ds.assign_attrs(dcproj_kind="summary").to_netcdf(summary)
    res = CliRunner().invoke(sensitivity_cmd, [str(summary), "--year", "2030"])
    assert res.exit_code == 2 and "keeps no scenarios" in res.output
