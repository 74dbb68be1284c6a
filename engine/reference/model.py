"""Plain NumPy reference implementation of the projection model.

This is the code a careful analyst writes without numba: whole-array operations across
scenarios, a Python loop over years, vintages and regions.  It shares no arithmetic with
:mod:`kernels.columns` (only the input layout constants), so agreement between the two
backends is a real check of both.  The benchmarks use it as the baseline.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from kernels import columns as m

__all__ = ["project"]


def _col(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, m.GLOBAL_INPUTS.index(name)]


def _regional(x: np.ndarray, name: str, n_regions: int) -> np.ndarray:
    k = m.REGIONAL_INPUTS.index(name)
    start = m.N_GLOBAL + k * n_regions
    return x[:, start : start + n_regions]


def _survival(age, scale, shape):
    """Weibull survival exp(−(age/λ)^k) for age > 0, 1 otherwise."""
    age = np.asarray(age, dtype=float)
    return np.where(age > 0, np.exp(-((np.maximum(age, 0.0) / scale) ** shape)), 1.0)


def deployments(x: np.ndarray, n_regions: int, n_years: int) -> dict[str, np.ndarray]:
    """Deployments by year [M] for every row of ``x``, with what bounds them.

    Returns ``ship`` (deployed), ``demand`` (the growth law), ``supply_cap`` and ``buildout_cap``
    (NaN before 2026) [M accelerators], and ``power`` [W per accelerator], each (n, year).
    """
    n = x.shape[0]
    years = m.BASE_YEAR + np.arange(n_years)
    shape_k = _col(x, "lifetime_shape")
    scale = _col(x, "lifetime_mean") / special.gamma(1.0 + 1.0 / shape_k)
    out = {k: np.full((n, n_years), np.nan) for k in ("demand", "supply_cap", "buildout_cap")}
    custom = _col(x, "custom_accelerator_factor")
    ship = np.empty((n, n_years))
    power = np.empty((n, n_years))
    shock0 = m.N_GLOBAL + m.N_REGIONAL * n_regions
    g0, ginf, tau = (_col(x, k) for k in ("shipments_growth_initial", "shipments_growth_longrun", "shipments_growth_decay"))
    sd = _col(x, "shipments_shock_sd")
    demand = None
    for i, year in enumerate(years):
        if year <= 2022:
            power[:, i] = _col(x, "power_2022")
        elif year <= 2024:
            power[:, i] = _col(x, "power_2023")
        else:
            power[:, i] = _col(x, "power_2025") * (1 + _col(x, "power_growth")) ** (year - 2025)
        if year == 2022:
            demand = _col(x, "shipments_2022") * custom
        elif year == 2023:
            demand = _col(x, "shipments_2023") * custom
        else:
            g = ginf + (g0 - ginf) * np.exp(-(year - 2024) / tau)
            z = x[:, shock0 + year - 2024]
            demand = demand * (1 + g) * np.exp(sd * z - sd**2 / 2)
        ship[:, i] = demand
        if year >= 2026:  # the supply and build-out caps [GW] over power per accelerator [W] -> M accelerators
            supply = _col(x, "supply_power_2025") * (1 + _col(x, "supply_growth")) ** (year - 2025) * 1000 / power[:, i]
            facility = power[:, i] * _col(x, "server_overhead") * _col(x, "pue_ai")
            age = (i - np.arange(i) - 0.5)[None, :]  # earlier vintages' ages at the start of the year
            dropped = _survival(age, scale[:, None], shape_k[:, None]) - _survival(age + 1, scale[:, None], shape_k[:, None])
            retired_gw = (ship[:, :i] * power[:, :i] * dropped).sum(axis=1) / 1000  # halls freed by retirements, refitted
            build = _col(x, "buildout_power_2025") * (1 + _col(x, "buildout_growth")) ** (year - 2025) * 1000 / facility
            build = build + retired_gw * 1000 / power[:, i]
            ship[:, i] = np.minimum(demand, np.minimum(supply, build))
            out["supply_cap"][:, i], out["buildout_cap"][:, i] = supply, build
        out["demand"][:, i] = demand
    out.update(ship=ship, power=power)
    return out


# One whole-array function on purpose (longer than the house's ~60 lines): an independent
# transcription of the model, read line by line beside kernels.model.project_scenario.
def project(x: np.ndarray, n_regions: int, n_years: int, dtype=np.float64) -> dict[str, np.ndarray]:
    """Evaluate the model for every row of ``x``.

    Parameters
    ----------
    x : float64[n, n_inputs]
        Sampled inputs, layout as in :mod:`kernels.columns`.
    n_regions, n_years : int
        Regions and years (from 2022) in the cube.
    dtype : numpy dtype
        Storage dtype of the outputs (arithmetic is float64).

    Returns
    -------
    dict
        ``electricity`` [TWh] and ``carbon`` [Mt CO2] of shape (n, year, region, component),
        ``water`` [GL] of shape (n, year, region, component, 2) and
        ``installed_accelerators`` [M] of shape (n, year, region).
    """
    n = x.shape[0]
    years = m.BASE_YEAR + np.arange(n_years)
    shape_k = _col(x, "lifetime_shape")
    scale = _col(x, "lifetime_mean") / special.gamma(1.0 + 1.0 / shape_k)

    # Shipments [M] and rated power [W] by vintage (demand, capped from 2026), in-service fraction by age.
    d = deployments(x, n_regions, n_years)
    ship, power = d["ship"], d["power"]
    ages = np.arange(n_years, dtype=float)
    survive = _survival(ages[None, :], scale[:, None], shape_k[:, None])
    survive[:, 0] = 0.5

    # Regional shares (normalised weights) and base-year PUE.
    acc_share = _regional(x, "accelerator_share", n_regions)
    acc_share = acc_share / acc_share.sum(axis=1, keepdims=True)
    conv_share = _regional(x, "conventional_share_2022", n_regions)
    conv_share = conv_share / conv_share.sum(axis=1, keepdims=True)
    crypto_share = _regional(x, "crypto_share", n_regions)
    crypto_share = crypto_share / crypto_share.sum(axis=1, keepdims=True)
    pue0 = _regional(x, "pue_2022", n_regions)
    ci0 = _regional(x, "carbon_intensity_2022", n_regions)
    pue_ai = _col(x, "pue_ai")[:, None]

    electricity = np.empty((n, n_years, n_regions, len(m.COMPONENTS)), dtype=dtype)
    installed = np.empty((n, n_years, n_regions), dtype=dtype)
    conventional = None
    pre_age = _col(x, "preexisting_age")
    for i, year in enumerate(years):
        # R(a + i + ½)/R(a) as one exponential: no 0/0 when both survivals underflow (an old stock)
        pre = _col(x, "preexisting_stock") * np.exp((pre_age / scale) ** shape_k - ((pre_age + i + 0.5) / scale) ** shape_k)
        in_service = ship[:, : i + 1] * survive[:, i::-1]  # vintage v at age i - v
        old_sites = years[: i + 1] < 2023
        units = pre + in_service.sum(axis=1)
        old_uw = pre * _col(x, "preexisting_power") + (in_service * power[:, : i + 1])[:, old_sites].sum(axis=1)
        new_uw = (in_service * power[:, : i + 1])[:, ~old_sites].sum(axis=1)
        s_inf = np.interp(year, [2023, 2030], [0, 1])
        s = _col(x, "inference_share_2023") + (_col(x, "inference_share_2030") - _col(x, "inference_share_2023")) * s_inf
        util = s * _col(x, "utilisation_inference") + (1 - s) * _col(x, "utilisation_training")
        to_twh = _col(x, "server_overhead") * util * 8760.0 / 1e6
        e_old = (old_uw * to_twh)[:, None] * acc_share
        e_new = (new_uw * to_twh)[:, None] * acc_share
        if conventional is None:
            acc_with_overhead = (pue0 * e_old + pue_ai * e_new).sum(axis=1)
            residual = np.maximum(_col(x, "total_2022") - _col(x, "crypto_2022") - acc_with_overhead, 0.0)
            conventional = residual / (pue0 * conv_share).sum(axis=1)
        pue = _col(x, "pue_floor")[:, None] + (pue0 - _col(x, "pue_floor")[:, None]) * (
            1 - _col(x, "pue_convergence")[:, None]
        ) ** i
        pue = np.maximum(pue, 1.0)
        server_frac = 1 - _col(x, "storage_share_2022") - _col(x, "network_share_2022")
        srv = (conventional * server_frac * (1 + _col(x, "server_growth")) ** i)[:, None] * conv_share
        sto = (conventional * _col(x, "storage_share_2022") * (1 + _col(x, "storage_growth")) ** i)[:, None] * conv_share
        net = (conventional * _col(x, "network_share_2022") * (1 + _col(x, "network_growth")) ** i)[:, None] * conv_share
        infra = (pue - 1) * (e_old + srv + sto + net) + (pue_ai - 1) * e_new
        c22, g1, g2 = _col(x, "crypto_2022"), _col(x, "crypto_growth_to_2026"), _col(x, "crypto_growth_after_2026")
        crypto = c22 * (1 + g1) ** min(i, 4) * (1 + g2) ** max(i - 4, 0)
        electricity[:, i] = np.stack([e_old + e_new, srv, sto, net, infra, crypto[:, None] * crypto_share], axis=-1)
        installed[:, i] = units[:, None] * acc_share

    dt = np.arange(n_years, dtype=float)
    ci = ci0[:, None, :] * (1 - _col(x, "carbon_intensity_decline"))[:, None, None] ** dt[None, :, None]
    e64 = electricity.astype(np.float64, copy=False)
    carbon = (e64 * ci[..., None] / 1000.0).astype(dtype, copy=False)
    it = np.array([1, 1, 1, 1, 0, 0], dtype=float)
    onsite = e64 * it * _col(x, "wue")[:, None, None, None]
    offsite = e64 * _col(x, "water_intensity_generation")[:, None, None, None]
    water = np.stack([onsite, offsite], axis=-1).astype(dtype, copy=False)
    return {
        "electricity": electricity,
        "carbon": carbon,
        "water": water,
        "installed_accelerators": installed,
    }
