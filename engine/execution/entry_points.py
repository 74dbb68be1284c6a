"""The public entry points: :func:`run` (in memory) and :func:`run_to_file` (streamed to netCDF).

The data's way: config → inputs layout (:mod:`engine.inputs`) → chunk plan
(:mod:`.planning`) → chunk tasks on an executor (:mod:`.tasks`, :mod:`.executors`) → backend
kernels (:mod:`engine.backends`) → a sink (:mod:`.sinks`: the netCDF cube, or the merged
summary).  The result is the same whatever the chunk size, the executor or the number of
workers: bit for bit for the cube, and for the summary as long as chunks start on multiples
of :data:`~engine.stats.spec.MOMENT_BLOCK` (always true of the plans made here).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from engine.backends import get_backend
from engine.backends.base import backend_class
from engine.config.loading import config_path, config_sha256
from engine.conditioning.cube import WEIGHT_VARIABLES, cube_diagnostics, weighted_exceeding
from engine.config.schema import Config
from engine.errors import BackendUnavailable, ResumeError, RunError
from engine.execution.checkpoint import Sidecar
from engine.execution.executors import InProcess, in_order, open_executor, resolve_scheduler
from engine.execution.planning import (
    Plan,
    bytes_per_scenario,
    check_args,
    check_disk_space,
    default_chunk_size,
    default_memory_limit,
    plan_chunks,
    plan_run,
)
from engine.execution.progress import Progress, announce_compile
from engine.execution.sinks import cube_to_file, report_clipped, summary_to_file
from engine.execution.tasks import ChunkJob, compute_full_into, prefault_outputs
from engine.inputs.layout import Layout, build_layout
from engine.output.guard import OutputLock, check_destination, human_bytes
from engine.output.netcdf import check_writable
from engine.output.provenance import code_hash, global_attrs
from engine.output.variables import coords, empty_arrays, to_dataset
from engine.stats.sample import KEEP_SAMPLE
from engine.stats.spec import SUMMARY_QUANTILES, build_summary_spec, parse_threshold, resolve_thresholds
from engine.stats.exceedance import CLIP_TEXT, clipped_in_summary, count_clipped_conventional, exceeding, threshold_coords, threshold_data_vars
from engine.stats.labels import state_dataset
from engine.stats.state import SummaryState

__all__ = ["run", "run_to_file"]


def _command() -> str:
    return " ".join(["dcproj" if i == 0 and a.endswith("dcproj") else a for i, a in enumerate(sys.argv)]) or "python"


def _key(config, seed, scenarios, plan, dtype, backend, spec, compression, level, thresholds=(), weights=None) -> dict:
    """What a resumed run must share with the interrupted one: everything that changes its numbers."""
    key = {
        "kind": "summary" if spec is not None else "full",
        "config_sha256": config_sha256(config),
        "seed": str(seed),
        "scenarios": scenarios,
        "chunk_size": plan.chunk_size,
        "backend": backend,
        "code": code_hash(),  # kernels/ and engine/ sources: rows, tables, copula, kernels, statistics
    }
    if spec is None:
        key.update(dtype=dtype, compression=compression, compression_level=level, thresholds=[list(vars(t).values()) for t in thresholds],
                   observations=weights.observations.key() if weights is not None else [])  # fmt: skip
    else:
        key["summary"] = spec.key()
    return key


def _conditioning_text(config, prior: bool) -> str:
    ids = [o.id for o in config.observations]
    if not ids:
        return "none: the config has no observations (every scenario counts equally)"
    if prior:
        return f"none: run with --prior (the prior); the config's {len(ids)} observations ({', '.join(ids)}) were not used"
    return f"weighted by the likelihood of {len(ids)} observations: {', '.join(ids)} (engine.conditioning; --prior for the prior)"


@dataclass
class _Setup:
    scenarios: int
    seed: int
    np_dtype: type
    layout: Layout
    job: ChunkJob
    attrs: dict
    thresholds: list  # ThresholdSpec of a full-cube run (a summary's are in job.spec)


def _setup(config, scenarios, seed, backend, chunk_size, dtype, summary, thresholds, quantiles, command, keep_sample=KEEP_SAMPLE,
           prior=False) -> _Setup:  # fmt: skip
    seed = config.seed if seed is None else seed
    scenarios, seed, np_dtype = check_args(scenarios, seed, dtype, chunk_size)
    layout = build_layout(config)
    spec = build_summary_spec(config, layout, thresholds, quantiles, keep_sample, prior=prior) if summary else None
    weights = None
    if not summary and config.observations and not prior:
        weights = build_summary_spec(config, layout)  # its cell table and observations
    years = tuple(range(config.years.start, config.years.end + 1))
    cube_thresholds = [] if summary else resolve_thresholds(list(config.thresholds) + list(thresholds), years)
    get_backend(backend)  # fail before any work if the backend cannot run here
    if spec is not None and spec.observations.weighted and not backend_class(backend).capabilities.weighted_summary:
        raise BackendUnavailable(
            f"the {backend} backend does not compute weighted summaries yet, and this config has {len(config.observations)} "
            "observations: run its summary with --backend numba, or a full cube (weighted on the host), or --prior"
        )
    job = ChunkJob(layout, seed, backend, dtype, spec, weights)
    attrs = global_attrs(
        config,
        layout,
        seed=seed,
        scenarios=scenarios,
        backend=backend,
        command=command or _command(),
        kind="summary" if summary else "full",
    )
    attrs["conditioning"] = _conditioning_text(config, prior)
    return _Setup(scenarios, seed, np_dtype, layout, job, attrs, cube_thresholds)


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
    quantiles=SUMMARY_QUANTILES,
    scheduler: str | None = None,
    n_workers: int | None = None,
    memory_limit: int | None = None,
    keep_sample: int = KEEP_SAMPLE,
    prior: bool = False,
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
        Return the streaming summary (:mod:`engine.stats`) instead of the cube; its
        memory does not grow with ``scenarios``.
    thresholds
        Extra exceedance thresholds of a summary (:class:`engine.stats.spec.ThresholdSpec`,
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
    keep_sample
        A summary keeps its first ``keep_sample`` scenarios by index (default 100 000) with their
        inputs and key outputs (``sample_*`` variables, :mod:`engine.stats.sample`); 0 keeps none.
    prior
        Ignore the config's ``observations``: the unconditioned run.  Otherwise a config with
        observations gives a weighted run (``weight`` per scenario, or weighted statistics;
        :mod:`engine.conditioning`).

    Returns
    -------
    xarray.Dataset
        ``electricity`` [TWh], ``carbon`` [Mt CO2], ``water`` [GL],
        ``installed_accelerators`` [million units] and ``inputs``, by scenario, year,
        region, component; provenance in the attributes.  With ``summary=True``, the
        summary layout of :mod:`engine.stats.labels`.
    """
    st = _setup(config, scenarios, seed, backend, chunk_size, dtype, summary, _parse_thresholds(thresholds), quantiles, command,
                keep_sample, prior)  # fmt: skip
    limit = memory_limit or default_memory_limit()
    if not summary:
        _check_fits_in_memory(st, limit)
    target = resolve_scheduler(scheduler, None, st.scenarios, n_workers)
    with open_executor(target, limit, progress) as ex:
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
                ds = state_dataset(state, st.attrs)
                ds.attrs.update(clipped_conventional_it_2022=clipped_in_summary(state), clipped_conventional_it_2022_note=CLIP_TEXT)
                if state.weighted:
                    _warn(state.diagnostics().warnings())
                return ds
            arrays = empty_arrays(st.layout, st.scenarios, st.np_dtype)
            if st.job.weights is not None:
                arrays.update(weight=np.empty(st.scenarios), log_likelihood=np.empty(st.scenarios))
            if isinstance(ex, InProcess):  # the kernels write straight into the run's arrays
                prefault_outputs(st.job, arrays)
                for _, start, count in todo:
                    compute_full_into(st.job, start, count, {k: v[start : start + count] for k, v in arrays.items()})
                    bar.advance(count)
            else:
                for i, out in ex.results(st.job, todo, ordered=False):
                    start = plan.chunks[i][0]
                    for name, values in out.items():
                        arrays[name][start : start + values.shape[0]] = values
                    bar.advance(out["inputs"].shape[0])
    return _label_cube(config, st, arrays)


