"""Labelling a summary: its variables, coordinates, CF attributes and warnings.

Summary file layout
-------------------
One netCDF file (``dcproj_kind = "summary"``, the same provenance attributes as a full run)
holding, for every group ``G`` in ``electricity``, ``electricity_by_region``,
``electricity_by_component``, ``electricity_total``, … ``installed_accelerators_total``:

* ``G_quantile`` (quantile, <group dims>) — quantiles read from the histogram;
* ``G_mean``, ``G_variance`` (sample variance, ddof = 1), ``G_min``, ``G_max`` (<group dims>);

plus ``count`` (scenarios) and, per requested threshold, ``exceedance_probability`` and
``exceedance_count`` (dim ``threshold``, with the variable, boundary, year, value, the value's
units and a readable label as coordinates).  Every variable carries ``units`` (UDUNITS) and
``long_name``.

CF-1.10 (checked by the IOOS compliance checker, ``tests/test_cf.py``): the statistics name the
axis they collapse in ``cell_methods`` (``scenario: mean``, ``scenario: variance``,
``scenario: minimum``, ``scenario: maximum``; ``scenario: mean`` / ``scenario: sum`` for the
exceedance probability / count), so the file holds ``scenario`` as a scalar coordinate
(standard name ``realization``; its value is the middle index of scenarios 0 .. n - 1).  CF has no
quantile method, so the ``G_quantile`` variables have no ``cell_methods``; their ``description``
says what they are, with the probability level in the ``quantile`` coordinate.  Written with
:func:`engine.output.cf.cf_encoding`, coordinates have no ``_FillValue`` and labels are UTF-8
character arrays.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from engine.output.variables import BOUNDARIES, SCENARIO_ATTRS, VARIABLES, YEAR_ATTRS
from engine.stats.quantiles import QUANTILE_REL_ERROR
from engine.stats.spec import MOMENT_BLOCK, SummarySpec
from engine.stats.state import SummaryState
from kernels import columns as m
from kernels import summary as ks
from kernels.likelihood import WEIGHT_SCALE

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
#: CF has no quantile method (Appendix E), so quantile variables carry no ``cell_methods``; this says what they are
_QUANTILE_TEXT = (
    "quantile over scenarios at the probability level given by the quantile coordinate (a percentile "
    "statistic; CF cell_methods has no such method), read from a log-spaced histogram "
    f"({ks.HIST_PER_OCTAVE} bins per octave; relative error <= {QUANTILE_REL_ERROR:.3%})"
)
_QUANTILE_SE_TEXT = (
    "Monte Carlo standard error of the quantile from order statistics: half the width of the "
    "distribution-free 95 % interval (the quantiles at levels p +- 1.96 sqrt(p (1 - p) / n_eff), "
    "n_eff = effective_sample_size), divided by 1.96; the histogram's own error is not included"
)


def _labels(values) -> np.ndarray:
    """A string label array (``str`` even when empty, so that an empty one is still written as text)."""
    return np.array(list(values), dtype=object) if len(values) else np.array([], dtype=str)


def _coords(spec: SummarySpec) -> dict:
    """Name -> (dims, values, attrs) of the summary's coordinates, the scalar ``scenario`` excepted."""
    return {
        "quantile": (
            "quantile",
            np.array(spec.quantiles, dtype=np.float64),
            {"long_name": "probability level of the quantile over scenarios (histogram estimate)", "units": "1"},
        ),
        "year": ("year", np.array(spec.years, dtype=np.int64), dict(YEAR_ATTRS)),
        "region": ("region", _labels(spec.regions), {"long_name": "region"}),
        "component": ("component", _labels(m.COMPONENTS), {"long_name": "data-centre component"}),
        "water_source": ("water_source", _labels(m.WATER_SOURCES), {"long_name": "on-site cooling or off-site generation"}),
        "boundary": ("boundary", _labels(BOUNDARIES), {"long_name": "incl_crypto: all components; dc_only: all but crypto"}),
        **threshold_coords(spec.thresholds),
    }


