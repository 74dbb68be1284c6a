"""The analysts' questions of a run file, full cube or summary alike: quantiles of a total per
year (with their Monte Carlo error), means, and exceedance probabilities with their error.

Full cubes are reduced exactly from the scenarios, weighted when the file has a ``weight``
variable (:mod:`.weighted`); summary files (``dcproj_kind = "summary"``) are read: their stored
quantile levels (linearly interpolated between stored levels when a level asked for is not
stored), their means and their stored exceedance probabilities.  Builds on :mod:`.results`;
never imports the execution layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from engine.analysis.results import _check, _summary_stats, is_summary, kept_sample_view, summary_group, total
from engine.analysis.results import exceedance as _stored_exceedance
from engine.analysis.weighted import WEIGHT, binomial_se, dataset_weights, kish_ess, mean_over, probability_over, quantile_over
from engine.errors import AnalysisError
from engine.output.variables import VARIABLES
from engine.stats.quantiles import Z95  # the standard normal's 97.5 % point
from engine.stats.spec import ThresholdSpec

STORYLINE_DIM = "storyline"  # the dim of a storylines file (engine.analysis.storylines.DIM)

__all__ = [
    "Exceedance",
    "weights",
    "n_effective",
    "is_weighted",
    "check_years",
    "total_quantiles",
    "total_mean",
    "total_mean_standard_error",
    "quantile_standard_error",
    "exceedance",
]

LEVEL_TOL = 1e-9  # two quantile levels closer than this are the same level


@dataclass(frozen=True)
class Exceedance:
    """P(total > value) with its Monte Carlo standard error.

    Attributes
    ----------
    event : str
        What was asked, e.g. ``P(electricity dc_only 2030 > 1000 TWh)``.
    probability : float
        The (weighted) fraction of scenarios above the value [1].
    standard_error : float
        Binomial Monte Carlo error ``sqrt(p (1 - p) / n_eff)`` [1].
    n_effective : float
        Scenario count, or Kish's effective sample size of the weights [scenarios].
    stored : bool
        True when read from a summary file's stored probabilities.
    """

    event: str
    probability: float
    standard_error: float
    n_effective: float
    stored: bool = False

    def __float__(self) -> float:
        return self.probability

    def __str__(self) -> str:
        return f"{self.event} = {self.probability:.4f} ± {self.standard_error:.4f} (n_eff = {self.n_effective:,.0f})"


def weights(ds: xr.Dataset) -> xr.DataArray | None:
    """The importance weights of a full cube (``weight``, dim ``scenario``), or ``None``."""
    return None if is_summary(ds) else dataset_weights(ds)


def is_weighted(ds: xr.Dataset) -> bool:
    """Whether the file's statistics are weighted: a cube (or kept sample) with a ``weight``
    variable, or a summary file streamed with weights (its ``weighted`` attribute)."""
    if is_summary(ds):
        return "weighted" in ds.attrs
    return WEIGHT in ds.variables


def n_effective(ds: xr.Dataset) -> float:
    """Kish's effective sample size of the weights, else the scenario count [scenarios]."""
    if STORYLINE_DIM in ds.dims:
        raise AnalysisError(f"a storylines file has one effective sample size per storyline: select one (ds.sel(storyline=NAME)); "
                            f"it holds {list(map(str, ds[STORYLINE_DIM].values))}")  # fmt: skip
    if is_summary(ds):  # Kish's ESS of a weighted summary (the count when unweighted)
        return float(ds["effective_sample_size"].values) if "effective_sample_size" in ds else float(ds["count"].values)
    w = weights(ds)
    return float(ds.sizes["scenario"]) if w is None else kish_ess(w.values)


def check_years(ds: xr.Dataset, years) -> list[int] | None:
    """``years`` as a list of ints, each checked to be in the file (``None`` passes through)."""
    if years is None:
        return None
    have = [int(y) for y in ds["year"].values]
    wanted = [int(y) for y in np.atleast_1d(years)]
    for y in wanted:
        if y not in have:
            raise AnalysisError(f"year {y} is not in the file; it covers {have[0]}..{have[-1]}")
    return wanted


