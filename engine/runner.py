"""Orchestration: config → sampling plan → chunks → backend kernels → labelled cube or summary → file.

A run is cut into chunks of scenarios planned from a memory budget (:func:`plan_run`).  Each
chunk is a task (:mod:`engine.stream`) that runs in this process or on dask workers
(:mod:`engine.distributed`) and returns its slice of the cube or its partial summary:

* full cube: slices are written into the netCDF file as they arrive (any order);
* summary (``summary=True``): partials are merged in chunk order (:mod:`engine.summaries`).

Either way the result is the same whatever the chunk size, the executor or the number of
workers: bit for bit for the cube, and for the summary as long as chunks start on multiples
of :data:`~engine.summaries.BLOCK` (always true of the plans made here).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from engine import cube
from engine.backends import get_backend
from engine.checkpoint import ResumeError, Sidecar
from engine.config import Config, config_sha256
from engine.io import CubeWriter, PartialCubeDamaged, check_writable, chunk_digest, write_dataset
from engine.layout import Layout, build_layout
from engine.progress import Progress
from engine.stream import ChunkJob, check_finite, in_order, run_dask, run_serial
from engine.summaries import BLOCK, QUANTILES, SummaryState, build_summary_spec, warnings_for

__all__ = ["run", "run_to_file", "plan_chunks", "plan_run", "Plan", "RunError", "Interrupted", "default_memory_limit"]

DTYPES = {"float32": np.float32, "float64": np.float64}
DEFAULT_CHUNK_BYTES = 256 * 2**20  # output bytes per chunk of a full cube (at most)
SUMMARY_CHUNK = 64 * BLOCK  # scenarios per summary chunk (262 144; ~10 s of work per core)
PROCESS_BYTES = 350 * 2**20  # RSS of a process that has loaded dcproj and its compiled kernels
SUMMARY_TASK_BYTES = 200 * 2**20  # a summary task: block arrays (46 MB), cell tile (68 MB), touched histogram pages, its partial
SUMMARY_STATE_BYTES = 120 * 2**20  # the merged summary state (touched histogram pages) and final quantiles
SUMMARY_PARTIAL_BYTES = 40 * 2**20  # one buffered partial waiting for its predecessors
BATCH_QUEUE = 32  # chunks queued at least on a dask-jobqueue cluster (what adaptive scaling sees)
AUTO_CLUSTER_SCENARIOS = 10_000_000  # --scheduler auto: a LocalCluster from this many scenarios up
MEMORY_FRACTION = 0.6  # default --memory-limit: this fraction of the available RAM


class RunError(ValueError):
    """Invalid run arguments (scenario count, seed, dtype, chunk size, memory limit)."""


class Interrupted(KeyboardInterrupt):
    """A resumable run was interrupted; its finished chunks are kept in ``partial``."""

    def __init__(self, partial: Path, done: int, total: int):
        super().__init__(f"interrupted after {done:,} of {total:,} scenarios")
        self.partial, self.done, self.total = partial, done, total


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


# -- planning ---------------------------------------------------------------------------------


def bytes_per_scenario(layout: Layout, dtype) -> int:
    """Output bytes of one scenario (all variables, incl. the float64 inputs)."""
    return sum(a.nbytes for a in cube.empty_arrays(layout, 1, dtype).values())


COMPRESSED_FRACTION = {"blosc_lz4": 0.8, "zstd": 0.75, "zlib": 0.75, "none": 1.0}  # file / raw bytes, at least


def _check_disk_space(out, layout: Layout, dtype, scenarios: int, compression: str) -> None:
    """Refuse, before computing, a full cube that cannot fit on the destination's file system."""
    raw = scenarios * bytes_per_scenario(layout, dtype)
    need = raw * COMPRESSED_FRACTION.get(compression, 0.75)
    parent = Path(out).parent if str(Path(out).parent) else Path(".")
    free = shutil.disk_usage(parent).free
    if need > free:
        raise RunError(
            f"{out}: a full cube of {scenarios:,} scenarios needs about {need / 1e9:,.0f} GB or more "
            f"({raw / 1e9:,.0f} GB uncompressed), but {parent} has {free / 1e9:,.0f} GB free; use --summary "
            "(the statistics only, a few MB), fewer --scenarios, or another --out"
        )
    if need > 10e9:
        print(f"dcproj: the cube will take about {need / 1e9:,.0f} GB or more ({free / 1e9:,.0f} GB free)", file=sys.stderr)


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
    ``(limit − processes)/(2·parallel + 2)`` bytes (and at most :data:`DEFAULT_CHUNK_BYTES`).
    Summary: memory does not grow with the chunk size; it is checked against the limit, and
    chunks are :data:`SUMMARY_CHUNK` scenarios (fewer for small runs, so that every worker gets
    work), always a multiple of :data:`~engine.summaries.BLOCK`.
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
            chunk_size = max(BLOCK, math.ceil(min(SUMMARY_CHUNK, math.ceil(scenarios / (4 * parallel))) / BLOCK) * BLOCK)
        elif chunk_size % BLOCK:
            rounded = math.ceil(chunk_size / BLOCK) * BLOCK
            notes.append(
                f"summary chunks are whole blocks of {BLOCK} scenarios: --chunk-size {chunk_size} rounded up to {rounded}"
            )
            chunk_size = rounded
        peak = need
    else:
        per = bytes_per_scenario(layout, dtype)
        copies = 2 * parallel + 2 if processes > 1 or parallel > 1 else 2
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
    chunk_size = max(1, min(chunk_size, scenarios if not summary else max(BLOCK, scenarios)))
    return Plan(scenarios, chunk_size, plan_chunks(scenarios, chunk_size), parallel, memory_limit, peak, notes)


