"""The column layout of a scenario row ``x``: which input each column of the sampled array holds.

A scenario is one row ``x`` of sampled inputs.  Its columns are, in order:

1. the global inputs :data:`GLOBAL_INPUTS` (index constants ``I_<NAME>``);
2. the regional inputs :data:`REGIONAL_INPUTS`, region-fastest:
   column ``N_GLOBAL + k * n_regions + r`` holds regional input ``k`` for region ``r``
   (index constants ``R_<NAME>`` for ``k``);
3. one standard-normal shipment shock per projected year from :data:`FIRST_GROWTH_YEAR`
   to the horizon.

The outputs' last axis holds the :data:`COMPONENTS` (index constants ``C_<NAME>``).
:func:`engine.inputs.layout.build_layout` builds the same layout (names, units, distributions)
on the host; the kernels (:mod:`kernels.model`, :mod:`kernels.vintages`) index rows with these
constants.  Plain constants, no kernel functions: every kernel module can import them.
"""

from __future__ import annotations

BASE_YEAR = 2022  # [yr] calibration anchor: the base-year total is an input
FIRST_GROWTH_YEAR = 2024  # [yr] first year whose shipments follow the growth law (its shocks' first column)

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