def _label_cube(config, st: _Setup, arrays) -> xr.Dataset:
    """The labelled in-memory cube with its exceedance probabilities and clip count."""
    ds = to_dataset(arrays, coords(config, st.layout, 0, st.scenarios), st.attrs)
    clipped = count_clipped_conventional(arrays)
    report_clipped(clipped, st.scenarios)
    ds.attrs.update(clipped_conventional_it_2022=clipped, clipped_conventional_it_2022_note=CLIP_TEXT)
    weighted = {}
    if st.job.weights is not None:
        for name, attrs in WEIGHT_VARIABLES.items():
            ds[name] = (("scenario",), arrays[name], attrs)
        diag = cube_diagnostics(arrays["weight"], arrays["log_likelihood"])
        ds.attrs.update(diag.attrs(), observations=st.job.weights.observations.description)
        _warn(diag.warnings())
    if st.thresholds:
        events = exceeding(st.thresholds, arrays, config.years.start)
        counts = np.array([int(e.sum()) for e in events], dtype=np.int64)
        if st.job.weights is not None:
            units = weighted_exceeding(events, arrays["weight"])
            weighted = dict(weight_units=units[:-1], weight_total=units[-1], ess=diag.ess)
        ds = ds.assign_coords({k: (d, v, a) for k, (d, v, a) in threshold_coords(st.thresholds).items()})
        ds = ds.assign({k: (d, v, a) for k, (d, v, a) in threshold_data_vars(counts, st.scenarios, **weighted).items()})
    return ds


