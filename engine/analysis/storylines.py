"""Reading a storylines file (a ``storyline`` dim, :mod:`engine.execution.storylines`): the storylines
side by side, full cubes and summary files alike.

* :func:`has_storylines`, :func:`names`, :func:`select` (one storyline as a plain run file);
* :func:`compare`: median, 5 % and 95 % quantiles and the mean of a total per year (and group)
  for every storyline, as one table (``dcproj summary``, the report);
* :func:`described`: each storyline's description, sources and overrides;
* :func:`evidence`: how well each storyline explains the observations (its mean weight, the
  likelihood of the observations under its assumptions) and, with prior odds, the posterior
  probability of each storyline: the storylines read as competing regimes;
* :func:`mixture_quantiles`: the quantiles of the storylines pooled in proportion to those
  probabilities (Bayesian model averaging over the regimes).

Each storyline is read through :mod:`.results` and :mod:`.answers` on its own selection, so every
statistic is exactly the one of a plain run.  Never imports the execution layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from engine.analysis.results import summarise
from engine.errors import AnalysisError

__all__ = ["DIM", "LEVELS", "has_storylines", "names", "select", "compare", "described", "evidence", "mixture_quantiles"]

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


def _weight_sums(ds: xr.Dataset, name: str) -> tuple[float, float, int]:
    """``(Σw, Σw², n)`` of one storyline's weights, from a cube's ``weight`` or a summary's sums."""
    one = select(ds, name)
    if "weight" in one and "scenario" in one["weight"].dims:
        w = one["weight"].values.astype(np.float64)
        return float(w.sum()), float((w * w).sum()), int(w.size)
    if "weight_sum" in one:
        return float(one["weight_sum"].values), float(one["weight_sum_of_squares"].values), int(one["count"].values)
    if "effective_sample_size" in one and "exceedance_weight" in one:
        raise AnalysisError("the file predates the stored weight sums (weight_sum): run it again to compare the storylines' evidence")
    raise AnalysisError("the file is not weighted (run with observations in the config, without --prior): there is no evidence to compare")


def evidence(ds: xr.Dataset, prior: dict[str, float] | None = None) -> pd.DataFrame:
    """Each storyline's evidence from the observations, and its posterior probability.

    A storyline's weights are ``w = exp(Σ -z²/2)`` over the observations (:mod:`engine.conditioning`),
    so its mean weight ``m = Σw / n`` estimates the likelihood of the observations under its
    assumptions, up to the observations' normalising constants, which every storyline shares
    (the same observations): ratios of ``m`` are Bayes factors.  With prior probabilities
    ``π`` (equal unless given) the posterior probability of storyline ``i`` is
    ``π_i m_i / Σ_j π_j m_j``.

    Monte Carlo errors: ``se(m) = sqrt((Σw²/n − m²) / (n − 1))``; the posterior probability's by the
    delta method, treating the storylines' estimates as independent.  They share their random
    numbers (the same seed), which correlates the estimates; the error of a ratio is then
    usually smaller than stated.

    Parameters
    ----------
    ds
        A weighted storylines file (full cube or summary).
    prior
        Prior probability of each storyline (normalised here); default equal.

    Returns
    -------
    pandas.DataFrame
        Index storyline; columns ``mean_weight``, ``mean_weight_se``, ``bayes_factor`` (against
        the first storyline), ``prior``, ``posterior``, ``posterior_se`` (all dimensionless).
    """
    have = names(ds)
    sums = {n: _weight_sums(ds, n) for n in have}
    m = np.array([s1 / n for s1, _, n in sums.values()])
    var = np.array([max(s2 / n - (s1 / n) ** 2, 0.0) / max(n - 1, 1) for s1, s2, n in sums.values()])
    if not np.all(m > 0):
        zero = [n for n, v in zip(have, m, strict=True) if not v > 0]
        raise AnalysisError(f"storylines {zero} give every scenario weight 0: the observations rule them out at this sample size")
    pri = np.ones(len(have)) if prior is None else np.array([float(prior.get(n, np.nan)) for n in have])
    if not (np.all(np.isfinite(pri)) and np.all(pri >= 0) and pri.sum() > 0):
        raise AnalysisError(f"prior probabilities {prior}: expected a non-negative number for each of {have}")
    pri = pri / pri.sum()
    a = pri * m
    total = a.sum()
    post = a / total
    grad_own = pri * (total - a) / total**2  # ∂post_i/∂m_i
    post_var = np.empty(len(have))
    for i in range(len(have)):
        others = (a[i] / total**2 * pri) ** 2 * var  # (∂post_i/∂m_j)² var_j
        post_var[i] = grad_own[i] ** 2 * var[i] + others.sum() - others[i]
    return pd.DataFrame(
        {"mean_weight": m, "mean_weight_se": np.sqrt(var), "bayes_factor": m / m[0], "prior": pri,
         "posterior": post, "posterior_se": np.sqrt(post_var)},  # fmt: skip
        index=pd.Index(have, name=DIM),
    )


def mixture_quantiles(
    ds: xr.Dataset, q=(0.05, 0.5, 0.95), variable: str = "electricity", boundary: str = "dc_only", prior: dict[str, float] | None = None
) -> pd.DataFrame:
    """Quantiles of the storylines pooled by their posterior probabilities (model averaging).

    The pooled distribution is ``Σ_i P(i | obs) p(x | obs, i)``: each storyline's weighted
    scenarios, their weights normalised within the storyline and scaled by its posterior
    probability from :func:`evidence` (from all of a summary's scenarios).  The scenarios are a
    full cube's, or a summary file's kept sample (then the quantiles rest on the kept scenarios
    only: their errors are larger).

    Returns
    -------
    pandas.DataFrame
        Index year; columns ``p<level>`` [the variable's units], ``se_p<level>`` (the order-statistics
        Monte Carlo error on the pooled weights' Kish n_eff) and ``n_eff``.
    """
    from engine.analysis.results import kept_sample_view, total
    from engine.analysis.weighted import kish_ess, weighted_quantile
    from engine.stats.quantiles import Z95

    levels = np.asarray(q, dtype=np.float64)
    post = evidence(ds, prior)["posterior"]
    view = kept_sample_view(ds)
    if "weight" not in view:
        raise AnalysisError("the file's scenarios carry no weights (a prior run): there is nothing to pool by")
    values, weights = [], []
    for n in names(ds):
        one = view.sel({DIM: n})
        w = one["weight"].values.astype(np.float64)
        values.append(total(one, variable, boundary).transpose("year", "scenario").values)
        weights.append(post[n] * w / w.sum())
    x, w = np.concatenate(values, axis=1), np.concatenate(weights)
    n_eff = kish_ess(w)
    half = Z95 * np.sqrt(levels * (1 - levels) / n_eff)
    mid = weighted_quantile(x, w, levels)
    lo = weighted_quantile(x, w, np.clip(levels - half, 0, 1))
    hi = weighted_quantile(x, w, np.clip(levels + half, 0, 1))
    cols = {}
    for i, p in enumerate(levels):
        cols[f"p{100 * p:g}"] = mid[i]
        cols[f"se_p{100 * p:g}"] = (hi[i] - lo[i]) / (2 * Z95)
    out = pd.DataFrame(cols, index=pd.Index(view["year"].values, name="year"))
    out["n_eff"] = n_eff
    return out
