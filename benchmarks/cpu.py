"""CPU part of the suite: compile, throughput by scenario count, thread scaling, NumPy baseline.

Every size is processed in chunks into buffers allocated and touched once (as a streaming
run does), so page faults of fresh memory are not charged to the kernels.  Phases:

* ``sample``: :func:`kernels.cpu.sample_inputs` (Philox, copula, inverse CDFs);
* ``model``: :func:`kernels.cpu.project` (the projection of every scenario);
* ``reduction``: float64 totals of the ``incl_crypto`` boundary per scenario and year, then
  their per-year mean, min and max (what a summary has to read; NumPy, one thread);
* ``write``: :class:`engine.output.netcdf.CubeWriter` appending the chunk to a netCDF file (blosc_lz4),
  only up to ``write_max`` scenarios (disk space);
* ``memory floor``: writing the same bytes with ``ndarray.fill``, nothing else: the time no
  implementation that materialises the cube can beat.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Clock, chunks, output_bytes, peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]

_COMPILE_SCRIPT = """
import json, time
t0 = time.perf_counter()
import numpy as np
from kernels import cpu
from engine import load_config
from engine.inputs.layout import build_layout
from engine.output.variables import empty_arrays
t1 = time.perf_counter()
layout = build_layout(load_config({config!r}))
out = empty_arrays(layout, 4, np.float32)
t2 = time.perf_counter()
cpu.sample_inputs(np.uint64(1), np.int64(0), layout.kinds, layout.params, layout.keys, layout.corr_index, layout.corr_factor, out["inputs"])
t3 = time.perf_counter()
cpu.project(out["inputs"], layout.n_regions, layout.n_years, out["electricity"], out["carbon"], out["water"], out["installed_accelerators"])
t4 = time.perf_counter()
fns = (cpu.sample_inputs, cpu.project)
print(json.dumps({{
    "import_s": t1 - t0, "sample_first_call_s": t3 - t2, "project_first_call_s": t4 - t3,
    "total_s": (t1 - t0) + (t4 - t2),
    "cache_hits": sum(sum(f.stats.cache_hits.values()) for f in fns),
    "cache_misses": sum(sum(f.stats.cache_misses.values()) for f in fns),
}}))
"""


def compile_times(config_path: str) -> dict:
    """JIT compile time from a cold cache and load time from a warm one (fresh processes).

    Both runs use a new, private ``NUMBA_CACHE_DIR``: the first compiles everything and
    writes the cache, the second loads it (a cache hit, what every later run of dcproj sees).
    """
    res = {}
    with tempfile.TemporaryDirectory(prefix="dcproj-bench-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            p = subprocess.run(
                [sys.executable, "-c", _COMPILE_SCRIPT.format(config=config_path)],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
            )
            if p.returncode != 0:
                res[label] = {"error": p.stderr[-2000:]}
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            r["cache_hit"] = r["cache_misses"] == 0 and r["cache_hits"] > 0
            res[label] = r
    return res


def first_calls_in_process(layout) -> dict:
    """First calls of the CPU kernels in this process (compile, or load from numba's cache)."""
    from engine.output.variables import empty_arrays

    t0 = time.perf_counter()
    from kernels import cpu

    t_import = time.perf_counter() - t0
    out = empty_arrays(layout, 4, np.float32)
    t0 = time.perf_counter()
    _sample(cpu, layout, 1, 0, out["inputs"])
    t1 = time.perf_counter()
    _project(cpu, layout, out)
    t2 = time.perf_counter()
    fns = (cpu.sample_inputs, cpu.project)
    hits = sum(sum(f.stats.cache_hits.values()) for f in fns)
    misses = sum(sum(f.stats.cache_misses.values()) for f in fns)
    return {"import_s": t_import, "sample_first_call_s": t1 - t0, "project_first_call_s": t2 - t1,
            "total_s": t_import + t2 - t0, "cache_hits": hits, "cache_misses": misses,
            "cache_hit": misses == 0 and hits > 0}


def _sample(cpu, layout, seed, start, x):
    cpu.sample_inputs(np.uint64(seed), np.int64(start), layout.kinds, layout.params, layout.keys, layout.corr_index, layout.corr_factor, x)


def _project(cpu, layout, out):
    cpu.project(out["inputs"], layout.n_regions, layout.n_years, out["electricity"], out["carbon"], out["water"], out["installed_accelerators"])


def _reduce(layout, out, acc):
    """The reduction phase: incl_crypto totals per scenario and year (float64), per-year stats."""
    tot = out["electricity"].sum(axis=(2, 3), dtype=np.float64)  # [count, year]
    acc["n"] += tot.shape[0]
    acc["sum"] += tot.sum(axis=0)
    acc["min"] = np.minimum(acc["min"], tot.min(axis=0))
    acc["max"] = np.maximum(acc["max"], tot.max(axis=0))


def _writer(config, layout, path, n):
    from engine.output import variables as cube
    from engine.output.netcdf import CubeWriter

    coord_map = cube.coords(config, layout, 0, n)
    dims = {d: len(v[1]) for d, v in coord_map.items() if v[0] == d}
    dims["scenario"] = n
    variables = {name: (spec.dims, np.float32, cube.variable_attrs(name)) for name, spec in cube.VARIABLES.items()}
    variables["inputs"] = (("scenario", "input"), np.float64, cube.variable_attrs("inputs"))
    variables["effective_inputs"] = (("scenario", "effective_input"), np.float64, cube.variable_attrs("effective_inputs"))
    return CubeWriter(path, dims, coord_map, variables, {"benchmark": "1"})


def bench_size(config, layout, n, chunk, *, seed=42, numpy_max=0, write_max=0, tmpdir=None) -> dict:
    """Every CPU phase at ``n`` scenarios, processed in chunks of ``chunk``."""
    from engine.backends import get_backend
    from engine.output.variables import empty_arrays
    from kernels import cpu

    c = min(chunk, n)
    buf = empty_arrays(layout, c, np.float32)
    for v in buf.values():  # touch every page once: fresh-memory faults are not the kernels' cost
        v.fill(0)
    years = layout.n_years
    acc = {"n": 0, "sum": np.zeros(years), "min": np.full(years, np.inf), "max": np.full(years, -np.inf)}
    clock = Clock()
    write = n <= write_max
    writer = path = None
    if write:
        fd, path = tempfile.mkstemp(suffix=".nc", dir=tmpdir)
        os.close(fd)
        os.unlink(path)
        writer = _writer(config, layout, path, n)
    try:
        for start, count in chunks(n, c):
            view = {k: v[:count] for k, v in buf.items()}
            with clock("sample"):
                _sample(cpu, layout, seed, start, view["inputs"])
            with clock("model"):
                _project(cpu, layout, view)
            with clock("reduction"):
                _reduce(layout, view, acc)
            if writer is not None:
                with clock("write"):
                    writer.write(start, view)
            with clock("memory_floor"):
                for v in view.values():
                    v.fill(1.0)
        if writer is not None:
            with clock("write"):
                writer.commit()
            file_bytes = Path(path).stat().st_size
    finally:
        if writer is not None:
            Path(path).unlink(missing_ok=True)
            writer.tmp.unlink(missing_ok=True)
    t = clock.totals
    compute = t["sample"] + t["model"]
    nbytes = output_bytes(layout, n)
    res = {
        "scenarios": n,
        "chunk": c,
        "cube_bytes": nbytes,
        "sample_s": t["sample"],
        "model_s": t["model"],
        "reduction_s": t["reduction"],
        "compute_s": compute,
        "scenarios_per_s": n / compute,
        "scenario_years_per_s": n * years / compute,
        "memory_floor_s": t["memory_floor"],
        "memory_floor_gb_per_s": nbytes / t["memory_floor"] / 1e9,
        "compute_vs_memory_floor": compute / t["memory_floor"],
        "check_mean_total_last_year_twh": float(acc["sum"][-1] / acc["n"]),
    }
    if write:
        res["write_s"] = t["write"]
        res["write_file_bytes"] = file_bytes
        res["write_mb_per_s"] = nbytes / t["write"] / 1e6
    if n <= numpy_max:
        ref = get_backend("numpy")
        t_np = 0.0
        for start, count in chunks(n, c):
            view = {k: v[:count] for k, v in buf.items()}
            t0 = time.perf_counter()
            view["inputs"][...] = ref.sample(layout, seed, start, count)
            ref.project(layout, view["inputs"], view)
            t_np += time.perf_counter() - t0
        res["numpy_s"] = t_np
        res["numpy_scenario_years_per_s"] = n * years / t_np
        res["numba_speedup_vs_numpy"] = t_np / compute
    res["peak_rss_mib"] = peak_rss_mib()
    return res


def thread_scaling(layout, n, chunk, threads, seed=42) -> list[dict]:
    """Sampling + model time at ``n`` scenarios for each thread count (numba.set_num_threads)."""
    import numba

    from engine.output.variables import empty_arrays
    from kernels import cpu

    c = min(chunk, n)
    buf = empty_arrays(layout, c, np.float32)
    for v in buf.values():
        v.fill(0)
    before = numba.get_num_threads()
    rows = []
    try:
        for k in threads:
            numba.set_num_threads(k)
            clock = Clock()
            for start, count in chunks(n, c):
                view = {key: v[:count] for key, v in buf.items()}
                with clock("sample"):
                    _sample(cpu, layout, seed, start, view["inputs"])
                with clock("model"):
                    _project(cpu, layout, view)
            t = clock.totals
            rows.append({"threads": k, "scenarios": n, "sample_s": t["sample"], "model_s": t["model"],
                         "compute_s": t["sample"] + t["model"],
                         "scenario_years_per_s": n * layout.n_years / (t["sample"] + t["model"])})
    finally:
        numba.set_num_threads(before)
    base = rows[0]["compute_s"] * rows[0]["threads"]
    for r in rows:
        r["speedup_vs_1"] = rows[0]["compute_s"] / r["compute_s"] if rows[0]["threads"] == 1 else None
        r["parallel_efficiency"] = base / (r["compute_s"] * r["threads"])
    return rows


def default_thread_counts() -> list[int]:
    import numba

    top = numba.config.NUMBA_NUM_THREADS
    counts = [1]
    while counts[-1] * 2 < top:
        counts.append(counts[-1] * 2)
    if counts[-1] != top:
        counts.append(top)
    return counts


def xarray_summary(config, n=20_000) -> dict:
    """The in-memory quantile summary of an n-scenario cube (``engine.analysis.results.summarise``)."""
    from engine import run
    from engine.analysis.results import summarise

    ds = run(config, scenarios=n, seed=1)
    t0 = time.perf_counter()
    summarise(ds, "electricity", "incl_crypto")
    return {"scenarios": n, "summarise_s": time.perf_counter() - t0}


def summary_run(config, layout, n, chunk, seed=42) -> dict:
    """A streaming summary run on the CPU (``engine.execution.tasks.compute_summary`` per chunk, merged
    in order by ``engine.stats.state.SummaryState``), default summary cells, no cube kept."""
    from engine.execution.tasks import ChunkJob, compute_summary
    from engine.stats.spec import MOMENT_BLOCK as BLOCK
    from engine.stats.spec import build_summary_spec
    from engine.stats.state import SummaryState

    spec = build_summary_spec(config, layout)
    job = ChunkJob(layout, seed, "numba", "float64", spec)
    c = max(BLOCK, (min(chunk, n) // BLOCK) * BLOCK)
    state = SummaryState(spec)
    t0 = time.perf_counter()
    for start, count in chunks(n, c):
        state.add(compute_summary(job, start, count))
    t1 = time.perf_counter()
    state.quantiles()
    t2 = time.perf_counter()
    return {"scenarios": n, "chunk": c, "cells": spec.n_cells, "summary_s": t1 - t0, "finalize_s": t2 - t1,
            "scenario_years_per_s": n * layout.n_years / (t1 - t0), "peak_rss_mib": peak_rss_mib()}
