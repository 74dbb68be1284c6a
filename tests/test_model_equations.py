"""Hand-computed values for single equations of kernels.model, with the JIT off and on."""

from __future__ import annotations

import math

import numba
import pytest

from kernels import columns, model
from kernels._target import build

COMPILED = build(numba.njit, [model])
INTERPRETED = build(lambda f: f, [model])  # the same functions, not compiled (with kernels.survival and kernels.deployment)


@pytest.fixture(params=["python", "njit"])
def k(request):
    """The model functions, interpreted or compiled (the same tests run both ways)."""
    return INTERPRETED if request.param == "python" else COMPILED


def test_adoption_growth_decays_from_initial_to_longrun(k):
    assert k.adoption_growth(2024, 0.9, 0.05, 2.0) == pytest.approx(0.9, rel=1e-15)
    # two years later the gap (0.85) has shrunk by e^-1
    assert k.adoption_growth(2026, 0.9, 0.05, 2.0) == pytest.approx(0.05 + 0.85 * math.exp(-1.0), rel=1e-14)


def test_shipments_step_without_shock_is_compound_growth(k):
    assert k.shipments_next(3.85, 0.5, 0.0, 1.3) == pytest.approx(5.775, rel=1e-15)
    # a +1 sd shock at sd 0.1 multiplies by exp(0.1 - 0.005)
    assert k.shipments_next(2.0, 0.0, 0.1, 1.0) == pytest.approx(2.0 * math.exp(0.095), rel=1e-15)


def test_weibull_scale_gives_requested_mean(k):
    # shape 1 is the exponential distribution: scale = mean
    assert k.weibull_scale(4.0, 1.0) == pytest.approx(4.0, rel=1e-14)
    # shape 2: mean = scale * sqrt(pi)/2
    assert k.weibull_scale(5.0, 2.0) == pytest.approx(5.0 / (math.sqrt(math.pi) / 2), rel=1e-14)


def test_survival_and_in_service_fraction(k):
    assert k.weibull_survival(0.0, 4.0, 2.0) == 1.0
    assert k.weibull_survival(4.0, 4.0, 2.0) == pytest.approx(math.exp(-1.0), rel=1e-15)
    assert k.in_service_fraction(0.0, 4.0, 2.0) == 0.5  # shipped evenly through the year
    assert k.in_service_fraction(2.0, 4.0, 2.0) == pytest.approx(math.exp(-0.25), rel=1e-15)


def test_preexisting_stock_conditional_survival(k):
    # exponential lives (shape 1) are memoryless: the stock decays as exp(-(t + 0.5)/scale)
    got = k.preexisting_in_service(4.0, 1.5, 2.0, 3.0, 1.0)
    assert got == pytest.approx(4.0 * math.exp(-2.5 / 3.0), rel=1e-14)


def test_vintage_power_by_generation(k):
    assert k.vintage_power(2021, 330.0, 600.0, 900.0, 0.05) == 330.0
    assert k.vintage_power(2022, 330.0, 600.0, 900.0, 0.05) == 330.0
    assert k.vintage_power(2024, 330.0, 600.0, 900.0, 0.05) == 600.0
    assert k.vintage_power(2025, 330.0, 600.0, 900.0, 0.05) == 900.0
    assert k.vintage_power(2027, 330.0, 600.0, 900.0, 0.05) == pytest.approx(900.0 * 1.05**2, rel=1e-15)


def test_inference_share_ramp_and_utilisation(k):
    assert k.inference_share(2022, 0.8, 0.9) == 0.8
    assert k.inference_share(2030, 0.8, 0.9) == 0.9
    assert k.inference_share(2035, 0.8, 0.9) == 0.9
    assert k.inference_share(2026.5, 0.8, 0.9) == pytest.approx(0.85, rel=1e-14)
    assert k.mean_utilisation(0.8, 0.4, 0.9) == pytest.approx(0.8 * 0.4 + 0.2 * 0.9, rel=1e-15)


def test_accelerator_energy_units(k):
    # 1 million accelerators x 700 W x 1.5 server overhead at 50% -> 0.525 GW -> 4.599 TWh
    assert k.accelerator_energy(1.0 * 700.0, 1.5, 0.5) == pytest.approx(4.599, rel=1e-12)


def test_pue_path_converges_to_floor_and_never_below_one(k):
    gap_left = k.next_factor(k.next_factor(1.0, -0.1), -0.1)
    assert gap_left == pytest.approx(0.81, rel=1e-15)
    assert k.pue_path(1.6, 1.2, 1.0) == pytest.approx(1.6, rel=1e-15)
    assert k.pue_path(1.6, 1.2, gap_left) == pytest.approx(1.2 + 0.4 * 0.81, rel=1e-14)
    assert k.pue_path(1.05, 0.9, 0.125) == 1.0


def test_conventional_residual_reproduces_anchor(k):
    # 460 = 110 crypto + 20 accelerated incl. overhead + 1.5 * C  ->  C = 220
    assert k.conventional_it_base(460.0, 110.0, 20.0, 1.5) == pytest.approx(220.0, rel=1e-14)
    assert k.conventional_it_base(100.0, 110.0, 20.0, 1.5) == 0.0


