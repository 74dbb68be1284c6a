"""GPU part of the suite (numba.cuda): device description, compile, correctness, throughput.

Phases per scenario count, each timed between ``cuda.synchronize()`` calls:

* ``sample``: :data:`kernels.cuda.sample_kernel` into a device array;
* ``model``: :data:`kernels.cuda.project_kernel` (float32 outputs, as ``dcproj run``);
* ``fused``: :data:`kernels.cuda.sample_project_kernel`, both in one launch (run separately);
* ``bandwidth floor``: :data:`kernels.cuda.fill_kernel` writing the same bytes (inputs and
  outputs) on the device, nothing else;
* ``transfer``: copying the chunk's outputs to pinned host memory (up to ``transfer_max``
  scenarios; beyond that the cube is computed on the device and dropped, which measures the
  kernels, not a usable run).

Summary runs (:func:`summary_run`): device-side summaries, ``CudaBackend.summarise_chunk`` per
chunk; the statistics are merged on the host.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np

from benchmarks.common import Clock, chunks, output_bytes

OUTPUTS = ("electricity", "carbon", "water", "installed_accelerators")


def nvidia_smi() -> dict:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return {}
    q = "name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,pcie.link.gen.max,pcie.link.width.max"
    try:
        p = subprocess.run([exe, f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    if p.returncode != 0 or not p.stdout.strip():
        return {}
    vals = [v.strip() for v in p.stdout.strip().splitlines()[0].split(",")]
    return dict(zip([f"smi_{k.replace('.', '_')}" for k in q.split(",")], vals, strict=False))


def device_info() -> dict:
    from kernels import cuda as kc

    info = kc.device_info()
    info.update(nvidia_smi())
    try:
        from importlib.metadata import version

        for pkg in ("cuda-python", "cuda-bindings", "nvidia-cuda-nvcc-cu12", "nvidia-cuda-nvrtc", "cupy-cuda13x"):
            try:
                info[f"pkg_{pkg}"] = version(pkg)
            except Exception:  # noqa: BLE001
                pass
    except ImportError:
        pass
    return info


def compile_times(be, layout) -> dict:
    """First launch of each kernel (numba.cuda compiles at the first launch; no disk cache)."""
    from numba import cuda

    from kernels import cuda as kc

    res = {}
    n = 32
    kinds, params, keys, corr_index, factor = be.device_layout(layout)
    t0 = time.perf_counter()
    x = be.sample_device(layout, 1, 0, n)
    cuda.synchronize()
    res["sample_kernel_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    be.project_device(layout, x, np.float32)
    cuda.synchronize()
    res["project_kernel_s"] = time.perf_counter() - t0
    outs = [be.buffer(f"fused_{k}", d.shape, d.dtype) for k, d in be.project_device(layout, x, np.float32).items()]
    t0 = time.perf_counter()
    kc.sample_project_kernel[1, 32](np.uint64(1), np.int64(0), kinds, params, keys, corr_index, factor, layout.n_regions, layout.n_years, x, *outs)
    cuda.synchronize()
    res["fused_kernel_s"] = time.perf_counter() - t0
    a = cuda.device_array(1024, dtype=np.float32)
    t0 = time.perf_counter()
    kc.fill_kernel[4, 32](a, np.float32(1.0))
    cuda.synchronize()
    res["fill_kernel_s"] = time.perf_counter() - t0
    res["total_s"] = sum(res.values())
    res["cache_hit"] = False  # numba.cuda kernels are compiled in-process at the first launch
    return res


def check_against_cpu(be, layout, n=10_000, seed=12345, start=2**33) -> dict:
    """On the device: uniforms bit for bit, inputs and outputs against the CPU (float64)."""
    from numba import cuda

    from engine.backends import get_backend
    from engine.output.variables import empty_arrays
    from engine.reference.philox import input_uniforms_np
    from kernels import cuda as kc

    u = cuda.device_array((n, layout.n_inputs))
    blocks, threads = kc.launch_config(n)
    kc.uniforms_kernel[blocks, threads](np.uint64(seed), np.int64(start), cuda.to_device(layout.keys), u)
    gpu_u = u.copy_to_host()
    sc = np.arange(start, start + n, dtype=np.uint64)
    ref_u = np.stack([input_uniforms_np(seed, sc, int(k)) for k in layout.keys], axis=1)
    cpu = get_backend("numba")
    res = {"scenarios": n, "uniforms_bit_identical": bool(np.array_equal(gpu_u.view(np.uint64), ref_u.view(np.uint64)))}
    g = empty_arrays(layout, n, np.float64)
    c = empty_arrays(layout, n, np.float64)
    g["inputs"][...] = be.sample(layout, seed, start, n)
    c["inputs"][...] = cpu.sample(layout, seed, start, n)
    be.project(layout, g["inputs"], g)
    cpu.project(layout, c["inputs"], c)
    worst = 0.0
    for name in (*OUTPUTS, "inputs"):
        a, b = g[name], c[name]
        den = np.abs(b)
        rel = np.where(den > 0, np.abs(a - b) / np.where(den > 0, den, 1.0), np.abs(a - b))
        res[f"max_rel_diff_{name}"] = float(rel.max())
        worst = max(worst, float(rel.max()))
    res["max_rel_diff"] = worst
    res["agree_rtol_1e-6"] = worst <= 1e-6
    return res


def bandwidth_floor(be, arrays) -> float:
    """Time to write every element of ``arrays`` (device arrays) once, on the device."""
    from numba import cuda

    from kernels import cuda as kc

    cuda.synchronize()
    t0 = time.perf_counter()
    for a in arrays:
        flat = a.ravel()
        blocks, threads = kc.launch_config(flat.shape[0], 256)
        kc.fill_kernel[blocks, threads](flat, flat.dtype.type(1))
    cuda.synchronize()
    return time.perf_counter() - t0


def bench_size(be, layout, n, chunk, *, seed=42, transfer_max=0, fused=True) -> dict:
    from numba import cuda

    from kernels import cuda as kc

    c = min(chunk, n)
    years = layout.n_years
    kinds, params, keys, corr_index, factor = be.device_layout(layout)
    clock = Clock(sync=cuda.synchronize)
    transfer = n <= transfer_max
    pinned = None
    t_floor = 0.0
    # one untimed pass over the first chunk: device buffers of this chunk size allocated
    be.project_device(layout, be.sample_device(layout, seed, 0, c), np.float32)
    for start, count in chunks(n, c):
        with clock("sample"):
            x = be.sample_device(layout, seed, start, count)
        with clock("model"):
            dev = be.project_device(layout, x, np.float32)
        if transfer:
            if pinned is None:  # page-locked host buffers for a whole chunk, allocated once
                pinned = {k: cuda.pinned_array((c, *d.shape[1:]), dtype=d.dtype) for k, d in {**dev, "inputs": x}.items()}
            with clock("transfer"):
                for k, d in {**dev, "inputs": x}.items():
                    d.copy_to_host(pinned[k][:count])
        if fused:
            outs = [be.buffer(f"fused_{k}", d.shape, d.dtype) for k, d in dev.items()]
            xf = be.buffer("fused_inputs", x.shape, x.dtype)
            blocks, threads = kc.launch_config(count)
            with clock("fused"):
                kc.sample_project_kernel[blocks, threads](
                    np.uint64(seed), np.int64(start), kinds, params, keys, corr_index, factor, layout.n_regions, years, xf, *outs
                )
        t_floor += bandwidth_floor(be, [x, *dev.values()])
    t = clock.totals
    compute = t["sample"] + t["model"]
    nbytes = output_bytes(layout, n)
    res = {
        "scenarios": n,
        "chunk": c,
        "cube_bytes": nbytes,
        "sample_s": t["sample"],
        "model_s": t["model"],
        "compute_s": compute,
        "scenarios_per_s": n / compute,
        "scenario_years_per_s": n * years / compute,
        "bandwidth_floor_s": t_floor,
        "bandwidth_floor_gb_per_s": nbytes / t_floor / 1e9,
        "compute_vs_bandwidth_floor": compute / t_floor,
    }
    if fused:
        res["fused_s"] = t["fused"]
        res["fused_scenario_years_per_s"] = n * years / t["fused"]
        res["fused_vs_bandwidth_floor"] = t["fused"] / t_floor
    if transfer:
        res["transfer_s"] = t["transfer"]
        res["transfer_gb_per_s"] = nbytes / t["transfer"] / 1e9
        res["with_transfer_scenario_years_per_s"] = n * years / (compute + t["transfer"])
    return res


def default_chunk(layout, free_bytes: int | None) -> int:
    """Scenarios per device chunk: buffers of two phases plus the fused ones in ~40 % of free memory."""
    per = output_bytes(layout, 1) * 2  # two-phase buffers + fused buffers
    budget = int(0.4 * free_bytes) if free_bytes else 4 * 2**30
    return int(max(1024, min(1 << 22, budget // per)))


def summary_run(be, config, layout, n, chunk, seed=42) -> dict:
    """A summary run with device-side summaries (``CudaBackend.summarise_chunk`` per chunk,
    merged on the host in order); only the statistics cross the bus."""
    from numba import cuda

    from engine.stats.spec import MOMENT_BLOCK as BLOCK
    from engine.stats.spec import build_summary_spec
    from engine.stats.state import SummaryState

    spec = build_summary_spec(config, layout)  # weighted by the config's observations, as the CPU's summary_run
    c = max(BLOCK, (min(chunk, n) // BLOCK) * BLOCK)
    be.summarise_chunk(layout, spec, seed, 0, min(n, BLOCK))  # compile and allocate, untimed
    cuda.synchronize()
    state = SummaryState(spec)
    t_dev = 0.0
    t0 = time.perf_counter()
    for start, count in chunks(n, c):
        t = time.perf_counter()
        part = be.summarise_chunk(layout, spec, seed, start, count)
        t_dev += time.perf_counter() - t
        state.add(part)
    t1 = time.perf_counter()
    return {"scenarios": n, "chunk": c, "cells": spec.n_cells, "summary_s": t1 - t0, "device_s": t_dev,
            "scenario_years_per_s": n * layout.n_years / (t1 - t0)}
