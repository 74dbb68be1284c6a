"""Summaries of a cube: quantiles and means of totals per year, by boundary, region or component.

Reductions accumulate in float64 whatever the storage type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from engine.cube import BOUNDARIES, VARIABLES

__all__ = ["QUANTILES", "total", "summarise"]

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
GROUPINGS = ("region", "component")


def total(ds: xr.Dataset, variable: str = "electricity", boundary: str = "incl_crypto", by: str | None = None) -> xr.DataArray:
    """Per-scenario total of ``variable`` [its units] over the components of ``boundary``.

    Sums over regions and components (float64 accumulation), keeping ``by`` if given.
    Water is summed over on- and off-site use.
    """
    if variable not in VARIABLES or variable == "installed_accelerators" and boundary == "dc_only" and by == "component":
        raise ValueError(f"unknown variable {variable!r}; expected one of {sorted(VARIABLES)}")
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; expected one of {sorted(BOUNDARIES)}")
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; expected one of {list(GROUPINGS)}")
    da = ds[variable]
    if "component" in da.dims:
        da = da.sel(component=BOUNDARIES[boundary])
    elif by == "component":
        raise ValueError(f"{variable} has no component dimension")
    keep = {"scenario", "year"} | ({by} if by else set())
    dims = [d for d in da.dims if d not in keep]
    out = da.astype(np.float64).sum(dims) if dims else da.astype(np.float64)
    out.attrs = dict(da.attrs)
    return out


def summarise(
    ds: xr.Dataset,
    variable: str = "electricity",
    boundary: str = "incl_crypto",
    by: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Quantiles (5, 25, 50, 75, 95 %) and mean of the total per year (and per ``by`` group)."""
    da = total(ds, variable, boundary, by)
    if year is not None:
        years = [int(y) for y in ds["year"].values]
        if year not in years:
            raise ValueError(f"year {year} is not in the cube; expected one of {years[0]}..{years[-1]}")
        da = da.sel(year=[year])
    q = da.quantile(list(QUANTILES), dim="scenario")
    mean = da.mean("scenario")
    frame = q.to_dataframe(name="value")["value"].unstack("quantile")
    frame.columns = [f"p{int(round(c * 100))}" for c in frame.columns]
    frame["mean"] = mean.to_series().reindex(frame.index)
    return frame
