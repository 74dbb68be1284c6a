"""Exports: IAMC (read back by pyam itself), tidy CSV and parquet; values checked against the cube
and the summary file read through xarray; files written completely or not at all."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from engine.analysis import export as ex
from engine.cli.present_cmds import export_cmd
from engine.errors import AnalysisError, OutputError
from tests import _analysis_runs as runs

DC = "Final Energy|Electricity|Data Centres"


def _xr_quantile(ds, q, components, region=None):
    """The quantile over scenarios of a total, straight through xarray (independent of engine.analysis)."""
    da = ds.electricity.sel(component=components).astype("float64")
    da = da.sel(region=region) if region else da
    dims = [d for d in ("region", "component") if d in da.dims]
    return da.sum(dims).quantile(q, "scenario")


@pytest.fixture(scope="module")
def iamc_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "run_iamc.csv"
    with xr.open_dataset(runs.cube_file()) as ds:
        return ex.export(ds, "iamc", path)


def test_iamc_values_are_the_cube_quantiles(iamc_path):
    wide = pd.read_csv(iamc_path)
    assert list(wide.columns[:5]) == ["Model", "Scenario", "Region", "Variable", "Unit"]
    assert set(wide["Model"]) == {f"dcproj {runs.cube().attrs['dcproj_version']}"} and set(wide["Scenario"]) == {"default"}
    with xr.open_dataset(runs.cube_file()) as ds:
        years = [str(y) for y in ds.year.values]
        row = wide[(wide.Region == "World") & (wide.Variable == f"{DC}|50.0th Percentile")]
        np.testing.assert_allclose(row[years].values[0], _xr_quantile(ds, 0.5, runs.DC_ONLY).values, rtol=1e-9)
        row = wide[(wide.Region == "china") & (wide.Variable == "Final Energy|Electricity|Data Centres and Crypto Mining|95.0th Percentile")]
        np.testing.assert_allclose(
            row[years].values[0], _xr_quantile(ds, 0.95, runs.DC_ONLY + ["crypto"], "china").values, rtol=1e-9
        )
        carbon = ds.carbon.sel(component=runs.DC_ONLY).astype("float64").sum(["region", "component"]).mean("scenario")
        row = wide[(wide.Region == "World") & (wide.Variable == "Emissions|CO2|Data Centres|Mean")]
        np.testing.assert_allclose(row[years].values[0], carbon.values, rtol=1e-9)
        water = ds.water.sel(component=runs.DC_ONLY).astype("float64").sum(["region", "component", "water_source"])
        row = wide[(wide.Region == "World") & (wide.Variable == "Water Consumption|Data Centres|Mean")]
        np.testing.assert_allclose(row[years].values[0], water.mean("scenario").values, rtol=1e-9)  # GL = million m3
    assert set(wide["Unit"]) == {"TWh/yr", "Mt CO2/yr", "million m3/yr"}
    # 6 variables x 5 regions x (5 quantiles + mean)
    assert len(wide) == 6 * 5 * 6


def test_pyam_reads_the_iamc_file(iamc_path):
    pyam = pytest.importorskip("pyam", reason="pyam-iamc is not installed (pip install -e '.[iamc]')")
    df = pyam.IamDataFrame(iamc_path)
    assert df.model == [f"dcproj {runs.cube().attrs['dcproj_version']}"] and df.scenario == ["default"]
    assert set(df.region) == {"World", "united_states", "europe", "china", "rest_of_world"}
    assert f"{DC}|50.0th Percentile" in df.variable and "Emissions|CO2|Data Centres and Crypto Mining|5.0th Percentile" in df.variable
    ts = df.timeseries()
    wide = pd.read_csv(iamc_path).set_index(["Model", "Scenario", "Region", "Variable", "Unit"])
    wide.index.names = ts.index.names
    wide.columns = [int(c) for c in wide.columns]
    pd.testing.assert_frame_equal(ts.sort_index(), wide.sort_index()[ts.columns], check_names=False, rtol=1e-12)
    long = ex.iamc_frame(runs.cube())
    med = df.filter(region="World", variable=f"{DC}|50.0th Percentile").timeseries().iloc[0]
    expect = long[(long.region == "World") & (long.variable == f"{DC}|50.0th Percentile")].set_index("year")["value"]
    np.testing.assert_allclose(med.values, expect.loc[med.index].values, rtol=1e-9)


def test_tidy_csv_of_a_summary_file_holds_its_stored_quantiles(tmp_path):
    s = runs.summary()
    path = ex.export(s, "csv", tmp_path / "tidy.csv", quantiles=[0.05, 0.5, 0.95])
    tidy = pd.read_csv(path)
    assert list(tidy.columns) == ex.TIDY_COLUMNS
    assert len(tidy) == 3 * 2 * 5 * s.sizes["year"] * 4  # variables x boundaries x regions x years x (3 quantiles + mean)
    got = tidy.query("variable == 'electricity' and boundary == 'dc_only' and region == 'global' and quantile == 0.5")
    np.testing.assert_allclose(
        got["value"].values, s.electricity_total_quantile.sel(boundary="dc_only", quantile=0.5).values, rtol=1e-9
    )
    got = tidy.query("variable == 'water' and boundary == 'incl_crypto' and region == 'europe' and statistic == 'mean'")
    np.testing.assert_allclose(
        got["value"].values, s.water_by_region_mean.sel(boundary="incl_crypto", region="europe").values, rtol=1e-9
    )
    assert set(tidy.units) == {"TWh", "Mt CO2", "GL"}
    # each value's Monte Carlo error: the file's stored quantile errors, and sqrt(variance / n) for the mean
    got = tidy.query("variable == 'electricity' and boundary == 'dc_only' and region == 'global' and quantile == 0.5")
    np.testing.assert_allclose(
        got["standard_error"].values,
        s.electricity_total_quantile_standard_error.sel(boundary="dc_only", quantile=0.5).values, rtol=1e-9,
    )
    got = tidy.query("variable == 'carbon' and boundary == 'dc_only' and region == 'global' and statistic == 'mean'")
    var = s.carbon_total_variance.sel(boundary="dc_only").values
    np.testing.assert_allclose(got["standard_error"].values, np.sqrt(var / float(s["count"])), rtol=1e-9)


def test_parquet_round_trip_with_provenance(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed (pip install -e '.[parquet]')")
    ds = runs.cube()
    path = ex.export(ds, "parquet", tmp_path / "run.parquet", years=[2024, 2030])
    frame = pd.read_parquet(path)
    pd.testing.assert_frame_equal(frame, ex.tidy_frame(ds, years=[2024, 2030]))
    meta = json.loads(pq.read_schema(path).metadata[b"dcproj"])
    assert meta["seed"] == ds.attrs["seed"] and meta["config_name"] == "default" and meta["weighted"] is False
    assert meta["scenarios"] == runs.SCENARIOS and meta["dcproj_version"] == ds.attrs["dcproj_version"]


def test_weighted_export_uses_the_weights(tmp_path):
    w = runs.with_weights(runs.cube(), runs.integer_weights())
    long = ex.iamc_frame(w, [0.5], regions=False)
    got = long[long.variable == f"{DC}|50.0th Percentile"]["value"].values
    rep = np.repeat(runs.dc_total_numpy(runs.cube()), runs.integer_weights().astype(int), axis=0)
    np.testing.assert_allclose(got, np.quantile(rep, 0.5, axis=0, method="inverted_cdf"), rtol=1e-12)


def test_bad_exports_leave_no_file(tmp_path, monkeypatch):
    ds = runs.cube()
    with pytest.raises(AnalysisError, match="unknown export format 'xlsx'"):
        ex.export(ds, "xlsx", tmp_path / "a.xlsx")
    with pytest.raises(AnalysisError, match="year 2099 is not in the file"):
        ex.export(ds, "csv", tmp_path / "a.csv", years=[2099])
    existing = tmp_path / "keep.csv"
    existing.write_text("keep")
    with pytest.raises(OutputError, match="exists; add --overwrite"):
        ex.export(ds, "csv", existing)
    assert existing.read_text() == "keep"

    def broken(*args):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(ex.EXPORTERS, "csv", broken)
    with pytest.raises(RuntimeError):
        ex.export(ds, "csv", existing, overwrite=True)
    assert existing.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]  # no temporary file left


def test_export_command(tmp_path):
    out = tmp_path / "run.csv"
    res = CliRunner().invoke(
        export_cmd, [str(runs.cube_file()), "--format", "iamc", "--out", str(out), "--no-regions", "--quantile", "0.5"]
    )
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(out)["Region"]) == {"World"}
    res = CliRunner().invoke(export_cmd, [str(runs.cube_file()), "--format", "iamc", "--out", str(out)])
    assert res.exit_code == 2 and "exists; add --overwrite" in res.output
    res = CliRunner().invoke(export_cmd, [str(runs.cube_file()), "--format", "xls", "--out", str(tmp_path / "x.xls")])
    assert res.exit_code == 2 and "unknown export format 'xls'; expected one of csv, iamc, parquet" in res.output
    res = CliRunner().invoke(
        export_cmd, [str(runs.summary_file()), "--format", "csv", "--out", str(tmp_path / "y.csv"), "--year", "2040"]
    )
    assert res.exit_code == 2 and "year 2040 is not in the file" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.csv"]