def _check_region(ds: xr.Dataset, region: str | None) -> None:
    if region is None:
        return
    have = [str(r) for r in ds["region"].values]
    if region not in have:
        raise AnalysisError(f"region {region!r} is not in the file; it has {have} (None for the global total)")


def _levels(q) -> list[float]:
    levels = [float(p) for p in np.atleast_1d(q)]
    if not levels or any(not 0.0 <= p <= 1.0 for p in levels):
        raise AnalysisError(f"quantile levels must lie in [0, 1]; got {levels}")
    return levels


def _stored_levels(qda: xr.DataArray, levels: list[float], interpolate: bool) -> xr.DataArray:
    """The stored quantiles at ``levels``: exact where stored, else linearly interpolated between stored levels."""
    have = np.asarray(qda["quantile"].values, dtype=np.float64)
    exact = [have[np.abs(have - p) < LEVEL_TOL] for p in levels]
    if all(len(e) for e in exact):
        return qda.sel(quantile=[float(e[0]) for e in exact]).assign_coords(quantile=levels)
    missing = [p for p, e in zip(levels, exact, strict=True) if not len(e)]
    outside = [p for p in missing if not have.min() - LEVEL_TOL <= p <= have.max() + LEVEL_TOL]
    if not interpolate or outside:
        why = f"{outside} lie outside them" if outside and interpolate else f"{missing} are not stored"
        raise AnalysisError(f"the summary file stores quantiles at levels {have.tolist()}; {why}")
    out = qda.interp(quantile=levels)
    out.attrs = dict(qda.attrs, quantile_note=f"levels {missing} interpolated linearly between the stored levels {have.tolist()}")
    return out


def _summary_group(ds, variable, boundary, by, region):
    """(quantiles, mean) of a summary file's group for the total asked for."""
    if region is not None and by is not None:
        raise AnalysisError("a summary file holds no per-region breakdown by component; ask for region or by, not both")
    q, mean = _summary_stats(ds, variable, boundary, "region" if region is not None else by)
    if region is not None:
        q, mean = q.sel(region=region, drop=True), mean.sel(region=region, drop=True)
    return q, mean


def _cube_total(ds, variable, boundary, by, region) -> xr.DataArray:
    if region is None:
        return total(ds, variable, boundary, by)
    if by is None:
        return total(ds, variable, boundary, "region").sel(region=region, drop=True)
    return total(ds[[variable]].sel(region=[region]), variable, boundary, by)


def total_quantiles(
    ds: xr.Dataset,
    q: Sequence[float] = (0.05, 0.5, 0.95),
    variable: str = "electricity",
    boundary: str = "dc_only",
    by: str | None = None,
    region: str | None = None,
    years=None,
    interpolate: bool = True,
) -> xr.DataArray:
    """Quantiles over scenarios of the total of ``variable`` within ``boundary``, per year.

    Parameters
    ----------
    ds
        A full cube (weighted by its ``weight`` variable if it has one) or a summary file.
    q
        Probability levels in [0, 1].
    variable, boundary
        What to total: ``electricity`` [TWh], ``carbon`` [Mt CO2], ``water`` [GL], over the
        components of ``dc_only`` or ``incl_crypto``.
    by
        Keep ``"region"`` or ``"component"`` (quantiles of each part, not additive).
    region
        Only this region (``None``: the global total).
    years
        Only these years (each must be in the file).
    interpolate
        Summary files: interpolate linearly between stored levels when a level is not stored
        (else an error naming the stored levels).

    Returns
    -------
    xarray.DataArray
        Dims ``quantile``, ``year`` (and ``by``) [the variable's units; ``units_label`` attribute].
    """
    _check(variable, boundary, by)
    _check_region(ds, region)
    levels, wanted = _levels(q), check_years(ds, years)
    if is_summary(ds):
        out = _stored_levels(_summary_group(ds, variable, boundary, by, region)[0], levels, interpolate)
    else:
        out = quantile_over(_cube_total(ds, variable, boundary, by, region), weights(ds), levels)
    out = out.transpose("quantile", "year", ...)
    out.attrs.update(_attrs(variable, boundary, region))
    return out if wanted is None else out.sel(year=wanted)