# -- executors ---------------------------------------------------------------------------------


def resolve_scheduler(scheduler: str | None, cluster: str | Path | None, scenarios: int, n_workers: int | None = None):
    """The :class:`~engine.distributed.DaskTarget` of ``--scheduler``/``--cluster``, or None (this process).

    ``None``/``"none"``: this process; ``"auto"``: a LocalCluster for runs of at least
    :data:`AUTO_CLUSTER_SCENARIOS` scenarios on a machine with several cores, else this process;
    ``"local"``: a LocalCluster; anything else: the address of a running scheduler.
    """
    from engine.distributed import DaskTarget, usable_cores

    if cluster is not None:
        if scheduler not in (None, "auto"):
            raise RunError("give either --scheduler or --cluster, not both")
        return DaskTarget("jobqueue", cluster_file=Path(cluster))
    if scheduler is None or scheduler == "none":
        return None
    if scheduler == "auto":
        big = scenarios >= AUTO_CLUSTER_SCENARIOS and (n_workers or usable_cores()) > 1
        return DaskTarget("local", n_workers=n_workers) if big else None
    if scheduler == "local":
        return DaskTarget("local", n_workers=n_workers)
    if "://" not in scheduler and ":" not in scheduler:
        raise RunError(f"--scheduler {scheduler!r}: expected none, auto, local or a scheduler address such as tcp://host:8786")
    return DaskTarget("address", address=scheduler)


class _InProcess:
    """Chunks one after the other here; numba parallelises inside each chunk."""

    processes = 1
    parallel = 1
    description = "in-process"

    def results(self, job: ChunkJob, todo, ordered: bool) -> Iterator[tuple[int, object]]:
        if job.spec is not None:
            return run_serial(job, todo)
        starts = {start: i for i, start, _ in todo}
        be = get_backend(job.backend)
        return (
            (starts[s], arrays)
            for s, arrays in iter_chunks(job.layout, be, job.seed, [(s, c) for _, s, c in todo], np.dtype(job.dtype))
        )