def threshold_coords(thresholds) -> dict:
    """The ``threshold`` index and its labels; ``threshold_value`` is in the units named by ``threshold_units``."""
    th = list(thresholds)
    return {
        "threshold": ("threshold", np.arange(len(th), dtype=np.int64), {"long_name": "exceedance threshold index", "units": "1"}),
        "threshold_label": (
            "threshold",
            _labels([t.label(VARIABLES[t.variable].units_label) for t in th]),
            {"long_name": "exceedance event"},
        ),
        "threshold_variable": ("threshold", _labels([t.variable for t in th]), {"long_name": "variable of the total"}),
        "threshold_boundary": ("threshold", _labels([t.boundary for t in th]), {"long_name": "boundary of the total"}),
        "threshold_year": (
            "threshold",
            np.array([t.year for t in th], dtype=np.int64),
            {**YEAR_ATTRS, "long_name": "year of the total"},
        ),
        "threshold_value": (
            "threshold",
            np.array([t.value for t in th], dtype=np.float64),
            {"long_name": "threshold value, in the units named by threshold_units (they differ between variables)"},
        ),
        "threshold_units": (
            "threshold",
            _labels([VARIABLES[t.variable].units for t in th]),
            {"long_name": "units of threshold_value (UDUNITS)"},
        ),
    }


