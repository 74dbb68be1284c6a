"""Exporting a run's statistics for other tools: IAMC (pyam), tidy CSV, parquet.

``export(ds, format, path)`` writes the quantiles (and means) of the totals per year, globally
and per region, from a full cube (weighted if it has a ``weight`` variable) or a summary file.
Every file is written atomically (:mod:`.files`); :data:`EXPORTERS` is the registry.

IAMC (``format="iamc"``, a CSV in the IAMC wide layout that ``pyam.IamDataFrame(path)`` reads)
--------------------------------------------------------------------------------------------
* ``model``: ``dcproj <version of the run>``; ``scenario``: the config name;
* ``region``: ``World`` for the global total, else the run's region names (``united_states``…);
* ``variable``: :data:`IAMC_VARIABLES` (``Final Energy|Electricity|Data Centres`` for dc_only,
  ``…|Data Centres and Crypto Mining`` for incl_crypto, a sibling since it contains dc_only,
  ``Emissions|CO2|…``, ``Water Consumption|…`` in million m3 = GL) followed by
  the statistic, as in the IPCC AR6 scenario database: ``|5.0th Percentile``,
  ``|50.0th Percentile``, ``|95.0th Percentile``…, and ``|Mean``.  Percentiles of regions do not
  add up to the World percentile (pyam's aggregation checks do not apply to them);
* ``unit``: ``TWh/yr``, ``Mt CO2/yr``; one column per year.

Tidy CSV / parquet (``format="csv"`` / ``"parquet"``)
-----------------------------------------------------
One row per value, columns :data:`TIDY_COLUMNS`: variable (electricity, carbon, water),
boundary, region (``global`` or a region), year, statistic (``quantile`` or ``mean``), quantile
(the level; empty for the mean), value, standard_error (its Monte Carlo standard error: order
statistics on n_eff for quantiles, sqrt(variance / n_eff) for the mean), units (``TWh``,
``Mt CO2``, ``GL``).  Parquet (pyarrow,
``pip install -e ".[parquet]"``) keeps the run's provenance in the schema metadata (key ``dcproj``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from engine.analysis import answers
from engine.analysis.files import atomic_output
from engine.analysis.results import TABLE_QUANTILES
from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES, VARIABLES

__all__ = ["EXPORTERS", "IAMC_VARIABLES", "TIDY_COLUMNS", "export", "iamc_frame", "tidy_frame", "statistic_name"]

IAMC_VARIABLES = {  # (variable, boundary) -> (IAMC variable, IAMC unit); the wider boundary is a sibling, not a child
    ("electricity", "dc_only"): ("Final Energy|Electricity|Data Centres", "TWh/yr"),
    ("electricity", "incl_crypto"): ("Final Energy|Electricity|Data Centres and Crypto Mining", "TWh/yr"),
    ("carbon", "dc_only"): ("Emissions|CO2|Data Centres", "Mt CO2/yr"),
    ("carbon", "incl_crypto"): ("Emissions|CO2|Data Centres and Crypto Mining", "Mt CO2/yr"),
    ("water", "dc_only"): ("Water Consumption|Data Centres", "million m3/yr"),  # 1 GL = 10^6 m3
    ("water", "incl_crypto"): ("Water Consumption|Data Centres and Crypto Mining", "million m3/yr"),
}
IAMC_COLUMNS = ["model", "scenario", "region", "variable", "unit", "year", "value"]
TIDY_VARIABLES = ("electricity", "carbon", "water")
TIDY_COLUMNS = ["variable", "boundary", "region", "year", "statistic", "quantile", "value", "standard_error", "units"]
WORLD = "World"
PROVENANCE = (
    "dcproj_version",
    "dcproj_kind",
    "config_name",
    "config_sha256",
    "seed",
    "scenarios",
    "backend",
    "command",
    "created",
)


def statistic_name(level: float | None) -> str:
    """The IAMC variable suffix of a quantile level (AR6 style, ``50.0th Percentile``) or of the mean (``None``)."""
    return "Mean" if level is None else f"{100 * float(level):.1f}th Percentile"


def _statistics(ds, q, variable, boundary, regions: bool, years) -> dict:
    """{region or None: [(level or None, value, standard error)]} (DataArrays over year): the
    quantiles and the mean of one total with their Monte Carlo errors, globally (``None``) and,
    with ``regions``, per region."""
    by = [None, "region"] if regions else [None]
    out = {}
    for b in by:
        quant = answers.total_quantiles(ds, q, variable, boundary, by=b, years=years)
        qse = answers.quantile_standard_error(ds, quant["quantile"].values, variable, boundary, by=b, years=years)
        mean = answers.total_mean(ds, variable, boundary, by=b)
        mse = answers.total_mean_standard_error(ds, variable, boundary, by=b)
        if years is not None:
            mean, mse = mean.sel(year=years), mse.sel(year=years)
        keys = [None] if b is None else [str(r) for r in quant["region"].values]
        for key in keys:
            pick = (lambda a: a) if key is None else (lambda a, k=key: a.sel(region=k))  # noqa: E731
            levels = [(float(p), pick(quant).sel(quantile=p), pick(qse).sel(quantile=p)) for p in quant["quantile"].values]
            out[key] = [*levels, (None, pick(mean), pick(mse))]
    return out


def _model_scenario(ds: xr.Dataset, scenario: str | None) -> tuple[str, str]:
    return f"dcproj {ds.attrs.get('dcproj_version', 'unknown')}", scenario or str(ds.attrs.get("config_name", "dcproj"))


def iamc_frame(
    ds: xr.Dataset, quantiles=TABLE_QUANTILES, *, regions: bool = True, years=None, scenario: str | None = None
) -> pd.DataFrame:
    """The run's statistics in the IAMC long format (columns :data:`IAMC_COLUMNS`; see the module docstring).

    A storylines file gives one IAMC scenario per storyline (named after it, or ``SCENARIO|name``).
    """
    if "storyline" in ds.dims:
        from engine.analysis.storylines import names, select

        return pd.concat([iamc_frame(select(ds, n), quantiles, regions=regions, years=years,
                                     scenario=n if scenario is None else f"{scenario}|{n}") for n in names(ds)],
                         ignore_index=True)  # fmt: skip
    model, scen = _model_scenario(ds, scenario)
    years = answers.check_years(ds, years)
    rows = []
    for (variable, boundary), (name, unit) in IAMC_VARIABLES.items():
        for region, stats in _statistics(ds, quantiles, variable, boundary, regions, years).items():
            for level, da, _ in stats:
                for year, value in zip(da["year"].values, da.values, strict=True):
                    rows.append((model, scen, region or WORLD, f"{name}|{statistic_name(level)}", unit, int(year), float(value)))
    return pd.DataFrame(rows, columns=IAMC_COLUMNS)


def tidy_frame(ds: xr.Dataset, quantiles=TABLE_QUANTILES, *, regions: bool = True, years=None) -> pd.DataFrame:
    """The run's statistics as a tidy table (columns :data:`TIDY_COLUMNS`; see the module docstring);
    a storylines file's table starts with a ``storyline`` column."""
    if "storyline" in ds.dims:
        from engine.analysis.storylines import names, select

        parts = [tidy_frame(select(ds, n), quantiles, regions=regions, years=years).assign(storyline=n) for n in names(ds)]
        out = pd.concat(parts, ignore_index=True)
        return out[["storyline", *TIDY_COLUMNS]]
    years = answers.check_years(ds, years)
    rows = []
    for variable in TIDY_VARIABLES:
        units = VARIABLES[variable].units_label
        for boundary in BOUNDARIES:
            for region, stats in _statistics(ds, quantiles, variable, boundary, regions, years).items():
                for level, da, se in stats:
                    stat = "mean" if level is None else "quantile"
                    for year, value, err in zip(da["year"].values, da.values, se.sel(year=da["year"]).values, strict=True):
                        rows.append(
                            (
                                variable,
                                boundary,
                                region or "global",
                                int(year),
                                stat,
                                np.nan if level is None else level,
                                float(value),
                                float(err),
                                units,
                            )
                        )
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def _provenance(ds: xr.Dataset) -> dict:
    out = {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items() if k in PROVENANCE}
    out["weighted"] = answers.is_weighted(ds)
    return out


