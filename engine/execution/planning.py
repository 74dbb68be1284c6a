"""Planning a run: arguments, chunks, memory and disk budgets.

A run is cut into chunks of scenarios planned from a memory budget (:func:`plan_run`): full
cubes so that every copy of a chunk in flight fits, summaries in whole moment blocks.
"""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import OutputError, RunError
from engine.inputs.layout import Layout
from engine.output.guard import human_bytes
from engine.output.variables import empty_arrays
from engine.stats.spec import MOMENT_BLOCK

__all__ = ["Plan", "plan_run", "plan_chunks", "bytes_per_scenario", "default_memory_limit", "check_args", "check_disk_space", "DTYPES"]

DTYPES = {"float32": np.float32, "float64": np.float64}
DEFAULT_CHUNK_BYTES = 256 * 2**20  # output bytes per chunk of a full cube (at most)
SUMMARY_CHUNK = 64 * MOMENT_BLOCK  # scenarios per summary chunk (262 144; ~10 s of work per core)
PROCESS_BYTES = 350 * 2**20  # RSS of a process that has loaded dcproj and its compiled kernels
SUMMARY_TASK_BYTES = 200 * 2**20  # a summary task: block arrays (46 MB), cell tile (68 MB), touched histogram pages, its partial
SUMMARY_STATE_BYTES = 120 * 2**20  # the merged summary state (touched histogram pages) and final quantiles
SUMMARY_PARTIAL_BYTES = 40 * 2**20  # one buffered partial waiting for its predecessors
MEMORY_FRACTION = 0.6  # default --memory-limit: this fraction of the available RAM


