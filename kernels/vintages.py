"""The accelerator fleet by vintage: demand, deployments under the caps, rated power, Σ N·P.

Target-independent kernel arithmetic (see :mod:`kernels._target`), called by
:func:`kernels.model.project_scenario` and, for the observed vintages, by the likelihood
(:mod:`kernels.cpu_likelihood`).  Counts in millions of accelerators (M), power in W per
accelerator, growth rates in 1/yr.
"""

from __future__ import annotations

import math

from kernels._target import kernel
from kernels.columns import (
    BASE_YEAR,
    FIRST_GROWTH_YEAR,
    I_BUILD,
    I_BUILD_G,
    I_CUSTOM,
    I_G0,
    I_GINF,
    I_KSRV,
    I_LIFE,
    I_P22,
    I_P23,
    I_P25,
    I_PGROWTH,
    I_PUE_AI,
    I_SHAPE,
    I_SHIP_2022,
    I_SHIP_2023,
    I_SHOCK_SD,
    I_SUPPLY,
    I_SUPPLY_G,  # fmt: skip
    I_TAU,
    N_GLOBAL,
    N_REGIONAL,
)
from kernels.deployment import CAP_START_YEAR, deployment_cap, retired_power
from kernels.elementary import vec_exp
from kernels.survival import LOG_HALF_AGES, survival_at_log_age, weibull_scale

NEW_SITE_VINTAGE = 2023  # [yr] accelerators from this vintage on run in new AI sites (PUE_ai)
POWER_ERA_2023 = 2023  # [yr] first vintage of the H100/H200 generation
POWER_ERA_2025 = 2025  # [yr] first vintage of the B200 generation


@kernel
def adoption_growth(year, g0, ginf, tau):
    """Shipment growth rate g(t) [1/yr]: g∞ + (g0 − g∞)·exp(−(t − 2024)/τ).

    ``g0`` [1/yr] is the growth of the first projected year (2024), ``ginf`` [1/yr] the
    long-run rate, ``tau`` [yr] the e-folding time of the decay from one to the other.
    """
    return ginf + (g0 - ginf) * vec_exp(-(year - FIRST_GROWTH_YEAR) / tau)


@kernel
def demand_factor(growth, shock_sd, z):
    """Year-on-year factor of accelerator demand [-]: (1 + g)·exp(σz − σ²/2), growth ``g`` [1/yr]
    with a mean-one lognormal shock of log-sd ``shock_sd`` and standard-normal draw ``z``."""
    return (1.0 + growth) * vec_exp(shock_sd * z - 0.5 * shock_sd * shock_sd)


@kernel
def shipments_next(previous, growth, shock_sd, z):
    """Shipments of the next year [M]: S(t−1)·(1+g)·exp(σz − σ²/2) (:func:`demand_factor`)."""
    return previous * demand_factor(growth, shock_sd, z)


# --------------------------------------------------------------------------- power
@kernel
def vintage_power(vintage, p2022, p2023, p2025, growth):
    """Rated power [W] of an average accelerator of ``vintage``.

    A100 era up to 2022 (``p2022``), H100/H200 era 2023–2024 (``p2023``), B200 era from 2025
    (``p2025``) rising by ``growth`` [1/yr] per later vintage.
    """
    if vintage < POWER_ERA_2023:
        return p2022
    if vintage < POWER_ERA_2025:
        return p2023
    return p2025 * (1.0 + growth) ** (vintage - POWER_ERA_2025)


@kernel
def fleet_units_watts(year_index, ship, power, survive, pre_units, pre_power):
    """Σ N·P [M·W] in year index ``year_index``, split into (old sites, new AI sites).

    Old sites hold the pre-base stock and vintages before NEW_SITE_VINTAGE; also returns the
    year-average accelerator count [M].
    """
    old = pre_units * pre_power
    new = 0.0
    units = pre_units
    for v in range(year_index + 1):
        n_v = ship[v] * survive[year_index - v]
        units += n_v
        if BASE_YEAR + v < NEW_SITE_VINTAGE:
            old += n_v * power[v]
        else:
            new += n_v * power[v]
    return old, new, units


