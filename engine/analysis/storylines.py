"""Reading a storylines file (a ``storyline`` dim, :mod:`engine.execution.storylines`): the storylines
side by side, full cubes and summary files alike.

* :func:`has_storylines`, :func:`names`, :func:`select` (one storyline as a plain run file);
* :func:`compare`: median, 5 % and 95 % quantiles and the mean of a total per year (and group)
  for every storyline, as one table (``dcproj summary``, the report);
* :func:`described`: each storyline's description, sources and overrides.

Each storyline is read through :mod:`.results` and :mod:`.answers` on its own selection, so every
statistic is exactly the one of a plain run.  Never imports the execution layer.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from engine.analysis.results import summarise
from engine.errors import AnalysisError

__all__ = ["DIM", "LEVELS", "has_storylines", "names", "select", "compare", "described"]

DIM = "storyline"
LEVELS = ("p5", "p50", "p95", "mean")  # the columns of compare() per storyline


def has_storylines(ds: xr.Dataset) -> bool:
    """Whether ``ds`` holds several storylines (a ``storyline`` dim)."""
    return DIM in ds.dims


def names(ds: xr.Dataset) -> list[str]:
    """The storylines' names, in the file's order."""
    if not has_storylines(ds):
        raise AnalysisError("the file has no storyline dim (run with dcproj run --storylines DIR)")
    return [str(n) for n in ds[DIM].values]


def select(ds: xr.Dataset, name: str) -> xr.Dataset:
    """Storyline ``name`` of ``ds`` as a plain run file (the ``storyline`` dim dropped)."""
    have = names(ds)
    if name not in have:
        raise AnalysisError(f"storyline {name!r} is not in the file; it holds {have}")
    return ds.sel({DIM: name})


def compare(
    ds: xr.Dataset, variable: str = "electricity", boundary: str = "incl_crypto", by: str | None = None, year: int | None = None
) -> pd.DataFrame:
    """The storylines side by side: 5 %, 50 %, 95 % and the mean of the total per year [the variable's units].

    Parameters
    ----------
    ds
        A storylines file (full cube or summary).
    variable, boundary, by, year
        As :func:`engine.analysis.results.summarise`.

    Returns
    -------
    pandas.DataFrame
        Index year (and ``by``); columns a MultiIndex (storyline, statistic) with statistics
        :data:`LEVELS`.
    """
    parts = {n: summarise(select(ds, n), variable, boundary, by, year)[list(LEVELS)] for n in names(ds)}
    return pd.concat(parts, axis=1, names=[DIM, "statistic"])


def described(ds: xr.Dataset) -> pd.DataFrame:
    """One row per storyline: name, description, sources, overrides (as stored in the file)."""
    rows = []
    for i, n in enumerate(names(ds)):
        row = {"storyline": n}
        for k in ("description", "sources", "overrides"):
            c = f"storyline_{k}"
            row[k] = str(ds[c].values[i]) if c in ds.coords else ""
        rows.append(row)
    return pd.DataFrame(rows)
