"""The output cube: variable registry, CF-style metadata, in-memory and on-disk assembly.

Every output variable is declared once in :data:`VARIABLES` (dims, units, long name); the
in-memory :class:`xarray.Dataset` and the streamed netCDF file are both built from it, so
``xarray.open_dataset(path)`` gives back what :func:`engine.run` returns.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
import xarray as xr

from engine.config import Config, config_path, config_sha256, config_text
from engine.layout import Layout
from kernels import model as m

__all__ = ["VARIABLES", "VariableSpec", "coords", "global_attrs", "empty_arrays", "to_dataset"]


@dataclass(frozen=True)
class VariableSpec:
    dims: tuple[str, ...]
    units: str
    long_name: str
    description: str = ""


VARIABLES: dict[str, VariableSpec] = {
    "electricity": VariableSpec(
        ("scenario", "year", "region", "component"),
        "TWh",
        "annual electricity consumption",
        "year total; sum over components for a boundary: incl_crypto = all, dc_only = all but crypto",
    ),
    "carbon": VariableSpec(
        ("scenario", "year", "region", "component"),
        "Mt CO2",
        "location-based CO2 emissions of the electricity",
        "electricity x regional grid carbon intensity",
    ),
    "water": VariableSpec(
        ("scenario", "year", "region", "component", "water_source"),
        "GL",
        "water consumption",
        "onsite: cooling water, WUE x IT electricity (IT components only); offsite: water use of generation",
    ),
    "installed_accelerators": VariableSpec(
        ("scenario", "year", "region"),
        "million units",
        "year-average accelerators in service",
    ),
}
BOUNDARIES = {
    "incl_crypto": list(m.COMPONENTS),
    "dc_only": [c for c in m.COMPONENTS if c != "crypto"],
}


def coords(config: Config, layout: Layout, start: int, count: int) -> dict[str, tuple]:
    """Coordinates of a cube holding scenarios ``start .. start+count-1``."""
    return {
        "scenario": ("scenario", np.arange(start, start + count, dtype=np.int64), {"long_name": "scenario index (Philox counter)"}),
        "year": ("year", np.arange(config.years.start, config.years.end + 1, dtype=np.int64), {"long_name": "calendar year"}),
        "region": ("region", np.array(config.regions, dtype=object), {"long_name": "region"}),
        "component": ("component", np.array(m.COMPONENTS, dtype=object), {"long_name": "data-centre component"}),
        "water_source": ("water_source", np.array(m.WATER_SOURCES, dtype=object), {"long_name": "on-site cooling or off-site generation"}),
        "input": ("input", np.array(layout.names, dtype=object), {"long_name": "sampled model input"}),
        "input_units": ("input", np.array(layout.units, dtype=object), {"long_name": "units of the sampled input"}),
        "input_long_name": ("input", np.array(layout.long_names, dtype=object), {"long_name": "description of the sampled input"}),
        "input_source": ("input", np.array(layout.sources, dtype=object), {"long_name": "source of the input's distribution"}),
    }


def global_attrs(config: Config, layout: Layout, *, seed: int, scenarios: int, backend: str, command: str, kind: str = "full") -> dict:
    """Provenance attributes written into every output file."""
    from engine import __version__

    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    sources = "\n".join(dict.fromkeys(f"{n}: {s}" for n, s in zip(layout.names, layout.sources, strict=True) if not n.startswith("shipments_shock.")))
    return {
        "title": f"dcproj projection: {config.name}",
        "Conventions": "CF-1.10",
        "dcproj_kind": kind,
        "dcproj_version": __version__,
        "config_name": config.name,
        "config_path": config_path(config),
        "config_sha256": config_sha256(config),
        "config": config_text(config),
        "seed": str(seed),
        "scenarios": int(scenarios),
        "backend": backend,
        "command": command,
        "created": created,
        "history": f"{created}: {command} (dcproj {__version__})",
        "sources": sources,
        "boundaries": "incl_crypto: all components (IEA 460 TWh boundary); dc_only: all components but crypto",
        "rng": "Philox4x32-10 keyed by (seed, scenario, input); Gaussian copula on rank correlations",
    }


def empty_arrays(layout: Layout, count: int, dtype) -> dict[str, np.ndarray]:
    """Allocate the per-chunk output arrays (plus ``inputs``, always float64)."""
    y, r, c = layout.n_years, layout.n_regions, m.N_COMPONENTS
    return {
        "electricity": np.empty((count, y, r, c), dtype=dtype),
        "carbon": np.empty((count, y, r, c), dtype=dtype),
        "water": np.empty((count, y, r, c, 2), dtype=dtype),
        "installed_accelerators": np.empty((count, y, r), dtype=dtype),
        "inputs": np.empty((count, layout.n_inputs), dtype=np.float64),
    }


def variable_attrs(name: str) -> dict:
    if name == "inputs":
        return {"long_name": "sampled model inputs", "units": "see input_units", "description": "one column per input; units in input_units"}
    spec = VARIABLES[name]
    attrs = {"units": spec.units, "long_name": spec.long_name}
    if spec.description:
        attrs["description"] = spec.description
    return attrs


def to_dataset(arrays: dict[str, np.ndarray], coord_map: dict, attrs: dict) -> xr.Dataset:
    """Label the arrays of a run as an :class:`xarray.Dataset`."""
    data_vars = {name: (spec.dims, arrays[name], variable_attrs(name)) for name, spec in VARIABLES.items()}
    data_vars["inputs"] = (("scenario", "input"), arrays["inputs"], variable_attrs("inputs"))
    return xr.Dataset(data_vars, coords=coord_map, attrs=attrs)