def total_mean(ds, variable="electricity", boundary="dc_only", by=None, region=None) -> xr.DataArray:
    """(Weighted) mean over scenarios of the total, per year (and ``by``) [the variable's units]."""
    _check(variable, boundary, by)
    _check_region(ds, region)
    if is_summary(ds):
        out = _summary_group(ds, variable, boundary, by, region)[1]
    else:
        out = mean_over(_cube_total(ds, variable, boundary, by, region), weights(ds))
    out.attrs.update(_attrs(variable, boundary, region))
    return out


def total_mean_standard_error(ds, variable="electricity", boundary="dc_only", by=None, region=None) -> xr.DataArray:
    """Monte Carlo standard error of :func:`total_mean`: ``sqrt(variance / n_eff)`` [the variable's units].

    The (weighted) variance over scenarios is the stored ``*_variance`` of a summary file or is
    computed from a cube; with weights, Kish's ``n_eff`` stands in for the scenario count (the
    usual approximation for a self-normalised importance-sampling mean).
    """
    _check(variable, boundary, by)
    _check_region(ds, region)
    if is_summary(ds):
        var = _summary_statistic(ds, "variance", variable, boundary, by, region)
    else:
        x, w = _cube_total(ds, variable, boundary, by, region).astype(np.float64), weights(ds)
        if w is None:
            var = x.var("scenario", ddof=1)
        else:  # reliability weights: the unbiased variance, as summary files store it
            ess = n_effective(ds)
            var = mean_over((x - mean_over(x, w)) ** 2, w) * ess / (ess - 1.0)
    out = np.sqrt(var / n_effective(ds))
    out.attrs.update(_attrs(variable, boundary, region), long_name="Monte Carlo standard error of the mean")
    return out.rename("standard_error")


def _attrs(variable, boundary, region) -> dict:
    spec = VARIABLES[variable]
    where = "global" if region is None else region
    return {"units": spec.units, "units_label": spec.units_label, "long_name": f"{spec.long_name}, {boundary}, {where}"}


def quantile_standard_error(
    ds, q=(0.05, 0.5, 0.95), variable="electricity", boundary="dc_only", region=None, years=None, by=None
) -> xr.DataArray:
    """Monte Carlo standard error of the quantiles of :func:`total_quantiles` [the variable's units].

    Full cube: half the width of the distribution-free 95 % interval of the ``p`` quantile, the
    quantiles at levels ``p ± 1.96 sqrt(p (1 - p) / n_eff)``, divided by 1.96.  Summary file: the
    same rule, computed from the histograms when the run finished and stored beside the quantiles
    (``*_quantile_standard_error``), for a stored level; another level (or a file written before
    those variables existed) gets the slope of the stored quantile function between the
    neighbouring stored levels times ``sqrt(p (1 - p) / n_eff)``.  The histogram's own error
    (<= 0.2 % relative) is not included.  ``by``: per region or component, as in
    :func:`total_quantiles`.
    """
    levels, n = _levels(q), n_effective(ds)
    where = dict(by=by, region=region, years=years)
    stored = _stored_standard_errors(ds, variable, boundary, by, region)
    if stored is not None and np.isin(levels, stored["quantile"].values).all():
        se = stored.sel(quantile=list(levels))
        se = se if years is None else se.sel(year=check_years(ds, years))
    elif not is_summary(ds):
        s = np.sqrt(np.multiply(levels, np.subtract(1.0, levels)) / n)
        lo = total_quantiles(ds, np.clip(np.subtract(levels, Z95 * s), 0, 1), variable, boundary, **where)
        hi = total_quantiles(ds, np.clip(np.add(levels, Z95 * s), 0, 1), variable, boundary, **where)
        se = (hi - lo.values) / (2 * Z95)
    else:
        stored = total_quantiles(ds, ds["quantile"].values, variable, boundary, **where)
        have = stored["quantile"].values
        rows = []
        for p in levels:
            i = int(np.clip(np.searchsorted(have, p), 1, len(have) - 1))
            slope = (stored.isel(quantile=i) - stored.isel(quantile=i - 1)) / (have[i] - have[i - 1])
            rows.append(slope * np.sqrt(p * (1 - p) / n))
        se = xr.concat(rows, dim="quantile")
    se = se.assign_coords(quantile=levels).transpose("quantile", "year", ...)
    se.attrs.update(_attrs(variable, boundary, region), long_name="Monte Carlo standard error of the quantile")
    return se.rename("standard_error")


