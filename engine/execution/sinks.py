"""Sinks: where a run's chunk results go.

* :func:`cube_to_file`: full-cube slabs are written into the netCDF file as they arrive (any
  order), with per-chunk checksums in the resume sidecar, exceedance counts for the run's
  thresholds and the count of clipped conventional-IT residuals;
* :func:`summary_to_file`: partials are merged in chunk order and the labelled summary is
  written at the end, with periodic checkpoints of the merged state.

Either way the destination appears only when the run succeeds (atomic placement, never
replacing a file without ``overwrite``), and an interruption (or a batch cluster that lost
all its workers) keeps the finished chunks for ``--resume`` (:mod:`engine.execution.checkpoint`).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import ClusterError, Interrupted, PartialCubeDamaged
from engine.execution.executors import in_order
from engine.execution.progress import Progress
from engine.output.netcdf import CubeWriter, chunk_digest, write_dataset
from engine.output.variables import CUBE_VARIABLES, coords, cube_dims, variable_attrs
from engine.conditioning.cube import WEIGHT_VARIABLES, cube_diagnostics, weighted_exceeding
from engine.stats.exceedance import (
    CLIP_TEXT,
    clipped_in_summary,
    count_clipped_conventional,
    exceeding,
    threshold_coords,
    threshold_data_vars,
)
from engine.stats.labels import state_dataset, warnings_for
from engine.stats.state import SummaryState

__all__ = ["cube_to_file", "summary_to_file", "checkpoint_seconds", "KEEPS_PARTIAL"]

#: Errors after which a resumable run keeps its finished chunks (the run can be finished later).
KEEPS_PARTIAL = (KeyboardInterrupt, ClusterError)


@dataclass
class _CubeState:
    """What a full-cube run has finished: chunk indices, their checksums, exceedance and clip counts."""

    finished: set = field(default_factory=set)
    digests: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)  # chunk index -> [exceedance counts..., clipped]

    def manifest_extra(self) -> dict:
        keep = sorted(self.finished)
        return {"digests": {str(i): self.digests[str(i)] for i in keep}, "counts": {str(i): self.counts[str(i)] for i in keep}}

    @classmethod
    def from_manifest(cls, manifest) -> _CubeState:
        if manifest is None:
            return cls()
        return cls(set(manifest["finished"]), dict(manifest.get("digests", {})), dict(manifest.get("counts", {})))


def _cube_variables(st) -> dict:
    variables = {name: (cube_dims(name), st.np_dtype, variable_attrs(name)) for name in CUBE_VARIABLES}
    variables["inputs"] = (cube_dims("inputs"), np.float64, dict(variable_attrs("inputs"), coordinates="input_units input_long_name input_source"))
    variables["effective_inputs"] = (cube_dims("effective_inputs"), np.float64, variable_attrs("effective_inputs"))
    if st.thresholds:
        for name in ("exceedance_count", "exceedance_probability"):
            dtype = np.int64 if name == "exceedance_count" else np.float64
            attrs = {"long_name": "scenarios whose total exceeds the threshold" if dtype is np.int64 else
                     "probability that the total exceeds the threshold", "units": "1"}  # fmt: skip
            variables[name] = (("threshold",), dtype, attrs)
        variables["exceedance_standard_error"] = (("threshold",), np.float64, {"units": "1", "long_name": (
            "Monte Carlo standard error of the exceedance probability: sqrt(p (1 - p) / n_eff), binomial")})  # fmt: skip
    if st.job.weights is not None:
        for name, attrs in WEIGHT_VARIABLES.items():
            variables[name] = (("scenario",), np.float64, attrs)
    return variables


def _names(st) -> list[str]:
    """The per-scenario variables of the cube (those a chunk writes)."""
    return list(CUBE_VARIABLES) + (list(WEIGHT_VARIABLES) if st.job.weights is not None else [])


def _open_cube(open_writer, sidecar, plan, manifest, names) -> tuple[CubeWriter, _CubeState]:
    """A fresh cube, or the partial cube of a resumed run with its finished chunks verified."""
    state = _CubeState.from_manifest(manifest)
    if manifest is None:
        return open_writer(False), state
    writer = None
    try:
        writer = open_writer(True)
        damaged = _verify_finished(writer, plan, state, names)
    except PartialCubeDamaged as exc:
        if writer is not None:  # close it before the file is made anew (HDF5 refuses a second handle)
            writer.detach()
        sidecar.cube_path.unlink(missing_ok=True)
        print(f"dcproj: {exc}; it was probably killed while writing. Starting the cube afresh.", file=sys.stderr)
        return open_writer(False), _CubeState()
    if damaged:
        print(
            f"dcproj: {len(damaged)} finished chunk(s) of {sidecar.cube_path} no longer match their checksums "
            f"(chunks {sorted(damaged)[:10]}{' ...' if len(damaged) > 10 else ''}); computing them again",
            file=sys.stderr,
        )
        state.finished -= damaged
    return writer, state


def cube_to_file(st, config, out, plan, ex, sidecar, key, manifest, compression, level, progress, overwrite=False) -> Path:
    """Stream the planned chunks of a full cube into ``out`` (see the module docstring)."""
    coord_map = coords(config, st.layout, 0, st.scenarios)
    if st.thresholds:
        coord_map.update(threshold_coords(st.thresholds))
    dims = {d: len(v[1]) for d, v in coord_map.items() if v[0] == d}
    dims["scenario"] = st.scenarios
    variables = _cube_variables(st)
    tmp = sidecar.cube_path if sidecar else None

    def open_writer(reopen):
        return CubeWriter(out, dims, coord_map, variables, st.attrs, compression=compression, level=level, tmp=tmp,
                          reopen=reopen, overwrite=overwrite)  # fmt: skip

    writer, state = _open_cube(open_writer, sidecar, plan, manifest, _names(st))
    if manifest is not None:
        sidecar.write(key, sorted(state.finished), **state.manifest_extra())
    todo = [(i, s, c) for i, (s, c) in enumerate(plan.chunks) if i not in state.finished]
    first_year = config.years.start
    try:
        with Progress(st.scenarios, enabled=progress, initial=st.scenarios - sum(c for _, _, c in todo)) as bar:
            for i, arrays in ex.results(st.job, todo, ordered=False):
                writer.write(plan.chunks[i][0], arrays)
                events = exceeding(st.thresholds, arrays, first_year)
                counts = [int(e.sum()) for e in events] + [count_clipped_conventional(arrays)]
                if st.job.weights is not None:
                    counts += weighted_exceeding(events, arrays["weight"])
                state.counts[str(i)] = counts
                if sidecar is not None:
                    state.digests[str(i)] = chunk_digest(arrays)
                    writer.sync()
                    state.finished.add(i)
                    sidecar.write(key, sorted(state.finished), **state.manifest_extra())
                bar.advance(arrays["inputs"].shape[0])
                del arrays  # before the next chunk arrives: at most two chunks in memory (run_prefetched)
        _finish_counts(writer, st, state, plan)
        path = writer.commit()
    except KEEPS_PARTIAL as exc:
        if sidecar is not None and state.finished:
            writer.detach()
            sidecar.write(key, sorted(state.finished), **state.manifest_extra())
            _raise_kept(exc, sidecar, sum(plan.chunks[i][1] for i in state.finished), st.scenarios)
        _discard(writer, sidecar)
        raise
    except BaseException:
        _discard(writer, sidecar)
        raise
    if sidecar is not None:
        sidecar.remove()
    return path


def _finish_counts(writer, st, state, plan) -> None:
    """Write the exceedance counts and the clip count of the whole cube (every chunk is done)."""
    total = np.sum([state.counts[str(i)] for i in range(len(plan.chunks))], axis=0, dtype=np.int64)
    k = len(st.thresholds)
    weighted = {}
    if st.job.weights is not None:  # the weights' diagnostics from the whole cube's weights
        back = writer.read(0, st.scenarios, list(WEIGHT_VARIABLES))
        diag = cube_diagnostics(back["weight"], back["log_likelihood"])
        writer.set_attrs({**diag.attrs(), "observations": st.job.weights.observations.description})
        for text in diag.warnings():
            print(f"dcproj: warning: {text}", file=sys.stderr)
        weighted = dict(weight_units=total[k + 1 : 2 * k + 1], weight_total=int(total[2 * k + 1]), ess=diag.ess)
    if st.thresholds:
        data = threshold_data_vars(total[:k], st.scenarios, **weighted)
        for name in ("exceedance_count", "exceedance_probability", "exceedance_standard_error"):
            writer.write_whole(name, data[name][1])
    report_clipped(int(total[k]), st.scenarios)
    writer.set_attrs({"clipped_conventional_it_2022": int(total[k]), "clipped_conventional_it_2022_note": CLIP_TEXT})


def report_clipped(n: int, scenarios: int) -> None:
    """Tell the user how many scenarios had their 2022 conventional-IT residual clipped (if any)."""
    if n:
        print(f"dcproj: warning: {n:,} of {scenarios:,} {CLIP_TEXT} (attribute clipped_conventional_it_2022)", file=sys.stderr)


def _discard(writer, sidecar) -> None:
    writer.abort()
    if sidecar is not None:
        sidecar.remove()


def _raise_kept(exc, sidecar, done: int, total: int):
    """Re-raise ``exc`` saying where the finished chunks are kept."""
    if isinstance(exc, KeyboardInterrupt):
        raise Interrupted(sidecar.dir, done, total) from None
    if hasattr(exc, "partial"):  # engine.errors.WorkersLost says itself how to resume
        exc.partial = sidecar.dir
        raise exc
    raise type(exc)(f"{exc}. The {done:,} finished scenarios are kept in {sidecar.dir}: rerun the same command with --resume") from None


def _verify_finished(writer, plan, state: _CubeState, names) -> set[int]:
    """The finished chunks whose data in the partial cube no longer match their recorded checksums."""
    bad = set()
    for i in sorted(state.finished):
        start, count = plan.chunks[i]
        if state.digests.get(str(i)) != chunk_digest(writer.read(start, count, names)) or str(i) not in state.counts:
            bad.add(i)
    return bad


def checkpoint_seconds() -> float:
    """Seconds between summary checkpoints (``DCPROJ_CHECKPOINT_SECONDS``, default 30)."""
    return float(os.environ.get("DCPROJ_CHECKPOINT_SECONDS", "30"))


def summary_to_file(st, out, plan, ex, sidecar, key, manifest, progress, overwrite=False) -> Path:
    """Merge the planned chunks' partials in order and write the labelled summary to ``out``."""
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
        for warning in warnings_for(state) + (state.diagnostics().warnings() if state.weighted else []):
            print(f"dcproj: warning: {warning}", file=sys.stderr)
        clipped = clipped_in_summary(state)
        report_clipped(clipped, state.done)
        ds = state_dataset(state, st.attrs)
        ds.attrs.update(clipped_conventional_it_2022=clipped, clipped_conventional_it_2022_note=CLIP_TEXT + " (below 2^-20 TWh)")
        path = write_dataset(ds, out, overwrite=overwrite)
    except KEEPS_PARTIAL as exc:
        if sidecar is not None and state.done > 0:
            save()
            _raise_kept(exc, sidecar, state.done, st.scenarios)
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
