"""Shared helpers of the benchmark suite: timing, machine description, chunk plans."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import time

import numpy as np


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far [MiB]."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Clock:
    """Accumulates wall time per named phase: ``with clock("model"): ...``."""

    def __init__(self, sync=None):
        self.totals: dict[str, float] = {}
        self._sync = sync or (lambda: None)

    def __call__(self, name):
        return _Phase(self, name)


class _Phase:
    def __init__(self, clock, name):
        self.clock, self.name = clock, name

    def __enter__(self):
        self.clock._sync()
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.clock._sync()
        dt = time.perf_counter() - self.t0
        self.clock.totals[self.name] = self.clock.totals.get(self.name, 0.0) + dt
        return False


def chunks(n: int, chunk: int):
    """``(start, count)`` slabs of at most ``chunk`` covering ``range(n)``."""
    return [(s, min(chunk, n - s)) for s in range(0, n, chunk)]


def output_bytes(layout, count: int, dtype=np.float32) -> int:
    """Bytes of the cube of ``count`` scenarios (outputs in ``dtype``, inputs float64)."""
    from engine.execution.planning import bytes_per_scenario

    return bytes_per_scenario(layout, dtype) * count


def machine_info() -> dict:
    import numba

    info = {
        "hostname": platform.node(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": None,
    }
    try:
        import llvmlite

        info["llvmlite"] = llvmlite.__version__
    except ImportError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    return info


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def fmt_rate(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"
