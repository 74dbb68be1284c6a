"""Storylines: common random numbers (a storyline's slice equals a plain run with its overrides, bit for
bit), guarded output (a bad storyline leaves nothing behind, an existing file is kept), the messages
for keys that do not exist, the shipped IEA analogues, and their display by summary, plot and report."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from engine import load_config, run_to_file
from engine.analysis.results import summarise
from engine.analysis.storylines import compare, names, select
from engine.cli.main import main
from engine.config.loading import config_sha256
from engine.errors import ConfigError, OutputError
from engine.execution.storylines import load_storylines, read_storyline, run_storylines, storylines_to_file

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "default.yaml"
SHIPPED = ROOT / "configs" / "storylines"
N, SEED = 1000, 7
CUBE_VARS = ("electricity", "carbon", "water", "installed_accelerators", "inputs", "effective_inputs")


def _write(folder: Path, name: str, overrides: dict, label: str | None = None, **extra) -> Path:
    import yaml

    path = folder / f"{name}.yaml"
    data = {
        "name": label or name,
        "description": f"test storyline {name}",
        "sources": ["a test"],
        "overrides": overrides,
        **extra,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@functools.lru_cache(maxsize=1)
def _stories_dir() -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="dcproj-storylines-"))
    _write(folder, "a_plain", {}, order=1)
    _write(
        folder,
        "b_fast",
        {
            "inputs.shipments_growth_initial.mode": 1.5,
            "inputs.preexisting_age": {"kind": "fixed", "value": 1.5, "source": "test"},
        },
        order=2,
    )
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A full-cube and a summary storylines file, and plain runs of the second storyline's config."""
    d = tmp_path_factory.mktemp("stories")
    fast = read_storyline(_stories_dir() / "b_fast.yaml")
    cfg = load_config(CONFIG, overrides=fast.overrides)
    return {
        "cube": storylines_to_file(CONFIG, _stories_dir(), d / "cube.nc", N, SEED),
        "summary": storylines_to_file(
            CONFIG, _stories_dir(), d / "summary.nc", N, SEED, summary=True, keep_sample=300, thresholds=["dc_only:2030>1000"]
        ),
        "plain_cube": run_to_file(cfg, d / "plain_cube.nc", N, SEED),
        "plain_summary": run_to_file(
            cfg, d / "plain_summary.nc", N, SEED, summary=True, keep_sample=300, thresholds=["dc_only:2030>1000"]
        ),
        "base_cube": run_to_file(load_config(CONFIG), d / "base_cube.nc", N, SEED),
        "dir": d,
    }


def test_a_storyline_equals_a_plain_run_with_its_overrides_bit_for_bit(files):
    with xr.open_dataset(files["cube"]) as s, xr.open_dataset(files["plain_cube"]) as p, xr.open_dataset(files["base_cube"]) as b:
        assert names(s) == ["a_plain", "b_fast"]
        assert s.electricity.dims[0] == "storyline"
        for v in CUBE_VARS:
            np.testing.assert_array_equal(s[v].sel(storyline="b_fast").values, p[v].values, err_msg=v)
            np.testing.assert_array_equal(s[v].sel(storyline="a_plain").values, b[v].values, err_msg=v)
            assert s[v].dtype == p[v].dtype
        # common random numbers: an input no storyline changes is drawn identically in both
        same = s.inputs.sel(input="lifetime_mean").values
        np.testing.assert_array_equal(same[0], same[1])
        # ... and the overridden ones differ
        assert not np.array_equal(*s.inputs.sel(input="shipments_growth_initial").values)
        assert np.all(s.inputs.sel(storyline="b_fast", input="preexisting_age").values == 1.5)


def test_summary_storylines_equal_plain_summaries(files):
    with xr.open_dataset(files["summary"]) as s, xr.open_dataset(files["plain_summary"]) as p:
        x = select(s, "b_fast")
        for v in ("electricity_total_quantile", "electricity_total_mean", "exceedance_probability", "sample_inputs"):
            np.testing.assert_array_equal(x[v].values, p[v].values, err_msg=v)
        assert s.attrs["dcproj_kind"] == "summary"


