"""The projection model: one small function per equation of MODEL.md.

All functions are target-independent kernel arithmetic (see :mod:`kernels._target`):
scalars in, scalars out, except :func:`project_scenario`, which evaluates one scenario
into its slices of the output arrays.

Units are given in brackets.  Energies are in TWh, accelerator counts in millions of
units (M), power in W, carbon intensity in g CO2/kWh, water intensity in L/kWh.

Input layout
------------
A scenario is one row ``x`` of sampled inputs.  Its columns are, in order:

1. the global inputs :data:`GLOBAL_INPUTS` (index constants ``I_<NAME>``);
2. the regional inputs :data:`REGIONAL_INPUTS`, region-fastest:
   column ``N_GLOBAL + k * n_regions + r`` holds regional input ``k`` for region ``r``;
3. one standard-normal shipment shock per projected year from :data:`FIRST_GROWTH_YEAR`
   to the horizon.

:func:`engine.inputs.layout.build_layout` builds the same layout (names, units,
distributions) on the host.

The survival curves are in :mod:`kernels.survival`, the deployment caps in
:mod:`kernels.deployment`; :func:`kernels._target.build` compiles them with this module
(the kernel functions a module imports come with it).  What keeps this module above the
house's ~400 lines is the input layout (the column constants the equations index), which
belongs beside the equations that read it.
"""

from __future__ import annotations

from kernels._target import kernel
from kernels.deployment import CAP_START_YEAR, deployment_cap, retired_power
from kernels.elementary import vec_exp
from kernels.survival import in_service_fraction, stock_hazard, preexisting_in_service_at, weibull_scale, weibull_survival

BASE_YEAR = 2022  # [yr] calibration anchor: the base-year total is an input
FIRST_GROWTH_YEAR = 2024  # [yr] first year whose shipments follow the growth law
NEW_SITE_VINTAGE = 2023  # [yr] accelerators from this vintage on run in new AI sites (PUE_ai)
INFERENCE_RAMP_START = 2023  # [yr] inference share = inference_share_2023 up to this year
INFERENCE_RAMP_END = 2030  # [yr] ... and inference_share_2030 from this year on
CRYPTO_BREAK_YEAR = 2026  # [yr] crypto grows at crypto_growth_to_2026 up to this year
HOURS_PER_YEAR = 8760.0  # [h]
POWER_ERA_2023 = 2023  # [yr] first vintage of the H100/H200 generation
POWER_ERA_2025 = 2025  # [yr] first vintage of the B200 generation

GLOBAL_INPUTS = (
    "total_2022",
    "crypto_2022",
    "crypto_growth_to_2026",
    "crypto_growth_after_2026",
    "shipments_2022",
    "shipments_2023",
    "shipments_growth_initial",
    "shipments_growth_longrun",
    "shipments_growth_decay",
    "shipments_shock_sd",
    "custom_accelerator_factor",
    "preexisting_stock",
    "preexisting_age",
    "preexisting_power",
    "lifetime_mean",
    "lifetime_shape",
    "power_2022",
    "power_2023",
    "power_2025",
    "power_growth",
    "server_overhead",
    "inference_share_2023",
    "inference_share_2030",
    "utilisation_inference",
    "utilisation_training",
    "storage_share_2022",
    "network_share_2022",
    "server_growth",
    "storage_growth",
    "network_growth",
    "pue_floor",
    "pue_convergence",
    "pue_ai",
    "wue",
    "water_intensity_generation",
    "carbon_intensity_decline",
    "supply_power_2025",
    "supply_growth",
    "buildout_power_2025",
    "buildout_growth",
)
REGIONAL_INPUTS = (
    "accelerator_share",
    "conventional_share_2022",
    "crypto_share",
    "pue_2022",
    "carbon_intensity_2022",
)
COMPONENTS = (
    "accelerated_servers",
    "conventional_servers",
    "storage",
    "network",
    "infrastructure",
    "crypto",
)
WATER_SOURCES = ("onsite", "offsite")

N_GLOBAL = len(GLOBAL_INPUTS)
N_REGIONAL = len(REGIONAL_INPUTS)
N_COMPONENTS = len(COMPONENTS)