def _write_iamc(ds, tmp: Path, quantiles, regions, years, scenario) -> None:
    long = iamc_frame(ds, quantiles, regions=regions, years=years, scenario=scenario)
    wide = long.pivot_table(index=IAMC_COLUMNS[:5], columns="year", values="value", sort=False).reset_index()
    wide.columns = [str(c).capitalize() if c in IAMC_COLUMNS else str(c) for c in wide.columns]
    wide.to_csv(tmp, index=False, float_format="%.10g")


def _write_csv(ds, tmp: Path, quantiles, regions, years, scenario) -> None:
    tidy_frame(ds, quantiles, regions=regions, years=years).to_csv(tmp, index=False, float_format="%.10g")


def _write_parquet(ds, tmp: Path, quantiles, regions, years, scenario) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise AnalysisError('parquet export needs pyarrow: pip install -e ".[parquet]"') from None
    table = pa.Table.from_pandas(tidy_frame(ds, quantiles, regions=regions, years=years), preserve_index=False)
    meta = dict(table.schema.metadata or {}, dcproj=json.dumps(_provenance(ds), default=str))
    pq.write_table(table.replace_schema_metadata(meta), tmp)


EXPORTERS = {"iamc": _write_iamc, "csv": _write_csv, "parquet": _write_parquet}  # format -> writer(ds, tmp, ...)


def export(
    ds: xr.Dataset,
    format: str,
    path: str | Path,
    *,
    quantiles=TABLE_QUANTILES,
    regions: bool = True,
    years=None,
    scenario: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the run's quantiles and means in ``format`` (one of :data:`EXPORTERS`) to ``path``.

    Parameters
    ----------
    ds
        A full cube (weighted by ``weight`` if present) or a summary file.
    format
        ``"iamc"`` (IAMC CSV for pyam), ``"csv"`` (tidy) or ``"parquet"`` (tidy).
    quantiles
        Probability levels (summary files: stored levels, else interpolated between them).
    regions
        Also each region, beside the global total.
    years
        Only these years (each must be in the file).
    scenario
        The IAMC scenario name (default: the config name).
    overwrite
        Replace an existing ``path`` (else an :class:`~engine.errors.OutputError`).

    Returns
    -------
    pathlib.Path
        ``path``, written completely or not at all.
    """
    if format not in EXPORTERS:
        raise AnalysisError(f"unknown export format {format!r}; expected one of {sorted(EXPORTERS)}")
    answers.check_years(ds, years)
    with atomic_output(path, overwrite=overwrite) as tmp:
        EXPORTERS[format](ds, tmp, quantiles, regions, years, scenario)
    return Path(path)
