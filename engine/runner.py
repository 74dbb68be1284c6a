"""Orchestration: config → sampling plan → chunks → backend kernels → labelled cube → file."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import xarray as xr

from engine import cube
from engine.backends import get_backend
from engine.config import Config
from engine.io import CubeWriter, check_writable
from engine.layout import Layout, build_layout
from engine.progress import Progress

__all__ = ["run", "run_to_file", "plan_chunks", "RunError"]

DTYPES = {"float32": np.float32, "float64": np.float64}
DEFAULT_CHUNK_BYTES = 256 * 2**20  # output bytes per chunk


class RunError(ValueError):
    """Invalid run arguments (scenario count, seed, dtype, chunk size)."""


def _check_args(scenarios, seed, dtype, chunk_size) -> tuple[int, int, type]:
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
    return sum(a.nbytes for a in cube.empty_arrays(layout, 1, dtype).values())


def plan_chunks(scenarios: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split ``range(scenarios)`` into (start, count) slabs of at most ``chunk_size``."""
    return [(s, min(chunk_size, scenarios - s)) for s in range(0, scenarios, chunk_size)]


def default_chunk_size(layout: Layout, dtype, budget: int = DEFAULT_CHUNK_BYTES) -> int:
    return max(1, budget // bytes_per_scenario(layout, dtype))


def iter_chunks(layout: Layout, backend, seed: int, chunks, dtype) -> Iterator[tuple[int, dict]]:
    """Yield ``(start, arrays)`` for each planned chunk."""
    for start, count in chunks:
        out = cube.empty_arrays(layout, count, dtype)
        out["inputs"][...] = backend.sample(layout, seed, start, count)
        backend.project(layout, out["inputs"], out)
        yield start, out


def _command() -> str:
    return " ".join(["dcproj" if i == 0 and a.endswith("dcproj") else a for i, a in enumerate(sys.argv)]) or "python"


def run(
    config: Config,
    scenarios: int = 10_000,
    seed: int | None = None,
    *,
    backend: str = "numba",
    chunk_size: int | None = None,
    dtype: str = "float32",
    progress: bool = False,
    command: str | None = None,
) -> xr.Dataset:
    """Run a projection in memory and return the labelled cube.

    Parameters
    ----------
    config
        Validated assumptions (:func:`engine.load_config`).
    scenarios
        Number of Monte Carlo scenarios (joint draws of every input).
    seed
        RNG seed in [0, 2**64); defaults to ``config.seed``.
    backend
        ``"numba"`` (compiled CPU kernels) or ``"numpy"`` (reference implementation).
    chunk_size
        Scenarios per chunk; the result does not depend on it.
    dtype
        Storage type of the outputs, ``"float32"`` (default) or ``"float64"``; the
        arithmetic is float64 either way.

    Returns
    -------
    xarray.Dataset
        ``electricity`` [TWh], ``carbon`` [Mt CO2], ``water`` [GL],
        ``installed_accelerators`` [million units] and ``inputs``, by scenario, year,
        region, component; provenance in the attributes.
    """
    seed = config.seed if seed is None else seed
    scenarios, seed, np_dtype = _check_args(scenarios, seed, dtype, chunk_size)
    layout = build_layout(config)
    be = get_backend(backend)
    chunk_size = chunk_size or default_chunk_size(layout, np_dtype)
    arrays = cube.empty_arrays(layout, scenarios, np_dtype)
    with Progress(scenarios, enabled=progress) as bar:
        for start, out in iter_chunks(layout, be, seed, plan_chunks(scenarios, chunk_size), np_dtype):
            for name, values in out.items():
                arrays[name][start : start + values.shape[0]] = values
            bar.advance(out["inputs"].shape[0])
    attrs = cube.global_attrs(config, layout, seed=seed, scenarios=scenarios, backend=backend, command=command or _command())
    return cube.to_dataset(arrays, cube.coords(config, layout, 0, scenarios), attrs)


def run_to_file(
    config: Config,
    out: str | Path,
    scenarios: int = 10_000,
    seed: int | None = None,
    *,
    backend: str = "numba",
    chunk_size: int | None = None,
    dtype: str = "float32",
    compression: str = "blosc_lz4",
    compression_level: int = 1,
    progress: bool = False,
    command: str | None = None,
) -> Path:
    """Run a projection and stream the cube into the netCDF file ``out``, chunk by chunk.

    The file appears at ``out`` only when complete (atomic rename); on any error or
    interruption no partial file is left and an existing ``out`` is untouched.
    Arguments as :func:`run`; ``compression`` is the netCDF filter (see
    :class:`engine.io.CubeWriter`) and ``compression_level`` its level.
    """
    seed = config.seed if seed is None else seed
    scenarios, seed, np_dtype = _check_args(scenarios, seed, dtype, chunk_size)
    check_writable(out)
    layout = build_layout(config)
    be = get_backend(backend)
    chunk_size = chunk_size or default_chunk_size(layout, np_dtype)
    coord_map = cube.coords(config, layout, 0, scenarios)
    dims = {d: len(v[1]) for d, v in coord_map.items() if v[0] == d}
    dims["scenario"] = scenarios
    variables = {name: (spec.dims, np_dtype, cube.variable_attrs(name)) for name, spec in cube.VARIABLES.items()}
    inputs_attrs = dict(cube.variable_attrs("inputs"), coordinates="input_units input_long_name input_source")
    variables["inputs"] = (("scenario", "input"), np.float64, inputs_attrs)
    attrs = cube.global_attrs(config, layout, seed=seed, scenarios=scenarios, backend=backend, command=command or _command())
    with CubeWriter(out, dims, coord_map, variables, attrs, compression=compression, level=compression_level) as writer:
        with Progress(scenarios, enabled=progress) as bar:
            for start, arrays in iter_chunks(layout, be, seed, plan_chunks(scenarios, chunk_size), np_dtype):
                writer.write(start, arrays)
                bar.advance(arrays["inputs"].shape[0])
    return Path(out)


