"""Pick-freeze (Saltelli) Sobol' indices of a config with independent inputs, through dcproj's own kernels.

For a config without ``correlations``, :func:`sobol_indices` builds SALib's Saltelli design
(:func:`SALib.sample.sobol.sample`, a scrambled Sobol' sequence on the unit hypercube over the
config's non-fixed inputs, ``n (D + 2)`` rows for ``D`` inputs), maps every column through its
input's inverse CDF (:func:`engine.reference.ppf.ppf_numpy_by_code`, the rows the kernels
read), projects all rows with the numba kernels (:meth:`NumbaBackend.project`, parallel over
rows; every year and region at once) and estimates, per year (and region), the first-order
index ``S1 = Var(E[Y|X_i]) / Var(Y)`` and the total index ``ST = E[Var(Y|X_~i)] / Var(Y)``
with SALib's bootstrap confidence intervals (:func:`SALib.analyze.sobol.analyze`).

The Gaussian copula of correlated inputs breaks the pick-freeze estimators (they assume the
columns of the two base matrices are independent), so a config with correlations is refused:
use the given-data measures of :mod:`.sensitivity` on a run instead.  Needs SALib (the
``analysis`` extra); never imports the execution layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES, VARIABLES
from kernels.distributions import DIST_FIXED, N_PARAMS
from kernels.columns import COMPONENTS
from kernels.sampling import COPULA_U_MAX, COPULA_U_MIN

__all__ = ["INDICES", "saltelli", "sobol_indices", "sobol_table"]

INDICES = {"S1": "first-order Sobol' index", "ST": "total Sobol' index"}
BLOCK = 4096  # rows projected at a time (the full outputs of a block: ~45 MB in float64)


def saltelli(
    names: Sequence[str],
    ppf: Callable[[np.ndarray], np.ndarray],
    evaluate: Callable[[np.ndarray], np.ndarray],
    n: int,
    seed: int = 0,
    *,
    conf_level: float = 0.95,
    num_resamples: int = 100,
) -> dict[str, np.ndarray]:
    """Pick-freeze indices of ``evaluate`` over independent inputs ``names``.

    Parameters
    ----------
    names
        The ``D`` inputs.
    ppf
        Maps unit-hypercube rows ``u [rows, D]`` to input rows (each column through its inverse CDF).
    evaluate
        Maps input rows ``[rows, D']`` to outputs ``[rows, K]`` (K outputs analysed separately).
    n
        Base sample size of the Saltelli design (a power of 2: the Sobol' sequence's balance).
    seed
        Seed of the scrambling and of the bootstrap.
    conf_level, num_resamples
        SALib's bootstrap confidence intervals.

    Returns
    -------
    dict
        ``S1``, ``S1_conf``, ``ST``, ``ST_conf``: arrays ``[D, K]`` (dimensionless; ``_conf`` the
        half-width of the interval), and ``rows``, the number of model evaluations.
    """
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    if n < 2 or n & (n - 1):
        raise AnalysisError(f"n must be a power of 2 (the Sobol' sequence's balance), e.g. 1024; got {n}")
    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    u = np.clip(sample.sample(problem, n, calc_second_order=False, scramble=True, seed=seed), COPULA_U_MIN, COPULA_U_MAX)
    y = np.asarray(evaluate(ppf(u)), dtype=np.float64)
    y = y.reshape(y.shape[0], -1)
    out = {k: np.full((len(names), y.shape[1]), np.nan) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    for k in range(y.shape[1]):
        if np.ptp(y[:, k]) == 0.0:
            continue  # a constant output (e.g. the base year's fixed values): no variance to share
        res = analyze.analyze(
            problem, y[:, k], calc_second_order=False, num_resamples=num_resamples, conf_level=conf_level, seed=seed
        )
        for key in out:
            out[key][:, k] = res[key]
    out["rows"] = np.int64(u.shape[0])
    return out


def _layout(cfg):
    from engine.inputs.layout import build_layout

    if cfg.correlations:
        pairs = ", ".join(f"{c.between[0]}~{c.between[1]}" for c in cfg.correlations)
        raise AnalysisError(
            f"pick-freeze Sobol' indices need independent inputs, and the config correlates {len(cfg.correlations)} pairs "
            f"({pairs}) through a Gaussian copula, which breaks the estimators; use the given-data measures of a run "
            "(dcproj sensitivity RUN.nc), or drop the correlations to study the independent case (--set 'correlations=[]')"
        )
    return build_layout(cfg)


def sobol_indices(
    cfg,
    n: int = 1024,
    seed: int = 0,
    year=None,
    boundary: str = "dc_only",
    variable: str = "electricity",
    *,
    by_region: bool = False,
    conf_level: float = 0.95,
    num_resamples: int = 100,
) -> xr.Dataset:
    """First-order and total Sobol' indices of a config's total, per year (and region), by pick-freeze.

    Parameters
    ----------
    cfg : engine.config.Config
        A validated config without ``correlations`` (else an :class:`~engine.errors.AnalysisError`).
    n : int
        Base sample size (a power of 2); the model runs ``n (D + 2)`` times for ``D`` non-fixed inputs.
    seed : int
        Seed of the design's scrambling and of the bootstrap.
    year : int or list of int, optional
        Years to analyse; default all.
    boundary, variable : str
        The total: ``electricity`` [TWh], ``carbon`` [Mt CO2] or ``water`` [GL] over the
        components of ``dc_only`` or ``incl_crypto`` (``installed_accelerators`` [M units]: no boundary).
    by_region : bool
        Per region (a ``region`` dim) instead of the global total.
    conf_level, num_resamples
        SALib's bootstrap intervals.

    Returns
    -------
    xarray.Dataset
        ``S1``, ``ST`` and their interval half-widths ``S1_conf``, ``ST_conf`` (dimensionless), dims
        input × year (× region); ``input_units``, ``input_long_name`` coordinates.
    """
    from engine.backends import get_backend
    from engine.output.variables import empty_arrays
    from engine.reference.ppf import ppf_numpy_by_code

    if variable not in VARIABLES:
        raise AnalysisError(f"unknown variable {variable!r}; expected one of {sorted(VARIABLES)}")
    if boundary not in BOUNDARIES:
        raise AnalysisError(f"unknown boundary {boundary!r}; expected one of {sorted(BOUNDARIES)}")
    layout = _layout(cfg)
    all_years = list(range(cfg.years.start, cfg.years.end + 1))
    years = all_years if year is None else [int(y) for y in np.atleast_1d(year)]
    bad = [y for y in years if y not in all_years]
    if bad:
        raise AnalysisError(f"year(s) {bad} outside the config's years {all_years[0]}..{all_years[-1]}")
    free = [i for i in range(layout.n_inputs) if layout.kinds[i] != DIST_FIXED]
    base_row = np.array(
        [ppf_numpy_by_code(int(layout.kinds[i]), layout.params[i, :N_PARAMS], 0.5) for i in range(layout.n_inputs)]
    )
    comp = [COMPONENTS.index(c) for c in BOUNDARIES[boundary]]
    ycols = [all_years.index(y) for y in years]

    def ppf(u):
        x = np.tile(base_row, (u.shape[0], 1))
        for j, i in enumerate(free):
            x[:, i] = ppf_numpy_by_code(int(layout.kinds[i]), layout.params[i, :N_PARAMS], u[:, j])
        return x

    backend = get_backend("numba")

    def evaluate(x):
        out = []
        for s in range(0, x.shape[0], BLOCK):
            xs = np.ascontiguousarray(x[s : s + BLOCK])
            arrays = empty_arrays(layout, xs.shape[0], np.float64)
            backend.project(layout, xs, arrays)
            a = arrays[variable][:, ycols]
            if variable == "water":
                a = a.sum(axis=-1)
            if a.ndim == 4:
                a = a[..., comp].sum(axis=-1)
            out.append(a if by_region else a.sum(axis=2))
        return np.concatenate(out)

    res = saltelli([layout.names[i] for i in free], ppf, evaluate, n, seed, conf_level=conf_level, num_resamples=num_resamples)
    dims = ("input", "year", "region") if by_region else ("input", "year")
    shape = (len(free), len(years), layout.n_regions) if by_region else (len(free), len(years))
    coords = {"input": [layout.names[i] for i in free], "year": years}
    coords |= {
        "input_units": ("input", [layout.units[i] for i in free]),
        "input_long_name": ("input", [layout.long_names[i] for i in free]),
    }
    if by_region:
        coords["region"] = list(cfg.regions)
    ds = xr.Dataset(coords=coords)
    for key, long in INDICES.items():
        ds[key] = (dims, res[key].reshape(shape), {"units": "1", "long_name": f"{long} of {variable}, {boundary}"})
        ds[f"{key}_conf"] = (
            dims,
            res[f"{key}_conf"].reshape(shape),
            {"units": "1", "long_name": f"half-width of the {conf_level:.0%} bootstrap interval of {key}"},
        )
    ds.attrs = {
        "title": f"dcproj pick-freeze Sobol' indices of {variable} [{VARIABLES[variable].units_label}], {boundary}",
        "dcproj_kind": "sobol",
        "method": "Saltelli design (SALib.sample.sobol, scrambled Sobol' sequence) through each input's inverse CDF and "
        "dcproj's numba kernels; SALib.analyze.sobol estimators (Saltelli 2010 first order, Jansen total)",
        "base_samples": int(n),
        "model_evaluations": int(res["rows"]),
        "seed": int(seed),
        "conf_level": float(conf_level),
        "num_resamples": int(num_resamples),
        "conditioning": "none: the prior (pick-freeze estimators need every design row to weigh the same, so the "
        "config's observations are not used); compare with the given-data indices of a --prior run, not of the posterior",
        "fixed_inputs": ", ".join(layout.names[i] for i in range(layout.n_inputs) if i not in free),
        "config_name": cfg.name,
        "note": "independent inputs only; regional weights enter as raw draws (the model normalises them per scenario)",
    }
    return ds


def sobol_table(ds: xr.Dataset, year: int, index: str = "ST", region: str | None = None) -> pd.DataFrame:
    """One year (and region) of :func:`sobol_indices`, ranked by ``index``: columns input, value, low, high
    (``value ± conf``, the table a tornado takes)."""
    if index not in INDICES:
        raise AnalysisError(f"unknown index {index!r}; expected one of {list(INDICES)}")
    sel = {"year": int(year)} | ({"region": region} if "region" in ds.dims else {})
    if int(year) not in [int(y) for y in ds["year"].values]:
        raise AnalysisError(f"year {year} is not in the result; it has {[int(y) for y in ds['year'].values]}")
    value, conf = ds[index].sel(sel).values, ds[f"{index}_conf"].sel(sel).values
    frame = pd.DataFrame(
        {"input": [str(n) for n in ds["input"].values], "value": value, "low": value - conf, "high": value + conf}
    )
    key = frame["value"].fillna(-np.inf)
    return frame.loc[key.sort_values(ascending=False, kind="stable").index].reset_index(drop=True)
