"""Labelling a summary: its variables, coordinates, CF attributes and warnings.

Summary file layout
-------------------
One netCDF file (``dcproj_kind = "summary"``, the same provenance attributes as a full run)
holding, for every group ``G`` in ``electricity``, ``electricity_by_region``,
``electricity_by_component``, ``electricity_total``, … ``installed_accelerators_total``:

* ``G_quantile`` (quantile, <group dims>) — quantiles read from the histogram;
* ``G_mean``, ``G_variance`` (sample variance, ddof = 1), ``G_min``, ``G_max`` (<group dims>);

plus ``count`` (scenarios) and, per requested threshold, ``exceedance_probability`` and
``exceedance_count`` (dim ``threshold``, with the variable, boundary, year, value and a
readable label as coordinates).  Every variable carries ``units``, ``long_name`` and CF
``cell_methods``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from engine.output.variables import BOUNDARIES, VARIABLES
from engine.stats.quantiles import QUANTILE_REL_ERROR
from engine.stats.spec import MOMENT_BLOCK, SummarySpec
from engine.stats.state import SummaryState
from kernels import model as m
from kernels import summary as ks

__all__ = ["summary_dataset", "summary_data_vars", "summary_attrs", "warnings_for"]

_GROUP_TEXT = {
    "": "",
    "by_region": ", sum over the components of the boundary",
    "by_component": ", sum over regions",
    "total": ", sum over regions and the components of the boundary",
}
_STATS = {
    "mean": ("scenario: mean", "mean over scenarios"),
    "variance": ("scenario: variance", "sample variance over scenarios (ddof=1)"),
    "min": ("scenario: minimum", "minimum over scenarios"),
    "max": ("scenario: maximum", "maximum over scenarios"),
}


def _coords(spec: SummarySpec) -> dict:
    th = spec.thresholds
    units = {t: VARIABLES[t.variable].units_label for t in th}
    return {
        "quantile": ("quantile", np.array(spec.quantiles), {"long_name": "quantile over scenarios (histogram estimate)"}),
        "year": ("year", np.array(spec.years, dtype=np.int64), {"long_name": "calendar year"}),
        "region": ("region", np.array(spec.regions, dtype=object), {"long_name": "region"}),
        "component": ("component", np.array(m.COMPONENTS, dtype=object), {"long_name": "data-centre component"}),
        "water_source": (
            "water_source",
            np.array(m.WATER_SOURCES, dtype=object),
            {"long_name": "on-site cooling or off-site generation"},
        ),
        "boundary": (
            "boundary",
            np.array(list(BOUNDARIES), dtype=object),
            {"long_name": "incl_crypto: all components; dc_only: all but crypto"},
        ),
        "threshold": ("threshold", np.arange(len(th), dtype=np.int64), {"long_name": "exceedance threshold index"}),
        "threshold_label": (
            "threshold",
            np.array([t.label(units[t]) for t in th], dtype=object),
            {"long_name": "exceedance event"},
        ),
        "threshold_variable": (
            "threshold",
            np.array([t.variable for t in th], dtype=object),
            {"long_name": "variable of the total"},
        ),
        "threshold_boundary": (
            "threshold",
            np.array([t.boundary for t in th], dtype=object),
            {"long_name": "boundary of the total"},
        ),
        "threshold_year": ("threshold", np.array([t.year for t in th], dtype=np.int64), {"long_name": "year of the total"}),
        "threshold_value": (
            "threshold",
            np.array([t.value for t in th], dtype=np.float64),
            {"long_name": "threshold value (units of the variable)"},
        ),
    }


def summary_data_vars(state: SummaryState) -> dict:
    """name -> (dims, values, attrs) of every summary variable."""
    spec = state.spec
    qs = state.quantiles()
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(state.n > 1, state.m2 / (state.n - 1.0), np.nan)
    stats = {"mean": state.mean, "variance": variance, "min": state.vmin, "max": state.vmax}
    out = {}
    for g in spec.groups:
        sl = slice(g.offset, g.offset + g.size)
        vs = VARIABLES[g.variable]
        kind = g.name[len(g.variable) :].lstrip("_")
        text = _GROUP_TEXT[kind] + (", sum over water sources" if g.variable == "water" and kind else "")
        base = {"long_name": f"{vs.long_name}{text}", "units_label": vs.units_label}
        out[f"{g.name}_quantile"] = (
            ("quantile", *g.dims),
            np.moveaxis(qs[sl].reshape(*g.shape, len(spec.quantiles)), -1, 0),
            dict(
                base,
                units=vs.units,
                cell_methods="scenario: quantile",
                description="quantile over scenarios read from a log-spaced histogram "
                f"({ks.HIST_PER_OCTAVE} bins per octave; relative error <= {QUANTILE_REL_ERROR:.3%})",
            ),
        )
        for stat, (method, desc) in _STATS.items():
            units = vs.variance_units if stat == "variance" else vs.units
            out[f"{g.name}_{stat}"] = (
                g.dims,
                stats[stat][sl].reshape(g.shape),
                dict(base, units=units, units_label=f"({vs.units_label})^2" if stat == "variance" else vs.units_label,
                     cell_methods=method, description=desc),
            )
    n = state.done
    counts = np.empty_like(state.thr_count)
    counts[spec.thr_order] = state.thr_count  # back to the order of spec.thresholds
    out["count"] = ((), np.int64(n), {"long_name": "number of scenarios summarised", "units": "1"})
    out["exceedance_count"] = (("threshold",), counts, {"long_name": "scenarios whose total exceeds the threshold", "units": "1"})
    out["exceedance_probability"] = (
        ("threshold",),
        counts / max(n, 1),
        {"long_name": "probability that the total exceeds the threshold", "units": "1", "cell_methods": "scenario: mean"},
    )
    return out


def summary_dataset(state: SummaryState, attrs: dict) -> xr.Dataset:
    coords = _coords(state.spec)
    data_vars = {k: (d, v, a) for k, (d, v, a) in summary_data_vars(state).items()}
    ds = xr.Dataset(data_vars, coords={k: (d, v, a) for k, (d, v, a) in coords.items()}, attrs=dict(attrs))
    ds.attrs.update(summary_attrs(state.spec))
    return ds


def summary_attrs(spec: SummarySpec) -> dict:
    """Global attributes describing the summary method."""
    return {
        "dcproj_kind": "summary",
        "summary_quantiles": ", ".join(f"{q:g}" for q in spec.quantiles),
        "summary_method": (
            f"streaming: per-cell int64 histograms with {ks.HIST_PER_OCTAVE} log-spaced bins per octave on "
            f"[2^{ks.HIST_EXP_LO}, 2^{ks.HIST_EXP_HI}) (quantile relative error <= {QUANTILE_REL_ERROR:.3%}), "
            f"exact min/max/exceedance counts, moments folded over blocks of {MOMENT_BLOCK} scenarios in scenario order "
            "(Chan et al.); independent of chunking and worker count"
        ),
    }


def warnings_for(state: SummaryState) -> list[str]:
    """Cells whose reported quantiles fall outside the histogram's accurate range."""
    qs = state.quantiles()
    above = np.nonzero((qs >= 2.0**ks.HIST_EXP_HI).any(axis=1))[0]
    negative = np.nonzero(state.vmin < 0)[0]
    out = []
    if above.size:
        out.append(
            f"{above.size} summary cells have quantiles above 2^{ks.HIST_EXP_HI}, where the histogram has no resolution "
            f"(first: {state.spec.describe_cell(int(above[0]))}); their quantiles are approximate"
        )
    if negative.size:
        out.append(
            f"{negative.size} summary cells have negative values (first: {state.spec.describe_cell(int(negative[0]))}); "
            f"quantiles below 2^{ks.HIST_EXP_LO} are interpolated between the minimum and 2^{ks.HIST_EXP_LO}"
        )
    return out
