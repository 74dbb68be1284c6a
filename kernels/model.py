"""The projection model: one small function per equation of MODEL.md.

All functions are target-independent kernel arithmetic (see :mod:`kernels._target`):
scalars in, scalars out, except :func:`project_scenario`, which evaluates one scenario
into its slices of the output arrays.

Units are given in brackets.  Energies are in TWh, accelerator counts in millions of
units (M), power in W, carbon intensity in g CO2/kWh, water intensity in L/kWh.

The input layout (which column of a scenario row holds which input, the ``I_``/``R_``/``C_``
index constants) is in :mod:`kernels.columns`; the accelerator fleet by
vintage (demand, deployments, rated power) in :mod:`kernels.vintages`, the survival curves in
:mod:`kernels.survival`, the deployment caps in :mod:`kernels.deployment`.
:func:`kernels._target.build` compiles them with this module (the kernel functions a module
imports come with it).
"""

from __future__ import annotations

import math

from kernels._target import kernel
from kernels.columns import (
    BASE_YEAR,
    C_ACC,
    C_CRYPTO,
    C_INFRA,
    C_NET,
    C_SRV,
    C_STO,
    I_CI_DECLINE,
    I_CRYPTO_2022,
    I_CRYPTO_G1,
    I_CRYPTO_G2,
    I_G_NET,
    I_G_SRV,
    I_G_STO,
    I_KSRV,
    I_LIFE,
    I_NETWORK_SH,
    I_PRE_AGE,
    I_PRE_POWER,
    I_PRE_STOCK,
    I_PUE_AI,
    I_PUE_CONV,
    I_PUE_FLOOR,
    I_SHAPE,
    I_SINF23,
    I_SINF30,
    I_STORAGE_SH,
    I_TOTAL_2022,
    I_UINF,
    I_UTRAIN,
    I_WI,
    I_WUE,
    N_GLOBAL,
    R_ACC_SHARE,
    R_CI,
    R_CONV_SHARE,
    R_CRYPTO_SHARE,
    R_PUE,
)
from kernels.survival import (
    FIRST_YEAR_IN_SERVICE,
    LOG_WHOLE_AGES,
    preexisting_in_service_at,
    stock_hazard,
    survival_at_log_age,
    weibull_scale,
)
from kernels.vintages import deploy_vintages, fleet_units_watts

INFERENCE_RAMP_START = 2023  # [yr] inference share = inference_share_2023 up to this year
INFERENCE_RAMP_END = 2030  # [yr] ... and inference_share_2030 from this year on
CRYPTO_BREAK_YEAR = 2026  # [yr] crypto grows at crypto_growth_to_2026 up to this year
HOURS_PER_YEAR = 8760.0  # [h]


@kernel
def inference_share(year, share_2023, share_2030):
    """Inference share of accelerator work s_inf(t) [-], linear from 2023 to 2030, flat outside."""
    if year <= INFERENCE_RAMP_START:
        return share_2023
    if year >= INFERENCE_RAMP_END:
        return share_2030
    frac = (year - INFERENCE_RAMP_START) / (INFERENCE_RAMP_END - INFERENCE_RAMP_START)
    return share_2023 + (share_2030 - share_2023) * frac


@kernel
def mean_utilisation(s_inf, u_inf, u_train):
    """Average/rated power ratio ū [-] of the workload mix: s·u_inf + (1 − s)·u_train."""
    return s_inf * u_inf + (1.0 - s_inf) * u_train


@kernel
def accelerator_energy(units_watts, server_overhead, utilisation):
    """Accelerated-server electricity [TWh] of Σ N·P = ``units_watts`` [M·W].

    E = Σ N·P · k_srv · ū · 8760 h, with 1 M·W·h = 10⁻⁶ TWh.
    """
    return units_watts * server_overhead * utilisation * HOURS_PER_YEAR * 1e-6


# --------------------------------------------------------------------------- conventional IT, PUE
@kernel
def next_factor(factor, rate):
    """Compound-growth factor one year on [-]: f·(1 + rate); (1 + r)^t after t steps from 1.

    The model advances every growth path (conventional IT, crypto, PUE gap, carbon
    intensity) year by year with this product instead of calling ``pow`` per year.
    """
    return factor * (1.0 + rate)


