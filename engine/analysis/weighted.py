"""Weighted statistics over scenarios: quantiles, means, exceedance and the effective sample size.

A run file may carry importance weights (a ``weight`` variable over ``scenario``, e.g. from
conditioning on observations); every statistic of :mod:`engine.analysis` then weights the
scenarios by it.  Without one the scenarios count equally.

Definitions (``w_i >= 0`` the weights, ``W = sum(w_i)``):

* quantile at level ``p``: the smallest value ``x`` with ``sum(w_i for x_i <= x) >= p W``
  (sort + cumulative weights; numpy's ``method="inverted_cdf"`` when the weights are equal, and
  the ``inverted_cdf`` quantile of the sample replicated ``w_i`` times when they are integers);
* Kish's effective sample size ``n_eff = W**2 / sum(w_i**2)`` (``n`` for equal weights);
* Monte Carlo standard error of a probability ``p``: ``sqrt(p (1 - p) / n_eff)`` (binomial).

Pure NumPy / xarray: imports :mod:`engine.errors` only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from engine.errors import AnalysisError

__all__ = [
    "WEIGHT",
    "check_weights",
    "dataset_weights",
    "kish_ess",
    "binomial_se",
    "weighted_quantile",
    "quantile_over",
    "mean_over",
    "probability_over",
    "systematic_resample",
]

WEIGHT = "weight"  # the name of the importance-weight variable in a run file (dim ``scenario``)


def check_weights(weights) -> np.ndarray:
    """``weights`` as float64, checked: finite, non-negative, not all zero.

    Raises
    ------
    AnalysisError
        If a weight is negative, NaN or infinite, or all are zero.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1:
        raise AnalysisError(f"weights must be one value per scenario; got an array of shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise AnalysisError(f"{int(np.sum(~np.isfinite(w)))} weights are NaN or infinite")
    if np.any(w < 0):
        raise AnalysisError(f"{int(np.sum(w < 0))} weights are negative; importance weights must be >= 0")
    if not np.any(w > 0):
        raise AnalysisError("all weights are zero: no scenario carries any probability")
    return w


def dataset_weights(ds: xr.Dataset) -> xr.DataArray | None:
    """The ``weight`` variable of ``ds`` (float64, dim ``scenario``), checked; ``None`` if it has none."""
    if WEIGHT not in ds.variables:
        return None
    w = ds[WEIGHT]
    if w.dims != ("scenario",):
        raise AnalysisError(f"the {WEIGHT!r} variable must have the single dimension 'scenario'; it has {w.dims}")
    return xr.DataArray(check_weights(w.values), dims=w.dims, coords=w.coords, attrs=w.attrs)


def kish_ess(weights) -> float:
    """Kish's effective sample size ``(sum w)**2 / sum(w**2)`` [scenarios]."""
    w = check_weights(weights)
    return float(w.sum() ** 2 / np.sum(w * w))


def binomial_se(p, n_eff):
    """Monte Carlo standard error ``sqrt(p (1 - p) / n_eff)`` of an estimated probability ``p`` [1]."""
    p = np.asarray(p, dtype=np.float64)
    return np.sqrt(p * (1.0 - p) / n_eff)


def weighted_quantile(values, weights, q: Sequence[float]) -> np.ndarray:
    """Weighted quantiles along the last axis (sort + cumulative weights).

    Parameters
    ----------
    values : array_like, shape (..., n)
        The sample [any units]; the last axis is the scenarios.
    weights : array_like, shape (n,)
        Non-negative weights, one per scenario (any scale).
    q : sequence of float
        Probability levels in [0, 1].

    Returns
    -------
    numpy.ndarray, shape (len(q), ...)
        For each level ``p`` the smallest sample value whose cumulative weight reaches ``p W``
        (within the rounding of the cumulative sum, a relative 1e-12 + 4 n eps) [the units of
        ``values``].  Scenarios of zero weight are ignored.
    """
    levels = np.asarray(q, dtype=np.float64).ravel()
    if np.any((levels < 0) | (levels > 1)) or not np.all(np.isfinite(levels)):
        raise AnalysisError(f"quantile levels must lie in [0, 1]; got {levels.tolist()}")
    x = np.asarray(values, dtype=np.float64)
    w = check_weights(weights)
    if x.shape[-1] != w.shape[0]:
        raise AnalysisError(f"{x.shape[-1]} values but {w.shape[0]} weights")
    keep = w > 0
    x, w = x[..., keep], w[keep]
    order = np.argsort(x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    cw = np.cumsum(w[order], axis=-1)
    # reaching p W within the rounding of the cumulative sum: equal weights of any scale give the same answer
    reach = cw[..., -1:] * (1.0 - (1e-12 + 4 * w.size * np.finfo(np.float64).eps))
    out = np.empty((levels.size,) + x.shape[:-1])
    for i, p in enumerate(levels):
        idx = np.argmax(cw >= p * reach, axis=-1)  # the first index whose cumulative weight reaches p W
        out[i] = np.take_along_axis(xs, idx[..., None], axis=-1)[..., 0]
    return out


def quantile_over(da: xr.DataArray, weights: xr.DataArray | None, q: Sequence[float], dim: str = "scenario") -> xr.DataArray:
    """Quantiles of ``da`` over ``dim``: weighted (:func:`weighted_quantile`) or, without weights,
    xarray's default (linear interpolation, as :func:`engine.analysis.results.summarise`).

    Returns a DataArray with a leading ``quantile`` dimension and ``da``'s other dims.
    """
    levels = [float(p) for p in np.atleast_1d(q)]
    if weights is None:
        out = da.quantile(levels, dim=dim)
    else:
        out = xr.apply_ufunc(
            lambda x, w: np.moveaxis(weighted_quantile(x, w, levels), 0, -1),
            da.astype(np.float64).load(),
            weights,
            input_core_dims=[[dim], [dim]],
            output_core_dims=[["quantile"]],
        ).assign_coords(quantile=levels)
    out = out.transpose("quantile", ...)
    out.attrs = dict(da.attrs)
    return out


def mean_over(da: xr.DataArray, weights: xr.DataArray | None, dim: str = "scenario") -> xr.DataArray:
    """(Weighted) mean of ``da`` over ``dim`` [the units of ``da``], in float64."""
    x = da.astype(np.float64)
    out = x.mean(dim) if weights is None else x.weighted(weights).mean(dim)
    out.attrs = dict(da.attrs)
    return out


def probability_over(event: xr.DataArray, weights: xr.DataArray | None, dim: str = "scenario") -> tuple[xr.DataArray, float]:
    """(Weighted) probability of a boolean ``event`` over ``dim`` and the effective sample size used.

    Returns
    -------
    (probability [1], n_eff [scenarios])
        ``n_eff`` is the scenario count without weights, Kish's effective sample size with them.
    """
    if weights is None:
        return event.mean(dim, dtype=np.float64), float(event.sizes[dim])
    p = (event * weights).sum(dim) / weights.sum(dim)
    return p, kish_ess(weights.values)


def systematic_resample(weights, n: int | None = None) -> np.ndarray:
    """Indices of ``n`` draws (default: as many as weights) in proportion to ``weights``, systematic.

    Draw ``i`` takes the scenario whose cumulative normalised weight first reaches
    ``(i + 1/2) / n`` (systematic resampling, Kitagawa 1996, with the offset fixed at 1/2):
    each scenario appears ``floor`` or ``ceil`` of ``n w_i / Σw`` times, with no random numbers,
    so the result is reproducible.  Used to give unweighted methods (PRIM) an equally weighted
    sample of the weighted distribution (sampling-importance-resampling).
    """
    w = check_weights(weights)
    n = w.size if n is None else int(n)
    cdf = np.cumsum(w, dtype=np.float64)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, (np.arange(n) + 0.5) / n, side="left"), w.size - 1)
