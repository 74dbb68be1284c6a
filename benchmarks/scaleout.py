"""Scale-out benchmarks: ``python -m benchmarks.scaleout [--parts cost full efficiency big] [--big 1e8]``.

* ``cost``: per-scenario CPU time (one thread, ``time.process_time``) of sampling, the model
  and the summary accumulation of one block, and their ratio;
* ``full``: a single-process full-cube run to netCDF (``--full`` scenarios, default 10^6):
  wall time, throughput, peak RSS;
* ``efficiency``: the same summary chunks (``--eff`` scenarios) in one process with one
  numba thread, in one process with all threads, and on a dask LocalCluster of 2 single-
  threaded worker processes (started before the clock): speed-up and parallel efficiency;
* ``big``: ``dcproj run --summary`` of ``--big`` scenarios (default 10^7) as a user runs it
  (``--scheduler auto``, i.e. in-process, unless ``--scheduler`` says otherwise), wall time and the peak RSS of the whole process tree (sampled
  every 0.2 s with psutil); extrapolated to 10^8 scenarios when fewer were run.

Every measured run is a fresh subprocess (a clean peak RSS); compile time is excluded from
throughputs (kernels are loaded before the clock starts) except in ``big``, which is timed
end to end like a user's command.  Results: ``benchmarks/results/scaleout.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CONFIG = ROOT / "configs" / "default.yaml"


def _log(msg: str) -> None:
    print(f"[scaleout] {msg}", file=sys.stderr, flush=True)


def measured(cmd: list[str], timeout: float) -> dict:
    """Run ``cmd``; return its wall time, exit status, last stdout line (JSON if any) and peak tree RSS."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        p = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    done.set()
    th.join()
    last = out.strip().splitlines()[-1] if out.strip() else ""
    try:
        data = json.loads(last)
    except ValueError:
        data = {"stdout": last}
    return {
        "wall_s": time.perf_counter() - t0,
        "rc": proc.returncode,
        "peak_tree_rss_mib": peak[0] / 2**20,
        "stderr_tail": err[-2000:],
        **data,
    }


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


