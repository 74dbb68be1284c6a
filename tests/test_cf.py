"""CF-1.10: the files dcproj writes pass the IOOS compliance checker, and their units parse in UDUNITS.

A full cube and a summary file are written through the public API and checked with
``compliance-checker --test=cf:1.10`` (its Python API, JSON report): no high- or medium-priority
check may fail, and no check may crash (the checker raises on string-valued coordinate
variables, which CF 1.10 does not have: dcproj writes labels as character arrays).  Every
``units`` attribute, and every value of ``threshold_units``, must parse with ``cf_units``.
"""

from __future__ import annotations

import json

import netCDF4
import pytest
import xarray as xr

from engine import run_to_file

pytest.importorskip(
    "compliance_checker", reason="compliance-checker is not installed (pip install -e '.[cf]' installs it and cf-units)"
)
import cf_units  # noqa: E402  (a dependency of compliance-checker)
from compliance_checker.runner import CheckSuite, ComplianceChecker  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:The ioos_sos checker is deprecated:DeprecationWarning")
THRESHOLDS = ["2030>1000", "carbon/dc_only:2027>250"]


@pytest.fixture(scope="module")
def cube(tmp_path_factory, default_config):
    path = tmp_path_factory.mktemp("cf") / "cube.nc"
    return run_to_file(default_config, path, scenarios=64, seed=5, chunk_size=32, command="pytest")


@pytest.fixture(scope="module")
def summary(tmp_path_factory, default_config):
    path = tmp_path_factory.mktemp("cf") / "summary.nc"
    return run_to_file(default_config, path, scenarios=300, seed=5, summary=True, thresholds=THRESHOLDS, command="pytest")


def cf_report(path, tmp_path) -> tuple[dict, bool]:
    """The checker's cf:1.10 JSON report of ``path`` (all priorities) and whether any check crashed."""
    CheckSuite.load_all_available_checkers()
    out = tmp_path / f"{path.stem}.cf.json"
    _, crashed = ComplianceChecker.run_checker(
        str(path), ["cf:1.10"], 0, "strict", output_filename=str(out), output_format="json"
    )
    return json.loads(out.read_text())["cf:1.10"], crashed


def failed_checks(report: dict, priorities=("high", "medium")) -> list[str]:
    """'[priority] section: message' for every failed check of the given priorities."""
    out = []
    for p in priorities:
        for check in report[f"{p}_priorities"]:
            scored, possible = check["value"]
            if scored < possible:
                out += [f"[{p}] {check['name']}: {m}" for m in check["msgs"]] or [f"[{p}] {check['name']}: {scored}/{possible}"]
    return out


@pytest.mark.parametrize("kind", ["cube", "summary"])
def test_files_pass_the_cf_1_10_compliance_checker(kind, request, tmp_path):
    path = request.getfixturevalue(kind)
    report, crashed = cf_report(path, tmp_path)
    failed = failed_checks(report)
    assert not failed, f"{kind}: {len(failed)} failed CF checks:\n" + "\n".join(failed[:40])
    assert not crashed, f"{kind}: a CF check raised inside the checker (see its warning on stderr)"
    assert report["high_count"] == 0 and report["medium_count"] == 0


def _units_attributes(path) -> dict[str, str]:
    with netCDF4.Dataset(path) as nc:
        return {name: var.getncattr("units") for name, var in nc.variables.items() if "units" in var.ncattrs()}


@pytest.mark.parametrize("kind", ["cube", "summary"])
def test_every_units_attribute_parses_in_udunits(kind, request):
    units = _units_attributes(request.getfixturevalue(kind))
    assert "electricity" in units or "electricity_mean" in units
    bad = {}
    for name, u in units.items():
        try:
            cf_units.Unit(u)
        except ValueError as exc:
            bad[name] = f"{u!r}: {exc}"
    assert not bad, bad


def test_summary_units_and_statistics_are_cf(summary):
    with xr.open_dataset(summary) as ds:
        square = cf_units.Unit(ds.electricity_variance.attrs["units"]).convert(1.0, cf_units.Unit("TW h") ** 2)
        assert square == pytest.approx(1.0, rel=1e-12)  # the variance is in the square of the mean's units
        assert cf_units.Unit(ds.installed_accelerators_variance.attrs["units"]).convert(1.0, "1") == pytest.approx(1e12)
        for t_units in ds.threshold_units.values:
            cf_units.Unit(str(t_units))
        assert list(ds.threshold_units.values) == ["TW h", "Mt"]
        assert ds.electricity_mean.attrs["cell_methods"] == "scenario: mean"
        assert "cell_methods" not in ds.electricity_quantile.attrs  # CF has no quantile method
        assert ds.scenario.ndim == 0 and ds.scenario.attrs["standard_name"] == "realization"
        assert ds.sel(region="china", boundary="dc_only").electricity_by_region_mean.size == ds.sizes["year"]
    with netCDF4.Dataset(summary) as nc:
        assert "_FillValue" not in nc["quantile"].ncattrs()


def test_input_units_parse_in_udunits(cube):
    with xr.open_dataset(cube) as ds:
        bad = sorted({str(u) for u in ds.input_units.values if not _parses(str(u))})
    assert not bad, bad


def _parses(units: str) -> bool:
    try:
        cf_units.Unit(units)
    except ValueError:
        return False
    return True
