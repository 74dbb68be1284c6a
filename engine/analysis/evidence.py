"""Published estimates (``configs/evidence/published_estimates.csv``) beside a run.

The table's columns: id, source, url, published, scope, boundary, region, year, value, low,
high, unit, kind, scenario, note.  A row is *comparable* with a run when its region is
``global``, its boundary is one of the run's (``dc_only``, ``incl_crypto``; ``narrower`` and
``ai_only`` rows measure something else) and its unit names a run variable (:data:`UNIT_VARIABLE`:
TWh → electricity, Mt CO2 → carbon, GL → water; GW and units are not projected).

Verdict (:func:`compare`): a published value is ``inside``, ``below`` or ``above`` the run's
90 % interval (5-95 %); a row with only a range (low-high, no value) is ``inside`` when the
range overlaps that interval.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from engine.analysis.answers import quantile_standard_error, total_quantiles
from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES

__all__ = ["TABLE", "COLUMNS", "UNIT_VARIABLE", "RUN_COLUMNS", "published_estimates", "comparable", "compare"]

TABLE = Path(__file__).resolve().parents[2] / "configs" / "evidence" / "published_estimates.csv"
COLUMNS = (
    "id",
    "source",
    "url",
    "published",
    "scope",
    "boundary",
    "region",
    "year",
    "value",
    "low",
    "high",
    "unit",
    "kind",
    "scenario",
    "note",
)
UNIT_VARIABLE = {"TWh": "electricity", "Mt CO2": "carbon", "GL": "water"}
INTERVAL = (0.05, 0.5, 0.95)
ROW_COLUMNS = ("id", "source", "scenario", "kind", "variable", "boundary", "year", "unit", "value", "low", "high", "scope")


def published_estimates(path: str | Path | None = None) -> pd.DataFrame:
    """Read the table of published estimates (default: the repository's ``configs/evidence`` copy).

    Raises
    ------
    AnalysisError
        If the file is missing or lacks one of :data:`COLUMNS`.
    """
    p = Path(path) if path is not None else TABLE
    if not p.exists():
        raise AnalysisError(f"{p}: no table of published estimates (expected columns {', '.join(COLUMNS)})")
    table = pd.read_csv(p, dtype={"id": str, "region": str, "boundary": str, "unit": str, "scenario": str})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise AnalysisError(f"{p}: the table lacks the columns {missing}")
    for col in ("value", "low", "high"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    table["year"] = table["year"].astype(int)
    table["scenario"] = table["scenario"].fillna("")
    return table


def comparable(
    table: pd.DataFrame, ds: xr.Dataset | None = None, variable: str | None = None, boundary: str | None = None
) -> pd.DataFrame:
    """The global rows of ``table`` a run can be compared with (see the module docstring).

    ``variable`` / ``boundary`` keep only those; ``ds`` keeps the years the run covers.  Adds a
    ``variable`` column.
    """
    rows = table[
        (table["region"] == "global") & table["boundary"].isin(list(BOUNDARIES)) & table["unit"].isin(list(UNIT_VARIABLE))
    ]
    rows = rows.assign(variable=rows["unit"].map(UNIT_VARIABLE))
    if variable is not None:
        rows = rows[rows["variable"] == variable]
    if boundary is not None:
        rows = rows[rows["boundary"] == boundary]
    if ds is not None:
        rows = rows[rows["year"].isin([int(y) for y in ds["year"].values])]
        if "variable" in rows and len(rows):
            stored = _variables_in(ds)
            rows = rows[rows["variable"].isin(stored)]
    return rows.reset_index(drop=True)


def _variables_in(ds: xr.Dataset) -> list[str]:
    return [v for v in UNIT_VARIABLE.values() if v in ds.variables or f"{v}_total_quantile" in ds.variables]


def _verdict(row, p5: float, p95: float) -> tuple[str, str]:
    """(verdict, what was compared) for one published row against the run's 5-95 % interval."""
    if np.isfinite(row["value"]):
        v = row["value"]
        return ("below" if v < p5 else "above" if v > p95 else "inside"), "value"
    low = row["low"] if np.isfinite(row["low"]) else -np.inf
    high = row["high"] if np.isfinite(row["high"]) else np.inf
    return ("below" if high < p5 else "above" if low > p95 else "inside"), "range"


RUN_COLUMNS = ("p5", "p50", "p95", "p5_se", "p50_se", "p95_se", "verdict", "compared", "caveat")
_BOUNDARY_TEXT = {
    "dc_only": "run boundary dc_only: all data-centre components, no crypto",
    "incl_crypto": "run boundary incl_crypto: data centres and crypto mining (the IEA's 460 TWh of 2022)",
}


def _caveat(row) -> str:
    """What the published row measures, beside the run's boundary it is compared with."""
    scope = str(row.get("scope", "") or "").strip()
    return f"{_BOUNDARY_TEXT[row['boundary']]}; published scope: {scope}" if scope else _BOUNDARY_TEXT[row["boundary"]]


def compare(ds: xr.Dataset, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each comparable published row beside the run's median and 90 % interval, with a verdict.

    Returns
    -------
    pandas.DataFrame
        Columns id, source, scenario, kind, variable, boundary, year, unit, value, low, high,
        p5, p50, p95 (the run's, in the row's unit; weighted when the run is), their Monte Carlo
        standard errors p5_se, p50_se, p95_se (:func:`engine.analysis.answers.quantile_standard_error`),
        verdict (inside / below / above), compared (``value`` or ``range``) and caveat (the
        run's boundary beside the published scope).
    """
    rows = comparable(published_estimates() if table is None else table, ds)
    out = []
    for (variable, boundary), group in rows.groupby(["variable", "boundary"], sort=False):
        years = sorted(set(group["year"]))
        q = total_quantiles(ds, INTERVAL, variable, boundary, years=years)
        se = quantile_standard_error(ds, INTERVAL, variable, boundary, years=years)
        for _, row in group.iterrows():
            p5, p50, p95 = (float(v) for v in q.sel(year=int(row["year"])).values)
            e5, e50, e95 = (float(v) for v in se.sel(year=int(row["year"])).values)
            verdict, what = _verdict(row, p5, p95)
            out.append({**{k: row[k] for k in ROW_COLUMNS}, "p5": p5, "p50": p50, "p95": p95, "p5_se": e5, "p50_se": e50,
                        "p95_se": e95, "verdict": verdict, "compared": what, "caveat": _caveat(row)})  # fmt: skip
    frame = pd.DataFrame(out, columns=[*ROW_COLUMNS, *RUN_COLUMNS])
    order = frame["variable"].map({v: i for i, v in enumerate(UNIT_VARIABLE.values())})
    frame = frame.assign(_order=order).sort_values(["_order", "boundary", "year", "id"])
    return frame.drop(columns="_order").reset_index(drop=True)