@kernel
def pue_path(pue_base, pue_floor, gap_left):
    """Fleet PUE [-]: floor + (PUE_base − floor)·gap_left, never below 1.

    ``gap_left`` [-] = (1 − convergence)^years, the share of the base-year gap to the floor
    still open (see :func:`next_factor`).
    """
    pue = pue_floor + (pue_base - pue_floor) * gap_left
    if pue < 1.0:
        return 1.0
    return pue


@kernel
def conventional_it_base(total, crypto, accelerated_with_overhead, pue_weight):
    """Base-year conventional IT (servers + storage + network) [TWh], the residual of the anchor.

    total = crypto + accelerated (incl. its overhead) + Σ_r PUE_r·w_r·C, solved for C;
    ``pue_weight`` = Σ_r PUE_r·w_r with conventional shares w_r.  Clipped at 0.
    """
    residual = total - crypto - accelerated_with_overhead
    if residual < 0.0:
        return 0.0
    return residual / pue_weight


@kernel
def crypto_growth(growth_to_2026, growth_after, year):
    """Growth rate [1/yr] of crypto-mining electricity into ``year``: two phases split at 2026."""
    if year <= CRYPTO_BREAK_YEAR:
        return growth_to_2026
    return growth_after


# --------------------------------------------------------------------------- carbon, water
@kernel
def carbon_intensity(ci_base, left):
    """Grid carbon intensity [g CO2/kWh]: base-year intensity × ``left`` = (1 − decline)^years."""
    return ci_base * left


@kernel
def carbon_mt(energy_twh, intensity):
    """Emissions [Mt CO2] of ``energy_twh`` [TWh] at ``intensity`` [g/kWh]: TWh·g/kWh/1000."""
    return energy_twh * intensity * 1e-3


@kernel
def water_gl(energy_twh, litres_per_kwh):
    """Water [GL] for ``energy_twh`` [TWh] at ``litres_per_kwh`` [L/kWh]: 10⁹ kWh·L/kWh = 1 GL."""
    return energy_twh * litres_per_kwh


# --------------------------------------------------------------------------- one scenario
@kernel
def write_component(out_e, out_c, out_w, i, r, c, energy, ci, wue, wi):
    """Store one component's electricity [TWh], carbon [Mt] and water [GL] (on-site at ``wue``
    [L/kWh], zero for non-IT components; off-site at ``wi`` [L/kWh])."""
    out_e[i, r, c] = energy
    out_c[i, r, c] = carbon_mt(energy, ci)
    out_w[i, r, c, 0] = water_gl(energy, wue)
    out_w[i, r, c, 1] = water_gl(energy, wi)


@kernel
def regional_weight_sum(x, k, n_regions):
    """Σ_r of regional input ``k`` (used to normalise shares)."""
    total = 0.0
    for r in range(n_regions):
        total += x[N_GLOBAL + k * n_regions + r]
    return total


