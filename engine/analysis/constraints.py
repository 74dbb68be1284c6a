"""Which limit binds: the demand of the growth law, the chip supply or the build-out, by year.

From 2026 the model deploys the demand or the tighter of two caps (:func:`kernels.vintages.fill_vintages`).
:func:`binding` recomputes each scenario's demand and caps from its sampled inputs (with the
NumPy reference, :func:`engine.reference.model.deployments`) and reports, per year, the
(weighted) share of scenarios in each regime, over all scenarios and over the upper tail
(the scenarios whose total is above the run's ``level`` quantile that year).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from engine.analysis.answers import weights as run_weights
from engine.analysis.results import kept_sample_view, total
from engine.analysis.weighted import weighted_quantile

__all__ = ["binding", "REGIMES"]

REGIMES = ("demand", "supply", "buildout")


def _regimes(d: dict) -> np.ndarray:
    """0 demand, 1 supply, 2 build-out per scenario and year (the cap that set the deployments)."""
    out = np.zeros(d["ship"].shape, dtype=np.int64)
    capped = d["ship"] < d["demand"]
    supply = capped & (d["supply_cap"] <= d["buildout_cap"])
    out[supply] = 1
    out[capped & ~supply] = 2
    return out


def binding(ds: xr.Dataset, years=None, boundary: str = "dc_only", level: float = 0.95) -> pd.DataFrame:
    """Share of scenarios (weighted if the run is) whose deployments are set by demand, supply or build-out.

    Parameters
    ----------
    ds
        A full cube or a summary file with a kept sample.
    years
        Years to report (default: every year from 2026).
    boundary
        The boundary of the electricity total that defines the upper tail.
    level
        The upper tail: scenarios whose total exceeds the ``level`` quantile of the year.

    Returns
    -------
    pandas.DataFrame
        One row per year: ``all_<regime>`` and ``tail_<regime>`` shares [1] for each regime.
    """
    from engine.reference.model import deployments

    view = kept_sample_view(ds)
    x = np.asarray(view["inputs"].values, dtype=np.float64)
    all_years = [int(y) for y in view["year"].values]
    d = deployments(x, view.sizes["region"], len(all_years))
    regime = _regimes(d)
    w = run_weights(view)
    w = np.ones(x.shape[0]) if w is None else w.values
    tot = total(view, "electricity", boundary)
    rows = []
    for y in years or [y for y in all_years if y >= 2026]:
        i = all_years.index(int(y))
        values = np.asarray(tot.sel(year=int(y)).values, dtype=np.float64)
        tail = values > weighted_quantile(values, w, [level])[0]
        row = {"year": int(y)}
        for name, mask in (("all", np.ones_like(tail)), ("tail", tail)):
            ww = w * mask
            for k, reg in enumerate(REGIMES):
                row[f"{name}_{reg}"] = float(ww[regime[:, i] == k].sum() / ww.sum()) if ww.sum() > 0 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
