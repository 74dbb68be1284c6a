"""The inputs registry: every model input's name, units, long name, physical domain and random key.

This is the one description of the kernel's input columns on the host.  The column *order*
is the kernel's contract (:mod:`kernels.model`: global inputs, regional inputs region-fastest,
one shipment shock per growth year); :func:`input_names` lays it out for a config's regions
and years, and the registry checks at import that it describes exactly the kernel's inputs.

Random keys
-----------
Each input column draws its uniform from its own Philox stream, keyed by a 32-bit id derived
from the column's *name* (:func:`stable_key`: the first four bytes of the SHA-256 of the
name), not from its position.  Adding or removing a region or an input, or extending the
horizon, therefore leaves every other input's draws bit-identical for the same seed and
scenario (common random numbers across configs).  :func:`input_keys` refuses a layout in
which two names share a key.

This module imports nothing from dcproj but :mod:`kernels.model` and :mod:`engine.errors`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError
from kernels import columns as m

__all__ = ["Domain", "InputSpec", "INPUTS", "SHOCK", "input_names", "input_spec", "stable_key", "input_keys"]


@dataclass(frozen=True)
class Domain:
    """The physically possible values of an input: ``low``/``high`` (inclusive unless ``*_open``)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def contains(self, lo: float, hi: float) -> bool:
        """Whether the interval [lo, hi] lies inside the domain."""
        ok_lo = lo > self.low if self.low_open else lo >= self.low
        ok_hi = hi < self.high if self.high_open else hi <= self.high
        return bool(ok_lo and ok_hi)

    def describe(self) -> str:
        if self.low == -math.inf and self.high == math.inf:
            return "any real number"
        left = "(" if self.low_open or self.low == -math.inf else "["
        right = ")" if self.high_open or self.high == math.inf else "]"
        return f"{left}{self.low:g}, {self.high:g}{right}"


POSITIVE = Domain(0.0, low_open=True)
NON_NEGATIVE = Domain(0.0)
UNIT = Domain(0.0, 1.0)
RATE = Domain(-1.0, low_open=True)  # a growth rate: the quantity stays positive
AT_LEAST_ONE = Domain(1.0)
REAL = Domain()


@dataclass(frozen=True)
class InputSpec:
    """One model input (regional inputs: one spec for all their regions)."""

    name: str
    units: str
    long_name: str
    domain: Domain
    regional: bool = False


def _spec(name, units, long_name, domain, regional=False) -> InputSpec:
    return InputSpec(name, units, long_name, domain, regional)