class _Dask:
    """Chunks as dask tasks; how many run at once follows the cluster as workers come and go."""

    def __init__(self, client, target):
        self.client = client
        self.target = target
        self._checked = 0.0
        self._threads = 0
        threads = self.threads()
        self.parallel = threads or max(1, target.n_workers or 1)  # for planning: what is there now
        self.processes = max(1, len(client.nthreads())) if target.kind == "local" else 1  # remote workers: not our memory
        self.description = target.describe()

    def threads(self) -> int:
        """Worker threads now (refreshed at most once a second: batch-system workers arrive late)."""
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._threads = sum(self.client.nthreads().values())
            self._checked = now
        return self._threads

    def results(self, job: ChunkJob, todo, ordered: bool) -> Iterator[tuple[int, object]]:
        # a batch-system cluster sizes itself (adapt) from the queued tasks: keep a queue it can see
        floor = BATCH_QUEUE if self.target.kind == "jobqueue" else 2
        in_flight = lambda: max(floor, self.threads() + 1)  # noqa: E731
        window = (lambda: max(2 * floor, 4 * self.threads())) if ordered else None
        return run_dask(self.client, job, todo, in_flight=in_flight, window=window)


@contextlib.contextmanager
def _executor(target, memory_limit: int, progress: bool):
    if target is None:
        yield _InProcess()
        return
    from engine.distributed import open_client

    with open_client(target, memory_limit=memory_limit) as client:
        ex = _Dask(client, target)
        if progress:
            link = f"; dashboard {client.dashboard_link}" if target.kind != "local" or _has_bokeh() else ""
            print(f"dcproj: running on {ex.description} ({ex.parallel} parallel tasks){link}", file=sys.stderr, flush=True)
        yield ex


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def iter_chunks(layout: Layout, backend, seed: int, chunks, dtype) -> Iterator[tuple[int, dict]]:
    """Yield ``(start, arrays)`` for each planned chunk, in this process."""
    for start, count in chunks:
        out = cube.empty_arrays(layout, count, dtype)
        out["inputs"][...] = backend.sample(layout, seed, start, count)
        backend.project(layout, out["inputs"], out)
        check_finite(layout, start, out)
        yield start, out


def _command() -> str:
    return " ".join(["dcproj" if i == 0 and a.endswith("dcproj") else a for i, a in enumerate(sys.argv)]) or "python"


def _kernel_hash() -> str:
    from kernels import _source_hash

    return _source_hash()


def _key(config, seed, scenarios, plan, dtype, backend, spec, compression, level) -> dict:
    key = {
        "kind": "summary" if spec is not None else "full",
        "config_sha256": config_sha256(config),
        "seed": str(seed),
        "scenarios": scenarios,
        "chunk_size": plan.chunk_size,
        "backend": backend,
        "kernels": _kernel_hash(),
    }
    if spec is None:
        key.update(dtype=dtype, compression=compression, compression_level=level)
    else:
        key["summary"] = spec.key()
    return key


# -- public entry points --------------------------------------------------------------------------


@dataclass
class _Setup:
    scenarios: int
    seed: int
    np_dtype: type
    layout: Layout
    job: ChunkJob
    attrs: dict


