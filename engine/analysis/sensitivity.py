"""Which inputs drive a run's totals: given-data sensitivity of a full cube, as a labelled Dataset.

:func:`sensitivity` takes the cube's ``inputs`` (the raw draws; the regional weights from
``effective_inputs``, normalised as the model used them) and the per-scenario totals of
:func:`engine.analysis.results.total`, and returns the measures of :mod:`.estimators`
(closed first-order index, Borgonovo's δ, Spearman and partial rank correlation, each with a
bootstrap interval) over input × year × boundary (× region).  These stay meaningful with the
default config's Gaussian copula, which pick-freeze Sobol' designs do not.  A ``weight``
variable (dim scenario) makes every measure weighted.  :func:`ranked_table` gives one
year and boundary as the frame a tornado plot takes.

Reads full cubes only (a summary file holds no per-scenario values); never imports the
execution layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from engine.analysis.estimators import MEASURES, delta_classes, first_order_bins, indices
from engine.analysis.results import is_summary, kept_sample_view, total
from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES, VARIABLES

__all__ = ["MEASURES", "InputMatrix", "input_matrix", "scenario_weights", "require_full", "sensitivity", "ranked_table"]


@dataclass(frozen=True)
class InputMatrix:
    """The inputs of a cube as the model saw them, one column per input."""

    values: np.ndarray  # [scenario, input], float64, each column in its own units
    names: list[str]
    units: list[str]
    long_names: list[str]
    skipped: list[str] = field(default_factory=list)  # zero variance (fixed inputs): left out


def require_full(ds: xr.Dataset, what: str) -> None:
    """Refuse anything without per-scenario inputs for ``what`` (pass summary files through
    :func:`engine.analysis.results.kept_sample_view` first)."""
    if "storyline" in ds.dims:
        raise AnalysisError(f"{what} is of one run: choose one storyline of this storylines file (ds.sel(storyline=NAME))")
    if is_summary(ds):
        raise AnalysisError(f"{what} needs per-scenario values: a full cube, or the kept sample of a summary file (kept_sample_view)")
    if "inputs" not in ds:
        raise AnalysisError(f"{what} needs the cube's per-scenario inputs; this file has no 'inputs' variable")


def _selected(names: list[str], inputs) -> list[str]:
    """``inputs`` by exact name or family (``accelerator_share`` → its regional members), in file order."""
    if inputs is None:
        return names
    wanted = [inputs] if isinstance(inputs, str) else list(inputs)
    chosen = set()
    for w in wanted:
        members = [n for n in names if n == w or n.startswith(f"{w}.")]
        if not members:
            families = sorted({n.split(".")[0] for n in names})
            raise AnalysisError(f"unknown input {w!r}; expected an input name or one of the families {families}")
        chosen.update(members)
    return [n for n in names if n in chosen]


def input_matrix(ds: xr.Dataset, inputs=None) -> InputMatrix:
    """The input matrix [scenario, input] of a full cube; ``effective_inputs`` replace the raw shares.

    Inputs with zero variance (``fixed`` ones) are left out and listed in ``skipped``.
    """
    require_full(ds, "this analysis")
    raw = [str(n) for n in ds["input"].values]
    effective = [str(n) for n in ds["effective_input"].values] if "effective_inputs" in ds else []
    names = _selected(raw, inputs)
    units = dict(zip(raw, (str(u) for u in ds["input_units"].values), strict=True)) if "input_units" in ds.coords else {}
    longs = dict(zip(raw, (str(u) for u in ds["input_long_name"].values), strict=True)) if "input_long_name" in ds.coords else {}
    columns, out, skipped = [], [], []
    for n in names:
        if n in effective:
            col = ds["effective_inputs"].sel(effective_input=n).values.astype(np.float64)
        else:
            col = ds["inputs"].sel(input=n).values.astype(np.float64)
        if np.ptp(col) == 0.0:
            skipped.append(n)
            continue
        columns.append(col)
        out.append(n)
    if not out:
        raise AnalysisError(f"no input with any variation among {names}; fixed inputs cannot explain anything")
    values = np.column_stack(columns)
    return InputMatrix(
        values,
        out,
        ["1" if n in effective else units.get(n, "") for n in out],
        [longs.get(n, n) + (" (normalised over the regions)" if n in effective else "") for n in out],
        skipped,
    )


def scenario_weights(ds: xr.Dataset) -> np.ndarray | None:
    """The cube's importance weights (variable ``weight``, dim scenario), or ``None`` if it has none."""
    if "weight" not in ds:
        return None
    w = ds["weight"]
    if w.dims != ("scenario",):
        raise AnalysisError(f"the 'weight' variable must have the single dim scenario; it has {w.dims}")
    values = w.values.astype(np.float64)
    if not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise AnalysisError("the 'weight' variable must hold finite non-negative values with a positive sum")
    return values


