"""The output variables: registry, CF metadata, boundaries, and the labelled in-memory cube.

Every output variable is declared once in :data:`VARIABLES` (dims, UDUNITS units, a
human-readable unit label, long name); the in-memory :class:`xarray.Dataset` and the streamed
netCDF file are both built from it, so ``xarray.open_dataset(path)`` gives back what
:func:`engine.run` returns.  Units are spelled so that UDUNITS (and so CF tools) parse them:
``TW h`` for terawatt-hours, ``Mt`` for megatonnes (the gas is named in ``long_name``),
``GL`` for gigalitres, ``1e6`` for millions of units; ``units_label`` keeps the usual form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from engine.inputs.layout import Layout
from engine.output.names import BOUNDARIES  # one definition (engine.output.names); re-exported with the metadata
from kernels import columns as m

__all__ = [
    "VARIABLES",
    "VariableSpec",
    "BOUNDARIES",
    "SCENARIO_ATTRS",
    "YEAR_ATTRS",
    "coords",
    "empty_arrays",
    "to_dataset",
    "variable_attrs",
    "effective_inputs",
]


@dataclass(frozen=True)
class VariableSpec:
    dims: tuple[str, ...]
    units: str  # UDUNITS spelling
    units_label: str  # the usual spelling, for tables and plots
    long_name: str
    description: str = ""

    @property
    def variance_units(self) -> str:
        """UDUNITS spelling of the square of :attr:`units` (``TW h`` -> ``TW2 h2``, ``1e6`` -> ``1e12``)."""
        parts = self.units.split()
        if len(parts) == 1 and parts[0].replace("e", "").replace(".", "").isdigit():
            return f"{float(parts[0]) ** 2:g}".replace("e+", "e")
        return " ".join(f"{p}2" for p in parts)


VARIABLES: dict[str, VariableSpec] = {
    "electricity": VariableSpec(
        ("scenario", "year", "region", "component"),
        "TW h",
        "TWh",
        "annual electricity consumption",
        "year total; sum over components for a boundary: incl_crypto = all, dc_only = all but crypto",
    ),
    "carbon": VariableSpec(
        ("scenario", "year", "region", "component"),
        "Mt",
        "Mt CO2",
        "annual location-based CO2 emissions of the electricity (megatonnes of CO2)",
        "electricity x regional grid carbon intensity",
    ),
    "water": VariableSpec(
        ("scenario", "year", "region", "component", "water_source"),
        "GL",
        "GL",
        "annual water consumption (gigalitres)",
        "onsite: cooling water, WUE x IT electricity (IT components only); offsite: water use of generation",
    ),
    "installed_accelerators": VariableSpec(
        ("scenario", "year", "region"),
        "1e6",
        "million units",
        "year-average accelerators in service (millions of units)",
    ),
}
BOUNDARY_TEXT = "incl_crypto: all components (IEA 460 TWh boundary); dc_only: all components but crypto"


#: the scenario axis: a statistical sample, so CF's standard name ``realization`` (canonical units 1)
SCENARIO_ATTRS = {"long_name": "scenario index (Philox counter)", "standard_name": "realization", "units": "1"}
#: calendar years are labels, stored as integers (not a CF time coordinate, so xarray keeps them as numbers)
YEAR_ATTRS = {"long_name": "calendar year", "units": "1"}


def coords(config, layout: Layout, start: int, count: int) -> dict[str, tuple]:
    """Coordinates of a cube holding scenarios ``start .. start+count-1``.

    Parameters
    ----------
    config
        The validated config (years, regions).
    layout
        Its kernel layout (input names, units, long names, sources).
    start, count
        The first scenario index and the number of scenarios.

    Returns
    -------
    dict
        Name -> ``(dim, values, attrs)``.  String-valued coordinates are labels; in files they
        are stored as character arrays (:mod:`engine.output.cf`).
    """
    eff = [f"{key}.{r}" for key, _ in layout.normalised_columns() for r in layout.regions]
    return {
        "scenario": ("scenario", np.arange(start, start + count, dtype=np.int64), dict(SCENARIO_ATTRS)),
        "year": ("year", np.arange(config.years.start, config.years.end + 1, dtype=np.int64), dict(YEAR_ATTRS)),
        "region": ("region", np.array(config.regions, dtype=object), {"long_name": "region"}),
        "component": ("component", np.array(m.COMPONENTS, dtype=object), {"long_name": "data-centre component"}),
        "water_source": (
            "water_source",
            np.array(m.WATER_SOURCES, dtype=object),
            {"long_name": "on-site cooling or off-site generation"},
        ),
        "input": ("input", np.array(layout.names, dtype=object), {"long_name": "sampled model input"}),
        "input_units": ("input", np.array(layout.units, dtype=object), {"long_name": "units of the sampled input"}),
        "input_long_name": (
            "input",
            np.array(layout.long_names, dtype=object),
            {"long_name": "description of the sampled input"},
        ),
        "input_source": ("input", np.array(layout.sources, dtype=object), {"long_name": "source of the input's distribution"}),
        "effective_input": (
            "effective_input",
            np.array(eff, dtype=object),
            {"long_name": "regional weight as normalised by the model"},
        ),
    }


def empty_arrays(layout: Layout, count: int, dtype) -> dict[str, np.ndarray]:
    """Allocate the per-chunk output arrays (plus ``inputs`` and ``effective_inputs``, always float64)."""
    y, r, c = layout.n_years, layout.n_regions, m.N_COMPONENTS
    n_eff = sum(len(cols) for _, cols in layout.normalised_columns())
    return {
        "electricity": np.empty((count, y, r, c), dtype=dtype),
        "carbon": np.empty((count, y, r, c), dtype=dtype),
        "water": np.empty((count, y, r, c, 2), dtype=dtype),
        "installed_accelerators": np.empty((count, y, r), dtype=dtype),
        "inputs": np.empty((count, layout.n_inputs), dtype=np.float64),
        "effective_inputs": np.empty((count, n_eff), dtype=np.float64),
    }


def effective_inputs(layout: Layout, x: np.ndarray, out: np.ndarray) -> None:
    """Write the regional weights of ``x`` [count, n_inputs] normalised per scenario, as the model
    uses them (each weight over the sum of its regions), into ``out`` [count, n_effective]."""
    from kernels.cpu import normalise_groups  # one compiled pass over the rows (the NumPy one costs 4x)

    cols = np.array([c for _, c in layout.normalised_columns()], dtype=np.int64)
    normalise_groups(np.ascontiguousarray(x), cols, out)


def variable_attrs(name: str) -> dict:
    """CF attributes of output variable ``name`` (incl. ``inputs`` and ``effective_inputs``)."""
    if name == "inputs":
        return {
            "long_name": "sampled model inputs (raw draws; regional weights before normalisation)",
            "units": "1",
            "description": "one column per input; the units of each column are in input_units",
        }
    if name == "effective_inputs":
        return {
            "long_name": "regional weights normalised per scenario over the regions (the shares the model uses)",
            "units": "1",
            "description": "accelerator_share, conventional_share_2022 and crypto_share divided by their sum over regions",
        }
    spec = VARIABLES[name]
    attrs = {"units": spec.units, "units_label": spec.units_label, "long_name": spec.long_name}
    if spec.description:
        attrs["description"] = spec.description
    return attrs


def cube_dims(name: str) -> tuple[str, ...]:
    """Dimensions of cube variable ``name``."""
    if name == "inputs":
        return ("scenario", "input")
    if name == "effective_inputs":
        return ("scenario", "effective_input")
    return VARIABLES[name].dims


CUBE_VARIABLES = (*VARIABLES, "inputs", "effective_inputs")


def to_dataset(arrays: dict[str, np.ndarray], coord_map: dict, attrs: dict) -> xr.Dataset:
    """Label the arrays of a run as an :class:`xarray.Dataset`."""
    data_vars = {name: (cube_dims(name), arrays[name], variable_attrs(name)) for name in CUBE_VARIABLES}
    return xr.Dataset(data_vars, coords=coord_map, attrs=attrs)