def _setup(config, scenarios, seed, backend, chunk_size, dtype, summary, thresholds, quantiles, command) -> _Setup:
    seed = config.seed if seed is None else seed
    scenarios, seed, np_dtype = _check_args(scenarios, seed, dtype, chunk_size)
    layout = build_layout(config)
    spec = build_summary_spec(config, layout, thresholds, quantiles) if summary else None
    get_backend(backend)  # fail before any work if the backend cannot run here
    job = ChunkJob(layout, seed, backend, dtype, spec)
    attrs = cube.global_attrs(
        config,
        layout,
        seed=seed,
        scenarios=scenarios,
        backend=backend,
        command=command or _command(),
        kind="summary" if summary else "full",
    )
    return _Setup(scenarios, seed, np_dtype, layout, job, attrs)


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
    summary: bool = False,
    thresholds=(),
    quantiles=QUANTILES,
    scheduler: str | None = None,
    n_workers: int | None = None,
    memory_limit: int | None = None,
) -> xr.Dataset:
    """Run a projection in memory and return the labelled cube (or its summary).

    Parameters
    ----------
    config
        Validated assumptions (:func:`engine.load_config`).
    scenarios
        Number of Monte Carlo scenarios (joint draws of every input).
    seed
        RNG seed in [0, 2**64); defaults to ``config.seed``.
    backend
        ``"numba"`` (compiled CPU kernels), ``"numpy"`` (reference implementation) or
        another registered backend.
    chunk_size
        Scenarios per chunk; the result does not depend on it.
    dtype
        Storage type of the outputs, ``"float32"`` (default) or ``"float64"``; the
        arithmetic is float64 either way.
    summary
        Return the streaming summary (:mod:`engine.summaries`) instead of the cube; its
        memory does not grow with ``scenarios``.
    thresholds
        Extra exceedance thresholds of a summary (:class:`engine.summaries.ThresholdSpec`,
        or strings such as ``"2030>1000"``); the config's thresholds are always included.
    quantiles
        Quantile levels of a summary.
    scheduler
        ``None``/``"none"`` (this process), ``"auto"``, ``"local"`` (a dask LocalCluster) or
        a dask scheduler address.
    n_workers
        Workers of a LocalCluster (default: one per core).
    memory_limit
        Memory budget in bytes (default: 60 % of the available RAM).

    Returns
    -------
    xarray.Dataset
        ``electricity`` [TWh], ``carbon`` [Mt CO2], ``water`` [GL],
        ``installed_accelerators`` [million units] and ``inputs``, by scenario, year,
        region, component; provenance in the attributes.  With ``summary=True``, the
        summary layout of :mod:`engine.summaries`.
    """
    st = _setup(config, scenarios, seed, backend, chunk_size, dtype, summary, _parse_thresholds(thresholds), quantiles, command)
    limit = memory_limit or default_memory_limit()
    target = resolve_scheduler(scheduler, None, st.scenarios, n_workers)
    with _executor(target, limit, progress) as ex:
        plan = (
            plan_run(
                st.layout,
                st.scenarios,
                st.np_dtype,
                summary=summary,
                memory_limit=max(limit, 1),
                parallel=ex.parallel,
                processes=ex.processes,
                chunk_size=chunk_size,
            )
            if summary
            else _in_memory_plan(st, chunk_size, ex, limit)
        )
        todo = [(i, s, c) for i, (s, c) in enumerate(plan.chunks)]
        with Progress(st.scenarios, enabled=progress) as bar:
            if summary:
                state = SummaryState(st.job.spec)
                for _, part in in_order(ex.results(st.job, todo, ordered=True), 0):
                    state.add(part)
                    bar.advance(part.count)
                return state.to_dataset(st.attrs)
            arrays = cube.empty_arrays(st.layout, st.scenarios, st.np_dtype)
            for i, out in ex.results(st.job, todo, ordered=False):
                start = plan.chunks[i][0]
                for name, values in out.items():
                    arrays[name][start : start + values.shape[0]] = values
                bar.advance(out["inputs"].shape[0])
    return cube.to_dataset(arrays, cube.coords(config, st.layout, 0, st.scenarios), st.attrs)


def _in_memory_plan(st: _Setup, chunk_size, ex, limit) -> Plan:
    size = chunk_size or default_chunk_size(st.layout, st.np_dtype)
    return Plan(st.scenarios, size, plan_chunks(st.scenarios, size), ex.parallel, limit, 0)


