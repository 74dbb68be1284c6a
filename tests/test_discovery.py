"""Scenario discovery: the strict --where grammar, PRIM boxes on a cube with a known answer and on
the default cube (coverage and density recomputed from the boxes), weights, and the command line."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from engine.analysis.discovery import WHERE_FORM, Condition, discover, parse_where
from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES
from tests.test_sensitivity import default_cube

pytest.importorskip("ema_workbench")


@pytest.fixture(scope="session")
def cube():
    return default_cube()


def _toy_cube(n=2000, seed=0) -> xr.Dataset:
    """A cube whose 2030 dc_only total exceeds 1000 TWh exactly when x0 > 0.6 and x1 < 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4))
    high = (x[:, 0] > 0.6) & (x[:, 1] < 0.5)
    comps = BOUNDARIES["incl_crypto"]
    elec = np.zeros((n, 2, 1, len(comps)))
    elec[:, :, 0, 0] = np.where(high, 1500.0, 500.0)[:, None] + x[:, 2:3]
    return xr.Dataset(
        {
            "electricity": (("scenario", "year", "region", "component"), elec),
            "inputs": (("scenario", "input"), x),
        },
        coords={"year": [2029, 2030], "region": ["world"], "component": comps, "input": ["x0", "x1", "x2", "x3"]},
        attrs={"dcproj_kind": "full"},
    )


def test_where_grammar():
    assert parse_where("electricity.dc_only.2030 > 1000") == Condition("electricity", "dc_only", 2030, ">", 1000.0)
    assert parse_where("carbon.incl_crypto.2028<=2.5e2") == Condition("carbon", "incl_crypto", 2028, "<=", 250.0)
    assert parse_where(" installed_accelerators.2030 >= 40 ") == Condition("installed_accelerators", None, 2030, ">=", 40.0)
    bad = [
        "electricity.dc_only.2030 = 1000",
        "electricity dc_only 2030 > 1000",
        "2030>1000",
        "electricity.dc_only.2030 > 1e3 TWh",
        "electricity.dc_only.2030 > ",
    ]
    for text in bad:
        with pytest.raises(AnalysisError) as err:
            parse_where(text)
        assert WHERE_FORM in str(err.value)
    for text, what in (
        ("heat.dc_only.2030 > 1", "unknown variable"),
        ("electricity.everything.2030 > 1", "unknown boundary"),
        ("electricity.2030 > 1", "needs a boundary"),
        ("installed_accelerators.dc_only.2030 > 1", "no boundary"),
    ):
        with pytest.raises(AnalysisError, match=what):
            parse_where(text)


def test_where_year_must_be_in_the_file():
    with pytest.raises(AnalysisError, match="2029..2030"):
        parse_where("electricity.dc_only.2040 > 1000", _toy_cube(n=20))


def test_prim_finds_the_known_box():
    found = discover(_toy_cube(), "electricity.dc_only.2030 > 1000", threshold=0.99, max_boxes=1)
    box = found.boxes.set_index("input")  # the widest step of density >= 0.99: the true box
    assert set(box.index) == {"x0", "x1"}
    # PRIM peels peel_alpha = 5 % of the box at a time: the edges land within a few peels of the truth
    assert box.loc["x0", "lower"] == pytest.approx(0.6, abs=0.05) and box.loc["x1", "upper"] == pytest.approx(0.5, abs=0.05)
    chosen = found.steps[found.steps["chosen"]].iloc[0]
    assert chosen.density >= 0.99 and chosen.coverage > 0.9
    assert found.probability == pytest.approx(0.4 * 0.5, abs=0.03)
    assert "box 1: coverage" in found.table() and "x0" in found.table()


def _recomputed(ds, found, box_id, weights):
    """Coverage and density of a reported box, from its bounds and the totals, by hand."""
    tot = ds.electricity.sel(year=2030).drop_sel(component="crypto").astype("float64").sum(["region", "component"]).values
    event = tot > 1000.0
    inside = np.ones(event.shape, bool)
    from engine.analysis.sensitivity import input_matrix  # the inputs PRIM sees (regional weights as normalised)

    xm = input_matrix(ds, None)
    for row in found.boxes[found.boxes["box"] == box_id].itertuples():
        x = xm.values[:, xm.names.index(row.input)]
        inside &= (x >= row.lower) & (x <= row.upper)
    return (weights * (inside & event)).sum() / (weights * event).sum(), (weights * (inside & event)).sum() / (
        weights * inside
    ).sum()