def _stored_standard_errors(ds, variable, boundary, by, region) -> xr.DataArray | None:
    """A summary file's stored quantile errors of the total asked for (``None``: a cube, or an older file)."""
    if not is_summary(ds):
        return None
    return _summary_statistic(ds, "quantile_standard_error", variable, boundary, by, region, missing_ok=True)


def _summary_statistic(ds, stat, variable, boundary, by, region, missing_ok=False) -> xr.DataArray | None:
    """A summary file's stored ``stat`` (``variance``, ``quantile_standard_error``...) of the total
    asked for, per ``by`` or of one ``region``; ``None`` if the file lacks it and ``missing_ok``."""
    if region is not None and by is not None:
        raise AnalysisError("a summary file holds no per-region breakdown by component; ask for region or by, not both")
    group, sel = summary_group(variable, boundary, "region" if region is not None else by)
    name = f"{group}_{stat}"
    if missing_ok and name not in ds:
        return None
    out = ds[name].sel(sel)
    return out if region is None else out.sel(region=region, drop=True)


def _is_stored(ds: xr.Dataset, spec: ThresholdSpec) -> bool:
    """Whether a summary file stored the exceedance probability of ``spec``."""
    if ds.sizes.get("threshold", 0) == 0:
        return False
    keys = zip(ds.threshold_variable.values, ds.threshold_boundary.values, ds.threshold_year.values, ds.threshold_value.values, strict=True)
    return any((str(v), str(b), int(y), float(x)) == (spec.variable, spec.boundary, spec.year, spec.value) for v, b, y, x in keys)


def exceedance(
    ds: xr.Dataset, value: float, year: int = 2030, boundary: str = "dc_only", variable: str = "electricity"
) -> Exceedance:
    """P(total ``variable`` of ``boundary`` in ``year`` > ``value``) with its Monte Carlo error.

    Full cube: the exact (weighted) fraction of scenarios above ``value``; standard error
    ``sqrt(p (1 - p) / n_eff)`` with Kish's effective sample size.  Summary file: the probability
    stored for that threshold, error with ``n`` = its scenario count; a threshold it did not store
    is estimated from its kept scenarios (``n`` = their count), or is an error naming the stored ones.

    Parameters
    ----------
    value
        The threshold [the variable's units: TWh, Mt CO2, GL].
    year
        A year in the file.
    """
    _check(variable, boundary, None)
    check_years(ds, [year])
    spec = ThresholdSpec(variable, boundary, int(year), float(value))
    label = spec.label(VARIABLES[variable].units_label)
    if is_summary(ds):
        if not _is_stored(ds, spec) and "sample_inputs" in ds:  # not stored: estimate it from the kept scenarios
            kept = kept_sample_view(ds)
            p, n = probability_over(total(kept, variable, boundary).sel(year=int(year)) > float(value), weights(kept))
            return Exceedance(f"{label} [from the {kept.sizes['scenario']:,} kept scenarios]", float(p), float(binomial_se(float(p), n)), n)
        p = float(_stored_exceedance(ds, [spec])["probability"].iloc[0])
        n = n_effective(ds)
        return Exceedance(label, p, float(binomial_se(p, n)), n, stored=True)
    tot = total(ds, variable, boundary).sel(year=int(year))
    p, n = probability_over(tot > float(value), weights(ds))
    return Exceedance(label, float(p), float(binomial_se(float(p), n)), n)
