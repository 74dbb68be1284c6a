"""Conditioning on observations: weights, the posterior they give, weighted summaries, bad observations.

Independent references: the weights are recomputed with NumPy from a cube's own values and
inputs; a conjugate normal case has a closed-form posterior; weighted summary quantiles are
compared with exact weighted quantiles (sort + cumulative weights) of the same scenarios.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from engine import load_config, run, run_to_file
from engine.analysis.weighted import kish_ess, weighted_quantile
from engine.config.observations import Z90
from engine.errors import ConfigError, RunError
from tests.conftest import DEFAULT_CONFIG

OBSERVATIONS = [
    {"id": "dc_2024", "variable": "electricity", "boundary": "dc_only", "year": 2024, "value": 415, "sd": 41.5, "unit": "TWh",
     "source": "test"},
    {"id": "growth_2025", "variable": "electricity", "boundary": "dc_only", "year": 2025, "form": "growth", "value": 0.17,
     "sd": 0.04, "unit": "fraction", "source": "test"},
    {"id": "us_2024", "variable": "electricity", "boundary": "dc_only", "region": "united_states", "year": 2024, "value": 192,
     "sd": 15, "unit": "TWh", "source": "test"},
    {"id": "china_2024", "variable": "electricity", "boundary": "dc_only", "region": "china", "year": 2024, "value": 102,
     "low90": 85, "high90": 160, "unit": "TWh", "source": "test"},
    {"id": "carbon_2024", "variable": "carbon", "boundary": "incl_crypto", "year": 2024, "value": 250, "sd": 40, "unit": "Mt CO2",
     "source": "test"},
    {"id": "power_2025", "variable": "accelerator_power", "year": 2025, "value": 7.51, "low90": 6.65, "high90": 9.35, "unit": "GW",
     "source": "test"},
    {"id": "ships_2024", "variable": "shipments", "year": 2024, "low90": 6.0, "high90": 12.0, "unit": "M units", "source": "test"},
]  # fmt: skip


def _config(tmp_path, observations, name="obs.yaml", **changes):
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["observations"] = observations
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


@pytest.fixture(scope="module")
def obs_config(tmp_path_factory):
    return _config(tmp_path_factory.mktemp("obs"), OBSERVATIONS)


@pytest.fixture(scope="module")
def weighted_cube(obs_config):
    return run(obs_config, scenarios=3000, seed=5, dtype="float64")


def _numpy_log_likelihood(ds) -> np.ndarray:
    """The observations' log-likelihood from the cube's values and inputs, written independently with NumPy."""
    names = list(ds.input.values)
    x = ds.inputs.values

    def col(name):
        return x[:, names.index(name)]

    comps = [c for c in ds.component.values if c != "crypto"]
    e = ds.electricity
    dc = e.sel(component=comps)
    total = dc.sum(("region", "component")).values  # scenario, year
    years = list(ds.year.values)
    y24, y25 = years.index(2024), years.index(2025)
    # deployments: 2022 and 2023 given, then the growth law with its mean-one lognormal shock
    custom = col("custom_accelerator_factor")
    g0, ginf, tau, sd = col("shipments_growth_initial"), col("shipments_growth_longrun"), col("shipments_growth_decay"), col("shipments_shock_sd")
    s23 = col("shipments_2023") * custom
    g24 = ginf + (g0 - ginf) * np.exp(-(2024 - 2024) / tau)
    s24 = s23 * (1 + g24) * np.exp(sd * col("shipments_shock.2024") - 0.5 * sd**2)
    g25 = ginf + (g0 - ginf) * np.exp(-(2025 - 2024) / tau)
    s25 = s24 * (1 + g25) * np.exp(sd * col("shipments_shock.2025") - 0.5 * sd**2)
    p25 = col("power_2025")  # vintage 2025 runs at the 2025 rated power

    def term(v, centre, lo, hi):
        s = np.where(v < centre, lo, hi)
        return -0.5 * ((v - centre) / s) ** 2

    ll = term(total[:, y24], 415, 41.5, 41.5)
    ll += term(total[:, y25] / total[:, y24] - 1, 0.17, 0.04, 0.04)
    ll += term(dc.sel(region="united_states").sum("component").values[:, y24], 192, 15, 15)
    ll += term(dc.sel(region="china").sum("component").values[:, y24], 102, (102 - 85) / Z90, (160 - 102) / Z90)
    ll += term(ds.carbon.sum(("region", "component")).values[:, y24], 250, 40, 40)
    ll += term(s25 * p25 / 1000, 7.51, (7.51 - 6.65) / Z90, (9.35 - 7.51) / Z90)
    ll += term(s24, 9.0, 3.0 / Z90, 3.0 / Z90)
    return ll


def test_weights_match_an_independent_numpy_computation(weighted_cube):
    ll = _numpy_log_likelihood(weighted_cube)
    np.testing.assert_allclose(weighted_cube.log_likelihood.values, ll, rtol=1e-9, atol=1e-9)
    w = weighted_cube.weight.values
    np.testing.assert_allclose(w, np.exp(ll), rtol=0, atol=2.0**-32)
    assert (w * 2.0**32 == np.rint(w * 2.0**32)).all()  # multiples of 2^-32: exact sums in any order
    assert weighted_cube.attrs["weights_ess"] == pytest.approx(kish_ess(w), rel=1e-12)
    assert 0 < weighted_cube.attrs["weights_ess"] < 3000
    assert np.isfinite(weighted_cube.attrs["weights_pareto_k"])
    assert "dc_2024" in weighted_cube.attrs["observations"]


def test_conjugate_normal_posterior(tmp_path):
    """Shipments 2022 = fixed 1.0 x custom factor ~ N(1.5, 0.1); observing 1.62 +- 0.05 gives the
    normal posterior N(m, s) with 1/s^2 = 1/0.1^2 + 1/0.05^2, m = s^2 (1.5/0.1^2 + 1.62/0.05^2)."""
    obs = [{"id": "s22", "variable": "shipments", "year": 2022, "value": 1.62, "sd": 0.05, "unit": "M units", "source": "synthetic"}]
    cfg = _config(tmp_path, obs)
    cfg = load_config(
        tmp_path / "obs.yaml",
        overrides={
            "inputs.shipments_2022": {"kind": "fixed", "value": 1.0, "source": "synthetic"},
            "inputs.custom_accelerator_factor": {"kind": "normal", "mean": 1.5, "sd": 0.1, "lower": 1.0, "upper": 2.0, "source": "synthetic"},
            "correlations": [],
        },
    )
    ds = run(cfg, scenarios=40_000, seed=3, dtype="float64")
    x = ds.inputs.sel(input="custom_accelerator_factor").values
    w = ds.weight.values
    prec = 1 / 0.1**2 + 1 / 0.05**2
    mean, sd = (1.5 / 0.1**2 + 1.62 / 0.05**2) / prec, prec**-0.5
    ess = kish_ess(w)
    got_mean = np.sum(w * x) / w.sum()
    got_sd = np.sqrt(np.sum(w * (x - got_mean) ** 2) / w.sum())
    assert abs(got_mean - mean) < 4 * sd / np.sqrt(ess)  # 4 Monte Carlo standard errors
    assert got_sd == pytest.approx(sd, rel=0.03)
    # ESS/n -> E[w]^2 / E[w^2], with E[exp(-a (x - y)^2)] = exp(-a (mu - y)^2 / (1 + 2 a tau^2)) / sqrt(1 + 2 a tau^2)
    def moment(a):
        return np.exp(-a * (1.5 - 1.62) ** 2 / (1 + 2 * a * 0.1**2)) / np.sqrt(1 + 2 * a * 0.1**2)

    assert ess / 40_000 == pytest.approx(moment(0.5 / 0.05**2) ** 2 / moment(1 / 0.05**2), rel=0.05)


def test_prior_flag_gives_the_unweighted_run(tmp_path, obs_config):
    plain = run(_config(tmp_path, []), scenarios=500, seed=5, dtype="float64")
    prior = run(obs_config, scenarios=500, seed=5, dtype="float64", prior=True)
    assert "weight" not in prior and "weight" not in plain
    np.testing.assert_array_equal(prior.electricity.values, plain.electricity.values)
    assert prior.attrs["conditioning"].startswith("none: run with --prior")


def test_summary_kept_sample_weights_equal_cube_weights(obs_config, weighted_cube):
    sm = run(obs_config, scenarios=3000, seed=5, summary=True, keep_sample=3000)
    np.testing.assert_array_equal(sm.sample_weight.values, weighted_cube.weight.values)
    np.testing.assert_array_equal(sm.sample_log_likelihood.values, weighted_cube.log_likelihood.values)
    assert float(sm.effective_sample_size) == pytest.approx(weighted_cube.attrs["weights_ess"], rel=1e-12)


@pytest.mark.slow
def test_weighted_summary_quantiles_within_histogram_error_at_1e6(tmp_path):
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data.update(observations=OBSERVATIONS[:4], regions=["united_states", "china"], years={"start": 2022, "end": 2030})
    for key in data["regional_inputs"]:
        data["regional_inputs"][key] = {r: v for r, v in data["regional_inputs"][key].items() if r in ("united_states", "china")}
    (tmp_path / "obs.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_config(tmp_path / "obs.yaml")
    n = 10**6
    sm = run(cfg, scenarios=n, seed=11, summary=True, keep_sample=n)
    w = sm.sample_weight.values
    levels = list(sm["quantile"].values)
    worst = 0.0
    for b in ("dc_only", "incl_crypto"):
        values = sm.sample_electricity_total.sel(boundary=b).values.astype(np.float64)  # [scenario, year]
        exact = weighted_quantile(values.T, w, levels)  # [quantile, year]
        got = sm.electricity_total_quantile.sel(boundary=b).values
        worst = max(worst, float(np.max(np.abs(got / exact - 1))))
    assert worst <= 0.002, worst  # the histogram's bin width, 2^-9 = 0.195 %, plus float32 storage of the kept values


def test_weighted_summary_is_chunk_and_worker_invariant(obs_config):
    kw = dict(scenarios=20_000, seed=9, summary=True, keep_sample=0)
    ref = run(obs_config, chunk_size=4096, **kw)
    for other in (run(obs_config, chunk_size=3 * 4096, **kw), run(obs_config, scheduler="local", n_workers=2, chunk_size=8192, **kw)):
        for name in ("electricity_total_quantile", "electricity_total_mean", "electricity_by_region_variance", "effective_sample_size"):
            np.testing.assert_array_equal(other[name].values, ref[name].values)


def test_weighted_summary_is_thread_invariant(tmp_path):
    code = (
        "import sys, numba, numpy as np; from engine import load_config, run; numba.set_num_threads(int(sys.argv[2]));"
        "ds = run(load_config(sys.argv[1]), scenarios=9000, seed=2, summary=True, keep_sample=0);"
        "np.save(sys.argv[3], ds.electricity_total_quantile.values)"
    )
    cfg_path = tmp_path / "obs.yaml"
    _config(tmp_path, OBSERVATIONS)
    for t in (1, 2):
        subprocess.run([sys.executable, "-c", code, str(cfg_path), str(t), str(tmp_path / f"q{t}.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "q1.npy"), np.load(tmp_path / "q2.npy"))


def test_weighted_exceedance_in_cube_and_summary(obs_config, weighted_cube):
    from engine.analysis.answers import exceedance

    e = exceedance(weighted_cube, 900, year=2030, boundary="dc_only")
    comps = [c for c in weighted_cube.component.values if c != "crypto"]
    tot = weighted_cube.electricity.sel(year=2030, component=comps).sum(("region", "component")).values
    w = weighted_cube.weight.values
    assert e.probability == pytest.approx(np.sum(w * (tot > 900)) / w.sum(), rel=1e-12)
    assert e.standard_error == pytest.approx(np.sqrt(e.probability * (1 - e.probability) / kish_ess(w)), rel=1e-9)
    sm = run(obs_config, scenarios=3000, seed=5, summary=True, keep_sample=0, thresholds=["dc_only:2030>900"])
    i = int(np.nonzero(sm.threshold_value.values == 900)[0][0])
    assert float(sm.exceedance_probability[i]) == pytest.approx(e.probability, rel=1e-12)
    assert float(sm.exceedance_standard_error[i]) == pytest.approx(e.standard_error, rel=1e-9)


def test_observations_that_contradict_the_prior_stop_the_run(tmp_path):
    obs = [{"id": "absurd", "variable": "electricity", "boundary": "dc_only", "year": 2024, "value": 1e5, "sd": 10, "unit": "TWh",
            "source": "test"}]  # fmt: skip
    with pytest.raises(RunError, match="contradict the prior"):
        run(_config(tmp_path, obs), scenarios=300, seed=1)


def test_tight_observation_warns_about_the_effective_sample_size(tmp_path, capfd):
    obs = [{"id": "tight", "variable": "electricity", "boundary": "dc_only", "year": 2026, "value": 600, "sd": 0.5, "unit": "TWh",
            "source": "test"}]  # fmt: skip
    ds = run(_config(tmp_path, obs), scenarios=2000, seed=1, summary=True, keep_sample=2000)
    assert float(ds.effective_sample_size) < 1000
    assert "effective sample size" in capfd.readouterr().err


BAD = [
    ({"variable": "electricty"}, "unknown observable 'electricty'"),
    ({"year": 2050}, "observations[0] (x).year: 2050 is outside the projection years 2022..2035"),
    ({"year": 2022, "form": "growth", "unit": "fraction", "value": 0.1, "sd": 0.1}, "a growth rate needs the year before"),
    ({"sd": -3}, "sd: expected a positive standard deviation"),
    ({"region": "atlantis"}, "'atlantis' is not a region of this config"),
    ({"unit": "GWh"}, "a level of electricity is in 'TWh' or 'TW h', got 'GWh'"),
    ({"low90": 300, "high90": 500}, "give the uncertainty once"),
    ({"sd": None, "low90": 420, "high90": 500}, "must lie strictly inside the 90 % interval"),
    ({"boundary": None}, "electricity needs a boundary"),
    ({"variable": "shipments", "unit": "M units", "boundary": None, "region": "china"}, "projected globally only"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_observations_are_rejected_with_the_key(tmp_path, change, message):
    o = {"id": "x", "variable": "electricity", "boundary": "dc_only", "year": 2024, "value": 415, "sd": 40, "unit": "TWh", "source": "s"}
    o.update(change)
    o = {k: v for k, v in o.items() if v is not None}
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, [o])
    text = str(info.value)
    assert message in text and "obs.yaml" in text and "observations" in text


def test_cli_bad_observation_exits_nonzero_without_output(tmp_path):
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["observations"] = [{"id": "x", "variable": "electricity", "boundary": "dc_only", "year": 2024, "value": 415, "sd": 0,
                             "unit": "TWh", "source": "s"}]  # fmt: skip
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "out.nc"
    r = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(cfg), "-n", "100", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode != 0 and "observations[0]: sd: expected a positive" in r.stderr and not out.exists()


def test_weighted_cube_file_matches_in_memory_run(tmp_path, obs_config, weighted_cube):
    import xarray as xr

    path = run_to_file(obs_config, tmp_path / "w.nc", scenarios=3000, seed=5, dtype="float64", chunk_size=700,
                       thresholds=["dc_only:2030>900"])  # fmt: skip
    with xr.open_dataset(path) as ds:
        np.testing.assert_array_equal(ds.weight.values, weighted_cube.weight.values)
        assert ds.attrs["weights_ess"] == pytest.approx(weighted_cube.attrs["weights_ess"], rel=1e-12)
        w = ds.weight.values
        comps = [c for c in ds.component.values if c != "crypto"]
        tot = ds.electricity.sel(year=2030, component=comps).sum(("region", "component")).values
        assert float(ds.exceedance_probability[-1]) == pytest.approx(np.sum(w * (tot > 900)) / w.sum(), rel=1e-12)


def test_the_weight_diagnostics_print_no_arviz_import_notice(tmp_path):
    """ArviZ 0.23 warns about its coming refactor once a day per cache folder, on import; a weighted
    run's k-hat imports it, and a user must not see that notice (a fresh cache folder: it would)."""
    import os

    code = "import numpy as np; from engine.conditioning.diagnostics import pareto_k; print(pareto_k(np.arange(100.0)))"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    res = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert float(res.stdout) == float(res.stdout)  # a number (k-hat of 100 distinct log-weights), not NaN