COST = """
import json, time, numpy as np, numba
from engine import load_config
from engine.output import variables as cube
from engine.inputs.layout import build_layout
from engine.backends import get_backend
from engine.stats.spec import MOMENT_BLOCK as BLOCK, build_summary_spec
from kernels import cpu_summary as cs
from kernels.cpu_likelihood import scenario_weights
from kernels.summary import HIST_BINS, hist_bin_bits
cfg = load_config({config!r}); L = build_layout(cfg)
be = get_backend("numba"); n = BLOCK
out = cube.empty_arrays(L, n, np.float64)
x = be.sample(L, 1, 0, n); be.project(L, x, out)
flat = [out[v].reshape(n, -1) for v in ("electricity", "carbon", "water", "installed_accelerators")]
_bin = numba.njit(inline="always")(hist_bin_bits)

@numba.njit(cache=False)
def bin_only(tile, hist):  # the floor of the statistics: every cell's values binned and counted, no other work
    bits = tile.view(np.int64)
    for k in range(tile.shape[0]):
        for j in range(tile.shape[1]):
            hist[k, _bin(bits[k, j])] += 1

_derive, _reduce = cs._derive_subblock, cs._reduce_subblock

@numba.njit(cache=False)
def derive_only(n_sub, cv, cp, ti, tile):  # the derived cells of every sub-block, from a tile in cache
    for q in range(n_sub):
        _derive(cs.SUB, cv, cp, ti, tile)

@numba.njit(cache=False)
def reduce_only(n_sub, tile, thr_ptr, thr_value, bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr, wf, sub_w, wq):
    for q in range(n_sub):  # moments, min, max and bins of every sub-block, from a tile in cache
        _reduce(q, cs.SUB, tile, thr_ptr, thr_value, bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr, False, wf, sub_w,
                wq, 0)

def timings(f, clock, reps=7):  # µs per scenario of each of reps calls, after one warm-up call
    f(); ts = []
    for _ in range(reps):
        t = clock(); f(); ts.append(clock() - t)
    return [t / n * 1e6 for t in ts]

best = lambda f, clock: min(timings(f, clock))

def summary_calls(c):
    spec = build_summary_spec(c, L, [])
    k, w = spec.n_cells, spec.observations.weighted
    hist = np.zeros((k, HIST_BINS), np.int64 if w else np.int32); thr = np.zeros(spec.thr_value.shape[0], np.int64)
    scratch = cs.new_scratch(k, spec.thr_value.shape[0], n).arrays()
    bm, b2, lo, hi, bad = np.empty(k), np.empty(k), np.full(k, np.inf), np.full(k, -np.inf), np.full(k, 2**62, np.int64)
    tables = (spec.cell_var, spec.cell_ptr, spec.term_idx, spec.thr_ptr, spec.thr_value)
    stats = (hist, thr, bm, b2, lo, hi, bad)
    if w:
        scenario_weights(x, *flat, L.n_regions, L.n_years, *tables[:3], *spec.observations.arrays(), np.empty(n), scratch[7])
    acc = lambda: cs.accumulate_block(*flat, 0, w, *tables, *scratch, *stats, numba.get_num_threads())
    fused = lambda: cs.summarise_block(np.uint64(1), np.int64(0), n, L.kinds, L.params, L.keys, L.corr_index, L.corr_factor,
                                       L.n_regions, L.n_years, *tables, spec.element_offsets(), *spec.observations.arrays(),
                                       *scratch, *stats, numba.get_num_threads())
    tile = np.empty((k, n))
    cs._gather_elements(0, n, 0, *flat, *tables[:3], tile); cs._derive_cells(0, n, *tables[:3], tile)
    hist2 = np.zeros((k, HIST_BINS), np.int32)
    bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr, wq, sub_w = scratch
    n_sub = n // cs.SUB
    one = np.ascontiguousarray(tile[:, : cs.SUB])  # one sub-block's tile, reused: in cache, as in the fused pass
    phases = {{
        "derived_cells": lambda: derive_only(n_sub, *tables[:3], one),
        "subblock_reduction": lambda: reduce_only(n_sub, one, tables[3], tables[4], bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi,
                                                  sub_thr, np.ones(cs.SUB), sub_w, wq),
        "histogram_fold": lambda: cs._fold_cells(n, 0, tables[3], bins, sub_n, sub_mean, sub_m2, sub_lo, sub_hi, sub_thr, hist2,
                                                 thr, bm, b2, lo, hi, bad, False, wq, sub_w),
    }}
    return k, acc, fused, lambda: bin_only(tile, hist2), phases

prior = cfg.model_copy(update={{"observations": []}})
calls = {{"prior": summary_calls(prior), "weighted": summary_calls(cfg)}}
res = {{"cells": calls["prior"][0], "threads": numba.get_num_threads(), "block": n}}
for threads in (1, numba.get_num_threads()):
    numba.set_num_threads(threads)
    clock = time.process_time if threads == 1 else time.perf_counter
    tag = "cpu_us_1thread" if threads == 1 else "wall_us_all_threads"
    r = res[tag] = {{"sample": best(lambda: be.sample(L, 1, 0, n), clock), "model": best(lambda: be.project(L, x, out), clock)}}
    for mode, (k, acc, fused, floor, _) in calls.items():
        ts = timings(fused, clock)  # the median too: on a shared host the best of 7 flatters a long run
        r[mode] = {{"accumulate": best(acc, clock), "fused_summary": min(ts), "fused_summary_median": float(np.median(ts))}}
        r[mode]["fused_over_sample_and_model"] = r[mode]["fused_summary"] / (r["sample"] + r["model"])
        r[mode]["statistics_ns_per_cell"] = (r[mode]["fused_summary"] - r["sample"] - r["model"]) * 1e3 / k
    r["bin_floor"] = best(calls["prior"][3], clock)
    if threads == 1:  # where the prior statistics' time goes (the reduction and fold of the phases above)
        ph = {{name: best(f, clock) * 1e3 / res["cells"] for name, f in calls["prior"][4].items()}}
        ph["rest"] = r["prior"]["statistics_ns_per_cell"] - sum(ph.values())
        r["prior"]["phases_ns_per_cell"] = ph
    r["bin_floor_ns_per_cell"] = r["bin_floor"] * 1e3 / res["cells"]
    for mode in calls:
        r[mode]["statistics_over_bin_floor"] = r[mode]["statistics_ns_per_cell"] / r["bin_floor_ns_per_cell"]
print(json.dumps(res))
"""

