"""The kept sample of a summary run: the first scenarios by index, with their inputs and key outputs.

A summary run of 10^8 scenarios holds no per-scenario values, yet sensitivity, scenario
discovery and diagnostics need some.  It therefore keeps scenarios ``0 .. keep-1`` (default
:data:`KEEP_SAMPLE`): their raw and effective inputs and, per scenario, the totals by boundary
and year of electricity, carbon and water, electricity by boundary, year and region, and the
installed accelerators by year.  The kept scenarios are the same whatever the chunking,
the threads, the workers or the total count (they are chosen by index and computed
scenario by scenario), and are a simple random sample of the run's distribution.
"""

from __future__ import annotations

import numpy as np

from engine.output.names import BOUNDARIES
from engine.output.variables import effective_inputs, empty_arrays
from kernels import columns as m

__all__ = ["KEEP_SAMPLE", "sample_part", "sample_data_vars", "SAMPLE_BLOCK"]

KEEP_SAMPLE = 100_000  # scenarios a summary run keeps by default
SAMPLE_BLOCK = 4096  # scenarios projected at once for the sample (float64 arrays of ~46 MB)
_BOUNDS = [[m.COMPONENTS.index(c) for c in comps] for comps in BOUNDARIES.values()]


def _reduce(layout, arrays: dict) -> dict:
    """Per-scenario key outputs of one block of full arrays (float64)."""
    out = {"inputs": arrays["inputs"].copy(), "effective_inputs": arrays["effective_inputs"].copy()}
    for var in ("electricity", "carbon", "water"):
        a = arrays[var] if var != "water" else arrays[var].sum(axis=4)
        by_region = np.stack([a[:, :, :, comps].sum(axis=3) for comps in _BOUNDS], axis=1)  # scenario, boundary, year, region
        out[f"{var}_total"] = by_region.sum(axis=3)
        if var == "electricity":
            out["electricity_by_region"] = by_region
    out["installed_accelerators_total"] = arrays["installed_accelerators"].sum(axis=2)
    return out


def _weights(layout, spec, arrays: dict, n: int) -> dict:
    """The kept scenarios' log-likelihood and weight (:func:`kernels.cpu_likelihood.scenario_weights`)."""
    from kernels.cpu_likelihood import scenario_weights
    from kernels.likelihood import WEIGHT_SCALE

    e, c, w, a = (arrays[v].reshape(n, -1) for v in ("electricity", "carbon", "water", "installed_accelerators"))
    ll, wq = np.empty(n), np.empty(n, dtype=np.int64)
    scenario_weights(arrays["inputs"], e, c, w, a, layout.n_regions, layout.n_years, spec.cell_var, spec.cell_ptr,
                     spec.term_idx, *spec.observations.arrays(), ll, wq)  # fmt: skip
    return {"log_likelihood": ll, "weight": wq / WEIGHT_SCALE}


def sample_part(backend, layout, seed: int, start: int, count: int, keep: int, spec=None) -> dict | None:
    """The kept-sample arrays of scenarios ``start .. min(start+count, keep)-1`` (``None`` if none are kept),
    with their log-likelihoods and weights when ``spec`` (the run's SummarySpec) has observations."""
    stop = min(start + count, keep)
    if stop <= start:
        return None
    parts = []
    buf = empty_arrays(layout, min(SAMPLE_BLOCK, stop - start), np.float64)
    for s0 in range(start, stop, SAMPLE_BLOCK):
        n = min(SAMPLE_BLOCK, stop - s0)
        arrays = {name: a[:n] for name, a in buf.items()}
        arrays["inputs"][...] = backend.sample(layout, seed, s0, n)
        backend.project(layout, arrays["inputs"], arrays)
        effective_inputs(layout, arrays["inputs"], arrays["effective_inputs"])
        parts.append(_reduce(layout, arrays))
        if spec is not None and spec.observations.weighted:
            parts[-1].update(_weights(layout, spec, arrays, n))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


_DIMS = {
    "inputs": ("input",),
    "effective_inputs": ("effective_input",),
    "electricity_total": ("boundary", "year"),
    "carbon_total": ("boundary", "year"),
    "water_total": ("boundary", "year"),
    "electricity_by_region": ("boundary", "year", "region"),
    "installed_accelerators_total": ("year",),
    "log_likelihood": (),
    "weight": (),
}
_TEXT = {
    "inputs": ("sampled model inputs of the kept scenarios (raw draws)", "1"),
    "effective_inputs": ("regional weights of the kept scenarios, normalised per scenario (the shares the model uses)", "1"),
    "electricity_total": ("annual electricity of the kept scenarios, sum over regions and the components of the boundary", "TW h"),
    "carbon_total": ("annual CO2 emissions of the kept scenarios, sum over regions and the components of the boundary", "Mt"),
    "water_total": ("annual water consumption of the kept scenarios, sum over regions, components and sources", "GL"),
    "electricity_by_region": ("annual electricity of the kept scenarios, sum over the components of the boundary", "TW h"),
    "installed_accelerators_total": ("year-average accelerators in service of the kept scenarios, sum over regions", "1e6"),
    "log_likelihood": ("log-likelihood of the observations given the kept scenario (sum of -z^2/2)", "1"),
    "weight": ("importance weight of the kept scenario, exp(log_likelihood) quantised to multiples of 2^-32", "1"),
}


def sample_data_vars(sample: dict, n_kept: int) -> dict:
    """name -> (dims, values, attrs) of the kept sample's variables (``sample_*``, dim ``sample``)."""
    out = {}
    for key, values in sample.items():
        long_name, units = _TEXT[key]
        dtype = np.float64 if key in ("inputs", "effective_inputs", "log_likelihood", "weight") else np.float32
        out[f"sample_{key}"] = (("sample", *_DIMS[key]), values.astype(dtype), {"long_name": long_name, "units": units})
    out["sample"] = (("sample",), np.arange(n_kept, dtype=np.int64), {"long_name": "scenario index of a kept scenario (the first ones by index)"})
    return out