_SPECS = [
    _spec("total_2022", "TW h", "data-centre electricity in 2022 incl. crypto (anchor)", POSITIVE),
    _spec("crypto_2022", "TW h", "crypto-mining electricity in 2022", NON_NEGATIVE),
    _spec("crypto_growth_to_2026", "1/yr", "crypto electricity growth rate 2022-2026", RATE),
    _spec("crypto_growth_after_2026", "1/yr", "crypto electricity growth rate after 2026", RATE),
    _spec("shipments_2022", "1e6", "data-centre GPU shipments in 2022 [million units]", POSITIVE),
    _spec("shipments_2023", "1e6", "data-centre GPU shipments in 2023 [million units]", POSITIVE),
    _spec("shipments_growth_initial", "1/yr", "accelerator shipment growth in 2024", RATE),
    _spec("shipments_growth_longrun", "1/yr", "long-run accelerator shipment growth", RATE),
    _spec("shipments_growth_decay", "yr", "e-folding time from initial to long-run growth", POSITIVE),
    _spec("shipments_shock_sd", "1", "log standard deviation of yearly shipment shocks", NON_NEGATIVE),
    _spec("custom_accelerator_factor", "1", "multiplier on GPU shipments for custom accelerators", AT_LEAST_ONE),
    _spec("preexisting_stock", "1e6", "accelerators in service on 1 January 2022 [million units]", NON_NEGATIVE),
    _spec("preexisting_age", "yr", "mean age of the pre-2022 accelerator stock", NON_NEGATIVE),
    _spec("preexisting_power", "W", "rated power of a pre-2022 accelerator", POSITIVE),
    _spec("lifetime_mean", "yr", "mean service life of an accelerator", POSITIVE),
    _spec("lifetime_shape", "1", "Weibull shape of accelerator retirement", Domain(0.1, 100.0)),  # Γ(1 + 1/k) overflows below ~0.006
    _spec("power_2022", "W", "rated power of a 2022-vintage accelerator", POSITIVE),
    _spec("power_2023", "W", "rated power of a 2023-2024-vintage accelerator", POSITIVE),
    _spec("power_2025", "W", "rated power of a 2025-vintage accelerator", POSITIVE),
    _spec("power_growth", "1/yr", "growth of rated power per vintage after 2025", RATE),
    _spec("server_overhead", "1", "server/accelerator power ratio", AT_LEAST_ONE),
    _spec("inference_share_2023", "1", "inference share of accelerator work in 2023", UNIT),
    _spec("inference_share_2030", "1", "inference share of accelerator work from 2030", UNIT),
    _spec("utilisation_inference", "1", "average/rated power of inference work", UNIT),
    _spec("utilisation_training", "1", "average/rated power of training work", UNIT),
    _spec("storage_share_2022", "1", "storage share of conventional IT electricity in 2022", UNIT),
    _spec("network_share_2022", "1", "network share of conventional IT electricity in 2022", UNIT),
    _spec("server_growth", "1/yr", "net growth of conventional-server electricity", RATE),
    _spec("storage_growth", "1/yr", "net growth of storage electricity", RATE),
    _spec("network_growth", "1/yr", "net growth of network electricity", RATE),
    _spec("pue_floor", "1", "long-run fleet PUE floor", AT_LEAST_ONE),
    _spec("pue_convergence", "1/yr", "yearly fraction of the gap to the PUE floor closed", UNIT),
    _spec("pue_ai", "1", "PUE of new AI sites (vintages from 2023)", AT_LEAST_ONE),
    _spec("wue", "L/(kW h)", "on-site water use per kWh of IT electricity", NON_NEGATIVE),
    _spec("water_intensity_generation", "L/(kW h)", "water use of electricity generation", NON_NEGATIVE),
    _spec("carbon_intensity_decline", "1/yr", "yearly decline of grid carbon intensity", Domain(-1.0, 1.0)),
    _spec("supply_power_2025", "GW", "accelerator rated power (TDP) the chip supply chain can deliver in 2025", POSITIVE),
    _spec("supply_growth", "1/yr", "yearly growth of the chip supply after 2025", RATE),
    _spec("buildout_power_2025", "GW", "data-centre facility power that can be built and connected in 2025", POSITIVE),
    _spec("buildout_growth", "1/yr", "yearly growth of the facility power built after 2025", RATE),
    _spec("accelerator_share", "1", "regional weight of accelerator deployments (raw draw, normalised by the model)", NON_NEGATIVE, True),
    _spec("conventional_share_2022", "1", "regional weight of 2022 conventional IT (raw draw, normalised by the model)", NON_NEGATIVE, True),
    _spec("crypto_share", "1", "regional weight of crypto mining (raw draw, normalised by the model)", NON_NEGATIVE, True),
    _spec("pue_2022", "1", "fleet PUE in 2022", AT_LEAST_ONE, True),
    _spec("carbon_intensity_2022", "g/(kW h)", "grid carbon intensity in 2022", NON_NEGATIVE, True),
]

#: Name -> spec of every configurable input (regional ones once, for all regions).
INPUTS: dict[str, InputSpec] = {s.name: s for s in _SPECS}
#: The yearly shipment shocks: structural standard-normal draws, not configurable.
SHOCK = InputSpec("shipments_shock", "1", "standard-normal shipment shock", REAL)
SHOCK_SOURCE = "model structure: standard-normal yearly shock, scaled by shipments_shock_sd"
#: Regional weights the model normalises per scenario (their normalised values are stored too).
NORMALISED_INPUTS = ("accelerator_share", "conventional_share_2022", "crypto_share")

_global = tuple(s.name for s in _SPECS if not s.regional)
_regional = tuple(s.name for s in _SPECS if s.regional)
if _global != m.GLOBAL_INPUTS or _regional != m.REGIONAL_INPUTS:  # pragma: no cover - a developer error
    raise ImportError("engine.inputs.registry does not describe the kernel's inputs (kernels.model) in their order")


def input_names(regions, n_years: int) -> list[str]:
    """Names of the sampled inputs in kernel column order (shipment shocks last).

    Parameters
    ----------
    regions
        Region names, in the config's order.
    n_years
        Projection years from the base year (2022), inclusive.
    """
    names = list(m.GLOBAL_INPUTS)
    for key in m.REGIONAL_INPUTS:
        names += [f"{key}.{r}" for r in regions]
    first = m.FIRST_GROWTH_YEAR
    names += [f"{SHOCK.name}.{first + k}" for k in range(m.n_shock_inputs(n_years))]
    return names


def input_spec(name: str) -> InputSpec:
    """The spec of column ``name`` (``pue_2022.china`` -> ``pue_2022``; shocks -> :data:`SHOCK`)."""
    key = name.partition(".")[0]
    if key == SHOCK.name:
        return SHOCK
    return INPUTS[key]


def stable_key(name: str) -> int:
    """The 32-bit Philox stream id of input column ``name``: the first 4 bytes of SHA-256(name)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "little")


def input_keys(names) -> np.ndarray:
    """uint64[len(names)] stream ids of ``names``; raises :class:`ConfigError` on a collision."""
    keys = np.array([stable_key(n) for n in names], dtype=np.uint64)
    seen: dict[int, str] = {}
    for n, k in zip(names, keys.tolist(), strict=True):
        if k in seen:
            raise ConfigError(f"inputs {seen[k]!r} and {n!r} share the random key {k:#010x}; rename one of them")
        seen[k] = n
    return keys
