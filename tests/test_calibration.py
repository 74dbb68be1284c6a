"""Calibration of the default config against the published seeds (../shared/data/seed_figures.csv).

2022 total incl. crypto: median within 460 TWh ± 2 %, 90 % interval within ± 10 % of it.
2026: median between 700 and 950 TWh; the 5-95 % interval covers >= 80 % of IEA's 620-1050 TWh.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import run
from engine.analysis.results import total

N = 100_000


@pytest.fixture(scope="module")
def totals(default_config):
    ds = run(default_config, scenarios=N, seed=2024)
    return total(ds, "electricity", "incl_crypto"), ds


def test_base_year_is_anchored_to_460_twh(totals):
    t, _ = totals
    q5, q50, q95 = np.quantile(t.sel(year=2022), [0.05, 0.5, 0.95])
    assert abs(q50 / 460 - 1) <= 0.02
    assert q5 >= 0.9 * 460 and q95 <= 1.1 * 460


def test_2026_sits_across_the_iea_range(totals):
    t, _ = totals
    q5, q50, q95 = np.quantile(t.sel(year=2026), [0.05, 0.5, 0.95])
    assert 700 <= q50 <= 950
    covered = (min(q95, 1050) - max(q5, 620)) / (1050 - 620)
    assert covered >= 0.8, (q5, q95, covered)


def test_crypto_2026_near_iea_base_case(totals):
    _, ds = totals
    crypto = ds.electricity.sel(year=2026, component="crypto").astype("float64").sum("region")
    assert 130 <= float(np.median(crypto)) <= 175  # IEA 2026 base ~160 TWh


def test_regional_split_2022_near_iea(totals):
    _, ds = totals
    by_region = ds.electricity.sel(year=2022).astype("float64").sum("component").median("scenario")
    assert 170 <= float(by_region.sel(region="united_states")) <= 230  # IEA: US ~200 TWh
    assert float(by_region.sel(region="europe")) < 100  # IEA: EU < 100 TWh