@kernel
def project_scenario(x, n_regions, n_years, ship, power, survive, stock, out_e, out_c, out_w, out_n):
    """Evaluate one scenario.

    Parameters
    ----------
    x : float64[n_inputs]
        The scenario's sampled inputs (layout in the module docstring).
    n_regions, n_years : int
        Regions and years (from BASE_YEAR) in the cube.
    ship, power, survive, stock : float64[n_years]
        Scratch space (shipments [M], power [W] per vintage, in-service fraction per age, the
        pre-base stock in service [M] per year).
    out_e, out_c : [n_years, n_regions, N_COMPONENTS]
        Electricity [TWh] and carbon [Mt CO2], written.
    out_w : [n_years, n_regions, N_COMPONENTS, 2]
        Water [GL], on-site (cooling; IT components only) and off-site (generation), written.
    out_n : [n_years, n_regions]
        Year-average installed accelerators [M], written.
    """
    scale = weibull_scale(x[I_LIFE], x[I_SHAPE])
    log_scale = math.log(scale)
    shape = x[I_SHAPE]
    deploy_vintages(x, n_regions, n_years, log_scale, ship, power, survive)  # survive: its scratch until filled below
    hazard = stock_hazard(x[I_PRE_AGE], scale, shape)
    # The powers and exponentials, in loops that vectorise (see deploy_vintages).  survive[i] is
    # in_service_fraction(i): half a year of service at age 0, weibull_survival(i) after.
    survive[0] = FIRST_YEAR_IN_SERVICE  # the branch of in_service_fraction, taken out of the loop
    for i in range(1, n_years):
        survive[i] = survival_at_log_age(LOG_WHOLE_AGES[i], log_scale, shape)
    for i in range(n_years):
        stock[i] = preexisting_in_service_at(x[I_PRE_STOCK], x[I_PRE_AGE], hazard, float(i), scale, shape)

    acc_sum = regional_weight_sum(x, R_ACC_SHARE, n_regions)
    conv_sum = regional_weight_sum(x, R_CONV_SHARE, n_regions)
    crypto_sum = regional_weight_sum(x, R_CRYPTO_SHARE, n_regions)
    base_r = N_GLOBAL
    server_frac = 1.0 - x[I_STORAGE_SH] - x[I_NETWORK_SH]
    conventional = 0.0
    crypto = x[I_CRYPTO_2022]
    f_srv = 1.0  # (1 + g)^t growth factors and (1 - r)^t decline factors, advanced yearly
    f_sto = 1.0
    f_net = 1.0
    pue_left = 1.0
    ci_left = 1.0
    for i in range(n_years):
        year = BASE_YEAR + i
        if i > 0:
            crypto = crypto * (1.0 + crypto_growth(x[I_CRYPTO_G1], x[I_CRYPTO_G2], year))
            f_srv = next_factor(f_srv, x[I_G_SRV])
            f_sto = next_factor(f_sto, x[I_G_STO])
            f_net = next_factor(f_net, x[I_G_NET])
            pue_left = next_factor(pue_left, -x[I_PUE_CONV])
            ci_left = next_factor(ci_left, -x[I_CI_DECLINE])
        old_uw, new_uw, units = fleet_units_watts(i, ship, power, survive, stock[i], x[I_PRE_POWER])
        util = mean_utilisation(inference_share(year, x[I_SINF23], x[I_SINF30]), x[I_UINF], x[I_UTRAIN])
        e_old = accelerator_energy(old_uw, x[I_KSRV], util)
        e_new = accelerator_energy(new_uw, x[I_KSRV], util)
        if i == 0:
            acc_total = 0.0
            pue_weight = 0.0
            for r in range(n_regions):
                share = x[base_r + R_ACC_SHARE * n_regions + r] / acc_sum
                pue_r = x[base_r + R_PUE * n_regions + r]
                acc_total += share * (pue_r * e_old + x[I_PUE_AI] * e_new)
                pue_weight += pue_r * x[base_r + R_CONV_SHARE * n_regions + r] / conv_sum
            conventional = conventional_it_base(x[I_TOTAL_2022], x[I_CRYPTO_2022], acc_total, pue_weight)
        servers = conventional * server_frac * f_srv
        storage = conventional * x[I_STORAGE_SH] * f_sto
        network = conventional * x[I_NETWORK_SH] * f_net
        for r in range(n_regions):
            acc_share = x[base_r + R_ACC_SHARE * n_regions + r] / acc_sum
            conv_share = x[base_r + R_CONV_SHARE * n_regions + r] / conv_sum
            pue_r = pue_path(x[base_r + R_PUE * n_regions + r], x[I_PUE_FLOOR], pue_left)
            e_acc = acc_share * (e_old + e_new)
            e_srv = conv_share * servers
            e_sto = conv_share * storage
            e_net = conv_share * network
            infra = (pue_r - 1.0) * (acc_share * e_old + e_srv + e_sto + e_net) + (x[I_PUE_AI] - 1.0) * acc_share * e_new
            e_crypto = crypto * x[base_r + R_CRYPTO_SHARE * n_regions + r] / crypto_sum
            ci = carbon_intensity(x[base_r + R_CI * n_regions + r], ci_left)
            wue = x[I_WUE]
            wi = x[I_WI]
            write_component(out_e, out_c, out_w, i, r, C_ACC, e_acc, ci, wue, wi)
            write_component(out_e, out_c, out_w, i, r, C_SRV, e_srv, ci, wue, wi)
            write_component(out_e, out_c, out_w, i, r, C_STO, e_sto, ci, wue, wi)
            write_component(out_e, out_c, out_w, i, r, C_NET, e_net, ci, wue, wi)
            write_component(out_e, out_c, out_w, i, r, C_INFRA, infra, ci, 0.0, wi)
            write_component(out_e, out_c, out_w, i, r, C_CRYPTO, e_crypto, ci, 0.0, wi)
            out_n[i, r] = acc_share * units
