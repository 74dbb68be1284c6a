"""End to end through ``engine.run``: ``python -m benchmarks.end_to_end [--scenarios 1e6]``.

What a user reproduces in a notebook: ``engine.run(cfg, scenarios=n, seed=s, backend=...)``
returning the in-memory Dataset (sampling, model, the conditioning weights, the labelled
cube), all in this one process, best of ``--repeats`` each:

* **numba**: the default backend, its own memory-planned chunks;
* **NumPy, whole arrays**: the reference backend as an analyst runs it, on the largest
  arrays that fit (``chunk_size`` = every scenario when ``--numpy-whole`` allows, else the
  best of the probed chunk sizes);
* **NumPy, best chunk**: the reference backend at the fastest of ``--numpy-chunks``, probed on
  ``--probe`` scenarios (big arrays spill out of the caches; small ones pay Python overhead);
* **memory floor**: allocating the Dataset's arrays (same shapes and dtypes) and writing every
  byte once, the faster of ``np.empty`` + ``fill`` (one thread) and ``np.empty`` + a compiled
  parallel fill (every thread): the bound of any implementation that returns the cube; timed
  alternately with numba, after one full-size numba run that first-touches the memory.

Ratios are taken within this one run.  Results: ``benchmarks/results/end_to_end-<cores>core.json``
and ``.md``, with the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np

from benchmarks.common import git_commit, machine_info, peak_rss_mib

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "configs" / "default.yaml"


def _log(msg: str) -> None:
    print(f"[end_to_end] {msg}", file=sys.stderr, flush=True)


def _timed(fn, repeats: int) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls of ``fn`` and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        out = None  # free the previous result before the next call
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


@numba.njit(parallel=True, cache=True, nogil=True)
def parallel_fill(flat):
    """Write 1 into every byte of ``flat`` (``uint8``), the bytes split between the threads."""
    for i in numba.prange(flat.shape[0]):
        flat[i] = 1


def floor_fill(ds, parallel: bool = False):
    """A function that allocates arrays shaped like ``ds``'s data variables and writes every byte
    once: ``ndarray.fill`` (one thread) or, ``parallel``, :func:`parallel_fill` (every thread)."""
    shapes = [(v.shape, v.dtype) for v in ds.data_vars.values()]

    def fill():
        arrays = [np.empty(shape, dtype) for shape, dtype in shapes]
        for a in arrays:
            if parallel:
                parallel_fill(a.reshape(-1).view(np.uint8))
            else:
                a.fill(1)
        return len(arrays)

    return fill


def numba_and_floor(run_numba, repeats: int) -> tuple[float, float, float, float, float]:
    """Best wall times of the numba run and of the two memory floors, timed alternately [s].

    The first full-size run of a fresh process (or virtual machine) pays for memory that was
    never touched before (on a VM the hypervisor backs the guest's pages on first use: measured
    13.1 s against 6.2-6.7 s for the next runs, Zen 4 host); the floor, timed after it, would not.
    So one full-size run comes first and is reported alone (``first_run_s``), then numba and the
    floors alternate ``repeats`` times, all seeing the same state of the machine's memory.
    Returns (first run, best numba, best one-thread floor, best parallel floor, the Dataset's bytes)."""
    t0 = time.perf_counter()
    ds = run_numba()
    first = time.perf_counter() - t0
    fill, pfill, nbytes = floor_fill(ds), floor_fill(ds, parallel=True), int(sum(v.nbytes for v in ds.data_vars.values()))
    parallel_fill(np.zeros(1, np.uint8))  # compiled (or loaded) before it is timed
    del ds
    best_numba = best_floor = best_pfloor = float("inf")
    for _ in range(repeats):
        best_floor = min(best_floor, _timed(fill, 1)[0])
        best_pfloor = min(best_pfloor, _timed(pfill, 1)[0])
        t, ds = _timed(run_numba, 1)
        del ds
        best_numba = min(best_numba, t)
    return first, best_numba, best_floor, best_pfloor, nbytes


def numba_split(cfg, n: int, seed: int) -> dict:
    """Where the numba run's time goes, its kernels timed alone on the same ``n`` scenarios [s]:
    sampling into fresh memory; allocating the outputs and touching their pages
    (:func:`engine.execution.tasks.prefault_outputs`, as ``engine.run`` does); the fused projection pass (model, non-finite check,
    weights) into those arrays and again into the same arrays (the difference is what touching
    the cube's memory still costs the kernels: ~0 when the prefault did its job)."""
    from engine.backends import get_backend
    from engine.inputs.layout import build_layout
    from engine.output.variables import empty_arrays
    from engine.stats.spec import build_summary_spec
    from kernels.memory import prefault

    layout, be = build_layout(cfg), get_backend("numba")
    spec = build_summary_spec(cfg, layout, []) if cfg.observations else None
    t0 = time.perf_counter()
    x = be.sample_into(layout, seed, 0, np.empty((n, layout.n_inputs)))
    t1 = time.perf_counter()
    out = empty_arrays(layout, n, np.float32)
    out["log_likelihood"] = np.empty(n)
    for v in out.values():  # as engine.run does for a fused backend (engine.execution.tasks.prefault_outputs)
        prefault(v)
    t2 = time.perf_counter()
    be.project_checked(layout, x, out, spec)
    t3 = time.perf_counter()
    be.project_checked(layout, x, out, spec)
    t4 = time.perf_counter()
    return {"sample_s": t1 - t0, "allocate_s": t2 - t1, "project_fresh_s": t3 - t2, "project_touched_s": t4 - t3, "first_touch_s": (t3 - t2) - (t4 - t3)}


def measure(config_path: Path, n: int, seed: int, repeats: int, probe: int, numpy_chunks: list[int], numpy_whole: int,
            numpy_repeats: int = 1) -> dict:
    from engine import load_config, run

    cfg = load_config(config_path)
    _log("warm-up (compilation or cache load)")
    run(cfg, scenarios=2000, seed=seed)
    run(cfg, scenarios=200, seed=seed, backend="numpy")

    _log(f"numba: engine.run of {n:,} scenarios once, then alternately with the memory floor, best of {repeats}")
    t_first, t_numba, t_floor1, t_floor_par, nbytes = numba_and_floor(lambda: run(cfg, scenarios=n, seed=seed), repeats)
    ds = run(cfg, scenarios=min(n, 100_000), seed=seed)
    check = float(ds.electricity.sel(year=2030).sum(dtype=np.float64)) / ds.sizes["scenario"]
    del ds
    _log("numba: its kernels alone (split)")
    split = numba_split(cfg, n, seed)

    _log(f"NumPy chunk sizes {numpy_chunks} probed on {probe:,} scenarios")
    probes = {c: _timed(lambda c=c: run(cfg, scenarios=probe, seed=seed, backend="numpy", chunk_size=c), 1)[0] for c in numpy_chunks}
    best_chunk = min(probes, key=probes.get)
    whole = n if n <= numpy_whole else best_chunk
    _log(f"NumPy whole arrays: chunk_size={whole:,}, best of {numpy_repeats}")
    t_whole, ds_np = _timed(lambda: run(cfg, scenarios=n, seed=seed, backend="numpy", chunk_size=whole), numpy_repeats)
    check_np = float(ds_np.electricity.isel(scenario=slice(0, 100_000)).sel(year=2030).sum(dtype=np.float64))
    check_np /= min(n, 100_000)
    del ds_np
    if best_chunk != whole:
        _log(f"NumPy best chunk: chunk_size={best_chunk:,}, best of {numpy_repeats}")
        t_best = _timed(lambda: run(cfg, scenarios=n, seed=seed, backend="numpy", chunk_size=best_chunk), numpy_repeats)[0]
    else:
        t_best = t_whole
    return {
        "scenarios": n,
        "seed": seed,
        "repeats": repeats,
        "numpy_repeats": numpy_repeats,
        "dataset_bytes": nbytes,
        "numba_first_run_s": t_first,
        "numba_s": t_numba,
        "numba_split": split,
        "numpy_whole_chunk": whole,
        "numpy_whole_s": t_whole,
        "numpy_probe_scenarios": probe,
        "numpy_probe_s": {str(c): t for c, t in probes.items()},
        "numpy_best_chunk": best_chunk,
        "numpy_best_chunk_s": t_best,
        "memory_floor_s": min(t_floor1, t_floor_par),
        "memory_floor_one_thread_s": t_floor1,
        "memory_floor_parallel_s": t_floor_par,
        "numba_vs_numpy_whole": t_whole / t_numba,
        "numba_vs_numpy_best_chunk": t_best / t_numba,
        "numba_vs_memory_floor": t_numba / min(t_floor1, t_floor_par),
        "check_mean_electricity_2030_twh": {"numba": check, "numpy": check_np},
        "peak_rss_mib": peak_rss_mib(),
    }


def _rest_sentence(run_s: float, parts_s: float) -> str:
    """What ``engine.run`` spends beyond the split's parts, or, when the parts (each timed once, in
    its own memory state) add up to more than the run's best, that this split is not a sum."""
    if run_s >= parts_s:
        return (f"`engine.run` takes {run_s - parts_s:.2f} s more than these parts alone (its chunks, "
                "the Dataset, its attributes and checks).")  # fmt: skip
    return (f"These parts add up to {parts_s:.2f} s, more than the run's best ({run_s:.2f} s): each is timed once, "
            "in a memory state of its own (pages mapped or not, reclaimed by the host or not), so they show where "
            "the time goes, not a sum to subtract from.")  # fmt: skip


def markdown(res: dict) -> str:
    m, r = res["machine"], res["result"]
    gb = r["dataset_bytes"] / 1e9
    probes = ", ".join(f"{int(c):,}: {t:.2f} s" for c, t in r["numpy_probe_s"].items())
    lines = [
        f"# dcproj end to end through `engine.run` ({res['created']}, commit {res.get('git') or '?'})",
        "",
        f"`{res['command']}`; config `{res['config']}`. CPU: {m['cpu']}, {m['cores']} cores, {m['numba_threads']} numba "
        f"threads; Python {m['python']}, numba {m['numba']}, NumPy {m['numpy']}.",
        f"Load average (1 min) at the start {res['load_start'][0]:.2f}, at the end {res['load_end'][0]:.2f} on {m['cores']} cores.",
        "",
        f"{r['scenarios']:,} scenarios (seed {r['seed']}), the in-memory Dataset of {gb:.2f} GB; numba and the floor timed alternately (after one first full-size run), best of "
        f"{r['repeats']}, NumPy best of {r['numpy_repeats']} (a long run: noise is a small part of it), all in one process.",
        "",
        "| path | wall s | numba's speed-up |",
        "|---|---:|---:|",
        f"| numba (`engine.run`, default) | {r['numba_s']:.2f} | 1 |",
        f"| numba, its first full-size run in this process (memory never touched before) | {r.get('numba_first_run_s', float('nan')):.2f} | |",
        f"| NumPy reference, whole arrays (chunk_size={r['numpy_whole_chunk']:,}) | {r['numpy_whole_s']:.1f} | {r['numba_vs_numpy_whole']:.1f}× |",
        f"| NumPy reference, its best chunk ({r['numpy_best_chunk']:,}) | {r['numpy_best_chunk_s']:.1f} | {r['numba_vs_numpy_best_chunk']:.1f}× |",
        f"| memory floor: allocate and write the same bytes, the faster of the two below | {r['memory_floor_s']:.2f} | numba is {r['numba_vs_memory_floor']:.1f}× the floor |",
        f"| floor with `ndarray.fill` (one thread) | {r.get('memory_floor_one_thread_s', float('nan')):.2f} | |",
        f"| floor with a compiled parallel fill ({m['numba_threads']} threads) | {r.get('memory_floor_parallel_s', float('nan')):.2f} | |",
        "",
        f"NumPy chunk probe ({r['numpy_probe_scenarios']:,} scenarios): {probes}. Mean 2030 electricity per scenario "
        f"(both paths, a check that they ran the same model): numba {r['check_mean_electricity_2030_twh']['numba']:.3f}, "
        f"NumPy {r['check_mean_electricity_2030_twh']['numpy']:.3f} TWh (summed over regions and components, the first "
        f"{min(r['scenarios'], 100_000):,} scenarios). "
        f"Peak RSS {r['peak_rss_mib']:,.0f} MiB.",
        "",
    ]
    sp = r.get("numba_split")
    if sp:
        lines.extend([
            "Where the numba run's time goes (its kernels alone, the same scenarios, once each, all threads): "
            f"sampling {sp['sample_s']:.2f} s; allocating the outputs and touching their pages {sp.get('allocate_s', float('nan')):.2f} s; "
            f"the fused projection pass (model, non-finite check, weights) "
            f"{sp['project_fresh_s']:.2f} s into those arrays, {sp['project_touched_s']:.2f} s into the same "
            f"arrays again (what first-touching the cube's memory still costs the kernels: {sp['first_touch_s']:.2f} s). "
            + _rest_sentence(r["numba_s"], sp["sample_s"] + sp.get("allocate_s", 0.0) + sp["project_fresh_s"]),
            "",
        ])
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=float, default=1e6)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2, help="timings of numba and of the floor (best of)")
    ap.add_argument("--numpy-repeats", type=int, default=1, help="timings of each NumPy path (best of)")
    ap.add_argument("--probe", type=float, default=1e5, help="scenarios of the NumPy chunk-size probe")
    ap.add_argument("--numpy-chunks", type=float, nargs="+", default=[1e4, 3e4, 1e5])
    ap.add_argument("--numpy-whole", type=float, default=1e6, help="largest run NumPy does as one array")
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--out", type=Path, default=None, help="result stem (default benchmarks/results/end_to_end-<cores>core)")
    args = ap.parse_args(argv)
    stem = args.out or HERE / "results" / f"end_to_end-{os.cpu_count()}core"
    load_start = os.getloadavg()
    result = measure(args.config, int(args.scenarios), args.seed, args.repeats, int(args.probe),
                     [int(c) for c in args.numpy_chunks], int(args.numpy_whole), args.numpy_repeats)  # fmt: skip
    res = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_commit(),
        "command": "python -m benchmarks.end_to_end " + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": str(args.config.relative_to(HERE.parent) if args.config.is_relative_to(HERE.parent) else args.config),
        "machine": machine_info(),
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "result": result,
    }
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(res))
    _log(f"wrote {stem}.json and .md")
    print(markdown(res))
    return res


if __name__ == "__main__":
    main()