@kernel
def fill_vintages(x, n_regions, n_years, ship, power, scratch):
    """Each vintage's deployments ``ship`` [M] and rated power ``power`` [W]: :func:`deploy_vintages`
    with the scenario's Weibull scale."""
    scale = weibull_scale(x[I_LIFE], x[I_SHAPE])
    deploy_vintages(x, n_regions, n_years, math.log(scale), ship, power, scratch)


@kernel
def deploy_vintages(x, n_regions, n_years, log_scale, ship, power, scratch):
    """Each vintage's deployments ``ship`` [M] (custom accelerators included) and rated power
    ``power`` [W per accelerator], years BASE_YEAR .. BASE_YEAR + n_years - 1 (written;
    ``scratch`` [n_years] is overwritten with the survival at ages ½, 1½, ...).  The vintages
    of the first ``m`` years depend on nothing later, so ``n_years = m`` gives them alone.
    ``log_scale`` is ln(λ) of the scenario's Weibull scale λ [yr] (:func:`weibull_scale`), passed
    in by a caller that needs λ too.

    Demand follows the growth law (:func:`adoption_growth`, :func:`shipments_next`); from
    :data:`CAP_START_YEAR` the deployments are the demand or the tighter of the supply and
    build-out caps (:func:`deployment_cap`; the build-out counts the halls freed by retirements),
    whichever is less.  Demand keeps its own path, so
    a capped year's unmet demand neither vanishes nor compounds the deployments.

    The observables ``shipments`` and ``accelerator_power`` of :mod:`engine.conditioning`
    are read from here, so conditioning sees the same deployments as the projection.
    """
    custom = x[I_CUSTOM]
    shape = x[I_SHAPE]
    ginf = x[I_GINF]
    shock_sd = x[I_SHOCK_SD]
    shock0 = N_GLOBAL + N_REGIONAL * n_regions - FIRST_GROWTH_YEAR
    first = FIRST_GROWTH_YEAR - BASE_YEAR
    # The exponentials first, each in a loop of its own with no carried dependency, which the
    # compiler vectorises (kernels.elementary); the recurrences below only multiply.
    for k in range(n_years):  # age k + 1/2, as retired_power reads it (weibull_survival there)
        scratch[k] = survival_at_log_age(LOG_HALF_AGES[k], log_scale, shape)
    # adoption_growth(year) = g∞ + (g0 − g∞)·e^{−(year − 2024)/τ}, its gap to g∞ shrinking by
    # e^{−1/τ} a year (a product, as the model's other growth paths): one exponential, not one a year.
    decay = vec_exp(-1.0 / x[I_TAU])
    gap = x[I_G0] - ginf
    for i in range(first, n_years):  # ship[i] holds the year's growth, then its demand factor,
        ship[i] = ginf + gap  # until the recurrence below reaches it
        gap = gap * decay
    for i in range(first, n_years):
        ship[i] = demand_factor(ship[i], shock_sd, x[shock0 + BASE_YEAR + i])
    demand = 0.0
    for i in range(n_years):
        year = BASE_YEAR + i
        power[i] = vintage_power(year, x[I_P22], x[I_P23], x[I_P25], x[I_PGROWTH])
        if i == 0:
            demand = x[I_SHIP_2022] * custom
        elif year < FIRST_GROWTH_YEAR:
            demand = x[I_SHIP_2023] * custom
        else:
            demand = demand * ship[i]  # = shipments_next(demand, g(year), σ, z_year)
        ship[i] = demand
        if year >= CAP_START_YEAR:
            retired = retired_power(i, ship, power, scratch)
            cap = deployment_cap(
                year, power[i], x[I_KSRV], x[I_PUE_AI], x[I_SUPPLY], x[I_SUPPLY_G], x[I_BUILD], x[I_BUILD_G], retired
            )
            ship[i] = min(demand, cap)
