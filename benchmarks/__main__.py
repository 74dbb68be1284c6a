"""Benchmark suite entry point: ``python -m benchmarks [--sizes 1e5 1e6 1e7] [--numpy-max 1e6]``.

For each scenario count, in one process and one run (so ratios are meaningful on a noisy
shared machine):

* numba backend: sampling and model phases timed separately, compile time excluded
  (reported on its own, with whether numba's on-disk cache hit);
* NumPy reference backend on the same scenarios (up to ``--numpy-max``), the ratio;
* the memory floor: the time to merely write arrays of the cube's size (``ndarray.fill``),
  and the ratio of the numba time to it;
* the netCDF write of one chunk and the reduction (quantiles of the totals);
* peak RSS of the process (``resource.getrusage``).

Large counts are processed in chunks into reused buffers (the cube of 10^7 scenarios does
not fit in memory), exactly as ``dcproj run`` does.  Results go to a JSON file and a
markdown table under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def compile_phase(layout):
    """Time the first call (compile or cache load) of both CPU kernels."""
    t0 = time.perf_counter()
    from kernels import cpu

    from engine.backends import get_backend
    from engine.cube import empty_arrays

    t_import = time.perf_counter() - t0
    be = get_backend("numba")
    out = empty_arrays(layout, 4, np.float32)
    t0 = time.perf_counter()
    out["inputs"][...] = be.sample(layout, 1, 0, 4)
    t_sample = time.perf_counter() - t0
    t0 = time.perf_counter()
    be.project(layout, out["inputs"], out)
    t_project = time.perf_counter() - t0
    hits = sum(sum(f.stats.cache_hits.values()) for f in (cpu.sample_inputs, cpu.project))
    misses = sum(sum(f.stats.cache_misses.values()) for f in (cpu.sample_inputs, cpu.project))
    return {
        "import_s": t_import,
        "first_call_sample_s": t_sample,
        "first_call_project_s": t_project,
        "compile_total_s": t_import + t_sample + t_project,
        "cache_hits": hits,
        "cache_misses": misses,
        "cache_hit": misses == 0 and hits > 0,
    }


def bench_size(layout, n, chunk, numpy_max, seed=42):
    """Throughput of each phase at ``n`` scenarios, processed in chunks of ``chunk``."""
    from engine.backends import get_backend
    from engine.cube import empty_arrays

    numba_be = get_backend("numba")
    numpy_be = get_backend("numpy")
    c = min(chunk, n)
    buf = empty_arrays(layout, c, np.float32)
    t_sample = t_model = t_floor = 0.0
    for start in range(0, n, c):
        count = min(c, n - start)
        view = {k: v[:count] for k, v in buf.items()}
        t0 = time.perf_counter()
        view["inputs"][...] = numba_be.sample(layout, seed, start, count)
        t1 = time.perf_counter()
        numba_be.project(layout, view["inputs"], view)
        t2 = time.perf_counter()
        for v in view.values():  # memory floor: write the same bytes, nothing else
            v.fill(1.0)
        t3 = time.perf_counter()
        t_sample += t1 - t0
        t_model += t2 - t1
        t_floor += t3 - t2
    years = layout.n_years
    res = {
        "scenarios": n,
        "chunk": c,
        "cube_bytes": int(sum(v.nbytes for v in buf.values()) * n / c),
        "numba_sample_s": t_sample,
        "numba_model_s": t_model,
        "numba_total_s": t_sample + t_model,
        "memory_floor_s": t_floor,
        "numba_scenario_years_per_s": n * years / (t_sample + t_model),
        "numba_vs_floor": (t_sample + t_model) / t_floor,
    }
    if n <= numpy_max:
        t_np = 0.0
        for start in range(0, n, c):
            count = min(c, n - start)
            view = {k: v[:count] for k, v in buf.items()}
            t0 = time.perf_counter()
            view["inputs"][...] = numpy_be.sample(layout, seed, start, count)
            numpy_be.project(layout, view["inputs"], view)
            t_np += time.perf_counter() - t0
        res["numpy_total_s"] = t_np
        res["numpy_scenario_years_per_s"] = n * years / t_np
        res["numba_speedup_vs_numpy"] = t_np / (t_sample + t_model)
    res["peak_rss_mib"] = _peak_rss_mib()
    return res


def io_and_reduction(config, layout, n=20_000):
    """Time the netCDF write and the quantile reduction of an n-scenario cube."""
    from engine import run, run_to_file
    from engine.summary import summarise

    ds = run(config, scenarios=n, seed=1)
    t_red = _time(lambda: summarise(ds, "electricity", "incl_crypto"))
    with tempfile.TemporaryDirectory() as d:
        t_write = _time(lambda: run_to_file(config, Path(d) / "b.nc", scenarios=n, seed=1))
        t_compute = _time(lambda: run(config, scenarios=n, seed=1))
        size = (Path(d) / "b.nc").stat().st_size
    return {
        "scenarios": n,
        "run_in_memory_s": t_compute,
        "run_to_netcdf_s": t_write,
        "netcdf_write_share": max(0.0, (t_write - t_compute) / t_write),
        "netcdf_bytes": size,
        "summary_reduction_s": t_red,
    }


def machine_info():
    import numba

    info = {
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def markdown(result) -> str:
    rows = [
        "| scenarios | numba scen-yr/s | NumPy scen-yr/s | numba / NumPy | numba / memory floor | sample s | model s | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["sizes"]:
        np_rate = f"{r['numpy_scenario_years_per_s']:.3g}" if "numpy_total_s" in r else "–"
        ratio = f"{r['numba_speedup_vs_numpy']:.1f}×" if "numpy_total_s" in r else "–"
        rows.append(
            f"| {r['scenarios']:.0e} | {r['numba_scenario_years_per_s']:.3g} | {np_rate} | {ratio} | "
            f"{r['numba_vs_floor']:.1f}× | {r['numba_sample_s']:.2f} | {r['numba_model_s']:.2f} | {r['peak_rss_mib']:.0f} |"
        )
    c = result["compile"]
    rows.append("")
    rows.append(
        f"JIT: first calls {c['compile_total_s']:.1f} s (import {c['import_s']:.1f} s), cache hit: {c['cache_hit']}. "
        f"Machine: {result['machine']['cpu']}, {result['machine']['numba_threads']} numba threads."
    )
    io = result.get("io")
    if io:
        rows.append(
            f"I/O at {io['scenarios']:,} scenarios: in memory {io['run_in_memory_s']:.2f} s, to netCDF {io['run_to_netcdf_s']:.2f} s "
            f"({io['netcdf_bytes'] / 2**20:.0f} MiB), quantile summary {io['summary_reduction_s']:.2f} s."
        )
    return "\n".join(rows) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7])
    ap.add_argument("--numpy-max", type=float, default=1e6, help="largest count also run with the NumPy reference")
    ap.add_argument("--chunk", type=int, default=250_000)
    ap.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    ap.add_argument("--out", default=str(HERE / "results" / "cpu"))
    ap.add_argument("--no-io", action="store_true")
    args = ap.parse_args(argv)

    from engine import load_config
    from engine.layout import build_layout

    config = load_config(args.config)
    layout = build_layout(config)
    result = {"machine": machine_info(), "compile": compile_phase(layout), "sizes": []}
    print(f"compile: {result['compile']}", file=sys.stderr)
    for n in args.sizes:
        r = bench_size(layout, int(n), args.chunk, args.numpy_max)
        print(json.dumps(r), file=sys.stderr)
        result["sizes"].append(r)
    if not args.no_io:
        result["io"] = io_and_reduction(config, layout)
    table = markdown(result)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    out.with_suffix(".md").write_text(table)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