def check_args(scenarios, seed, dtype, chunk_size) -> tuple[int, int, type]:
    if isinstance(scenarios, float):
        if not scenarios.is_integer():
            raise RunError(f"--scenarios: expected a whole number, got {scenarios}")
        scenarios = int(scenarios)
    if not isinstance(scenarios, int | np.integer) or scenarios < 1:
        raise RunError(f"--scenarios: expected a positive whole number of scenarios, got {scenarios!r}")
    if not isinstance(seed, int | np.integer) or not 0 <= seed < 2**64:
        raise RunError(f"--seed: expected an integer in [0, 2**64), got {seed!r}")
    if dtype not in DTYPES:
        raise RunError(f"--dtype: expected one of {sorted(DTYPES)}, got {dtype!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int | np.integer) or chunk_size < 1):
        raise RunError(f"--chunk-size: expected a positive whole number, got {chunk_size!r}")
    return int(scenarios), int(seed), DTYPES[dtype]




def bytes_per_scenario(layout: Layout, dtype) -> int:
    """Output bytes of one scenario (all variables, incl. the float64 inputs)."""
    return sum(a.nbytes for a in empty_arrays(layout, 1, dtype).values())


COMPRESSED_FRACTION = {"blosc_lz4": 0.8, "zstd": 0.75, "zlib": 0.75, "none": 1.0}  # file / raw bytes, at least


def check_disk_space(out, layout: Layout, dtype, scenarios: int, compression: str) -> None:
    """Refuse, before computing, a full cube that cannot fit on the destination's file system."""
    raw = scenarios * bytes_per_scenario(layout, dtype)
    need = raw * COMPRESSED_FRACTION.get(compression, 0.75)
    parent = Path(out).parent if str(Path(out).parent) else Path(".")
    free = shutil.disk_usage(parent).free
    if need > free:
        raise OutputError(
            f"{out}: a full cube of {scenarios:,} scenarios needs about {human_bytes(need)} or more "
            f"({human_bytes(raw)} uncompressed), but {parent} has {human_bytes(free)} free; use --summary "
            "(the statistics only, a few MB), fewer --scenarios, or another --out"
        )
    if need > 10e9:
        print(f"dcproj: the cube will take about {human_bytes(need)} or more ({human_bytes(free)} free)", file=sys.stderr)


def plan_chunks(scenarios: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split ``range(scenarios)`` into (start, count) slabs of at most ``chunk_size``."""
    return [(s, min(chunk_size, scenarios - s)) for s in range(0, scenarios, chunk_size)]


def default_chunk_size(layout: Layout, dtype, budget: int = DEFAULT_CHUNK_BYTES) -> int:
    return max(1, budget // bytes_per_scenario(layout, dtype))


def default_memory_limit() -> int:
    """:data:`MEMORY_FRACTION` of the RAM available now (psutil)."""
    import psutil

    return int(psutil.virtual_memory().available * MEMORY_FRACTION)


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"



@dataclass
class Plan:
    """How a run is cut into chunks, and the memory it is expected to need at most."""

    scenarios: int
    chunk_size: int
    chunks: list[tuple[int, int]]
    parallel: int  # chunks computed at once
    memory_limit: int
    peak_bytes: int  # the planned peak over every process of the run
    notes: list[str] = field(default_factory=list)


def plan_run(
    layout: Layout,
    scenarios: int,
    dtype,
    *,
    summary: bool,
    memory_limit: int,
    parallel: int = 1,
    processes: int = 1,
    chunk_size: int | None = None,
) -> Plan:
    """Plan the chunks of a run so that its peak memory stays under ``memory_limit``.

    ``parallel`` chunks are computed at once in ``processes`` worker processes (plus this
    one).  Full cube: a chunk's arrays exist at most twice per worker (being computed, waiting
    to be sent) and twice here (received, being written), so chunks get at most
    ``(limit − processes)/(2·parallel + 2)`` bytes (and at most :data:`DEFAULT_CHUNK_BYTES`); in
    this process alone, three copies (the chunk being written, HDF5's copy of it, the next chunk
    being computed, :func:`engine.execution.executors.run_prefetched`).
    Summary: memory does not grow with the chunk size; it is checked against the limit, and
    chunks are :data:`SUMMARY_CHUNK` scenarios (fewer for small runs, so that every worker gets
    work), always a multiple of :data:`~engine.stats.spec.MOMENT_BLOCK`.
    """
    base = PROCESS_BYTES * (processes + (1 if processes > 1 else 0))
    notes: list[str] = []
    if summary:
        need = base + parallel * SUMMARY_TASK_BYTES + SUMMARY_STATE_BYTES + 4 * parallel * SUMMARY_PARTIAL_BYTES
        if need > memory_limit:
            raise RunError(
                f"--memory-limit {_mib(memory_limit)} is below the {_mib(need)} a summary run with "
                f"{parallel} parallel chunk(s) needs"
            )
        if chunk_size is None:
            chunk_size = max(MOMENT_BLOCK, math.ceil(min(SUMMARY_CHUNK, math.ceil(scenarios / (4 * parallel))) / MOMENT_BLOCK) * MOMENT_BLOCK)
        elif chunk_size % MOMENT_BLOCK:
            rounded = math.ceil(chunk_size / MOMENT_BLOCK) * MOMENT_BLOCK
            notes.append(
                f"summary chunks are whole blocks of {MOMENT_BLOCK} scenarios: --chunk-size {chunk_size} rounded up to {rounded}"
            )
            chunk_size = rounded
        peak = need
    else:
        per = bytes_per_scenario(layout, dtype)
        copies = 2 * parallel + 2 if processes > 1 or parallel > 1 else 3  # in-process: written, its HDF5 copy, the next computed
        room = memory_limit - base
        fit = room // (copies * per) if room > 0 else 0
        if fit < 1:
            raise RunError(
                f"--memory-limit {_mib(memory_limit)} is too small: {processes} process(es) need {_mib(base)} "
                f"plus {copies} copies of a chunk of at least one scenario ({per} bytes)"
            )
        if chunk_size is None:
            chunk_size = int(min(fit, DEFAULT_CHUNK_BYTES // per))
        elif chunk_size > fit:
            notes.append(f"--chunk-size {chunk_size} exceeds what --memory-limit {_mib(memory_limit)} allows; using {fit}")
            chunk_size = int(fit)
        peak = base + copies * chunk_size * per
    chunk_size = max(1, min(chunk_size, scenarios if not summary else max(MOMENT_BLOCK, scenarios)))
    return Plan(scenarios, chunk_size, plan_chunks(scenarios, chunk_size), parallel, memory_limit, peak, notes)
