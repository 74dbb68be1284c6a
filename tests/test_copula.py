"""The Gaussian copula achieves the configured rank correlations, and only those.

10^5 scenarios of the default config are sampled with the numba backend (no model run).
Tolerance: the standard error of Spearman's rho for a bivariate normal (Fieller, Hartley &
Pearson 1957), SE = (1 - rho^2) * sqrt(1.06 / (n - 3)), i.e. 0.0033 at rho = 0 and n = 10^5.
Configured pairs must lie within 4 SE of their rho; every other pair of uncertain inputs
within 5 SE of 0 (about 2,000 pairs: 5 SE keeps the family-wise false-alarm rate below 1e-3).
A control shows the check can fail: a copula built without the Spearman -> Pearson conversion
(Pearson = rho) misses the configured values by more than the tolerance.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from engine.backends import get_backend
from engine.inputs.layout import build_layout

N = 100_000
SEED = 31337


def se_spearman(rho: float, n: int = N) -> float:
    """Standard error of Spearman's rho at population value ``rho`` (bivariate normal)."""
    return (1.0 - rho**2) * math.sqrt(1.06 / (n - 3))


@pytest.fixture(scope="module")
def layout(default_config):
    return build_layout(default_config)


@pytest.fixture(scope="module")
def draws(layout):
    return get_backend("numba").sample(layout, SEED, 0, N)


def _uncertain_columns(config, layout) -> list[int]:
    return [
        j
        for j, name in enumerate(layout.names)
        if name.startswith("shipments_shock.") or config.distribution(name).kind != "fixed"
    ]


@pytest.fixture(scope="module")
def spearman(default_config, layout, draws):
    cols = _uncertain_columns(default_config, layout)
    rho = stats.spearmanr(draws[:, cols]).statistic
    return cols, rho


def test_configured_rank_correlations_are_achieved(default_config, layout, spearman):
    """Each configured Spearman rho of the default config is met within 4 standard errors."""
    cols, rho = spearman
    assert len(default_config.correlations) >= 5
    for c in default_config.correlations:
        a, b = (cols.index(layout.names.index(n)) for n in c.between)
        tol = 4.0 * se_spearman(c.rho)
        assert abs(rho[a, b] - c.rho) <= tol, (c.between, rho[a, b], c.rho, tol)


def test_unconfigured_pairs_stay_uncorrelated(default_config, layout, spearman):
    """Every pair of uncertain inputs without a configured correlation (including partners of
    partners, e.g. shipments_growth_longrun and custom_accelerator_factor, whose copula entry
    is 0) has |Spearman rho| within 5 SE of 0."""
    cols, rho = spearman
    configured = {frozenset(c.between) for c in default_config.correlations}
    tol = 5.0 * se_spearman(0.0)
    worst, pairs = 0.0, 0
    for i in range(len(cols)):
        for k in range(i + 1, len(cols)):
            if frozenset((layout.names[cols[i]], layout.names[cols[k]])) in configured:
                continue
            pairs += 1
            worst = max(worst, abs(rho[i, k]))
            assert abs(rho[i, k]) <= tol, (layout.names[cols[i]], layout.names[cols[k]], rho[i, k], tol)
    assert pairs > 1500 and worst > 0  # the draws vary; the check covered the family


def test_copula_keeps_the_marginals(default_config, layout, draws):
    """The correlated inputs keep their configured marginal distributions (KS test against
    the scipy reference of each distribution, p > 1e-4 for each of the ~12 inputs)."""
    names = sorted({n for c in default_config.correlations for n in c.between})
    for name in names:
        x = draws[:, layout.names.index(name)]
        p = stats.kstest(x, default_config.distribution(name).scipy_dist().cdf).pvalue
        assert p > 1e-4, (name, p)


def test_the_check_can_fail_without_the_spearman_to_pearson_conversion(default_config, layout):
    """Control: a factor built from Pearson = rho (the conversion 2 sin(pi rho / 6) left out)
    gives rank correlations (6/pi) asin(rho/2) that miss rho = 0.5 by ~0.017 > 4 SE (0.0098)."""
    r = np.eye(len(layout.corr_index))
    names = [layout.names[j] for j in layout.corr_index]
    for c in default_config.correlations:
        i, k = names.index(c.between[0]), names.index(c.between[1])
        r[i, k] = r[k, i] = c.rho
    naive = dataclasses.replace(layout, corr_factor=np.ascontiguousarray(np.linalg.cholesky(r)))
    x = get_backend("numba").sample(naive, SEED, 0, N)
    missed = []
    for c in default_config.correlations:
        a, b = (layout.names.index(n) for n in c.between)
        got = stats.spearmanr(x[:, a], x[:, b]).statistic
        if abs(got - c.rho) > 4.0 * se_spearman(c.rho):
            missed.append(c.between)
    assert ("shipments_growth_initial", "shipments_growth_longrun") in missed  # rho = 0.5
    assert len(missed) >= 3