I_TOTAL_2022 = 0
I_CRYPTO_2022 = 1
I_CRYPTO_G1 = 2
I_CRYPTO_G2 = 3
I_SHIP_2022 = 4
I_SHIP_2023 = 5
I_G0 = 6
I_GINF = 7
I_TAU = 8
I_SHOCK_SD = 9
I_CUSTOM = 10
I_PRE_STOCK = 11
I_PRE_AGE = 12
I_PRE_POWER = 13
I_LIFE = 14
I_SHAPE = 15
I_P22 = 16
I_P23 = 17
I_P25 = 18
I_PGROWTH = 19
I_KSRV = 20
I_SINF23 = 21
I_SINF30 = 22
I_UINF = 23
I_UTRAIN = 24
I_STORAGE_SH = 25
I_NETWORK_SH = 26
I_G_SRV = 27
I_G_STO = 28
I_G_NET = 29
I_PUE_FLOOR = 30
I_PUE_CONV = 31
I_PUE_AI = 32
I_WUE = 33
I_WI = 34
I_CI_DECLINE = 35
I_SUPPLY = 36
I_SUPPLY_G = 37
I_BUILD = 38
I_BUILD_G = 39

R_ACC_SHARE = 0
R_CONV_SHARE = 1
R_CRYPTO_SHARE = 2
R_PUE = 3
R_CI = 4

C_ACC = 0
C_SRV = 1
C_STO = 2
C_NET = 3
C_INFRA = 4
C_CRYPTO = 5


def n_shock_inputs(n_years):
    """Number of shipment-shock inputs for a horizon of ``n_years`` years from BASE_YEAR."""
    return max(0, BASE_YEAR + n_years - FIRST_GROWTH_YEAR)


def n_inputs(n_regions, n_years):
    """Total number of input columns for ``n_regions`` regions and ``n_years`` years."""
    return N_GLOBAL + N_REGIONAL * n_regions + n_shock_inputs(n_years)


# --------------------------------------------------------------------------- shipments
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
    """Each vintage's deployments ``ship`` [M] (custom accelerators included) and rated power
    ``power`` [W per accelerator], years BASE_YEAR .. BASE_YEAR + n_years - 1 (written;
    ``scratch`` [n_years] is overwritten with the survival at ages ½, 1½, ...).  The vintages
    of the first ``m`` years depend on nothing later, so ``n_years = m`` gives them alone.

    Demand follows the growth law (:func:`adoption_growth`, :func:`shipments_next`); from
    :data:`CAP_START_YEAR` the deployments are the demand or the tighter of the supply and
    build-out caps (:func:`deployment_cap`; the build-out counts the halls freed by retirements),
    whichever is less.  Demand keeps its own path, so
    a capped year's unmet demand neither vanishes nor compounds the deployments.

    The observables ``shipments`` and ``accelerator_power`` of :mod:`engine.conditioning`
    are read from here, so conditioning sees the same deployments as the projection.
    """
    custom = x[I_CUSTOM]
    scale = weibull_scale(x[I_LIFE], x[I_SHAPE])
    shape = x[I_SHAPE]
    g0 = x[I_G0]
    ginf = x[I_GINF]
    tau = x[I_TAU]
    shock_sd = x[I_SHOCK_SD]
    shock0 = N_GLOBAL + N_REGIONAL * n_regions - FIRST_GROWTH_YEAR
    # The exponentials and powers first, each in a loop of its own with no carried dependency,
    # which the compiler vectorises (kernels.elementary); the recurrences below only multiply.
    for k in range(n_years):
        scratch[k] = weibull_survival(float(k + 1) - 0.5, scale, shape)  # age k + 1/2, as retired_power reads it
    for i in range(FIRST_GROWTH_YEAR - BASE_YEAR, n_years):
        year = BASE_YEAR + i  # ship[i] holds the year's demand factor until the recurrence reaches it
        ship[i] = demand_factor(adoption_growth(year, g0, ginf, tau), shock_sd, x[shock0 + year])
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
            cap = deployment_cap(year, power[i], x[I_KSRV], x[I_PUE_AI], x[I_SUPPLY], x[I_SUPPLY_G], x[I_BUILD], x[I_BUILD_G], retired)
            ship[i] = min(demand, cap)


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
    shape = x[I_SHAPE]
    fill_vintages(x, n_regions, n_years, ship, power, survive)  # survive: its scratch until it is filled below
    hazard = stock_hazard(x[I_PRE_AGE], scale, shape)
    for i in range(n_years):  # the powers and exponentials, in a loop that vectorises (see fill_vintages)
        survive[i] = in_service_fraction(float(i), scale, shape)
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
            infra = (pue_r - 1.0) * (acc_share * e_old + e_srv + e_sto + e_net) + (
                x[I_PUE_AI] - 1.0
            ) * acc_share * e_new
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