def test_provenance_of_every_storyline(files):
    with xr.open_dataset(files["cube"]) as s, xr.open_dataset(files["plain_cube"]) as p:
        record = json.loads(s.attrs["storylines"])
        assert [r["name"] for r in record] == ["a_plain", "b_fast"]
        assert record[1]["overrides"][0] == "inputs.shipments_growth_initial.mode=1.5"
        assert str(s.storyline_overrides.sel(storyline="b_fast").values) == p.attrs["config_overrides"]
        assert str(s.storyline_config_checksum.sel(storyline="b_fast").values) == p.attrs["config_sha256"]
        assert str(s.storyline_config.sel(storyline="b_fast").values) == p.attrs["config"]
        assert s.attrs["config_sha256"] == config_sha256(load_config(CONFIG)) != p.attrs["config_sha256"]  # the base's
        assert str(s.storyline_description.sel(storyline="a_plain").values) == "test storyline a_plain"
        assert s.attrs["seed"] == str(SEED)


def test_in_memory_storylines_equal_the_file(files):
    ds = run_storylines(CONFIG, [_stories_dir() / "b_fast.yaml"], N, SEED)
    with xr.open_dataset(files["cube"]) as s:
        np.testing.assert_array_equal(ds.electricity.sel(storyline="b_fast").values, s.electricity.sel(storyline="b_fast").values)


def test_a_key_that_does_not_exist_is_refused_naming_the_file_and_what_exists(tmp_path):
    folder = tmp_path / "st"
    folder.mkdir()
    _write(folder, "ok", {})
    bad = _write(folder, "typo", {"inputs.pue_aii.mode": 1.2})
    out = tmp_path / "out" / "s.nc"
    out.parent.mkdir()
    with pytest.raises(ConfigError) as err:
        storylines_to_file(CONFIG, folder, out, N, SEED)
    msg = str(err.value)
    assert str(bad) in msg and "inputs.pue_aii" in msg and "did you mean inputs.pue_ai?" in msg and "pue_floor" in msg
    assert os.listdir(out.parent) == []  # no output, no temporary file or folder, no lock
    r = CliRunner().invoke(main, ["run", str(CONFIG), "--storylines", str(folder), "-n", "1000", "--out", str(out)])
    assert r.exit_code != 0 and "inputs.pue_aii" in r.output and str(bad) in r.output
    assert os.listdir(out.parent) == []


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"inputs.pue_ai.modee": 1.2}, "inputs.pue_ai.modee does not exist"),
        (
            {"regional_inputs.pue_2022.mars.mode": 1.2},
            "regional_inputs.pue_2022 has: united_states, europe, china, rest_of_world",
        ),
        ({"inputs.pue_ai.mode.x": 1.2}, "inputs.pue_ai.mode is a value"),
        ({"correlations.99.rho": 0.1}, "correlations is a list of 7 items"),
        ({"seed": 3}, "may not change seed"),
        ({"years.end": 2040}, "may not change years"),
    ],
)
def test_bad_keys_are_refused_with_their_reason(tmp_path, overrides, expected):
    path = _write(tmp_path, "bad", overrides)
    with pytest.raises(ConfigError, match="bad.yaml") as err:
        run_storylines(CONFIG, path, 10, SEED)
    assert expected in str(err.value)


def test_a_value_the_schema_refuses_names_the_storyline(tmp_path):
    path = _write(tmp_path, "reversed", {"inputs.pue_ai.mode": 2.0})  # mode above high (1.30)
    with pytest.raises(ConfigError) as err:
        run_storylines(CONFIG, path, 10, SEED)
    msg = str(err.value)
    assert "storyline 'reversed'" in msg and str(path) in msg and "inputs.pue_ai" in msg and "--set" not in msg


def test_storyline_files_are_checked(tmp_path):
    (tmp_path / "x.yaml").write_text("description: d\nsources: [s]\noverides: {}\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_storylines(tmp_path)
    (tmp_path / "x.yaml").write_text("description: d\noverrides: {}\n")
    with pytest.raises(ConfigError, match="sources: required"):
        load_storylines(tmp_path / "x.yaml")
    _write(tmp_path, "x", {}, label="same")
    _write(tmp_path, "y", {}, label="same")
    with pytest.raises(ConfigError, match="names must be unique"):
        load_storylines([tmp_path / "x.yaml", tmp_path / "y.yaml"])


def test_an_existing_output_is_never_replaced(files):
    out = files["dir"] / "exists.nc"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="exists"):
        storylines_to_file(CONFIG, _stories_dir(), out, N, SEED)
    assert out.read_bytes() == b"keep me"
    assert not [p for p in os.listdir(files["dir"]) if ".storylines." in p]