def _warn(messages) -> None:
    for text in messages:
        print(f"dcproj: warning: {text}", file=sys.stderr)


def _check_fits_in_memory(st: _Setup, limit: int) -> None:
    need = st.scenarios * bytes_per_scenario(st.layout, st.np_dtype)
    if need > limit:
        raise RunError(
            f"an in-memory cube of {st.scenarios:,} scenarios needs {human_bytes(need)}, more than the memory budget of "
            f"{human_bytes(limit)}; use run_to_file() (dcproj run --out FILE) to stream it to disk, or summary=True "
            "(dcproj run --summary) for its statistics, or pass a larger memory_limit"
        )


def _in_memory_plan(st: _Setup, chunk_size, ex, limit) -> Plan:
    size = chunk_size or default_chunk_size(st.layout, st.np_dtype)
    return Plan(st.scenarios, size, plan_chunks(st.scenarios, size), ex.parallel, limit, 0)


def _parse_thresholds(items):
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
    quantiles=SUMMARY_QUANTILES,
    scheduler: str | None = None,
    cluster: str | Path | None = None,
    n_workers: int | None = None,
    memory_limit: int | None = None,
    resume: bool = False,
    keep_partial: bool = False,
    overwrite: bool = False,
    keep_sample: int = KEEP_SAMPLE,
    prior: bool = False,
) -> Path:
    """Run a projection and stream the cube (or its summary) into the netCDF file ``out``.

    The file appears at ``out`` only when complete (atomic placement); on any error or
    interruption no partial file is left there and an existing ``out`` is untouched.
    Arguments as :func:`run`, and:

    compression, compression_level
        The netCDF filter of a full cube (see :class:`engine.output.netcdf.CubeWriter`) and its level.
    cluster
        A dask-jobqueue cluster file (``configs/cluster/slurm.yaml``).
    keep_partial
        Keep finished chunks in the sidecar directory ``<out>.partial/`` when interrupted
        (SIGINT/SIGTERM) so that ``resume=True`` can finish the run (:mod:`engine.execution.checkpoint`).
    resume
        Continue the interrupted run of the same settings from ``<out>.partial/``; the result
        equals an uninterrupted run's.
    overwrite
        Replace an existing ``out`` (atomically, when the run succeeds); without it an existing
        ``out`` is an error and is never touched.  A second run on the same ``out`` while one is
        working stops at once (:class:`engine.output.guard.OutputLock`).
    """
    st = _setup(config, scenarios, seed, backend, chunk_size, dtype, summary, _parse_thresholds(thresholds), quantiles, command,
                keep_sample, prior)  # fmt: skip
    check_writable(out)
    check_destination(out, overwrite=overwrite, protected=[config_path(config), cluster])
    if not summary and not resume:
        check_disk_space(out, st.layout, st.np_dtype, st.scenarios, compression)
    with OutputLock(out):
        sidecar = _sidecar(out, keep_partial, resume)
        if resume:
            chunk_size = chunk_size or sidecar.read()["key"]["chunk_size"]
        limit = memory_limit or default_memory_limit()
        target = resolve_scheduler(scheduler, cluster, st.scenarios, n_workers)
        with open_executor(target, limit, progress) as ex:
            plan = plan_run(st.layout, st.scenarios, st.np_dtype, summary=summary, memory_limit=limit, parallel=ex.parallel,
                            processes=ex.processes, chunk_size=chunk_size)  # fmt: skip
            for note in plan.notes:
                print(f"dcproj: {note}", file=sys.stderr)
            key = _key(config, st.seed, st.scenarios, plan, dtype, backend, st.job.spec, compression, compression_level, st.thresholds,
                       st.job.weights)  # fmt: skip
            manifest = sidecar.check(key) if resume else None
            if sidecar is not None and not resume:
                sidecar.start(key)
            announce_compile(backend, summary, progress)
            if summary:
                return summary_to_file(st, out, plan, ex, sidecar, key, manifest, progress, overwrite)
            return cube_to_file(st, config, out, plan, ex, sidecar, key, manifest, compression, compression_level, progress, overwrite)


def _sidecar(out, keep_partial: bool, resume: bool) -> Sidecar | None:
    """The resume sidecar of ``out`` (``None`` if the run is not resumable); refuses to start over an unfinished run."""
    sidecar = Sidecar(out) if (keep_partial or resume) else None
    if not resume and sidecar is not None and sidecar.exists():
        raise ResumeError(
            f"{sidecar.dir} holds an unfinished run for {out}: add --resume to continue it, or remove "
            f"that directory to start afresh"
        )
    return sidecar