FULL = """
import json, os, time, tempfile
from engine import load_config, run, run_to_file
cfg = load_config({config!r})
run(cfg, scenarios=100)  # load the kernels before the clock
with tempfile.TemporaryDirectory(dir={tmpdir!r}) as d:
    t = time.perf_counter()
    p = run_to_file(cfg, os.path.join(d, "full.nc"), scenarios={n}, seed=1, scheduler="none")
    wall = time.perf_counter() - t
    size = os.path.getsize(p)
print(json.dumps({{"scenarios": {n}, "run_s": wall, "scenarios_per_s": {n} / wall, "file_mib": size / 2**20}}))
"""

EFF = """
import json, time, numba
from engine import load_config, run
cfg = load_config({config!r})
run(cfg, scenarios=100, summary=True)
kw = dict(scenarios={n}, seed=1, summary=True, chunk_size={chunk})
res = {{}}
threads = numba.get_num_threads()
numba.set_num_threads(1)
t = time.perf_counter(); ref = run(cfg, **kw); res["one_thread_s"] = time.perf_counter() - t
numba.set_num_threads(threads)
t = time.perf_counter(); run(cfg, **kw); res["in_process_all_threads_s"] = time.perf_counter() - t
res["threads"] = threads
from engine.backends import get_backend
from engine.inputs.layout import build_layout
be, L = get_backend("numba"), build_layout(cfg)
def sample_s(nt):  # a compute-bound kernel (no memory traffic): how far this machine's cores scale
    numba.set_num_threads(nt); be.sample(L, 1, 0, 1000); ts = []
    for _ in range(3):
        t = time.perf_counter(); be.sample(L, 1, 0, 100000); ts.append(time.perf_counter() - t)
    return min(ts)
res["machine_compute_scaling"] = sample_s(1) / sample_s(threads)
numba.set_num_threads(threads)
from distributed import LocalCluster
from engine.execution.clusters import WORKER_ENV
t = time.perf_counter()
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", env=dict(WORKER_ENV)) as c:
    res["cluster_start_s"] = time.perf_counter() - t
    from distributed import Client
    with Client(c) as client:  # every worker loads the kernels before the clock
        client.run(lambda: run(load_config({config!r}), scenarios=100, summary=True) and None)
    t = time.perf_counter()
    got = run(cfg, scheduler=c.scheduler_address, **kw)
    res["local_cluster_2_workers_s"] = time.perf_counter() - t
import numpy as np
res["identical"] = all(np.array_equal(ref[v].values, got[v].values, equal_nan=True) for v in ref.data_vars)
res["scenarios"] = {n}; res["chunk_size"] = {chunk}
res["speedup_cluster_vs_one_thread"] = res["one_thread_s"] / res["local_cluster_2_workers_s"]
res["efficiency_cluster"] = res["speedup_cluster_vs_one_thread"] / 2
res["speedup_threads_vs_one_thread"] = res["one_thread_s"] / res["in_process_all_threads_s"]
res["cluster_vs_in_process_threads"] = res["in_process_all_threads_s"] / res["local_cluster_2_workers_s"]
res["efficiency_vs_machine_scaling"] = res["speedup_cluster_vs_one_thread"] / res["machine_compute_scaling"]
print(json.dumps(res))
"""


def part_cost(args) -> dict:
    _log("cost: per-scenario time of sampling, model, accumulation")
    return measured(_py(COST.format(config=str(args.config))), 600)


def part_full(args) -> dict:
    _log(f"full: single-process full cube, {int(args.full):,} scenarios")
    return measured(_py(FULL.format(config=str(args.config), n=int(args.full), tmpdir=args.tmpdir)), 1800)


def part_efficiency(args) -> dict:
    _log(f"efficiency: summary of {int(args.eff):,} scenarios, 1 thread / all threads / LocalCluster(2)")
    return measured(_py(EFF.format(config=str(args.config), n=int(args.eff), chunk=args.chunk)), 1800)


