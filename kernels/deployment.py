"""Deployment caps: how many accelerators the chip supply chain and the facility power built allow.

Target-independent kernel arithmetic (see :mod:`kernels._target`), called by
:func:`kernels.vintages.fill_vintages` from :data:`CAP_START_YEAR` on.  Counts in millions of
accelerators (M), power in W per accelerator or GW.
"""

from __future__ import annotations

from kernels._target import kernel

CAP_BASE_YEAR = 2025  # [yr] the year of the deployment caps' levels (supply_power_2025, buildout_power_2025)
CAP_START_YEAR = 2026  # [yr] first year whose deployments the caps bound (earlier years are observed)


@kernel
def supply_cap(year, power, supply_2025, supply_growth):
    """Deployments [M] the chip supply chain allows in ``year``: its rated power
    ``supply_2025·(1+g)^(t−2025)`` [GW of accelerator TDP] over one accelerator's ``power`` [W]."""
    return supply_2025 * (1.0 + supply_growth) ** (year - CAP_BASE_YEAR) * 1000.0 / power


@kernel
def buildout_cap(year, power, k_srv, pue_ai, build_2025, build_growth, retired_gw):
    """Deployments [M] the facility power available in ``year`` can host: the power built and
    connected, ``build_2025·(1+g)^(t−2025)`` [GW at design load], plus the halls freed by the
    accelerators retired in the year (``retired_gw`` [GW rated] × k_srv × PUE_ai, refitted),
    over one new accelerator's facility power ``power·k_srv·PUE_ai`` [W]."""
    facility = power * k_srv * pue_ai
    return build_2025 * (1.0 + build_growth) ** (year - CAP_BASE_YEAR) * 1000.0 / facility + retired_gw * 1000.0 / power


@kernel
def retired_power(i, ship, power, half_survival):
    """Rated power [GW] of the accelerators of vintages ``0 .. i-1`` retired during year index ``i``.

    A vintage arrives mid-year on average, so during year ``i`` vintage ``v`` ages from
    ``i − v − ½`` to ``i − v + ½`` and its Weibull survival falls by the difference;
    ``half_survival[k]`` is the survival at age ``k + ½`` (:func:`weibull_survival`, tabulated
    once per scenario: the same values as evaluating it here, without 2 powers per term).
    """
    r = 0.0
    for v in range(i):
        k = i - v - 1  # age k + 1/2 at the start of the year, k + 3/2 at its end
        r += ship[v] * power[v] * (half_survival[k] - half_survival[k + 1])
    return r / 1000.0


@kernel
def deployment_cap(year, power, k_srv, pue_ai, supply_2025, supply_growth, build_2025, build_growth, retired_gw):
    """The tighter of :func:`supply_cap` and :func:`buildout_cap` [M accelerators deployed in ``year``]."""
    by_supply = supply_cap(year, power, supply_2025, supply_growth)
    return min(by_supply, buildout_cap(year, power, k_srv, pue_ai, build_2025, build_growth, retired_gw))