def _years(ds: xr.Dataset, year) -> list[int]:
    have = [int(y) for y in ds["year"].values]
    wanted = have if year is None else [int(y) for y in np.atleast_1d(year)]
    missing = [y for y in wanted if y not in have]
    if missing:
        raise AnalysisError(f"year(s) {missing} not in the file; expected years in {have[0]}..{have[-1]}")
    return wanted


def _boundaries(variable: str, boundary) -> list[str] | None:
    if variable not in VARIABLES:
        raise AnalysisError(f"unknown variable {variable!r}; expected one of {sorted(VARIABLES)}")
    if "component" not in VARIABLES[variable].dims:
        if boundary is not None:
            raise AnalysisError(f"{variable} has no components, so no boundary; leave the boundary out")
        return None
    wanted = list(BOUNDARIES) if boundary is None else [boundary] if isinstance(boundary, str) else list(boundary)
    unknown = [b for b in wanted if b not in BOUNDARIES]
    if unknown:
        raise AnalysisError(f"unknown boundary {unknown}; expected some of {list(BOUNDARIES)}")
    return wanted


def _outputs(ds, variable, years, boundaries, by_region) -> xr.DataArray:
    """Per-scenario totals [scenario, year, (boundary), (region)] in float64."""
    by = "region" if by_region else None
    parts = [total(ds, variable, b or "incl_crypto", by).sel(year=years) for b in (boundaries or [None])]
    da = xr.concat(parts, pd.Index(np.array(boundaries, dtype=object), name="boundary", dtype=object)) if boundaries else parts[0]
    order = ["scenario", "year"] + (["boundary"] if boundaries else []) + (["region"] if by_region else [])
    return da.transpose(*order)


def sensitivity(
    ds: xr.Dataset,
    year=None,
    boundary=None,
    variable: str = "electricity",
    inputs=None,
    bootstrap: int = 100,
    seed: int = 0,
    *,
    measures=None,
    by_region: bool = False,
    ci: float = 0.95,
) -> xr.Dataset:
    """Sensitivity of the per-scenario totals of ``variable`` to the inputs of a full cube.

    Parameters
    ----------
    ds : xarray.Dataset
        A full cube (``dcproj_kind = "full"``); a ``weight`` variable (dim scenario) weights
        every measure (weighted ranks, correlations and bin means; Kish's effective size).
    year, boundary : int or str, or a list of them, optional
        Years and boundaries (``incl_crypto``, ``dc_only``); default all.
        ``installed_accelerators`` has no boundary (and no boundary dim in the result).
    variable : str
        ``electricity`` [TWh], ``carbon`` [Mt CO2], ``water`` [GL] or ``installed_accelerators`` [M units].
    inputs : list of str, optional
        Input names or families (``accelerator_share``); default all.  Zero-variance
        (fixed) inputs are left out and listed in the ``skipped_inputs`` attribute.
    bootstrap, seed : int
        Bootstrap replicates (scenarios resampled with replacement) and their seed.
    measures : list of str, optional
        From :data:`MEASURES` (``first_order``, ``delta``, ``spearman``, ``prcc``); default all.
    by_region : bool
        Also break the totals down by region (a ``region`` dim).
    ci : float
        Level of the bootstrap intervals.

    Returns
    -------
    xarray.Dataset
        For each measure M: ``M`` and its interval ``M_low``, ``M_high`` (dimensionless), dims
        input × year × boundary (× region); coordinates ``input_units`` and ``input_long_name``.
    """
    if "storyline" in ds.dims:
        require_full(ds, "sensitivity")
    ds = kept_sample_view(ds)  # a summary file: its kept scenarios
    require_full(ds, "sensitivity")
    years, boundaries = _years(ds, year), _boundaries(variable, boundary)
    xm = input_matrix(ds, inputs)
    y = _outputs(ds, variable, years, boundaries, by_region)
    weights = scenario_weights(ds)
    names = list(MEASURES) if measures is None else [measures] if isinstance(measures, str) else list(measures)
    est = indices(
        xm.values, y.values.reshape(y.shape[0], -1), weights=weights, measures=names, bootstrap=bootstrap, seed=seed, ci=ci
    )
    n_eff = float(ds.sizes["scenario"] if weights is None else weights.sum() ** 2 / (weights**2).sum())
    coords = {d: y.coords[d].values for d in y.dims[1:]}
    coords |= {"input": xm.names, "input_units": ("input", xm.units), "input_long_name": ("input", xm.long_names)}
    dims = ("input", *y.dims[1:])
    shape = (len(xm.names), *y.shape[1:])
    how = "weighted by the cube's weight variable" if weights is not None else "unweighted"
    out = xr.Dataset(coords=coords)
    for m in names:
        spec = MEASURES[m]
        value, low, high = (a.reshape(shape) for a in est[m])
        base = {"units": "1", "long_name": f"{spec.long_name} of {variable}", "method": spec.method, "weighting": how}
        out[m] = (dims, value, base | {"ancillary_variables": f"{m}_low {m}_high"})
        for end, arr in (("low", low), ("high", high)):
            out[f"{m}_{end}"] = (dims, arr, {"units": "1", "long_name": f"{end} end of the {ci:.0%} bootstrap interval of {m}"})
    out.attrs = _attrs(ds, variable, xm, est, names, bootstrap, seed, ci, weights is not None, n_eff)
    return out