def test_default_cube_box_coverage_and_density(cube):
    found = discover(cube, "electricity.dc_only.2030 > 1000", max_boxes=1)
    assert "shipments_growth_initial" in set(found.boxes["input"])  # the growth of shipments drives 2030
    chosen = found.steps[found.steps["chosen"]].iloc[0]
    coverage, density = _recomputed(cube, found, 1, np.ones(cube.sizes["scenario"]))
    assert chosen.coverage == pytest.approx(coverage, abs=1e-12) and chosen.density == pytest.approx(density, abs=1e-12)
    assert chosen.density >= 0.8
    assert (found.steps["density"].diff().dropna() > -0.05).all()  # peeling raises the density (pasting may lower it a little)


def test_weighted_coverage_and_density(cube):
    w = np.random.default_rng(1).random(cube.sizes["scenario"])
    found = discover(cube.assign(weight=("scenario", w)), "electricity.dc_only.2030 > 1000", max_boxes=1)
    chosen = found.steps[found.steps["chosen"]].iloc[0]
    coverage, density = _recomputed(cube, found, 1, w)
    assert chosen.coverage_weighted == pytest.approx(coverage, abs=1e-12)
    assert chosen.density_weighted == pytest.approx(density, abs=1e-12)
    assert found.weighted and any("unweighted" in n for n in found.notes) and "weighted" in found.table()
    tot = cube.electricity.sel(year=2030).drop_sel(component="crypto").astype("float64").sum(["region", "component"]).values
    assert found.probability == pytest.approx((w * (tot > 1000)).sum() / w.sum(), rel=1e-12)


def test_weighted_boxes_are_found_on_the_weighted_resample(cube):
    """With weights that favour low 2030 totals, PRIM runs on the systematic resample: its own
    coverage and density are those of the resampled scenarios (recomputed here from the box
    bounds and the resample's indices), the *_weighted ones those of the originals with their
    weights, and the probability is the weighted one, far below the unweighted."""
    from engine.analysis.weighted import systematic_resample

    tot = cube.electricity.sel(year=2030).drop_sel(component="crypto").astype("float64").sum(["region", "component"]).values
    w = np.exp(-((tot - 700.0) / 250.0) ** 2)  # a likelihood-like weight centred well below 1000 TWh
    found = discover(cube.assign(weight=("scenario", w)), "electricity.dc_only.2030 > 1000", max_boxes=1, threshold=0.5)
    chosen = found.steps[found.steps["chosen"]].iloc[0]
    rows = systematic_resample(w)
    counts = np.bincount(rows, minlength=w.size).astype(float)  # the resample as integer weights on the originals
    coverage, density = _recomputed(cube, found, 1, counts)
    assert chosen.coverage == pytest.approx(coverage, abs=1e-12) and chosen.density == pytest.approx(density, abs=1e-12)
    coverage, density = _recomputed(cube, found, 1, w)
    assert chosen.coverage_weighted == pytest.approx(coverage, abs=1e-12)
    assert chosen.density_weighted == pytest.approx(density, abs=1e-12)
    assert found.probability < 0.5 * float((tot > 1000).mean())
    assert any("systematic resample" in n for n in found.notes)


def test_systematic_resample_draws_each_scenario_floor_or_ceil_of_its_share():
    from engine.analysis.weighted import systematic_resample

    w = np.array([0.0, 1.0, 2.0, 0.5, 6.5])
    idx = systematic_resample(w, 20)
    counts = np.bincount(idx, minlength=w.size)
    share = 20 * w / w.sum()  # 0, 2, 4, 1, 13 draws exactly
    np.testing.assert_array_equal(counts, share)
    odd = np.bincount(systematic_resample(np.array([1.0, 1.0, 1.0]), 4), minlength=3)
    assert odd.sum() == 4 and set(odd) <= {1, 2}  # 4/3 each: floor 1 or ceil 2
    assert (np.diff(systematic_resample(np.random.default_rng(0).random(50))) >= 0).all()  # in scenario order


def test_discovery_refuses_what_it_cannot_answer(cube):
    with pytest.raises(AnalysisError, match="keeps no scenarios"):  # a summary without a kept sample
        discover(cube.assign_attrs(dcproj_kind="summary"))
    with pytest.raises(AnalysisError, match="none of the scenarios"):
        discover(_toy_cube(n=50), "electricity.dc_only.2030 > 1e9")


def test_cli_discover_prints_boxes(tmp_path):
    from engine.cli.explore_cmds import discover_cmd

    path = tmp_path / "toy.nc"
    _toy_cube().to_netcdf(path)
    res = CliRunner().invoke(
        discover_cmd, [str(path), "--where", "electricity.dc_only.2030 > 1000", "--max-boxes", "1", "--steps"]
    )
    assert res.exit_code == 0, res.output
    assert "box 1: coverage" in res.output and "x0" in res.output and "density" in res.output
    res = CliRunner().invoke(discover_cmd, [str(path), "--where", "electricity.dc_only.2030 = 1000"])
    assert res.exit_code == 2 and "expected VARIABLE.BOUNDARY.YEAR OP VALUE" in res.output
