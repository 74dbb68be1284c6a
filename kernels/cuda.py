"""CUDA target: the kernel arithmetic compiled as ``numba.cuda`` device functions.

The equations, the Philox generator and the inverse CDFs are the same :func:`kernels._target.kernel`
functions the CPU runs: :func:`kernels._target.build` compiles them here with
``functools.partial(cuda.jit, device=True)``.  This module holds only the thread-per-scenario
drivers (grid-stride loops, so any grid covers any count) and their host-side launch helpers;
there is no second copy of the equations.  The device-side summaries (the statistics of a
``--summary`` run, computed where the outputs are) are in :mod:`kernels.cuda_summary`.

Per-thread scratch space (shipments, power and in-service fraction per year; the copula's
normal deviates) lives in ``cuda.local.array`` of the fixed sizes :data:`MAX_YEARS` and
:data:`MAX_CORR`; :func:`check_limits` rejects a layout that would not fit, on the host,
before any launch.

Reproducibility: thread ``s`` of a launch for ``start`` evaluates scenario ``start + s`` with
the same Philox counters as the CPU (``kernels.philox``), so the uniforms are bit-identical;
the transforms after it use the device's ``exp``/``log``/``erfc`` (libdevice) and may
contract ``a*b + c`` into FMAs, so outputs are expected to agree with the CPU to a few ulps,
not bit for bit (the simulator, which runs the same code as Python, differs by ~1e-15; the
tests require rtol 1e-6; ``python -m benchmarks --gpu on`` reports the difference measured
on a device).

Importing this module compiles nothing (numba.cuda compiles at the first launch) and needs
no GPU.  With ``NUMBA_ENABLE_CUDASIM=1`` set before numba is first imported, the same code
runs in numba's CUDA simulator (pure Python threads: slow, for tests on tens of scenarios).
"""

from __future__ import annotations

import functools

import numba
from numba import cuda

from kernels import _cuda_builtins, distributions, model, philox, sampling, special
from kernels._target import build

__all__ = [
    "MAX_YEARS",
    "MAX_CORR",
    "THREADS_PER_BLOCK",
    "SIMULATOR",
    "D",
    "check_limits",
    "launch_config",
    "uniforms_kernel",
    "sample_kernel",
    "project_kernel",
    "sample_project_kernel",
    "fill_kernel",
    "device_info",
]

#: Largest number of projection years (scratch arrays per thread).  The config schema caps
#: the horizon at 2100, i.e. 79 years from the 2022 base year.
MAX_YEARS = 80
#: Largest number of inputs in the Gaussian copula (scratch for their normal deviates).
MAX_CORR = 64
#: Threads per block of every launch (a multiple of the 32-thread warp; one warp in the
#: simulator, where every thread is a Python thread).
THREADS_PER_BLOCK = 32 if bool(numba.config.ENABLE_CUDASIM) else 128
#: Most blocks of one launch; the grid-stride loops cover larger counts.
MAX_BLOCKS = 65_535
_SIM_MAX_BLOCKS = 4
#: True when numba runs the kernels in its CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``).
SIMULATOR = bool(numba.config.ENABLE_CUDASIM)

#: The @kernel functions compiled as CUDA device functions (one namespace, as on the CPU).
D = build(functools.partial(cuda.jit, device=True), [_cuda_builtins, philox, special, distributions, model, sampling])
_draw_uniforms = D.draw_uniforms
_sample_scenario = D.sample_scenario
_project_scenario = D.project_scenario

_f64 = numba.float64


def check_limits(n_years: int, n_corr: int) -> None:
    """Raise ``ValueError`` if a layout exceeds the per-thread scratch sizes of this module."""
    if n_years > MAX_YEARS:
        raise ValueError(
            f"the cuda backend supports at most {MAX_YEARS} projection years (kernels.cuda.MAX_YEARS); "
            f"this config has {n_years}: shorten the horizon or use --backend numba"
        )
    if n_corr > MAX_CORR:
        raise ValueError(
            f"the cuda backend supports at most {MAX_CORR} correlated inputs (kernels.cuda.MAX_CORR); "
            f"this config correlates {n_corr}: use --backend numba"
        )