def _parse_thresholds(items):
    from engine.summaries import parse_threshold

    return [parse_threshold(t) if isinstance(t, str) else t for t in items]


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
    summary: bool = False,
    thresholds=(),
    quantiles=QUANTILES,
    scheduler: str | None = None,
    cluster: str | Path | None = None,
    n_workers: int | None = None,
    memory_limit: int | None = None,
    resume: bool = False,
    keep_partial: bool = False,
) -> Path:
    """Run a projection and stream the cube (or its summary) into the netCDF file ``out``.

    The file appears at ``out`` only when complete (atomic rename); on any error or
    interruption no partial file is left there and an existing ``out`` is untouched.
    Arguments as :func:`run`, and:

    compression, compression_level
        The netCDF filter of a full cube (see :class:`engine.io.CubeWriter`) and its level.
    cluster
        A dask-jobqueue cluster file (``configs/cluster/slurm.yaml``).
    keep_partial
        Keep finished chunks in the sidecar directory ``<out>.partial/`` when interrupted
        (SIGINT/SIGTERM) so that ``resume=True`` can finish the run (:mod:`engine.checkpoint`).
    resume
        Continue the interrupted run of the same settings from ``<out>.partial/``; the result
        equals an uninterrupted run's.
    """
    st = _setup(config, scenarios, seed, backend, chunk_size, dtype, summary, _parse_thresholds(thresholds), quantiles, command)
    check_writable(out)
    if not summary and not resume:
        _check_disk_space(out, st.layout, st.np_dtype, st.scenarios, compression)
    sidecar = Sidecar(out) if (keep_partial or resume) else None
    if resume:
        chunk_size = chunk_size or sidecar.read()["key"]["chunk_size"]
    elif sidecar is not None and sidecar.exists():
        raise ResumeError(
            f"{sidecar.dir} holds an unfinished run for {out}: add --resume to continue it, or remove "
            f"that directory to start afresh"
        )
    limit = memory_limit or default_memory_limit()
    target = resolve_scheduler(scheduler, cluster, st.scenarios, n_workers)
    with _executor(target, limit, progress) as ex:
        plan = plan_run(
            st.layout,
            st.scenarios,
            st.np_dtype,
            summary=summary,
            memory_limit=limit,
            parallel=ex.parallel,
            processes=ex.processes,
            chunk_size=chunk_size,
        )
        for note in plan.notes:
            print(f"dcproj: {note}", file=sys.stderr)
        key = _key(config, st.seed, st.scenarios, plan, dtype, backend, st.job.spec, compression, compression_level)
        manifest = None
        if resume:
            manifest = sidecar.check(key)
        elif sidecar is not None:
            sidecar.start(key)
        if summary:
            return _summary_to_file(st, out, plan, ex, sidecar, key, manifest, progress)
        return _cube_to_file(st, config, out, plan, ex, sidecar, key, manifest, compression, compression_level, progress)


