"""Summaries of a run file: quantiles and means of totals per year, by boundary, region or component.

Reads both kinds of file dcproj writes: a full cube (``dcproj_kind = "full"``; totals are
summed per scenario, in float64, and reduced exactly) and a streaming summary
(``dcproj_kind = "summary"``, :mod:`engine.stats`; the stored quantiles and means are
looked up).  Imports the output registry and the statistics' specs; never the execution layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES, VARIABLES
from engine.stats.spec import parse_threshold

__all__ = ["TABLE_QUANTILES", "total", "summarise", "exceedance", "is_summary"]

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


def total(ds: xr.Dataset, variable: str = "electricity", boundary: str = "incl_crypto", by: str | None = None) -> xr.DataArray:
    """Per-scenario total of ``variable`` [its units] over the components of ``boundary`` (full cubes).

    Sums over regions and components (float64 accumulation), keeping ``by`` if given.
    Water is summed over on- and off-site use.
    """
    _check(variable, boundary, by)
    if is_summary(ds):
        raise AnalysisError("a summary file holds no per-scenario values; use summarise() for its statistics")
    da = ds[variable]
    if "component" in da.dims:
        da = da.sel(component=BOUNDARIES[boundary])
    keep = {"scenario", "year"} | ({by} if by else set())
    dims = [d for d in da.dims if d not in keep]
    out = da.astype(np.float64).sum(dims) if dims else da.astype(np.float64)
    out.attrs = dict(da.attrs)
    return out


def _summary_stats(ds: xr.Dataset, variable: str, boundary: str, by: str | None) -> tuple[xr.DataArray, xr.DataArray]:
    """(quantiles, mean) of the requested total from a summary file."""
    if variable == "installed_accelerators":
        group = variable if by == "region" else f"{variable}_total"
        sel = {}
    elif by is None:
        group, sel = f"{variable}_total", {"boundary": boundary}
    elif by == "region":
        group, sel = f"{variable}_by_region", {"boundary": boundary}
    else:
        group, sel = f"{variable}_by_component", {"component": BOUNDARIES[boundary]}
    return ds[f"{group}_quantile"].sel(sel), ds[f"{group}_mean"].sel(sel)


def summarise(
    ds: xr.Dataset,
    variable: str = "electricity",
    boundary: str = "incl_crypto",
    by: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Quantiles (5, 25, 50, 75, 95 %) and mean of the total per year (and per ``by`` group)."""
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
        da = total(ds, variable, boundary, by)
        q = da.quantile(list(TABLE_QUANTILES), dim="scenario")
        mean = da.mean("scenario")
    if year is not None:
        q, mean = q.sel(year=[year]), mean.sel(year=[year])
    q = q.transpose("quantile", ...)
    frame = q.to_dataframe(name="value")["value"].unstack("quantile")
    frame.columns = [f"p{int(round(c * 100))}" for c in frame.columns]
    frame["mean"] = mean.to_series().reindex(frame.index)
    return frame


def exceedance(ds: xr.Dataset, thresholds=()) -> pd.DataFrame:
    """P(total > value) for ``thresholds`` (:class:`engine.stats.spec.ThresholdSpec` or strings).

    Full cube: computed exactly from the scenarios.  Summary: the probabilities stored in the
    file (all of them if ``thresholds`` is empty); a threshold it does not hold is an error.
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
        n = ds.sizes["scenario"]
        for t in wanted:
            _check(t.variable, t.boundary, None)
            tot = total(ds, t.variable, t.boundary).sel(year=t.year)
            rows.append((t.label(VARIABLES[t.variable].units_label), float((tot > t.value).sum()) / n))
    return pd.DataFrame(rows, columns=["event", "probability"]).set_index("event")
