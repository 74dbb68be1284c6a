"""Weights of full cubes: per chunk from the stored values, summed exactly, diagnosed at the end.

A weighted cube holds ``weight`` (the quantised importance weight, in [0, 1]) and
``log_likelihood`` (dim ``scenario``).  Both are computed from the chunk's values as stored
(float32 by default), so anyone can recompute them from the file; exceedance probabilities
are sums of the quantised weights (integers: the same whatever the chunking).
"""

from __future__ import annotations

import numpy as np

from kernels.likelihood import WEIGHT_SCALE

__all__ = ["WEIGHT_VARIABLES", "add_weights", "store_weights", "weighted_exceeding", "cube_diagnostics"]

WEIGHT_VARIABLES = {
    "weight": {
        "long_name": "importance weight of the scenario given the observations: exp(log_likelihood), quantised to multiples of 2^-32",
        "units": "1",
    },
    "log_likelihood": {"long_name": "log-likelihood of the observations given the scenario (sum of -z^2/2)", "units": "1"},
}


def add_weights(spec, layout, arrays: dict) -> None:
    """Write ``arrays["log_likelihood"]`` and ``arrays["weight"]`` of a chunk's ``inputs`` and outputs.

    ``spec`` is the run's :class:`~engine.stats.spec.SummarySpec` (its cell table and observations).
    """
    from kernels.cpu_likelihood import scenario_weights

    n = arrays["inputs"].shape[0]
    e, c, w, a = (arrays[v].reshape(n, -1) for v in ("electricity", "carbon", "water", "installed_accelerators"))
    ll = arrays.setdefault("log_likelihood", np.empty(n))  # written in place when given (views of a whole run's arrays)
    wq = np.empty(n, dtype=np.int64)
    scenario_weights(arrays["inputs"], e, c, w, a, layout.n_regions, layout.n_years, spec.cell_var, spec.cell_ptr,
                     spec.term_idx, *spec.observations.arrays(), ll, wq)  # fmt: skip
    store_weights(arrays, wq)


def store_weights(arrays: dict, wq: np.ndarray) -> None:
    """Write ``arrays["weight"]`` (created if absent) from the quantised weights ``wq`` [units of 2^-32]."""
    weight = arrays.setdefault("weight", np.empty(wq.shape[0]))
    np.divide(wq, WEIGHT_SCALE, out=weight)


def _units(weight: np.ndarray) -> np.ndarray:
    """The quantised weights back in integer units of 2^-32 (exact: they are multiples of it)."""
    return np.rint(np.asarray(weight, dtype=np.float64) * WEIGHT_SCALE).astype(np.int64)


def weighted_exceeding(totals: list[np.ndarray], weight: np.ndarray) -> list[int]:
    """Per threshold, Σ quantised weights of the scenarios whose ``totals[i]`` is above it (booleans given),
    then Σ of all the weights: integers in units of 2^-32."""
    wq = _units(weight)
    return [int(wq[t].sum()) for t in totals] + [int(wq.sum())]


def cube_diagnostics(weight: np.ndarray, log_likelihood: np.ndarray):
    """The weights' :class:`~engine.conditioning.diagnostics.WeightDiagnostics` (k̂ from every scenario)."""
    from engine.conditioning.diagnostics import diagnose

    w = np.asarray(weight, dtype=np.float64)
    return diagnose(w.size, int(_units(w).sum()), float(np.dot(w, w)), log_likelihood, f"all {w.size:,} scenarios", int((w == 0).sum()))