def _cube_to_file(st, config, out, plan, ex, sidecar, key, manifest, compression, level, progress) -> Path:
    coord_map = cube.coords(config, st.layout, 0, st.scenarios)
    dims = {d: len(v[1]) for d, v in coord_map.items() if v[0] == d}
    dims["scenario"] = st.scenarios
    variables = {name: (spec.dims, st.np_dtype, cube.variable_attrs(name)) for name, spec in cube.VARIABLES.items()}
    inputs_attrs = dict(cube.variable_attrs("inputs"), coordinates="input_units input_long_name input_source")
    variables["inputs"] = (("scenario", "input"), np.float64, inputs_attrs)
    finished = set(manifest["finished"]) if manifest else set()
    digests = dict(manifest.get("digests", {})) if manifest else {}

    def open_writer(reopen):
        return CubeWriter(
            out,
            dims,
            coord_map,
            variables,
            st.attrs,
            compression=compression,
            level=level,
            tmp=sidecar.cube_path if sidecar else None,
            reopen=reopen,
        )

    if manifest is not None:
        try:
            writer = open_writer(True)
            damaged = _verify_finished(writer, plan, finished, digests, list(variables))
        except PartialCubeDamaged as exc:
            print(f"dcproj: {exc}; it was probably killed while writing. Starting the cube afresh.", file=sys.stderr)
            finished, digests = set(), {}
            writer = open_writer(False)
        else:
            if damaged:
                print(
                    f"dcproj: {len(damaged)} finished chunk(s) of {sidecar.cube_path} no longer match their checksums "
                    f"(chunks {sorted(damaged)[:10]}{' ...' if len(damaged) > 10 else ''}); computing them again",
                    file=sys.stderr,
                )
                finished -= damaged
        sidecar.write(key, sorted(finished), digests={str(i): digests[str(i)] for i in sorted(finished)})
    else:
        writer = open_writer(False)
    todo = [(i, s, c) for i, (s, c) in enumerate(plan.chunks) if i not in finished]
    done = st.scenarios - sum(c for _, _, c in todo)
    try:
        with Progress(st.scenarios, enabled=progress, initial=done) as bar:
            for i, arrays in ex.results(st.job, todo, ordered=False):
                writer.write(plan.chunks[i][0], arrays)
                if sidecar is not None:
                    digests[str(i)] = chunk_digest(arrays)
                    writer.sync()
                    finished.add(i)
                    sidecar.write(key, sorted(finished), digests=digests)
                bar.advance(arrays["inputs"].shape[0])
        path = writer.commit()
    except KeyboardInterrupt:
        if sidecar is not None and finished:
            writer.detach()
            sidecar.write(key, sorted(finished), digests=digests)
            raise Interrupted(sidecar.dir, sum(plan.chunks[i][1] for i in finished), st.scenarios) from None
        writer.abort()
        if sidecar is not None:
            sidecar.remove()
        raise
    except BaseException:
        writer.abort()
        if sidecar is not None:
            sidecar.remove()
        raise
    if sidecar is not None:
        sidecar.remove()
    return path


def _verify_finished(writer, plan, finished, digests, names) -> set[int]:
    """The finished chunks whose data in the partial cube no longer match their recorded checksums."""
    bad = set()
    for i in sorted(finished):
        start, count = plan.chunks[i]
        if digests.get(str(i)) != chunk_digest(writer.read(start, count, names)):
            bad.add(i)
    return bad


def checkpoint_seconds() -> float:
    """Seconds between summary checkpoints (``DCPROJ_CHECKPOINT_SECONDS``, default 30)."""
    return float(os.environ.get("DCPROJ_CHECKPOINT_SECONDS", "30"))


def _summary_to_file(st, out, plan, ex, sidecar, key, manifest, progress) -> Path:
    spec = st.job.spec
    state = SummaryState(spec)
    if manifest is not None and sidecar.state_path.exists():
        state = SummaryState.load(spec, sidecar.state_path)
    first = next((i for i, (s, _) in enumerate(plan.chunks) if s == state.done), len(plan.chunks))
    todo = [(i, s, c) for i, (s, c) in enumerate(plan.chunks) if i >= first]
    every = checkpoint_seconds()
    last = time.monotonic()

    def save():
        state.save(sidecar.state_path)
        sidecar.write(key, list(range(first + merged)), done=state.done)

    merged = 0
    try:
        with Progress(st.scenarios, enabled=progress, initial=state.done) as bar:
            for _, part in in_order(ex.results(st.job, todo, ordered=True), first):
                state.add(part)
                merged += 1
                bar.advance(part.count)
                if sidecar is not None and time.monotonic() - last >= every and state.done < st.scenarios:
                    save()
                    last = time.monotonic()
        for warning in warnings_for(state):
            print(f"dcproj: warning: {warning}", file=sys.stderr)
        path = write_dataset(state.to_dataset(st.attrs), out)
    except KeyboardInterrupt:
        if sidecar is not None and state.done > 0:
            save()
            raise Interrupted(sidecar.dir, state.done, st.scenarios) from None
        if sidecar is not None:
            sidecar.remove()
        raise
    except BaseException:
        if sidecar is not None:
            sidecar.remove()
        raise
    if sidecar is not None:
        sidecar.remove()
    return path
