"""The sampling plan: which input sits in which column, with its distribution and units.

:func:`build_layout` turns a validated :class:`~engine.config.Config` into flat arrays the
kernels take (distribution codes, parameter rows, copula factor), in the column order of
:mod:`kernels.model`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import Config, copula_factor, correlation_matrix, input_names
from engine.distributions import KINDS

__all__ = ["Layout", "build_layout", "INPUT_UNITS"]

#: Units and a long name of every model input (regional inputs share their key's entry).
INPUT_UNITS: dict[str, tuple[str, str]] = {
    "total_2022": ("TWh", "data-centre electricity in 2022 incl. crypto (anchor)"),
    "crypto_2022": ("TWh", "crypto-mining electricity in 2022"),
    "crypto_growth_to_2026": ("1/yr", "crypto electricity growth rate 2022-2026"),
    "crypto_growth_after_2026": ("1/yr", "crypto electricity growth rate after 2026"),
    "shipments_2022": ("million units", "data-centre GPU shipments in 2022"),
    "shipments_2023": ("million units", "data-centre GPU shipments in 2023"),
    "shipments_growth_initial": ("1/yr", "accelerator shipment growth in 2024"),
    "shipments_growth_longrun": ("1/yr", "long-run accelerator shipment growth"),
    "shipments_growth_decay": ("yr", "e-folding time from initial to long-run growth"),
    "shipments_shock_sd": ("1", "log standard deviation of yearly shipment shocks"),
    "custom_accelerator_factor": ("1", "multiplier on GPU shipments for custom accelerators"),
    "preexisting_stock": ("million units", "accelerators in service on 1 January 2022"),
    "preexisting_age": ("yr", "mean age of the pre-2022 accelerator stock"),
    "preexisting_power": ("W", "rated power of a pre-2022 accelerator"),
    "lifetime_mean": ("yr", "mean service life of an accelerator"),
    "lifetime_shape": ("1", "Weibull shape of accelerator retirement"),
    "power_2022": ("W", "rated power of a 2022-vintage accelerator"),
    "power_2023": ("W", "rated power of a 2023-2024-vintage accelerator"),
    "power_2025": ("W", "rated power of a 2025-vintage accelerator"),
    "power_growth": ("1/yr", "growth of rated power per vintage after 2025"),
    "server_overhead": ("1", "server/accelerator power ratio"),
    "inference_share_2023": ("1", "inference share of accelerator work in 2023"),
    "inference_share_2030": ("1", "inference share of accelerator work from 2030"),
    "utilisation_inference": ("1", "average/rated power of inference work"),
    "utilisation_training": ("1", "average/rated power of training work"),
    "storage_share_2022": ("1", "storage share of conventional IT electricity in 2022"),
    "network_share_2022": ("1", "network share of conventional IT electricity in 2022"),
    "server_growth": ("1/yr", "net growth of conventional-server electricity"),
    "storage_growth": ("1/yr", "net growth of storage electricity"),
    "network_growth": ("1/yr", "net growth of network electricity"),
    "pue_floor": ("1", "long-run fleet PUE floor"),
    "pue_convergence": ("1/yr", "yearly fraction of the gap to the PUE floor closed"),
    "pue_ai": ("1", "PUE of new AI sites (vintages from 2023)"),
    "wue": ("L/kWh", "on-site water use per kWh of IT electricity"),
    "water_intensity_generation": ("L/kWh", "water use of electricity generation"),
    "carbon_intensity_decline": ("1/yr", "yearly decline of grid carbon intensity"),
    "accelerator_share": ("1", "regional weight of accelerator deployments (normalised)"),
    "conventional_share_2022": ("1", "regional weight of 2022 conventional IT (normalised)"),
    "crypto_share": ("1", "regional weight of crypto mining (normalised)"),
    "pue_2022": ("1", "fleet PUE in 2022"),
    "carbon_intensity_2022": ("g/kWh", "grid carbon intensity in 2022"),
    "shipments_shock": ("1", "standard-normal shipment shock"),
}
SHOCK_SOURCE = "model structure: standard-normal yearly shock, scaled by shipments_shock_sd"


@dataclass(frozen=True)
class Layout:
    """Flat, kernel-ready description of the inputs of one config."""

    names: list[str]
    units: list[str]
    long_names: list[str]
    sources: list[str]
    kinds: np.ndarray  # int64[n_inputs], distribution codes of kernels.distributions
    params: np.ndarray  # float64[n_inputs, 8 (+ quantile table)], see kernels.distributions
    corr_index: np.ndarray  # int64[k], columns entering the copula
    corr_factor: np.ndarray  # float64[k, k], F with F F^T = copula correlation
    n_regions: int
    n_years: int

    @property
    def n_inputs(self) -> int:
        return len(self.names)


def _std_normal() -> tuple[int, np.ndarray]:
    return KINDS["normal"](kind="normal", mean=0.0, sd=1.0, source=SHOCK_SOURCE).kernel_params()


def build_layout(config: Config) -> Layout:
    """Build the :class:`Layout` of ``config``."""
    names = input_names(config)
    kinds = np.empty(len(names), dtype=np.int64)
    rows = []
    units, long_names, sources = [], [], []
    for i, name in enumerate(names):
        key, _, region = name.partition(".")
        unit, long_name = INPUT_UNITS[key]
        if key == "shipments_shock":
            code, p = _std_normal()
            source = SHOCK_SOURCE
            long_name = f"{long_name} in {region}"
        else:
            dist = config.distribution(name)
            code, p = dist.kernel_params()
            table = dist.kernel_table() if hasattr(dist, "kernel_table") else None
            if table is not None:  # header in the row's free slots 5..7, then the data
                p = np.concatenate([p[:5], table])
            source = dist.source
            if region:
                long_name = f"{long_name} ({region})"
        kinds[i] = code
        rows.append(p)
        units.append(unit)
        long_names.append(long_name)
        sources.append(source)
    params = np.zeros((len(names), max(len(p) for p in rows)), dtype=np.float64)
    for i, p in enumerate(rows):
        params[i, : len(p)] = p
    corr_names, r = correlation_matrix(config)
    corr_index = np.array([names.index(n) for n in corr_names], dtype=np.int64)
    factor = copula_factor(r) if corr_names else np.zeros((0, 0))
    return Layout(
        names=names,
        units=units,
        long_names=long_names,
        sources=sources,
        kinds=kinds,
        params=params,
        corr_index=corr_index,
        corr_factor=np.ascontiguousarray(factor, dtype=np.float64),
        n_regions=len(config.regions),
        n_years=config.years.count,
    )
