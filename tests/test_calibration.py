"""Calibration of the default config against the published seeds (../shared/data/seed_figures.csv).

The prior (``prior=True``: the config's observations ignored):
2022 total incl. crypto: median within 460 TWh ± 2 %, 90 % interval within ± 10 % of it.
2026: median inside IEA's 620-1050 TWh (Electricity 2024); the 5-95 % interval covers >= 55 % of that range
(the deployment caps from 2026 trim the top of the range the IEA published in January 2024).

The posterior (weighted by the default's observations) follows the observations it was given:
IEA's 415 TWh (2024) and +17 % (2025), LBNL's 192 TWh for the US (2024).
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import run
from engine.analysis.results import total

N = 100_000


@pytest.fixture(scope="module")
def totals(default_config):
    ds = run(default_config, scenarios=N, seed=2024, prior=True)
    return total(ds, "electricity", "incl_crypto"), ds


def test_base_year_is_anchored_to_460_twh_by_construction(totals):
    """Holds by construction: conventional IT is the residual of the sampled anchor, so the
    2022 total *is* total_2022 ~ normal(460, 9) whenever the residual is not clipped (see
    test_base_year_residual_is_never_clipped); this checks the config's anchor, not the model."""
    t, _ = totals
    q5, q50, q95 = np.quantile(t.sel(year=2022), [0.05, 0.5, 0.95])
    assert abs(q50 / 460 - 1) <= 0.02
    assert q5 >= 0.9 * 460 and q95 <= 1.1 * 460


def test_base_year_residual_is_never_clipped(totals):
    """Can fail: in every scenario crypto + accelerated servers with their infrastructure
    (PUE_2022,r x accelerated, the 2022 fleet sits in old sites) stay below the sampled anchor,
    so conventional IT is positive and the anchor closes; the run's clip count agrees."""
    _, ds = totals
    e = ds.electricity.sel(year=2022).astype("float64")
    pue = ds.inputs.sel(input=[f"pue_2022.{r}" for r in ds.region.values]).values
    acc = e.sel(component="accelerated_servers").values
    margin = ds.inputs.sel(input="total_2022").values - ds.inputs.sel(input="crypto_2022").values - (pue * acc).sum(axis=1)
    assert margin.min() > 0, margin.min()
    conventional = e.sel(component=["conventional_servers", "storage", "network"]).sum(["region", "component"])
    assert float(conventional.min()) > 0
    assert ds.attrs["clipped_conventional_it_2022"] == 0


def test_2026_sits_across_the_iea_range(totals):
    t, _ = totals
    q5, q50, q95 = np.quantile(t.sel(year=2026), [0.05, 0.5, 0.95])
    assert 620 <= q50 <= 1050
    covered = (min(q95, 1050) - max(q5, 620)) / (1050 - 620)
    assert covered >= 0.55, (q5, q95, covered)


@pytest.fixture(scope="module")
def posterior(default_config):
    return run(default_config, scenarios=N, seed=2024, summary=True, keep_sample=0)


def test_posterior_follows_the_observations(posterior):
    q = posterior.electricity_total_quantile.sel(boundary="dc_only")
    med = q.sel(quantile=0.5)
    assert abs(float(med.sel(year=2024)) / 415 - 1) < 0.05  # IEA Energy and AI: 415 TWh
    growth = float(med.sel(year=2025)) / float(med.sel(year=2024)) - 1
    assert abs(growth - 0.17) < 0.05  # IEA Key Questions 2026: +17 %
    us = float(posterior.electricity_by_region_quantile.sel(boundary="dc_only", year=2024, region="united_states", quantile=0.5))
    assert abs(us / 192 - 1) < 0.08  # LBNL 2025 update: 192 TWh
    prior_width = 441 - 380  # the prior's 2024 dc_only 90 % interval at 10^5 (README), for scale
    width = float(q.sel(year=2024, quantile=0.95) - q.sel(year=2024, quantile=0.05))
    assert width < prior_width  # the observations narrow it
    assert float(posterior.effective_sample_size) > 1000


def test_crypto_2026_near_iea_base_case(totals):
    _, ds = totals
    crypto = ds.electricity.sel(year=2026, component="crypto").astype("float64").sum("region")
    assert 130 <= float(np.median(crypto)) <= 175  # IEA 2026 base ~160 TWh


def test_regional_split_2022_near_iea(totals):
    _, ds = totals
    by_region = ds.electricity.sel(year=2022).astype("float64").sum("component").median("scenario")
    assert 170 <= float(by_region.sel(region="united_states")) <= 230  # IEA: US ~200 TWh
    assert float(by_region.sel(region="europe")) < 100  # IEA: EU < 100 TWh