def launch_config(count: int, threads: int = THREADS_PER_BLOCK) -> tuple[int, int]:
    """``(blocks, threads)`` for a grid-stride launch over ``count`` items.

    In the simulator (one Python thread per CUDA thread) the grid is kept to a few warps;
    the grid-stride loops cover the rest.
    """
    if SIMULATOR:
        threads = min(threads, THREADS_PER_BLOCK)
    blocks = max(1, min(_SIM_MAX_BLOCKS if SIMULATOR else MAX_BLOCKS, (count + threads - 1) // threads))
    return blocks, threads


# --------------------------------------------------------------------------- kernels
@cuda.jit
def uniforms_kernel(seed, start, keys, u):
    """Fill ``u`` [count, n] with the Philox uniforms (streams ``keys``) of scenarios ``start .. start+count-1``."""
    s = cuda.grid(1)
    stride = cuda.gridsize(1)
    while s < u.shape[0]:
        _draw_uniforms(seed, start + s, keys, u[s])
        s += stride


@cuda.jit
def sample_kernel(seed, start, kinds, params, keys, corr_index, factor, x):
    """Fill ``x`` [count, n_inputs] with the sampled inputs of scenarios ``start ..``."""
    z = cuda.local.array(MAX_CORR, _f64)
    s = cuda.grid(1)
    stride = cuda.gridsize(1)
    while s < x.shape[0]:
        _sample_scenario(seed, start + s, kinds, params, keys, corr_index, factor, z, x[s])
        s += stride


@cuda.jit
def project_kernel(x, n_regions, n_years, out_e, out_c, out_w, out_n):
    """Evaluate the model for every row of ``x`` [count, n_inputs] into the output arrays."""
    ship = cuda.local.array(MAX_YEARS, _f64)
    power = cuda.local.array(MAX_YEARS, _f64)
    survive = cuda.local.array(MAX_YEARS, _f64)
    stock = cuda.local.array(MAX_YEARS, _f64)
    s = cuda.grid(1)
    stride = cuda.gridsize(1)
    while s < x.shape[0]:
        _project_scenario(x[s], n_regions, n_years, ship, power, survive, stock, out_e[s], out_c[s], out_w[s], out_n[s])
        s += stride


@cuda.jit
def sample_project_kernel(seed, start, kinds, params, keys, corr_index, factor, n_regions, n_years,
                          x, out_e, out_c, out_w, out_n):  # fmt: skip
    """Sampling and model fused in one pass: each thread samples its scenario into ``x[s]``
    and evaluates it while the row is hot in cache."""
    z = cuda.local.array(MAX_CORR, _f64)
    ship = cuda.local.array(MAX_YEARS, _f64)
    power = cuda.local.array(MAX_YEARS, _f64)
    survive = cuda.local.array(MAX_YEARS, _f64)
    stock = cuda.local.array(MAX_YEARS, _f64)
    s = cuda.grid(1)
    stride = cuda.gridsize(1)
    while s < x.shape[0]:
        row = x[s]
        _sample_scenario(seed, start + s, kinds, params, keys, corr_index, factor, z, row)
        _project_scenario(row, n_regions, n_years, ship, power, survive, stock, out_e[s], out_c[s], out_w[s], out_n[s])
        s += stride


@cuda.jit
def fill_kernel(a, value):
    """``a[:] = value`` on a 1-D device array: the device-memory-bandwidth floor (write only)."""
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < a.shape[0]:
        a[i] = value
        i += stride


# --------------------------------------------------------------------------- host side
def device_info() -> dict:
    """Name, compute capability, memory, driver and library versions of the current device."""
    info: dict = {"simulator": SIMULATOR, "numba": numba.__version__}
    try:
        from importlib.metadata import version

        info["numba_cuda"] = version("numba-cuda")
    except Exception:  # noqa: BLE001 - the package is optional (numba's built-in target)
        info["numba_cuda"] = None
    info["cuda_target"] = getattr(cuda, "implementation", "unknown")
    if SIMULATOR:
        info.update(name="numba CUDA simulator", compute_capability=None)
        return info
    dev = cuda.get_current_device()
    name = dev.name
    info["name"] = name.decode() if isinstance(name, bytes) else str(name)
    info["compute_capability"] = ".".join(map(str, dev.compute_capability))
    info["multiprocessors"] = int(dev.MULTIPROCESSOR_COUNT)
    try:
        free, total = cuda.current_context().get_memory_info()
        info["memory_total_bytes"] = int(total)
        info["memory_free_bytes"] = int(free)
    except Exception:  # noqa: BLE001
        pass
    try:
        from numba.cuda.cudadrv.driver import driver

        v = driver.get_version()
        info["driver_cuda_version"] = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
    except Exception:  # noqa: BLE001
        info["driver_cuda_version"] = None
    try:
        from numba.cuda.cudadrv import runtime

        info["runtime_cuda_version"] = ".".join(map(str, runtime.runtime.get_version()))
    except Exception:  # noqa: BLE001
        info["runtime_cuda_version"] = None
    try:
        from numba.cuda.cudadrv import nvvm

        info["nvvm_version"] = ".".join(map(str, nvvm.NVVM().get_version()))
    except Exception:  # noqa: BLE001
        info["nvvm_version"] = None
    return info
