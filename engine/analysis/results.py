"""Summaries of a run file: quantiles and means of totals per year, by boundary, region or component.

Reads both kinds of file dcproj writes: a full cube (``dcproj_kind = "full"``; totals are
summed per scenario, in float64, and reduced exactly) and a streaming summary
(``dcproj_kind = "summary"``, :mod:`engine.stats`; the stored quantiles and means are
looked up).  A full cube with a ``weight`` variable (importance weights over ``scenario``) is
summarised with those weights (:mod:`.weighted`); without one every scenario counts equally.
Imports the output registry and the statistics' specs; never the execution layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from engine.analysis.weighted import dataset_weights, mean_over, probability_over, quantile_over
from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES, VARIABLES
from engine.stats.spec import parse_threshold

__all__ = ["TABLE_QUANTILES", "total", "summarise", "exceedance", "is_summary", "kept_sample_view"]

TABLE_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)  # the columns of dcproj summary
GROUPINGS = ("region", "component")


def is_summary(ds: xr.Dataset) -> bool:
    """Whether ``ds`` is a streaming summary rather than a full cube."""
    return ds.attrs.get("dcproj_kind") == "summary"


def _check(variable: str, boundary: str, by: str | None) -> None:
    if variable not in VARIABLES:
        raise AnalysisError(f"unknown variable {variable!r}; expected one of {sorted(VARIABLES)}")
    if boundary not in BOUNDARIES:
        raise AnalysisError(f"unknown boundary {boundary!r}; expected one of {sorted(BOUNDARIES)}")
    if by is not None and by not in GROUPINGS:
        raise AnalysisError(f"cannot group by {by!r}; expected one of {list(GROUPINGS)}")
    if by == "component" and "component" not in VARIABLES[variable].dims:
        raise AnalysisError(f"{variable} has no component dimension")


SAMPLE_KIND = "kept_sample"  # dcproj_kind of the per-scenario view of a summary's kept sample


def kept_sample_view(ds: xr.Dataset) -> xr.Dataset:
    """A full cube as it is; a summary file's kept sample (``sample_*``) as a per-scenario dataset.

    The view has dim ``scenario`` (the kept scenarios' indices), ``inputs``,
    ``effective_inputs`` and the kept totals (``<variable>_total`` by boundary and year,
    ``electricity_by_region``), with ``dcproj_kind = "kept_sample"``; :func:`total` reads it.
    A summary file without a kept sample is an :class:`~engine.errors.AnalysisError`.
    """
    if not is_summary(ds):
        return ds
    if "sample_inputs" not in ds:
        raise AnalysisError(
            "this summary file keeps no scenarios (it was run with --keep-sample 0): per-scenario analyses need "
            "a full cube or a summary run with a kept sample"
        )
    names = {v: v.removeprefix("sample_") for v in ds.data_vars if v.startswith("sample_")}
    view = ds[list(names)].drop_vars("scenario", errors="ignore")  # the summary's scalar realization coordinate
    view = view.rename(names).rename({"sample": "scenario"})
    keep = ("scenario", "year", "region", "boundary", "input", "effective_input", "input_units", "input_long_name", "input_source",
            "storyline")  # fmt: skip
    view = view.drop_vars([c for c in view.coords if c not in keep])
    view.attrs = dict(ds.attrs, dcproj_kind=SAMPLE_KIND)
    return view


def total(ds: xr.Dataset, variable: str = "electricity", boundary: str = "incl_crypto", by: str | None = None) -> xr.DataArray:
    """Per-scenario total of ``variable`` [its units] over the components of ``boundary`` (full cubes
    and kept samples, :func:`kept_sample_view`).

    Sums over regions and components (float64 accumulation), keeping ``by`` if given.
    Water is summed over on- and off-site use.
    """
    _check(variable, boundary, by)
    if is_summary(ds):
        raise AnalysisError(
            "a summary file holds no per-scenario values; use summarise() for its statistics, or kept_sample_view(ds) "
            "for the scenarios it kept"
        )
    if ds.attrs.get("dcproj_kind") == SAMPLE_KIND:
        return _kept_total(ds, variable, boundary, by)
    da = ds[variable]
    if "component" in da.dims:
        da = da.sel(component=BOUNDARIES[boundary])
    keep = {"scenario", "year", "storyline"} | ({by} if by else set())  # a storylines file keeps its storylines apart
    dims = [d for d in da.dims if d not in keep]
    out = da.astype(np.float64).sum(dims) if dims else da.astype(np.float64)
    out.attrs = dict(da.attrs)
    return out


def _kept_total(ds: xr.Dataset, variable: str, boundary: str, by: str | None) -> xr.DataArray:
    if by == "component" or (by == "region" and variable != "electricity"):
        raise AnalysisError(f"the kept sample holds {variable} totals{' and electricity by region' if by else ''}, not by {by}")
    name = "electricity_by_region" if by == "region" else f"{variable}_total"
    da = ds[name].astype(np.float64)
    return da.sel(boundary=boundary) if "boundary" in da.dims else da


def _summary_stats(ds: xr.Dataset, variable: str, boundary: str, by: str | None) -> tuple[xr.DataArray, xr.DataArray]:
    """(quantiles, mean) of the requested total from a summary file."""
    group, sel = summary_group(variable, boundary, by)
    return ds[f"{group}_quantile"].sel(sel), ds[f"{group}_mean"].sel(sel)


def summary_group(variable: str, boundary: str, by: str | None) -> tuple[str, dict]:
    """The summary file's group holding the requested total, and the selection within it."""
    if variable == "installed_accelerators":
        group = variable if by == "region" else f"{variable}_total"
        sel = {}
    elif by is None:
        group, sel = f"{variable}_total", {"boundary": boundary}
    elif by == "region":
        group, sel = f"{variable}_by_region", {"boundary": boundary}
    else:
        group, sel = f"{variable}_by_component", {"component": BOUNDARIES[boundary]}
    return group, sel


def summarise(
    ds: xr.Dataset,
    variable: str = "electricity",
    boundary: str = "incl_crypto",
    by: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Quantiles (5, 25, 50, 75, 95 %) and mean of the total per year (and per ``by`` group).

    A full cube with a ``weight`` variable gives weighted quantiles (inverted CDF) and means.
    """
    _check(variable, boundary, by)
    years = [int(y) for y in ds["year"].values]
    if year is not None and year not in years:
        raise AnalysisError(f"year {year} is not in the file; expected one of {years[0]}..{years[-1]}")
    if is_summary(ds):
        q, mean = _summary_stats(ds, variable, boundary, by)
        have = [float(v) for v in ds["quantile"].values]
        missing = [p for p in TABLE_QUANTILES if not any(abs(p - h) < 1e-12 for h in have)]
        if missing:
            raise AnalysisError(f"the summary file lacks quantiles {missing}; it has {have}")
        q = q.sel(quantile=list(TABLE_QUANTILES), method="nearest")
    else:
        da, weights = total(ds, variable, boundary, by), dataset_weights(ds)
        q = quantile_over(da, weights, TABLE_QUANTILES)
        mean = mean_over(da, weights)
    if year is not None:
        q, mean = q.sel(year=[year]), mean.sel(year=[year])
    q = q.transpose("quantile", ...)
    frame = q.to_dataframe(name="value")["value"].unstack("quantile")
    frame.columns = [f"p{int(round(c * 100))}" for c in frame.columns]
    frame["mean"] = mean.to_series().reindex(frame.index)
    return frame


def exceedance(ds: xr.Dataset, thresholds=()) -> pd.DataFrame:
    """P(total > value) for ``thresholds`` (:class:`engine.stats.spec.ThresholdSpec` or strings).

    Full cube: computed exactly from the scenarios (weighted by ``weight`` if the cube has one).
    Summary: the probabilities stored in the file (all of them if ``thresholds`` is empty); a
    threshold it does not hold is an error.
    """
    wanted = [parse_threshold(t) if isinstance(t, str) else t for t in thresholds]
    rows = []
    if is_summary(ds):
        stored = {
            (str(v), str(b), int(y), float(x)): (float(p), str(lab))
            for v, b, y, x, p, lab in zip(
                ds.threshold_variable.values,
                ds.threshold_boundary.values,
                ds.threshold_year.values,
                ds.threshold_value.values,
                ds.exceedance_probability.values,
                ds.threshold_label.values,
                strict=True,
            )
        }
        keys = [(t.variable, t.boundary, t.year, t.value) for t in wanted] or list(stored)
        for k in keys:
            if k not in stored:
                have = ", ".join(lab for _, lab in stored.values()) or "none"
                raise AnalysisError(
                    f"the summary file holds no exceedance probability for {wanted[keys.index(k)].label()}; "
                    f"it holds: {have} (add thresholds with --threshold when running)"
                )
            rows.append((stored[k][1], stored[k][0]))
    else:
        weights = dataset_weights(ds)
        for t in wanted:
            _check(t.variable, t.boundary, None)
            tot = total(ds, t.variable, t.boundary).sel(year=t.year)
            rows.append((t.label(VARIABLES[t.variable].units_label), float(probability_over(tot > t.value, weights)[0])))
    return pd.DataFrame(rows, columns=["event", "probability"]).set_index("event")
