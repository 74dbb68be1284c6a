"""Figures: what each one draws (the median line, the stacked medians, the published markers, the
tornado's bars) checked against values computed independently; PNG and SVG files; the CLI."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install -e '.[plot]')")

from matplotlib.image import imread  # noqa: E402

from engine.analysis import plots  # noqa: E402
from engine.analysis.evidence import TABLE  # noqa: E402
from engine.cli.present_cmds import plot_cmd  # noqa: E402
from engine.errors import AnalysisError  # noqa: E402
from tests import _analysis_runs as runs  # noqa: E402


def _line(fig, label):
    ax = fig.axes[0]
    return next(ln for ln in ax.get_lines() if ln.get_label() == label)


def _not_blank(path):
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    assert float(img[..., :3].std()) > 0.05


def test_fan_median_is_the_numpy_median_and_files_are_png_and_svg(tmp_path):
    ds = runs.cube()
    fig = plots.fan(ds, tmp_path / "fan.png")
    ln = _line(fig, "dcproj median")
    np.testing.assert_allclose(ln.get_ydata(), np.quantile(runs.dc_total_numpy(ds), 0.5, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(ln.get_xdata(), ds.year.values)
    assert fig.axes[0].get_ylabel() == "electricity, dc_only [TWh]"
    _not_blank(tmp_path / "fan.png")
    assert (tmp_path / "fan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plots.fan(ds, tmp_path / "fan.svg")
    root = ET.parse(tmp_path / "fan.svg").getroot()
    assert root.tag.endswith("svg")


def test_fan_marks_the_global_published_estimates_of_its_boundary():
    ds = runs.cube()
    years = set(int(y) for y in ds.year.values)
    with open(TABLE, newline="") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["region"] == "global" and r["boundary"] == "dc_only" and r["unit"] == "TWh" and int(r["year"]) in years
        ]
    fig = plots.fan(ds, boundary="dc_only")
    markers = [
        ln for ln in fig.axes[0].get_lines() if ln.get_marker() in plots.KIND_MARKER.values() and ln.get_label().startswith("_")
    ]
    assert len(markers) == sum(1 for r in rows if r["value"])
    assert sorted(float(m.get_ydata()[0]) for m in markers) == sorted(float(r["value"]) for r in rows if r["value"])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert all(text.endswith("[dc_only]") for text in legend if "IEA" in text)
    assert len(fig.axes[0].collections) >= 2 + len(rows)  # two bands + one range line per row


def test_fan_of_carbon_from_a_summary_file(tmp_path):
    s = runs.summary()
    fig = plots.fan(s, tmp_path / "carbon.png", variable="carbon", boundary="incl_crypto")
    assert fig.axes[0].get_ylabel() == "carbon, incl_crypto [Mt CO2]"
    np.testing.assert_array_equal(
        _line(fig, "dcproj median").get_ydata(), s.carbon_total_quantile.sel(boundary="incl_crypto", quantile=0.5).values
    )
    _not_blank(tmp_path / "carbon.png")


@pytest.mark.parametrize("kind, by", [("regions", "region"), ("components", "component")])
def test_stacked_medians(tmp_path, kind, by):
    ds = runs.cube()
    fig = plots.plot(ds, kind, tmp_path / f"{kind}.svg", boundary="dc_only")
    polys = fig.axes[0].collections
    parts = list(ds.region.values) if by == "region" else runs.DC_ONLY
    assert len(polys) == len(parts)
    top = polys[-1].get_paths()[0].vertices[:, 1].max()
    medians = []
    for p in parts:
        comps, region = (runs.DC_ONLY, p) if by == "region" else ([p], None)
        medians.append(np.quantile(runs.dc_total_numpy(ds, comps, region), 0.5, axis=0))
    assert top == pytest.approx(np.sum(medians, axis=0).max(), rel=1e-9)
    np.testing.assert_allclose(_line(fig, "median of the total").get_ydata(), np.quantile(runs.dc_total_numpy(ds), 0.5, axis=0))


def test_posterior_needs_weights_and_draws_the_weighted_median(tmp_path):
    ds = runs.cube()
    with pytest.raises(AnalysisError, match="no 'weight' variable"):
        plots.posterior(ds)
    w = runs.smooth_weights(ds)
    fig = plots.posterior(runs.with_weights(ds, w), tmp_path / "post.png")
    post = _line(fig, "posterior median").get_ydata()
    from engine.analysis.weighted import weighted_quantile

    np.testing.assert_allclose(post, weighted_quantile(runs.dc_total_numpy(ds).T, w, [0.5])[0], rtol=1e-12)
    np.testing.assert_allclose(
        _line(fig, "prior median").get_ydata(), np.quantile(runs.dc_total_numpy(ds), 0.5, axis=0), rtol=1e-12
    )
    assert "n_eff" in fig.axes[0].get_title()
    _not_blank(tmp_path / "post.png")


def test_posterior_of_a_weighted_summary_file(tmp_path):
    """A conditioned summary: the posterior is its stored weighted median of every scenario, the
    prior the unweighted median of its kept scenarios (NumPy on the kept totals here)."""
    from engine import run

    ds = run(runs.config(), scenarios=8192, seed=2, summary=True, keep_sample=3000)
    fig = plots.posterior(ds, tmp_path / "post.png")
    stored = ds.electricity_total_quantile.sel(boundary="dc_only", quantile=0.5).values
    np.testing.assert_allclose(_line(fig, "posterior median").get_ydata(), stored, rtol=1e-12)
    kept = ds.sample_electricity_total.sel(boundary="dc_only").values.astype(np.float64)
    prior = _line(fig, "prior (the 3,000 kept scenarios) median").get_ydata()
    np.testing.assert_allclose(prior, np.quantile(kept, 0.5, axis=0), rtol=1e-6)
    assert not np.allclose(prior, stored, rtol=0.01)  # the observations moved the median
    _not_blank(tmp_path / "post.png")


def test_tornado_takes_a_ranked_table(tmp_path):
    frame = pd.DataFrame(
        {"input": ["pue_ai", "lifetime_mean", "k_srv"], "value": [1000.0] * 3, "low": [700, 850, 990], "high": [1500, 1100, 1020]}
    )
    fig = plots.tornado(frame, tmp_path / "tornado.png", units="TWh", title="electricity 2030")
    ax = fig.axes[0]
    top_down = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in top_down] == ["pue_ai", "lifetime_mean", "k_srv"]  # the first row on top
    bars = ax.patches
    assert len(bars) == 6
    spans = sorted((b.get_x(), b.get_x() + b.get_width()) for b in bars)
    assert spans[0] == (700, 1000) and (1000, 1500) in spans
    assert ax.get_xlabel() == "electricity 2030 [TWh]"
    _not_blank(tmp_path / "tornado.png")
    with pytest.raises(AnalysisError, match=r"lacks \['low', 'high'\]"):
        plots.tornado(frame[["input", "value"]])


def test_bad_figures_are_analysis_errors(tmp_path):
    ds = runs.cube()
    with pytest.raises(AnalysisError, match="unknown plot kind 'pie'"):
        plots.plot(ds, "pie")
    with pytest.raises(AnalysisError, match="expected one of \\['png', 'svg'\\]"):
        plots.fan(ds, tmp_path / "fan.jpg")
    with pytest.raises(AnalysisError, match="unknown boundary"):
        plots.fan(ds, boundary="everything")
    assert list(tmp_path.iterdir()) == []


def test_plot_command(tmp_path):
    run = str(runs.cube_file())
    out = tmp_path / "fan.png"
    res = CliRunner().invoke(plot_cmd, [run, "--kind", "fan", "--out", str(out), "--boundary", "incl_crypto"])
    assert res.exit_code == 0, res.output
    _not_blank(out)
    res = CliRunner().invoke(plot_cmd, [run, "--out", str(out)])
    assert res.exit_code == 2 and "exists; add --overwrite" in res.output
    assert CliRunner().invoke(plot_cmd, [run, "--out", str(out), "--overwrite", "--kind", "regions"]).exit_code == 0
    cases = {
        ("--kind", "pie"): "unknown plot kind 'pie'; expected one of components, fan, posterior, regions",
        ("--boundary", "all"): "unknown boundary 'all'; expected one of dc_only, incl_crypto",
        ("--kind", "posterior"): "no 'weight' variable",
        ("--kind", "regions", "--region", "china"): "--region does not apply to --kind regions",
        ("--region", "mars"): "region 'mars' is not in the file",
    }
    for args, message in cases.items():
        res = CliRunner().invoke(plot_cmd, [run, "--out", str(tmp_path / "x.png"), *args])
        assert res.exit_code == 2 and message in res.output, (args, res.output)
    res = CliRunner().invoke(plot_cmd, [run, "--out", str(tmp_path / "x.gif")])
    assert res.exit_code == 2 and "suffix 'gif'" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fan.png"]


def test_tornado_kind_draws_the_runs_own_spearman_correlations(tmp_path):
    from scipy.stats import spearmanr

    ds = runs.cube().drop_vars("weight", errors="ignore")  # unweighted: scipy's Spearman is the reference
    fig = plots.plot(ds, "tornado", tmp_path / "tornado.png", year=2030, boundary="dc_only", top=8, bootstrap=20)
    ax = fig.axes[0]
    labels = {int(round(y)): t.get_text() for y, t in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)}
    labels = [labels[y] for y in sorted(labels, reverse=True)]  # the first row is drawn on top
    assert len(labels) == 8 and labels[0] == "shipments_growth_initial"
    y = runs.dc_total_numpy(ds)[:, list(ds.year.values).index(2030)]
    widths = {}
    for bar in ax.patches:  # each input: one bar from 0 to its value (the other half has zero width)
        row = int(round(bar.get_y() + bar.get_height() / 2))
        widths[row] = widths.get(row, 0.0) + (bar.get_width() if bar.get_x() >= 0 else -bar.get_width())
    for row, name in zip(range(len(labels) - 1, -1, -1), labels, strict=True):
        if name.split(".")[0] in ("accelerator_share", "conventional_share_2022", "crypto_share"):
            continue  # the model's normalised shares: checked in test_sensitivity
        rho = spearmanr(ds.inputs.sel(input=name).values, y).statistic
        assert widths[row] == pytest.approx(rho, abs=1e-9), name
    _not_blank(tmp_path / "tornado.png")


def test_tornado_kind_from_the_cli_reads_a_summary_files_kept_sample(tmp_path):
    out = tmp_path / "t.svg"
    r = CliRunner().invoke(plot_cmd, [str(runs.summary_file()), "--kind", "tornado", "--year", "2030", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert ET.parse(out).getroot().tag.endswith("svg")
    r = CliRunner().invoke(plot_cmd, [str(runs.summary_file()), "--kind", "tornado", "--out", str(tmp_path / "no.png")])
    assert r.exit_code != 0 and "--year" in r.output and not (tmp_path / "no.png").exists()
    args = [str(runs.summary_file()), "--kind", "fan", "--year", "2030", "--out", str(tmp_path / "no.png")]
    r = CliRunner().invoke(plot_cmd, args)
    assert r.exit_code != 0 and "does not apply" in r.output


def test_storylines_kind_draws_each_storylines_median_and_band(tmp_path):
    from engine.execution.storylines import run_storylines

    root = runs.ROOT / "configs" / "storylines"
    ds = run_storylines(runs.CONFIG, [root / "base.yaml", root / "headwinds.yaml"], 1000, 2, summary=True, keep_sample=0)
    fig = plots.plot(ds, "storylines", tmp_path / "s.png", boundary="dc_only")
    assert [ax.get_title() for ax in fig.axes] == ["Base", "Headwinds"]
    for ax, name in zip(fig.axes, ["Base", "Headwinds"], strict=True):
        q = ds.electricity_total_quantile.sel(storyline=name, boundary="dc_only")
        med = next(ln for ln in ax.get_lines() if ln.get_label() == f"{name} median")
        np.testing.assert_array_equal(med.get_ydata(), q.sel(quantile=0.5).values)
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        assert np.isclose(band.max(), q.sel(quantile=0.95).max()) and np.isclose(band.min(), q.sel(quantile=0.05).min())
    _not_blank(tmp_path / "s.png")
    with pytest.raises(AnalysisError, match="--kind storylines"):
        plots.plot(ds, "fan")