def _scenario_coord(n: int) -> dict:
    """The scalar coordinate ``scenario`` that the statistics collapse (CF §7.3: ``scenario: mean``
    names an axis the variable no longer has, so the file keeps it as a scalar coordinate).

    Its value is the middle index of the ``n`` scenarios summarised (0 .. n - 1).  CF would put the
    range in a bounds variable, but the compliance checker rejects the one-dimensional bounds that
    CF prescribes for a scalar coordinate, so the range is in the ``long_name`` and in ``count``.
    """
    attrs = dict(
        SCENARIO_ATTRS, long_name=f"scenario axis collapsed by the statistics: scenarios 0 .. {n - 1} (the middle index)"
    )
    return {"scenario": ((), np.int64(max(n - 1, 0) // 2), attrs)}


def summary_data_vars(state: SummaryState) -> dict:
    """name -> (dims, values, attrs) of every summary variable."""
    spec = state.spec
    qs, qse = state.quantiles(), state.quantile_standard_errors()
    stats = {"mean": state.mean, "variance": state.variance(), "min": state.vmin, "max": state.vmax}
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
            dict(base, units=vs.units, description=_QUANTILE_TEXT),
        )
        out[f"{g.name}_quantile_standard_error"] = (
            ("quantile", *g.dims),
            np.moveaxis(qse[sl].reshape(*g.shape, len(spec.quantiles)), -1, 0),
            dict(base, long_name=f"Monte Carlo standard error of the quantile: {base['long_name']}", units=vs.units,
                 description=_QUANTILE_SE_TEXT),
        )  # fmt: skip
        for stat, (method, desc) in _STATS.items():
            units = vs.variance_units if stat == "variance" else vs.units
            out[f"{g.name}_{stat}"] = (
                g.dims,
                stats[stat][sl].reshape(g.shape),
                dict(
                    base,
                    units=units,
                    units_label=f"({vs.units_label})^2" if stat == "variance" else vs.units_label,
                    cell_methods=method,
                    description=desc,
                ),
            )
    n = state.done
    counts = np.empty_like(state.thr_count)
    counts[spec.thr_order] = state.thr_count  # back to the order of spec.thresholds
    ess = state.ess
    out["count"] = ((), np.int64(n), {"long_name": "number of scenarios summarised", "units": "1"})
    out["effective_sample_size"] = (
        (),
        np.float64(ess),
        {"long_name": "Kish effective sample size of the weights (the scenario count when unweighted)", "units": "1"},
    )
    if state.weighted:  # the weights' sums: the evidence of the run's assumptions (engine.analysis.storylines.evidence)
        out["weight_sum"] = ((), np.float64(state.weight_units / WEIGHT_SCALE), {
            "long_name": "sum of the scenarios' weights w = exp(sum of -z^2/2) over the observations (w in [0, 1]); "
                         "divided by count, the likelihood of the observations under the config's assumptions, "
                         "up to the observations' normalising constants",
            "units": "1", "cell_methods": "scenario: sum"})  # fmt: skip
        out["weight_sum_of_squares"] = ((), np.float64(state.weight_sq), {
            "long_name": "sum of the squared weights (for the Monte Carlo error of the mean weight)", "units": "1",
            "cell_methods": "scenario: sum"})  # fmt: skip
    p = counts / max(state.weight_total, 1)
    if state.weighted:
        out["exceedance_weight"] = (
            ("threshold",),
            counts / WEIGHT_SCALE,
            {"long_name": "sum of the weights of the scenarios whose total exceeds the threshold", "units": "1",
             "cell_methods": "scenario: sum"},
        )  # fmt: skip
    else:
        out["exceedance_count"] = (
            ("threshold",),
            counts,
            {"long_name": "scenarios whose total exceeds the threshold", "units": "1", "cell_methods": "scenario: sum"},
        )
    what = "weighted " if state.weighted else ""
    out["exceedance_probability"] = (
        ("threshold",),
        p,
        {"long_name": f"{what}probability that the total exceeds the threshold", "units": "1", "cell_methods": "scenario: mean"},
    )
    out["exceedance_standard_error"] = (
        ("threshold",),
        np.sqrt(p * (1.0 - p) / max(ess, 1.0)),
        {"long_name": "Monte Carlo standard error of the exceedance probability: sqrt(p (1 - p) / n_eff), binomial",
         "units": "1"},
    )  # fmt: skip
    return out


def summary_dataset(state: SummaryState, attrs: dict) -> xr.Dataset:
    """The labelled summary of ``state`` with the provenance ``attrs`` (write it with
    :func:`engine.output.cf.cf_encoding` as the encoding, so that the file is CF-1.10 valid)."""
    coords = _coords(state.spec)
    coords.update(_scenario_coord(state.done))
    ds = xr.Dataset(summary_data_vars(state), coords=coords, attrs=dict(attrs))
    ds.attrs.update(summary_attrs(state.spec))
    if state.weighted:
        ds.attrs["weighted"] = "yes: every statistic is weighted by the observations' likelihood (engine.conditioning)"
        ds.attrs["observations"] = state.spec.observations.description
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


def state_dataset(state: SummaryState, attrs: dict) -> xr.Dataset:
    """The labelled summary of ``state`` (the layout above), with the weights' diagnostics of a
    weighted run and the kept scenarios (``sample_*``) when it holds them."""
    from engine.stats.sample import sample_data_vars

    ds = summary_dataset(state, attrs)
    if state.weighted:
        ds.attrs.update(state.diagnostics().attrs())
    if state.sample:
        sample = {k: np.concatenate(v) for k, v in state.sample.items()}
        n = len(sample["inputs"])
        for name, (dims, values, vattrs) in sample_data_vars(sample, n).items():
            ds[name] = (dims, values, vattrs)
        spec, by_input = state.spec, lambda v: np.array(v, dtype=object)
        described = len(spec.input_units) == len(spec.input_names)  # (a spec from before these fields: names only)
        ds = ds.assign_coords(
            input=("input", by_input(spec.input_names), {"long_name": "sampled model input"}),
            **({
                "input_units": ("input", by_input(spec.input_units), {"long_name": "units of the sampled input"}),
                "input_long_name": ("input", by_input(spec.input_long_names), {"long_name": "description of the sampled input"}),
                "input_source": ("input", by_input(spec.input_sources), {"long_name": "source of the input's distribution"}),
            } if described else {}),
            effective_input=("effective_input", np.array(state.spec.effective_names, dtype=object),
                             {"long_name": "regional weight as normalised by the model"}),
        )  # fmt: skip
        ds.attrs["sample_note"] = f"sample_*: the first {n:,} scenarios by index, with their inputs and key outputs"
    return ds