def part_big(args) -> dict:
    n = int(args.big)
    _log(f"big: dcproj run --summary -n {n:,} --scheduler {args.scheduler}")
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as d:
        out = Path(d) / "big.nc"
        cmd = [
            sys.executable,
            "-m",
            "engine.cli",
            "run",
            str(args.config),
            "-n",
            str(n),
            "--summary",
            "--scheduler",
            args.scheduler,
            "-o",
            str(out),
            "--threshold",
            "2030>1000",
        ]
        r = measured(cmd, args.big_timeout)
        r.update(scenarios=n, scheduler=args.scheduler, scenarios_per_s=n / r["wall_s"], completed=r["rc"] == 0 and out.exists())
    if n < 10**8:
        r["extrapolated_1e8_wall_s"] = r["wall_s"] * 10**8 / n
    return r


def machine() -> dict:
    import numba
    import psutil

    cpu = platform.processor() or ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": psutil.virtual_memory().total / 2**30,
        "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "commit": commit,
        "load_average_at_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _when(part: dict) -> str:
    w = part.get("measured")
    return f"(measured {w['date']}, commit {w['commit']}, load average {w['load_average']:.1f})" if w else ""


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [
        f"# dcproj scale-out benchmarks ({m['date']}, commit {m['commit']})",
        "",
        f"`python -m benchmarks.scaleout`; config `configs/default.yaml` (14 years × 4 regions, 2086 summary cells). "
        f"CPU: {m['cpu']}, {m['cores']} cores, {m['ram_gib']:.1f} GiB. A shared machine: other jobs ran alongside, so "
        "timings are noisy; each section says when it was measured and the 1-minute load average then.",
        "",
    ]
    if "cost" in res:
        c = res["cost"]["cpu_us_1thread"]
        lines += [
            "## Cost per scenario (CPU time, one thread)",
            "",
            _when(res["cost"]),
            "",
            f"Blocks of {res['cost'].get('block', 4096):,} scenarios; the statistics' own cost is the fused summary minus "
            "sampling and the model, per cell and scenario; its floor is one pass that bins and counts every cell's "
            "value (the values given, no other work).",
            "",
            "| summary | sample µs | model µs | fused summary (sample + model + statistics) µs | fused / (sample + model) | "
            "statistics of given arrays µs | statistics ns per cell | floor ns per cell | ÷ floor |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for mode in ("prior", "weighted"):
            if mode not in c:
                continue
            r = c[mode]
            lines.append(
                f"| {mode} | {c['sample']:.2f} | {c['model']:.2f} | {r['fused_summary']:.2f} | {r['fused_over_sample_and_model']:.2f}× | "
                f"{r['accumulate']:.2f} | {r['statistics_ns_per_cell']:.2f} | {c['bin_floor_ns_per_cell']:.2f} | "
                f"{r['statistics_over_bin_floor']:.1f}× |"
            )
        lines.append("")
        a = res["cost"].get("wall_us_all_threads", {})
        if "fused_summary_median" in a.get("weighted", {}):
            lines += [
                f"Wall time per scenario of the fused summary on all {res['cost']['threads']} threads (best and median of 7 "
                f"blocks; a long run sees the median): prior {a['prior']['fused_summary']:.2f} and "
                f"{a['prior']['fused_summary_median']:.2f} µs, weighted {a['weighted']['fused_summary']:.2f} and "
                f"{a['weighted']['fused_summary_median']:.2f} µs; one thread's median: prior "
                f"{c['prior']['fused_summary_median']:.2f}, weighted {c['weighted']['fused_summary_median']:.2f} µs.",
                "",
            ]
        ph = c.get("prior", {}).get("phases_ns_per_cell")
        if ph:
            lines += [
                "Where the prior statistics' time goes, ns per cell and scenario (each phase timed alone on one "
                f"sub-block's tile in cache): derived cells {ph['derived_cells']:.2f}, sub-block moments, min, max and bins "
                f"{ph['subblock_reduction']:.2f}, histogram fold {ph['histogram_fold']:.2f}; the rest, {ph['rest']:.2f}, is the "
                "transpose of the model's scenario-major outputs into the cell-major tile and the loops around the phases.",
                "",
            ]
    if "full" in res:
        f = res["full"]
        lines += [
            "## Single-process full cube",
            "",
            _when(res["full"]),
            "",
            "| scenarios | wall s | scenarios/s | file MiB | peak RSS MiB |",
            "|---:|---:|---:|---:|---:|",
            f"| {f['scenarios']:.0e} | {f['run_s']:.1f} | {f['scenarios_per_s']:,.0f} | {f['file_mib']:,.0f} | {f['peak_tree_rss_mib']:,.0f} |",  # noqa: E501
            "",
        ]
    if "efficiency" in res:
        e = res["efficiency"]
        lines += [
            f"## Summary: LocalCluster of 2 workers vs one process, same chunks ({e['scenarios']:.0e} scenarios, chunks of {e['chunk_size']:,})",  # noqa: E501
            "",
            _when(e),
            "",
            "| one thread s | one process, all threads s | LocalCluster 2×1 s | cluster speed-up vs 1 thread | efficiency | cluster vs threads | identical |",  # noqa: E501
            "|---:|---:|---:|---:|---:|---:|---|",
            f"| {e['one_thread_s']:.1f} | {e['in_process_all_threads_s']:.1f} | {e['local_cluster_2_workers_s']:.1f} | "
            f"{e['speedup_cluster_vs_one_thread']:.2f}× | {e['efficiency_cluster']:.0%} | {e['cluster_vs_in_process_threads']:.2f}× | {e['identical']} |",  # noqa: E501
            "",
            f"(LocalCluster start-up, not timed above: {e['cluster_start_s']:.1f} s.)",
            "",
            f"For reference, this machine's own 1 → 2 thread scaling of a compute-bound kernel (sampling 10^5 "
            f"scenarios, no memory traffic) in the same run: {e.get('machine_compute_scaling', float('nan')):.2f}× "
            "(it varies from run to run with the load of the shared host).",
            "",
        ]
    if "big" in res:
        b = res["big"]
        lines += [
            f"## `dcproj run --summary` of {b['scenarios']:.0e} scenarios (--scheduler {b['scheduler']}, end to end)",
            "",
            _when(b),
            "",
            "| scenarios | wall s | scenarios/s | peak RSS of all processes MiB | completed |",
            "|---:|---:|---:|---:|---|",
            f"| {b['scenarios']:.0e} | {b['wall_s']:.0f} | {b['scenarios_per_s']:,.0f} | {b['peak_tree_rss_mib']:,.0f} | {b['completed']} |",  # noqa: E501
            "",
        ]
        if "extrapolated_1e8_wall_s" in b:
            lines += [
                f"10^8 scenarios were not run (it would outlast the time available); at this throughput they would take "
                f"≈ {b['extrapolated_1e8_wall_s']:,.0f} s (linear extrapolation; memory does not grow with the count).",
                "",
            ]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--parts", nargs="*", default=["cost", "full", "efficiency", "big"], choices=["cost", "full", "efficiency", "big"]
    )
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--full", type=float, default=1e6, help="scenarios of the full-cube run")
    ap.add_argument("--eff", type=float, default=2e6, help="scenarios of the efficiency comparison")
    ap.add_argument("--chunk", type=int, default=65536, help="summary chunk of the efficiency comparison")
    ap.add_argument("--big", type=float, default=1e7, help="scenarios of the big summary run")
    ap.add_argument("--big-timeout", type=float, default=600, help="seconds before the big run is stopped")
    ap.add_argument("--scheduler", default="auto", help="--scheduler of the big run (auto: this process, as dcproj run does by default)")
    ap.add_argument("--tmpdir", default=tempfile.gettempdir())
    ap.add_argument("--out", type=Path, default=RESULTS / "scaleout")
    args = ap.parse_args(argv)
    path_json = args.out.with_suffix(".json")
    res = json.loads(path_json.read_text()) if path_json.exists() else {}
    res["machine"] = machine()
    parts = {"cost": part_cost, "full": part_full, "efficiency": part_efficiency, "big": part_big}
    for name in args.parts:
        when = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "load_average": os.getloadavg()[0],
            "commit": res["machine"]["commit"],
        }
        res[name] = dict(parts[name](args), measured=when)
        _log(json.dumps({k: v for k, v in res[name].items() if k != "stderr_tail"}))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        path_json.write_text(json.dumps(res, indent=1, default=str))
        args.out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
