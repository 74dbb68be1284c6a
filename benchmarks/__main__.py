"""dcproj benchmark suite: ``python -m benchmarks`` (CPU), ``python -m benchmarks --gpu on`` (CPU + GPU).

What it measures, in one process so that ratios compare like with like (details in
``benchmarks/README.md``):

* JIT compile time from a cold cache and load time from a warm one (fresh processes), and
  the first calls in this process with whether numba's on-disk cache hit;
* CPU throughput against scenario count (default 10^3 … 10^7; ``--sizes`` up to 10^8 and
  beyond), phases timed separately: sampling, model, reduction, netCDF write;
* the NumPy reference backend on the same scenarios (baseline) up to ``--numpy-max``;
* the CPU memory floor (writing the same bytes) and the ratio of the kernels to it;
* thread scaling (``numba.set_num_threads``) at ``--threads-size`` scenarios;
* the in-memory quantile summary (``engine.analysis.results.summarise``) and streaming summary runs
  (``engine.execution.tasks.compute_summary``, default cells, ``--summary-sizes``);
* on a GPU (``--gpu on``, or ``auto`` when one is present): device name, compute capability,
  driver and library versions; compile time; bit-identity of the uniforms and agreement of
  the outputs with the CPU; throughput against scenario count (default 10^4 … 10^9) with
  sampling, model, fused kernel, transfer and the device-memory-bandwidth floor; summary
  runs with device-side summaries (``--gpu-summary-sizes``, up to 10^9) against the CPU's.

Results: ``<out>.json`` (everything) and ``<out>.md`` (tables), by default under
``benchmarks/results/`` named after the machine (``cpu-<cores>core`` or ``gpu-<device>``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

DEFAULT_SIZES = [1e3, 1e4, 1e5, 1e6, 1e7]
DEFAULT_GPU_SIZES = [1e4, 1e5, 1e6, 1e7, 1e8, 1e9]


def _log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "machine"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="output path stem (.json and .md are added); default benchmarks/results/<machine>")
    cpu = ap.add_argument_group("CPU")
    cpu.add_argument("--sizes", nargs="*", type=float, default=DEFAULT_SIZES, help="CPU scenario counts (none: skip)")
    cpu.add_argument("--chunk", type=int, default=250_000, help="CPU scenarios per chunk")
    cpu.add_argument("--numpy-max", type=float, default=1e5, help="largest count also run with the NumPy reference")
    cpu.add_argument("--write-max", type=float, default=1e5, help="largest count also written to netCDF")
    cpu.add_argument("--tmpdir", default=None, help="folder for the netCDF files of the write phase")
    cpu.add_argument("--threads", nargs="*", type=int, default=None, help="thread counts for the scaling table (default 1, 2, 4, … all)")
    cpu.add_argument("--threads-size", type=float, default=1e6, help="scenarios per thread-scaling point (0: skip)")
    cpu.add_argument("--no-compile", action="store_true", help="skip the cold/warm compile measurement (fresh processes)")
    cpu.add_argument("--summary-size", type=float, default=2e4, help="scenarios of the in-memory quantile summary (0: skip)")
    cpu.add_argument("--summary-sizes", nargs="*", type=float, default=[1e5, 1e6], help="CPU streaming-summary run sizes (none: skip)")
    gpu = ap.add_argument_group("GPU")
    gpu.add_argument("--gpu", choices=["auto", "on", "off"], default="auto", help="on: fail without a device; auto: when one is present")
    gpu.add_argument("--gpu-sizes", nargs="*", type=float, default=DEFAULT_GPU_SIZES)
    gpu.add_argument("--gpu-chunk", type=int, default=None, help="device scenarios per chunk (default: from free memory, at most 2^22)")
    gpu.add_argument("--transfer-max", type=float, default=1e7, help="largest count whose cube is also copied to the host")
    gpu.add_argument("--check-size", type=int, default=10_000, help="scenarios of the GPU-vs-CPU agreement check")
    gpu.add_argument("--no-fused", action="store_true", help="skip the fused sample+model kernel")
    gpu.add_argument("--gpu-summary-sizes", nargs="*", type=float, default=[1e5, 1e6, 1e7, 1e8, 1e9],
                     help="summary-run sizes on the device (see --gpu-budget)")
    gpu.add_argument("--gpu-summary-chunk", type=int, default=1 << 24, help="scenarios per summary chunk on the device")
    gpu.add_argument("--gpu-budget", type=float, default=120.0,
                     help="skip the next GPU size (cube or summary) when it would take longer than this, extrapolated linearly [s]")
    return ap.parse_args(argv)


def run_cpu(args, config, layout, result, save=lambda: None):
    from benchmarks import cpu

    if not args.no_compile:
        _log("compile: cold and warm cache (fresh processes)")
        result["compile"] = cpu.compile_times(args.config)
        _log(f"compile: {json.dumps(result['compile'])}")
    result["first_calls"] = cpu.first_calls_in_process(layout)
    sizes = [int(s) for s in args.sizes]
    result["sizes"] = []
    for n in sizes:
        _log(f"cpu: {n:,} scenarios")
        r = cpu.bench_size(config, layout, n, args.chunk, seed=args.seed, numpy_max=args.numpy_max,
                           write_max=args.write_max, tmpdir=args.tmpdir)
        _log(json.dumps(r))
        result["sizes"].append(r)
        save()
    if args.threads_size:
        counts = args.threads or cpu.default_thread_counts()
        _log(f"cpu: thread scaling {counts} at {int(args.threads_size):,} scenarios")
        result["threads"] = cpu.thread_scaling(layout, int(args.threads_size), args.chunk, counts, seed=args.seed)
    if args.summary_size:
        result["xarray_summary"] = cpu.xarray_summary(config, int(args.summary_size))
    result["summary_runs"] = []
    for n in [int(s) for s in args.summary_sizes]:
        _log(f"cpu: summary run of {n:,} scenarios")
        r = cpu.summary_run(config, layout, n, args.chunk * 4, seed=args.seed)
        _log(json.dumps(r))
        result["summary_runs"].append(r)
        save()


def run_gpu(args, config, layout, result, save=lambda: None):
    from benchmarks import gpu
    from engine.backends import get_backend

    be = get_backend("cuda")
    info = gpu.device_info()
    result["gpu"] = {"device": info}
    _log(f"gpu: {json.dumps(info)}")
    result["gpu"]["compile"] = gpu.compile_times(be, layout)
    _log(f"gpu compile: {json.dumps(result['gpu']['compile'])}")
    if args.check_size:
        result["gpu"]["check"] = gpu.check_against_cpu(be, layout, args.check_size)
        _log(f"gpu check: {json.dumps(result['gpu']['check'])}")
    save()
    chunk = args.gpu_chunk or gpu.default_chunk(layout, info.get("memory_free_bytes"))
    result["gpu"]["sizes"] = []
    result["gpu"]["skipped"] = []
    sizes = [int(s) for s in args.gpu_sizes]
    for i, n in enumerate(sizes):
        _log(f"gpu: {n:,} scenarios (chunk {chunk:,})")
        t0 = time.perf_counter()
        r = gpu.bench_size(be, layout, n, chunk, seed=args.seed, transfer_max=args.transfer_max, fused=not args.no_fused)
        _log(json.dumps(r))
        result["gpu"]["sizes"].append(r)
        save()
        if _over_budget(time.perf_counter() - t0, n, sizes[i + 1 :], args.gpu_budget, result["gpu"]["skipped"], "cube"):
            break
    result["gpu"]["summary_runs"] = []
    sizes = [int(s) for s in args.gpu_summary_sizes]
    for i, n in enumerate(sizes):
        _log(f"gpu: summary run of {n:,} scenarios")
        r = gpu.summary_run(be, config, layout, n, args.gpu_summary_chunk, seed=args.seed)
        _log(json.dumps(r))
        result["gpu"]["summary_runs"].append(r)
        save()
        if _over_budget(r["summary_s"], n, sizes[i + 1 :], args.gpu_budget, result["gpu"]["skipped"], "summary"):
            break
    save()


def _over_budget(seconds, n, rest, budget, skipped, what) -> bool:
    """True (and the rest recorded as skipped) when the next size would outlast ``budget``."""
    if rest and seconds * rest[0] / n > budget:
        skipped.extend({"what": what, "scenarios": m, "predicted_s": seconds * m / n} for m in rest)
        _log(f"gpu: {what} at {rest[0]:,} scenarios would take ~{seconds * rest[0] / n:.0f} s > --gpu-budget; skipped {rest}")
        return True
    return False


def main(argv=None):
    args = parse_args(argv)
    from benchmarks import report
    from benchmarks.common import git_commit, machine_info
    from engine import load_config
    from engine.backends.cuda_gpu import cuda_unavailable_reason
    from engine.inputs.layout import build_layout

    config = load_config(args.config)
    layout = build_layout(config)
    import numba

    use_gpu = args.gpu == "on" or (args.gpu == "auto" and not numba.config.ENABLE_CUDASIM and cuda_unavailable_reason() is None)
    if args.gpu == "on" and (reason := cuda_unavailable_reason()) is not None:
        sys.exit(f"python -m benchmarks: --gpu on, but no CUDA device is available ({reason})")
    result = {
        "suite": "dcproj benchmarks",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_commit(),
        "command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
        "config": str(Path(args.config).resolve().relative_to(ROOT)) if Path(args.config).resolve().is_relative_to(ROOT) else args.config,
        "years": layout.n_years,
        "regions": layout.n_regions,
        "inputs": layout.n_inputs,
        "machine": machine_info(),
    }
    if args.out:
        out = Path(args.out)
    elif numba.config.ENABLE_CUDASIM:  # simulator numbers mean nothing: keep them out of results/
        import tempfile

        out = Path(tempfile.gettempdir()) / "dcproj-bench-simulator"
    elif use_gpu:
        from kernels import cuda as kc

        out = HERE / "results" / f"gpu-{_slug(kc.device_info().get('name', 'device'))}"
    else:
        out = HERE / "results" / f"cpu-{result['machine']['cores']}core"
    out.parent.mkdir(parents=True, exist_ok=True)

    result["load_average_start"] = list(os.getloadavg())

    def save(final=False):
        """Write the JSON and the tables (also after every size: a run cut short keeps its results)."""
        result["load_average_end"] = list(os.getloadavg())
        report.ratios(result)
        result["complete"] = final
        table = report.markdown(result)
        out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        out.with_suffix(".md").write_text(table)
        return table

    run_cpu(args, config, layout, result, save)
    if use_gpu:
        run_gpu(args, config, layout, result, save)
    print(save(final=True))
    _log(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return result


if __name__ == "__main__":
    main()
