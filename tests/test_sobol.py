"""Pick-freeze Sobol' indices: the Ishigami function's analytic indices, SALib's own estimate of the
model output (the design mapped with scipy's inverse CDFs and run through the NumPy reference model,
independently of the numba path), the refusal of correlated configs, and the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("SALib", reason="SALib is not installed (pip install -e '.[analysis]')")

from engine import load_config  # noqa: E402
from engine.analysis.sobol import saltelli, sobol_indices, sobol_table  # noqa: E402
from engine.cli.main import main  # noqa: E402
from engine.errors import AnalysisError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "default.yaml"
INDEPENDENT = {"correlations": [], "years.end": 2030}


def _ishigami(x, a=7.0, b=0.1):
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_ishigami_indices_match_their_analytic_values():
    a, b, pi = 7.0, 0.1, math.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    s1 = np.array([v1, v2, 0.0]) / var
    st = np.array([v1 + v13, v2, v13]) / var
    res = saltelli(["x1", "x2", "x3"], lambda u: -pi + 2 * pi * u, lambda x: _ishigami(x)[:, None], 2**13, seed=5)
    np.testing.assert_allclose(res["S1"][:, 0], s1, atol=0.02)
    np.testing.assert_allclose(res["ST"][:, 0], st, atol=0.02)
    assert np.all(res["S1_conf"][:, 0] > 0) and np.all(res["S1_conf"][:, 0] < 0.05)
    assert int(res["rows"]) == 2**13 * 5


@pytest.fixture(scope="module")
def independent():
    cfg = load_config(CONFIG, overrides=INDEPENDENT)
    return cfg, sobol_indices(cfg, 256, seed=3, year=[2026, 2030], boundary="dc_only")


def test_model_indices_equal_salib_on_an_independent_evaluation(independent):
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    from engine.reference.model import project
    from kernels.columns import COMPONENTS
    from kernels.sampling import COPULA_U_MAX, COPULA_U_MIN

    cfg, ds = independent
    names = cfg.input_names()
    free = [n for n in names if n not in ds.attrs["fixed_inputs"].split(", ")]
    assert list(ds.input.values) == free
    problem = {"num_vars": len(free), "names": free, "bounds": [[0, 1]] * len(free)}
    u = np.clip(sample.sample(problem, 256, calc_second_order=False, seed=3), COPULA_U_MIN, COPULA_U_MAX)
    x = np.empty((u.shape[0], len(names)))
    for i, n in enumerate(names):  # scipy's inverse CDFs (the shipment shocks are standard normal)
        if n.startswith("shipments_shock."):
            from scipy.stats import norm

            x[:, i] = norm.ppf(u[:, free.index(n)])
        elif n in free:
            x[:, i] = cfg.distribution(n).scipy_dist().ppf(u[:, free.index(n)])
        else:
            x[:, i] = cfg.distribution(n).value
    out = project(x, len(cfg.regions), cfg.years.count)
    dc = [COMPONENTS.index(c) for c in COMPONENTS if c != "crypto"]
    for year in (2026, 2030):
        y = out["electricity"][:, year - 2022][..., dc].sum(axis=(1, 2))
        ref = analyze.analyze(problem, y, calc_second_order=False, num_resamples=100, conf_level=0.95, seed=3)
        for key in ("S1", "ST", "S1_conf", "ST_conf"):
            got = ds[key].sel(year=year).values
            np.testing.assert_allclose(got, ref[key], rtol=1e-6, atol=1e-9, err_msg=f"{key} {year}")
    top = sobol_table(ds, 2030)
    assert top["input"].iloc[0] == "shipments_growth_initial" and top["value"].iloc[0] > 0.15
    # sum of the total indices >= 1 >= sum of the first-order ones (equalities for an additive model), up to their error
    assert float(ds.ST.sel(year=2030).sum()) > 0.9 and float(ds.S1.sel(year=2030).sum()) < 1.1


def test_a_config_with_correlations_is_refused():
    with pytest.raises(AnalysisError, match="Gaussian copula") as err:
        sobol_indices(load_config(CONFIG), 64)
    assert "shipments_growth_initial~shipments_growth_longrun" in str(err.value)
    with pytest.raises(AnalysisError, match="power of 2"):
        sobol_indices(load_config(CONFIG, overrides=INDEPENDENT), 100)


def test_cli_sobol_writes_a_table_and_refuses_correlations(tmp_path):
    out = tmp_path / "sobol.csv"
    r = CliRunner().invoke(main, ["sensitivity", str(CONFIG), "--method", "sobol", "-n", "64", "--year", "2030",
                                  "--set", "correlations=[]", "--set", "years.end=2030", "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "ST" in r.output and "shipments_growth_initial" in r.output
    import pandas as pd

    frame = pd.read_csv(out)
    assert list(frame.columns) == ["input", "value", "low", "high"] and frame["value"].is_monotonic_decreasing
    r = CliRunner().invoke(main, ["sensitivity", str(CONFIG), "--method", "sobol", "-n", "64", "--year", "2030",
                                  "--out", str(tmp_path / "no.csv")])  # fmt: skip
    assert r.exit_code != 0 and "Gaussian copula" in r.output and not (tmp_path / "no.csv").exists()
