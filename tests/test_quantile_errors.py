"""Monte Carlo standard errors of quantiles stored in summary files (order statistics, n_eff).

The summary computes them from its histograms when the run finishes; the reference is the same
distribution-free rule applied by NumPy to the exact totals of the same scenarios (the full
cube), with the cube's weights and Kish's n_eff when the run is conditioned.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import run
from engine.analysis.answers import quantile_standard_error, total

N = 20_000
LEVELS = np.array([0.05, 0.5, 0.95])
Z = 1.959963984540054


def _weighted_quantile(x, w, q):
    """Inverted weighted CDF, written out here: the smallest value whose cumulative weight reaches q W."""
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return x[order][np.minimum(np.searchsorted(cw, q * cw[-1], side="left"), x.size - 1)]


def _reference_se(values, w):
    n_eff = w.sum() ** 2 / (w**2).sum()
    s = Z * np.sqrt(LEVELS * (1 - LEVELS) / n_eff)
    hi = _weighted_quantile(values, w, np.clip(LEVELS + s, 0, 1))
    lo = _weighted_quantile(values, w, np.clip(LEVELS - s, 0, 1))
    return (hi - lo) / (2 * Z), n_eff


@pytest.mark.parametrize("prior", [True, False], ids=["prior", "conditioned"])
def test_stored_quantile_errors_match_order_statistics_of_the_exact_totals(default_config, prior):
    summary = run(default_config, scenarios=N, seed=4, summary=True, keep_sample=0, prior=prior)
    cube = run(default_config, scenarios=N, seed=4, prior=prior)
    var = summary["electricity_total_quantile_standard_error"]
    assert var.attrs["units_label"] == "TWh" and "order statistics" in var.attrs["description"]
    assert set(LEVELS) <= set(summary["quantile"].values)
    tot = total(cube, "electricity", "dc_only")
    w = cube["weight"].values if "weight" in cube else np.ones(N)
    assert ("weight" in cube) is (not prior)
    got = quantile_standard_error(summary, LEVELS, "electricity", "dc_only", years=[2026, 2030, 2035])
    for year in (2026, 2030, 2035):
        ref, n_eff = _reference_se(tot.sel(year=year).values.astype(np.float64), w)
        assert float(summary["effective_sample_size"]) == pytest.approx(n_eff, rel=1e-6)  # summaries sum weights quantised to 2^-32
        g = got.sel(year=year).values
        # each end of the interval is a quantile read from the histogram (<= 0.2 % of its value,
        # ~1-2 TWh here); on errors of 3-40 TWh that is well inside 25 %
        np.testing.assert_allclose(g, ref, rtol=0.25)
        assert np.all(g > 0)
    if not prior:  # the errors above rest on n_eff, which conditioning makes much smaller than N
        assert float(summary["effective_sample_size"]) < N / 5


def test_summary_printout_carries_the_stored_error(default_config, tmp_path):
    """`dcproj summary` prints the stored error beside each quantile (the same number as the file's)."""
    from click.testing import CliRunner

    from engine import run_to_file
    from engine.cli import main

    path = run_to_file(default_config, tmp_path / "s.nc", scenarios=N, seed=4, summary=True, keep_sample=0)
    res = CliRunner().invoke(main, ["summary", str(path), "--boundary", "dc_only", "--year", "2030"])
    assert res.exit_code == 0, res.output
    import xarray as xr

    with xr.open_dataset(path) as ds:
        se = float(ds.electricity_total_quantile_standard_error.sel(boundary="dc_only", year=2030, quantile=0.5))
    assert f"± {se:.1f}" in res.output, res.output


def test_mean_error_is_the_weighted_spread_over_n_eff(default_config):
    """Summary (stored weighted variance) and cube (NumPy here, from the weights) give the same error of the mean."""
    from engine.analysis.answers import total_mean_standard_error

    summary = run(default_config, scenarios=N, seed=4, summary=True, keep_sample=0)
    cube = run(default_config, scenarios=N, seed=4)
    x = total(cube, "electricity", "dc_only").sel(year=2030).values.astype(np.float64)
    w = cube["weight"].values
    m = np.sum(w * x) / np.sum(w)
    var = np.sum(w * (x - m) ** 2) / (w.sum() - (w**2).sum() / w.sum())  # unbiased, reliability weights
    ref = np.sqrt(var / (w.sum() ** 2 / (w**2).sum()))
    got = total_mean_standard_error(summary, "electricity", "dc_only").sel(year=2030).item()
    assert got == pytest.approx(ref, rel=1e-3)  # float32 cube values against the summary's float64 moments
    assert total_mean_standard_error(cube, "electricity", "dc_only").sel(year=2030).item() == pytest.approx(ref, rel=1e-6)