def test_the_shipped_storylines_are_the_iea_cases_and_all_valid():
    stories = load_storylines(SHIPPED)
    assert [s.name for s in stories] == ["Base", "Lift-Off", "High Efficiency", "Headwinds"]
    assert all(any("IEA" in src and "Energy and AI" in src for src in s.sources) for s in stories)
    assert stories[0].overrides == {}
    ds = run_storylines(CONFIG, SHIPPED, 2000, 1, summary=True, keep_sample=0)
    med = ds.electricity_total_quantile.sel(boundary="dc_only", quantile=0.5, year=2035)
    order = {str(n): float(v) for n, v in zip(ds.storyline.values, med.values, strict=True)}
    # the IEA's ordering of the cases in 2035: Lift-Off > Base > High Efficiency, Headwinds
    assert order["Lift-Off"] > order["Base"] > max(order["High Efficiency"], order["Headwinds"])


def test_summary_command_shows_the_storylines_side_by_side(files):
    r = CliRunner().invoke(
        main, ["summary", str(files["summary"]), "--boundary", "dc_only", "--year", "2030", "--threshold", "dc_only:2030>1000"]
    )
    assert r.exit_code == 0, r.output
    with xr.open_dataset(files["summary"]) as s:
        frame = compare(s, "electricity", "dc_only", year=2030)
        for n in names(s):
            expected = summarise(select(s, n), "electricity", "dc_only", year=2030)["p50"].iloc[0]
            assert frame[(n, "p50")].iloc[0] == expected
            assert f"{n} median" in r.output and f"{expected:,.0f}" in r.output
            p = float(s.exceedance_probability.sel(storyline=n).values[0])
            assert f"{n}: P(electricity dc_only 2030 > 1000 TWh) = {p:.4f}" in r.output