def _attrs(ds, variable, xm, est, names, bootstrap, seed, ci, weighted, n_eff) -> dict:
    notes = []
    if xm.skipped:
        notes.append(f"left out, zero variance (fixed inputs): {', '.join(xm.skipped)}")
    if "prcc" in names:
        undefined = [
            n for n, row in zip(xm.names, est["prcc"].value.reshape(len(xm.names), -1), strict=True) if np.isnan(row).all()
        ]
        if undefined:
            notes.append(f"prcc undefined (collinear ranks): {', '.join(undefined)}")
    if "delta" in names:
        notes.append(
            "delta of an input without influence is biased upwards, ~0.01-0.03 at 2e3-2e4 scenarios, even after the "
            "bootstrap correction; strong inputs are biased downwards by about as much"
        )
    if bootstrap < 2:
        notes.append("no intervals (bootstrap < 2); delta is not bias-corrected")
    units = VARIABLES[variable].units_label
    return {
        "title": f"dcproj given-data sensitivity of {variable} [{units}]",
        "dcproj_kind": "sensitivity",
        "variable": variable,
        "variable_units": units,
        "measures": " ".join(names),
        "scenarios": int(ds.sizes["scenario"]),
        "effective_scenarios": n_eff,
        "weighted": "yes: every measure weighted by the cube's weight variable" if weighted else "no",
        "bootstrap": int(bootstrap),
        "bootstrap_seed": int(seed),
        "ci_level": float(ci),
        "first_order_bins": first_order_bins(n_eff),
        "delta_classes": delta_classes(n_eff),
        "inputs_note": "regional weights (accelerator_share, conventional_share_2022, crypto_share) as normalised per scenario",
        "skipped_inputs": ", ".join(xm.skipped),
        "notes": "; ".join(notes),
        "source_config_sha256": str(ds.attrs.get("config_sha256", "")),
        "source_seed": str(ds.attrs.get("seed", "")),
        "source_dcproj_version": str(ds.attrs.get("dcproj_version", "")),
    }


def ranked_table(
    sens: xr.Dataset, year: int, boundary: str | None = None, measure: str = "first_order", region: str | None = None
) -> pd.DataFrame:
    """One year (and boundary, region) of ``sens`` ranked by |value|: columns input, value, low, high.

    ``boundary`` may be left out when the result has a single boundary (or none, for
    ``installed_accelerators``).  Inputs whose value is NaN come last.
    """
    if measure not in sens:
        have = [m for m in MEASURES if m in sens]
        raise AnalysisError(f"the sensitivity result has no measure {measure!r}; it has {have}")
    sel = {"year": year}
    if "boundary" in sens.dims:
        have = [str(b) for b in sens["boundary"].values]
        if boundary is None and len(have) == 1:
            boundary = have[0]
        if boundary not in have:
            raise AnalysisError(f"boundary {boundary!r} is not in the sensitivity result; expected one of {have}")
        sel["boundary"] = boundary
    if "region" in sens.dims:
        if region not in [str(r) for r in sens["region"].values]:
            raise AnalysisError(f"region {region!r} is not in the sensitivity result; expected one of {list(sens.region.values)}")
        sel["region"] = region
    if int(year) not in [int(y) for y in sens["year"].values]:
        raise AnalysisError(f"year {year} is not in the sensitivity result; expected one of {list(sens.year.values)}")
    frame = pd.DataFrame(
        {
            "input": [str(n) for n in sens["input"].values],
            "value": sens[measure].sel(sel).values,
            "low": sens[f"{measure}_low"].sel(sel).values,
            "high": sens[f"{measure}_high"].sel(sel).values,
        }
    )
    key = frame["value"].abs().fillna(-1.0)
    return frame.loc[key.sort_values(ascending=False, kind="stable").index].reset_index(drop=True)
