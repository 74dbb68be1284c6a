"""Exceedance counts and clip counts of full cubes, chunk by chunk (exact, from the scenarios).

A full-cube run honours the config's ``thresholds`` (and ``--threshold``): each chunk's totals
are compared with each threshold and the counts are added up, so the cube file holds
``exceedance_count`` and ``exceedance_probability`` like a summary file.  It also counts the
scenarios whose 2022 conventional-IT residual was clipped at 0 (the anchor minus crypto
and accelerated servers was negative), which the run reports instead of hiding.
"""

from __future__ import annotations

import numpy as np

from engine.output.variables import BOUNDARIES
from engine.stats.labels import threshold_coords  # noqa: F401 (the cube uses the summary's threshold labels)
from engine.stats.spec import ThresholdSpec
from kernels import columns as m

__all__ = ["count_exceeding", "count_clipped_conventional", "threshold_coords", "threshold_data_vars", "CLIP_TEXT"]

CLIP_TEXT = "scenarios whose 2022 conventional-IT residual (anchor - crypto - accelerated servers) was negative and clipped at 0"
_CONVENTIONAL = [m.COMPONENTS.index(c) for c in ("conventional_servers", "storage", "network")]
assert _CONVENTIONAL == list(range(_CONVENTIONAL[0], _CONVENTIONAL[-1] + 1)), "conventional IT: consecutive components"


def _total(arrays: dict[str, np.ndarray], t: ThresholdSpec, year_index: int) -> np.ndarray:
    """Per-scenario total of ``t.variable`` over the regions and components of its boundary, float64."""
    a = arrays[t.variable][:, year_index]
    if t.variable == "installed_accelerators":
        return a.sum(axis=1, dtype=np.float64)
    comps = [m.COMPONENTS.index(c) for c in BOUNDARIES[t.boundary]]
    a = a[:, :, comps]
    return a.reshape(a.shape[0], -1).sum(axis=1, dtype=np.float64)


def exceeding(thresholds, arrays: dict[str, np.ndarray], first_year: int) -> list[np.ndarray]:
    """Per threshold, a boolean per scenario of the chunk ``arrays``: does its total exceed the threshold?"""
    return [_total(arrays, t, t.year - first_year) > t.value for t in thresholds]


def count_exceeding(thresholds, arrays: dict[str, np.ndarray], first_year: int) -> np.ndarray:
    """int64[len(thresholds)]: scenarios of the chunk ``arrays`` whose total exceeds each threshold."""
    return np.array([int(e.sum()) for e in exceeding(thresholds, arrays, first_year)], dtype=np.int64)


def count_clipped_conventional(arrays: dict[str, np.ndarray]) -> int:
    """Scenarios of the chunk whose 2022 conventional IT (servers, storage, network, all regions) is exactly 0."""
    from kernels.cpu import count_zero_maxima  # reads the 12 values of each row in place (NumPy copies them first)

    return int(count_zero_maxima(arrays["electricity"], 0, _CONVENTIONAL[0], _CONVENTIONAL[-1] + 1))


def threshold_data_vars(counts: np.ndarray, n: int, weight_units=None, weight_total=None, ess=None) -> dict:
    """``exceedance_count``, ``exceedance_probability`` and its ``exceedance_standard_error`` (dims, values,
    attrs) of ``n`` scenarios; weighted when ``weight_units`` (Σ quantised weights above each threshold)
    and ``weight_total`` (Σ of all) are given, with Kish's ``ess`` for the error."""
    if weight_units is None:
        p, n_eff, what = counts / max(n, 1), float(n), ""
    else:
        p, n_eff, what = np.asarray(weight_units, dtype=np.float64) / max(weight_total, 1), float(ess), "weighted "
    return {
        "exceedance_count": (("threshold",), counts, {"long_name": "scenarios whose total exceeds the threshold", "units": "1"}),
        "exceedance_probability": (
            ("threshold",),
            p,
            {"long_name": f"{what}probability that the total exceeds the threshold", "units": "1"},
        ),
        "exceedance_standard_error": (
            ("threshold",),
            np.sqrt(p * (1.0 - p) / max(n_eff, 1.0)),
            {"long_name": "Monte Carlo standard error of the exceedance probability: sqrt(p (1 - p) / n_eff), binomial", "units": "1"},
        ),
    }


def clipped_in_summary(state) -> int:
    """Scenarios of a summary whose 2022 conventional servers (all regions) fell in the histogram's lowest
    bin (below 2⁻²⁰ TWh): the clipped residuals (servers are a fixed positive share of conventional IT)."""
    g = state.spec.group("electricity_by_component")
    cell = g.offset + m.COMPONENTS.index("conventional_servers")  # year index 0 (2022)
    return int(state.hist[cell, 0])