def test_crypto_two_phase_growth(k):
    assert k.crypto_growth(0.1, -0.05, 2023) == 0.1
    assert k.crypto_growth(0.1, -0.05, 2026) == 0.1
    assert k.crypto_growth(0.1, -0.05, 2027) == -0.05
    level = 110.0
    for year in range(2023, 2029):
        level *= 1.0 + k.crypto_growth(0.1, -0.05, year)
    assert level == pytest.approx(110.0 * 1.1**4 * 0.95**2, rel=1e-14)


def test_next_factor_is_compound_growth(k):
    f = 1.0
    for _ in range(12):
        f = k.next_factor(f, 0.07)
    assert f == pytest.approx(1.07**12, rel=1e-14)


def test_carbon_and_water_unit_conversions(k):
    # 100 TWh at 436 g/kWh = 43.6 Mt CO2; 100 TWh at 2 L/kWh = 200 GL
    assert k.carbon_mt(100.0, 436.0) == pytest.approx(43.6, rel=1e-15)
    assert k.carbon_intensity(436.0, 0.98**2) == pytest.approx(436.0 * 0.98**2, rel=1e-15)
    assert k.water_gl(100.0, 2.0) == 200.0


@pytest.mark.parametrize("scale,shape", [(4.0, 2.0), (6.5, 1.3), (3.0, 10.0), (50.0, 0.7)])
def test_survival_from_tabulated_log_age_matches_weibull_survival(k, scale, shape):
    """The model's survival tables use ln(age) from kernels.survival's tables: the same curve as
    exp(−(age/λ)^k) computed directly (math), to a few ulp; age 0 survives exactly."""
    from kernels.survival import LOG_HALF_AGES, LOG_WHOLE_AGES

    log_scale = math.log(scale)
    assert k.survival_at_log_age(LOG_WHOLE_AGES[0], log_scale, shape) == 1.0
    for a in range(1, 80):
        for age, log_age in ((float(a), LOG_WHOLE_AGES[a]), (a - 0.5, LOG_HALF_AGES[a - 1])):
            hazard = (age / scale) ** shape
            # the hazard h carries a relative rounding error of a few ulp either way, which moves
            # exp(−h) by a relative h·(that error): the tolerance grows with h
            rel = 1e-14 * (1.0 + hazard)
            assert k.survival_at_log_age(log_age, log_scale, shape) == pytest.approx(math.exp(-hazard), rel=rel, abs=1e-300)


def test_log_age_tables_cover_the_longest_horizon():
    """The kernels index the ln(age) tables by year without a bounds check: the longest horizon the
    config accepts (2100) must fit in them."""
    from engine.config.schema import Years
    from kernels.survival import LOG_HALF_AGES, LOG_WHOLE_AGES, TABULATED_AGES

    longest = Years(end=2100).count
    assert longest <= TABULATED_AGES == LOG_WHOLE_AGES.size == LOG_HALF_AGES.size
    with pytest.raises(ValueError, match="beyond 2100"):
        Years(end=2101)


def test_uncapped_deployments_follow_adoption_growth(k):
    """With caps that never bind, fill_vintages' deployments are the demand chain
    S(t) = S(t−1)·(1 + g(t))·e^{σz − σ²/2} with g(t) = adoption_growth(t) evaluated directly
    (fill_vintages advances e^{−(t−2024)/τ} as a running product instead)."""
    import numpy as np

    n_regions, n_years = 1, 30
    x = np.zeros(columns.n_inputs(n_regions, n_years))
    x[columns.I_SHIP_2022], x[columns.I_SHIP_2023], x[columns.I_CUSTOM] = 2.6, 3.85, 1.1
    x[columns.I_G0], x[columns.I_GINF], x[columns.I_TAU], x[columns.I_SHOCK_SD] = 0.9, 0.05, 2.5, 0.15
    x[columns.I_LIFE], x[columns.I_SHAPE] = 5.0, 2.0
    x[columns.I_P22], x[columns.I_P23], x[columns.I_P25], x[columns.I_PGROWTH] = 330.0, 700.0, 1000.0, 0.04
    x[columns.I_KSRV], x[columns.I_PUE_AI] = 1.5, 1.2
    x[columns.I_SUPPLY], x[columns.I_BUILD] = 1e12, 1e12  # GW: no cap binds
    shocks = np.linspace(-1.5, 2.0, n_years - 2)
    x[columns.N_GLOBAL + columns.N_REGIONAL * n_regions :] = shocks
    ship, power, scratch = np.empty(n_years), np.empty(n_years), np.empty(n_years)
    k.fill_vintages(x, n_regions, n_years, ship, power, scratch)
    expected = [2.6 * 1.1, 3.85 * 1.1]
    for j, z in enumerate(shocks):
        g = 0.05 + 0.85 * math.exp(-j / 2.5)
        expected.append(expected[-1] * (1.0 + g) * math.exp(0.15 * z - 0.5 * 0.15**2))
    np.testing.assert_allclose(ship, expected, rtol=1e-13)