def test_cli_run_with_storylines(tmp_path):
    out = tmp_path / "cli.nc"
    r = CliRunner().invoke(
        main,
        [
            "run",
            str(CONFIG),
            "--storylines",
            str(_stories_dir() / "b_fast.yaml"),
            "-n",
            "500",
            "--seed",
            "3",
            "--summary",
            "--keep-sample",
            "0",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    with xr.open_dataset(out) as s:
        assert names(s) == ["b_fast"] and s.attrs["scenarios"] == 500


def test_report_and_plot_of_a_storylines_file(files, tmp_path):
    pytest.importorskip("matplotlib")
    from engine.analysis.report import render

    with xr.open_dataset(files["summary"]) as s:
        page = render(s, table=None)
    assert "<!-- dcproj:slot storylines -->" in page and "Optional section, not included: report a storylines file" not in page
    assert "test storyline b_fast" in page and "inputs.shipments_growth_initial.mode=1.5" in page
    r = CliRunner().invoke(main, ["plot", str(files["cube"]), "--kind", "fan", "--out", str(tmp_path / "f.png")])
    assert r.exit_code != 0 and "--kind storylines" in r.output and not (tmp_path / "f.png").exists()
    r = CliRunner().invoke(
        main,
        [
            "plot",
            str(files["cube"]),
            "--kind",
            "fan",
            "--storyline",
            "b_fast",
            "--no-published",
            "--out",
            str(tmp_path / "f.png"),
        ],
    )
    assert r.exit_code == 0, r.output


def test_a_weighted_storylines_cube_reads_per_storyline(files, tmp_path):
    """The accessor answers per storyline (each with its own weights: storyline b_fast equals the
    plain weighted run of its config); plot --kind storylines, the report and every export work
    on a weighted full storylines cube."""
    pytest.importorskip("matplotlib")
    import engine  # noqa: F401  (registers ds.dcproj)

    with xr.open_dataset(files["cube"]) as s, xr.open_dataset(files["plain_cube"]) as p:
        assert "weight" in s and s.weight.dims == ("storyline", "scenario")
        q = s.dcproj.quantiles([0.05, 0.5, 0.95], years=[2030])
        assert q.dims == ("storyline", "quantile", "year")
        np.testing.assert_array_equal(q.sel(storyline="b_fast").values, p.dcproj.quantiles([0.05, 0.5, 0.95], years=[2030]).values)
        ex = s.dcproj.exceedance(900, year=2030)
        assert set(ex) == {"a_plain", "b_fast"} and ex["b_fast"].probability == p.dcproj.exceedance(900, year=2030).probability
        assert s.dcproj.n_effective["b_fast"] == pytest.approx(p.dcproj.n_effective, rel=1e-12) and s.dcproj.weighted
    for args, out in ((["plot", "--kind", "storylines"], "s.png"), (["report"], "s.html")):
        r = CliRunner().invoke(main, [args[0], str(files["cube"]), *args[1:], "--out", str(tmp_path / out)])
        assert r.exit_code == 0, r.output
    for fmt in ("iamc", "csv"):
        r = CliRunner().invoke(main, ["export", str(files["cube"]), "--format", fmt, "--out", str(tmp_path / f"e.{fmt}.csv")])
        assert r.exit_code == 0, r.output
    import pandas as pd

    iamc = pd.read_csv(tmp_path / "e.iamc.csv")
    assert sorted(iamc["Scenario"].unique()) == ["a_plain", "b_fast"]
    tidy = pd.read_csv(tmp_path / "e.csv.csv")
    assert list(tidy.columns)[0] == "storyline" and sorted(tidy["storyline"].unique()) == ["a_plain", "b_fast"]


def test_sensitivity_and_discovery_of_one_storyline_from_the_cli(files):
    """--storyline picks one storyline (the same answer as the plain run of its config); on a plain file it is refused."""
    args = ["--year", "2030", "--boundary", "dc_only", "--measure", "spearman", "--bootstrap", "2"]
    one = CliRunner().invoke(main, ["sensitivity", str(files["cube"]), *args, "--storyline", "b_fast"])
    plain = CliRunner().invoke(main, ["sensitivity", str(files["plain_cube"]), *args])
    assert one.exit_code == 0 and plain.exit_code == 0, one.output + plain.output
    assert one.output.splitlines()[1:6] == plain.output.splitlines()[1:6]  # the ranked rows
    found = CliRunner().invoke(main, ["discover", str(files["cube"]), "--where", "electricity.dc_only.2030 > 700",
                                      "--threshold", "0.3", "--storyline", "a_plain"])  # fmt: skip
    assert found.exit_code == 0 and "event: electricity.dc_only.2030 > 700 TWh" in found.output, found.output
    bad = CliRunner().invoke(main, ["sensitivity", str(files["plain_cube"]), *args, "--storyline", "b_fast"])
    assert bad.exit_code == 2 and "--storyline applies to a storylines file" in bad.output


def _hand_made_storylines(weights: dict[str, np.ndarray]) -> xr.Dataset:
    """A minimal weighted storylines cube: only the per-scenario weights."""
    n = len(next(iter(weights.values())))
    w = np.stack(list(weights.values()))
    return xr.Dataset({"weight": (("storyline", "scenario"), w)}, coords={"storyline": list(weights), "scenario": np.arange(n)})


def test_evidence_of_a_hand_made_ensemble_against_numpy_and_a_bootstrap():
    """Mean weights, Bayes factors and posterior probabilities as computed by hand with NumPy; the
    delta-method error of the posterior against a bootstrap of the scenarios (independent per storyline)."""
    from engine.analysis.storylines import evidence

    rng = np.random.default_rng(5)
    w = {"low": rng.beta(0.3, 3.0, 4000), "mid": rng.beta(0.6, 2.0, 4000), "high": rng.beta(0.2, 8.0, 4000)}
    ev = evidence(_hand_made_storylines(w))
    m = np.array([v.mean() for v in w.values()])
    np.testing.assert_allclose(ev["mean_weight"], m, rtol=1e-12)
    np.testing.assert_allclose(ev["mean_weight_se"], [v.std(ddof=1) / np.sqrt(v.size) for v in w.values()], rtol=1e-9)
    np.testing.assert_allclose(ev["posterior"], m / m.sum(), rtol=1e-12)
    np.testing.assert_allclose(ev["bayes_factor"], m / m[0], rtol=1e-12)
    boot = np.array([[rng.choice(v, v.size).mean() for v in w.values()] for _ in range(600)])
    boot_post = boot / boot.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ev["posterior_se"], boot_post.std(axis=0, ddof=1), rtol=0.2)
    prior = {"low": 0.5, "mid": 0.25, "high": 0.25}
    ev2 = evidence(_hand_made_storylines(w), prior=prior)
    a = np.array(list(prior.values())) * m
    np.testing.assert_allclose(ev2["posterior"], a / a.sum(), rtol=1e-12)


def test_evidence_needs_weights_and_valid_priors():
    from engine.analysis.storylines import evidence
    from engine.errors import AnalysisError

    plain = _hand_made_storylines({"a": np.ones(10), "b": np.ones(10)}).rename({"weight": "electricity"})
    with pytest.raises(AnalysisError, match="not weighted"):
        evidence(plain)
    with pytest.raises(AnalysisError, match="rule them out"):
        evidence(_hand_made_storylines({"a": np.ones(10), "b": np.zeros(10)}))
    with pytest.raises(AnalysisError, match="expected a non-negative number for each of"):
        evidence(_hand_made_storylines({"a": np.ones(10), "b": np.ones(10)}), prior={"a": 1.0})


def test_evidence_of_a_storylines_summary_is_that_of_its_plain_runs(files):
    """A storyline's weight sums in a storylines summary are its plain run's (common random numbers);
    the full cube (float32 outputs: weights of the stored values) agrees to 1e-3; summary prints it."""
    from engine.analysis.storylines import evidence

    with xr.open_dataset(files["summary"]) as s, xr.open_dataset(files["plain_summary"]) as p, xr.open_dataset(files["cube"]) as c:
        ev = evidence(s)
        assert float(ev.loc["b_fast", "mean_weight"]) == float(p.weight_sum) / int(p["count"])
        assert 0 < float(p.weight_sum_of_squares) <= float(p.weight_sum) <= int(p["count"])  # weights in [0, 1]
        np.testing.assert_allclose(evidence(c)["posterior"], ev["posterior"], rtol=1e-3)
        assert abs(ev["posterior"].sum() - 1.0) < 1e-12 and ev.loc["a_plain", "bayes_factor"] == 1.0
    r = CliRunner().invoke(main, ["summary", str(files["summary"]), "--boundary", "dc_only", "--year", "2030"])
    assert r.exit_code == 0, r.output
    post = ev.loc["b_fast", "posterior"]
    assert "P(storyline | observations), equal prior odds" in r.output and f"b_fast {post:.3f} ± " in r.output
    with xr.open_dataset(files["summary"]) as s:
        from engine.analysis.storylines import mixture_quantiles

        mix = mixture_quantiles(s, [0.05, 0.5, 0.95]).loc[2030]
        each = [summarise(select(s, n), "electricity", "dc_only", year=2030)["p50"].iloc[0] for n in names(s)]
    assert min(each) * 0.9 <= mix["p50"] <= max(each) * 1.1  # between the storylines' medians, up to the kept sample's noise
    assert f"pooled by these probabilities (from the kept sample): electricity dc_only 2030 median {mix['p50']:,.0f}" in r.output


def test_mixture_quantiles_pool_the_storylines_by_their_posterior():
    """Storyline a uniform on [0, 1) with every weight 0.25, b uniform on [1, 2) with 0.75: P(a) = 0.25,
    so the pooled 5 % point is a's 20 % point (0.2) and the median b's third (4/3), by hand."""
    from engine.analysis.storylines import mixture_quantiles

    n = 20000
    u = (np.arange(n) + 0.5) / n
    ds = xr.Dataset(
        {
            "weight": (("storyline", "scenario"), np.stack([np.full(n, 0.25), np.full(n, 0.75)])),
            "electricity": (("storyline", "scenario", "year"), np.stack([u, 1 + u])[:, :, None]),
        },
        coords={"storyline": ["a", "b"], "scenario": np.arange(n), "year": [2030]},
    )
    got = mixture_quantiles(ds, [0.05, 0.5, 0.95]).loc[2030]
    assert got["p5"] == pytest.approx(0.2, abs=2e-4) and got["p50"] == pytest.approx(4 / 3, abs=2e-4)
    assert got["p95"] == pytest.approx(1 + 0.7 / 0.75, abs=2e-4)
    assert got["n_eff"] == pytest.approx(n / (0.25**2 + 0.75**2), rel=1e-9)  # Kish on the pooled weights
    assert 0 < got["se_p50"] < 0.02
